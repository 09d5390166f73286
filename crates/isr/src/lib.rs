//! # isr
//!
//! Incremental Static Regeneration for any web framework. Pages are rendered on demand,
//! served from cache, regenerated in the background when stale, and never cached when
//! private.
//!
//! The engine is tower middleware: [`IsrLayer`] wraps any service answering
//! `Request<Body>`: the [`HttpOrigin`] client (that is the `isr` proxy), or an app's own
//! router. The decisions (routes, keys, freshness, cacheability) live in [`isr_core`];
//! storage backends live in [`isr_store`].

pub mod admin;
mod body;
mod clock;
mod engine;
mod flight;
mod handle;
mod origin;
mod render;
mod service;
mod stats;

pub use body::{Body, BoxError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use handle::{EntryInfo, EntryPage, Isr, MemoryUse, Regeneration};
pub use origin::{HttpOrigin, OriginError};
pub use service::{IsrLayer, IsrService, ResponseFuture};
pub use stats::Stats;
