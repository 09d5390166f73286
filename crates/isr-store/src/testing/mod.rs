//! What the tests of every isr crate share (feature `testing`; never in a release build):
//! - [`RedisServer`] and [`RedisCluster`]: a throwaway `redis-server` (or three, as one
//!   Redis Cluster) on loopback, stopped by PID when dropped, with the few commands tests
//!   send it straight (a connection, TTLs, aging a lock, pausing the process).
//! - [`on_free_port`]: start a server on a free port, with a new port when the picked one
//!   was taken meanwhile; [`free_port`] for a port nothing listens on.
//! - [`until`] and [`concurrently`]: wait on a condition, never on a duration; and start
//!   many callers at once, behind one barrier.
//! - [`MemoryLocks`]: render locks in memory, the lock suite's reference backend.
//! - [`Tmpfs`]: a small real file system that fills up, for full-disk tests.
//!
//! Everything here panics on failure: it is for tests, where a panic is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support: a failed setup panics, and the panic is the test's report"
)]

mod locks;
mod ports;
mod servers;
mod tmpfs;
mod waits;

pub use locks::MemoryLocks;
pub use ports::{free_port, on_free_port};
pub use servers::{RedisCluster, RedisServer, TlsFiles};
pub use tmpfs::Tmpfs;
pub use waits::{concurrently, until};
