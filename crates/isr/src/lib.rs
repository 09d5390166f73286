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
//!
//! - Pages: [`IsrLayer`] (configured with [`IsrLayer::builder`] or from `isr.toml`), the
//!   [`Isr`] handle to purge ([`Isr::revalidate_path`], [`Isr::revalidate_tag`]) and
//!   inspect, and `admin::router` (feature `admin`), the admin API an app can mount under
//!   `/_isr/` (its paths are absolute: `Router::merge` it, then `fallback_service` the
//!   cached pages; see `examples/axum_app.rs`).
//!   Answers carry `x-isr-cache: HIT | STALE | MISS | BYPASS`; a regeneration calls the
//!   wrapped service again (never an HTTP request to itself).
//! - Data: [`DataCache::with_revalidate`], stale-while-revalidate for any serialisable
//!   value, with single flight and invalidation by key, tag or everything.
//!
//! Stores: memory ([`isr_store::TieredStore::memory_only`], the builder's default), the
//! embedded on-disk store behind it ([`IsrBuilder::disk`]), or Redis shared by several
//! nodes (`IsrBuilder::redis`, feature `redis`: one render per key across all of them,
//! purges announced to every node).
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use isr::{IsrLayer, RouteRule};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new().route("/posts/{id}", get(|| async { "a post" }));
//! let layer = IsrLayer::builder()
//!     .route("/posts/[id]", RouteRule::revalidate(60).tags(["posts", "post:{id}"]))
//!     .build()
//!     .expect("valid routes");
//! let service = layer.layer(app);
//! let isr = service.handle();
//!
//! let request = || http::Request::get("/posts/1").body(axum::body::Body::empty()).unwrap();
//! let first = service.clone().oneshot(request()).await.unwrap();
//! assert_eq!(first.headers()["x-isr-cache"], "MISS");
//! let second = service.clone().oneshot(request()).await.unwrap();
//! assert_eq!(second.headers()["x-isr-cache"], "HIT");
//!
//! // Stale from now on: served while one regeneration runs.
//! isr.revalidate_tag("post:1").await.unwrap();
//! let third = service.clone().oneshot(request()).await.unwrap();
//! assert_eq!(third.headers()["x-isr-cache"], "STALE");
//! # }
//! ```

mod across_nodes;
#[cfg(feature = "admin")]
pub mod admin;
mod app_data;
mod body;
mod builder;
mod builds;
mod clock;
mod compress;
pub mod data;
mod engine;
mod flight;
mod follow;
mod handle;
mod origin;
mod purge_watch;
mod purges;
mod render;
mod service;
mod stats;
mod store_errors;
mod telemetry;

pub use app_data::TagIndexError;
pub use body::{Body, BoxError};
pub use builder::{IsrBuilder, RouteRule};
pub use builds::BuildSwitchError;
pub use clock::{Clock, ManualClock, SystemClock};
pub use data::{DataCache, DataCacheBuilder, DataError, DataOptions, DataStats, DataTarget};
pub use handle::{EntryInfo, EntryPage, Isr, MemoryUse, PurgeError, Regeneration, WeakIsr};
pub use isr_core::config::Config;
pub use isr_core::freshness::PurgeMode;
pub use isr_core::purge::Target;
pub use origin::{CloseDelimited, HttpOrigin, OriginError, OriginFuture, TlsError, connector};
pub use purge_watch::PurgeObserver;
pub use service::{IsrLayer, IsrService, ResponseFuture};
pub use stats::Stats;
pub use {isr_core, isr_store};
