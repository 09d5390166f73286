//! The `isr` server: the caching reverse proxy, its storage setup, and the demo.
//!
//! `main.rs` is only the command line; everything it runs is here so integration tests
//! start the very same proxy on ephemeral loopback ports.

mod build_watch;
pub mod cdn;
pub mod connections;
pub mod dashboard;
pub mod demo;
pub mod observe;
pub mod proxy;
pub mod test_clock;
