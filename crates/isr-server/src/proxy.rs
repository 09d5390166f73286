//! The proxy: an accept loop serving HTTP/1.1 and HTTP/2 (h2c) through the isr engine
//! wrapped around an [`HttpOrigin`].
//!
//! Invariants:
//! - One connection's failure (a reset, a malformed request) never affects another; hyper
//!   answers malformed requests (smuggling vectors, bad headers) with 400 and closes.
//! - A slow client cannot hold a connection open forever without sending headers, and a
//!   flood of connections cannot lock other clients out (see [`crate::connections`]).
//! - A stop is graceful: no new connection is accepted, every request in flight is
//!   answered (downloads included) and every background render finishes and stores its
//!   page, within [`ConnectionLimits::drain_timeout`].
//! - A configuration with a value that cannot work is refused before anything starts
//!   ([`StartError::Config`], naming the key), however the configuration was made.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use isr::{Body, Clock, HttpOrigin, IsrLayer, IsrService, OriginError};
use isr_core::config::{Config, InvalidSetting, RedisSettings};
use isr_core::path::normalize_path;
use isr_core::plan::is_admin_path;
use isr_core::store::{PurgeStore, StoreError};
use isr_store::{DiskError, DiskStore, MemoryStore, RedisStore, RedisTierError, TieredStore};
use tokio::net::TcpListener;
use tokio::time::{Instant, MissedTickBehavior};
use tower::{Layer, Service, ServiceExt};

use crate::build_watch;
use crate::cdn::CdnForwarder;
use crate::connections::{ConnectionLimits, Connections};
use crate::dashboard::recent::RecentPurges;
use crate::dashboard::{self, Dashboard};
use crate::observe::access::AccessLog;
use crate::observe::exporter::Telemetry;
use crate::observe::listener::{self, Watched};
use crate::observe::observed::{Observed, Watch};
use crate::observe::requests::RequestMetrics;

/// How often the disk store drops the entries that can never be served again (besides
/// once at start).
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting cannot work.
    #[error(transparent)]
    Config(#[from] InvalidSetting),
    /// No origin anywhere.
    #[error(
        "no origin is configured: pass --origin URL, set ISR_ORIGIN, or set origin in the config file"
    )]
    NoOrigin,
    /// The origin client cannot be built.
    #[error(transparent)]
    Origin(#[from] OriginError),
    /// The on-disk store cannot be opened.
    #[error(transparent)]
    Store(#[from] DiskError),
    /// The Redis store cannot be set up.
    #[error(transparent)]
    Redis(#[from] RedisTierError),
    /// The recorded purges cannot be loaded.
    #[error("cannot load the recorded purges: {0}")]
    Purges(#[from] StoreError),
    /// The client that forwards purges to a CDN cannot be built.
    #[error("cannot forward purges to the CDN: {0}")]
    Cdn(#[from] isr::TlsError),
    /// The metrics recorder cannot be built.
    #[error("cannot set up the metrics: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why it cannot be bound.
        source: std::io::Error,
    },
}

/// The stores of one proxy: the memory tier over a durable tier (entries), and that
/// durable tier again as the record of purges.
#[derive(Clone)]
pub struct Stores {
    /// The entries: the memory tier over the durable tier.
    pub entries: Arc<TieredStore>,
    /// The durable tier, also the record of purges.
    pub durable: Durable,
}

/// The durable tier of one proxy.
#[derive(Clone)]
pub enum Durable {
    /// The embedded on-disk store: this node alone.
    Disk(Arc<DiskStore>),
    /// Redis, shared with every node using the same prefix.
    Redis(Arc<RedisStore>),
}

/// Open the on-disk store in `dir`, its entries kept within `disk_bytes`, with a memory
/// tier of `memory_bytes` over it.
pub fn open_store(dir: &Path, memory_bytes: u64, disk_bytes: u64) -> Result<Stores, DiskError> {
    let disk = Arc::new(DiskStore::open_with_budget(dir, disk_bytes)?);
    let memory = Arc::new(MemoryStore::new(memory_bytes));
    let entries = Arc::new(TieredStore::new(memory, Arc::clone(&disk) as _));
    Ok(Stores {
        entries,
        durable: Durable::Disk(disk),
    })
}

/// Connect to the Redis `settings` names (in the background: a Redis that is down is a
/// degraded start, not a failed one), with a memory tier of `memory_bytes` in front.
pub fn open_redis_store(
    settings: &RedisSettings,
    memory_bytes: u64,
) -> Result<Stores, RedisTierError> {
    let redis = RedisStore::connect(settings)?;
    let memory = Arc::new(MemoryStore::new(memory_bytes));
    let entries = Arc::new(TieredStore::new(memory, Arc::clone(&redis) as _));
    Ok(Stores {
        entries,
        durable: Durable::Redis(redis),
    })
}

/// A configured proxy, ready to serve.
pub struct Proxy {
    layer: IsrLayer,
    service: Dispatch,
    telemetry: Arc<Telemetry>,
    disk: Option<Arc<DiskStore>>,
    draining: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy for `config` on the system clock (or the test clock the environment names,
    /// [`crate::test_clock`]), with the store `config` names.
    pub async fn from_config(config: Config) -> Result<Proxy, StartError> {
        config.validate()?;
        let stores = match &config.redis {
            Some(redis) => open_redis_store(redis, config.memory_bytes)?,
            None => open_store(
                Path::new(&config.cache_dir),
                config.memory_bytes,
                config.disk_bytes,
            )?,
        };
        Proxy::start(config, stores, crate::test_clock::from_env()).await
    }

    /// A proxy over existing stores and a clock. Loads the recorded purges first, so a
    /// restart honours every purge.
    pub async fn new(
        config: Config,
        stores: Stores,
        clock: Arc<dyn Clock>,
    ) -> Result<Proxy, StartError> {
        config.validate()?;
        Proxy::start(config, stores, clock).await
    }

    /// [`Proxy::new`] for a configuration already validated.
    async fn start(
        config: Config,
        stores: Stores,
        clock: Arc<dyn Clock>,
    ) -> Result<Proxy, StartError> {
        let origin = HttpOrigin::new(config.origin.as_deref().ok_or(StartError::NoOrigin)?)?;
        let admin_token = config.admin_token.clone();
        let telemetry = Arc::new(Telemetry::new()?);
        Telemetry::keep_up(&telemetry);
        let engine_clock = Arc::clone(&clock);
        let (layer, disk) = match stores.durable {
            Durable::Disk(disk) => {
                let purges: Arc<dyn PurgeStore> = Arc::clone(&disk) as _;
                let layer = telemetry.register(|| {
                    IsrLayer::with_clock(config, stores.entries, purges, Arc::clone(&clock))
                });
                layer.restore_purges().await?;
                sweep(&disk, &*clock).await;
                tokio::spawn(sweep_periodically(Arc::downgrade(&disk), clock));
                (layer, Some(disk))
            }
            Durable::Redis(redis) => {
                tokio::spawn(warn_if_evicting(Arc::clone(&redis)));
                let layer = telemetry
                    .register(|| IsrLayer::clustered(config, stores.entries, redis, clock));
                // Without Redis the node starts degraded; the purge records are loaded as
                // soon as it is reachable (the subscription asks for a resync).
                if let Err(error) = layer.restore_purges().await {
                    tracing::warn!(%error, "cannot load the purge records from redis yet");
                }
                (layer, None)
            }
        };
        let isr = layer.layer(origin);
        if let Some(path) = &layer.config().build_id_file {
            let watch = build_watch::watch(
                path.clone(),
                layer.config().build_id.clone(),
                isr.handle().downgrade(),
            );
            tokio::spawn(watch);
        }
        let forwarder = telemetry.register(|| CdnForwarder::new(&layer.config().ops.cdn));
        if let Some(forwarder) = forwarder? {
            layer.observe_purges(Arc::new(forwarder));
        }
        let admin = admin_token.map(|token| {
            let recent = Arc::new(RecentPurges::default());
            layer.observe_purges(Arc::clone(&recent) as _);
            let dashboard = dashboard::router(Dashboard {
                token: token.clone(),
                isr: isr.handle(),
                disk: disk.as_ref().map(Arc::clone),
                telemetry: Arc::clone(&telemetry),
                recent,
            });
            isr::admin::router(isr.handle(), token, disk.as_ref().map(Arc::clone)).merge(dashboard)
        });
        let config = layer.config();
        let metrics = telemetry.register(|| RequestMetrics::register(config));
        let access = AccessLog::to_stdout(config.ops.access_log);
        let watch = Arc::new(Watch::new(config, metrics, access, engine_clock));
        Ok(Proxy {
            service: Dispatch {
                isr,
                admin,
                watch,
                config: Arc::new(config.clone()),
                peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            },
            layer,
            telemetry,
            disk,
            draining: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The metrics listener's routes (`/metrics`, `/healthz`, `/readyz`) for this proxy.
    pub fn metrics_router(&self) -> axum::Router {
        listener::router(Watched {
            isr: self.handle(),
            disk: self.disk.as_ref().map(Arc::clone),
            telemetry: Arc::clone(&self.telemetry),
            draining: Arc::clone(&self.draining),
        })
    }

    /// Bind the configured metrics address, if there is one.
    pub async fn bind_metrics(&self) -> Result<Option<TcpListener>, StartError> {
        let Some(addr) = self.layer.config().ops.metrics_listen.clone() else {
            return Ok(None);
        };
        TcpListener::bind(&addr)
            .await
            .map(Some)
            .map_err(|source| StartError::Listen { addr, source })
    }

    /// A handle on the proxy's cache (purge, regenerate, inspect).
    pub fn handle(&self) -> isr::Isr {
        self.service.isr.handle()
    }

    /// The engine's layer (stats, config, store).
    pub fn layer(&self) -> &IsrLayer {
        &self.layer
    }

    /// Bind the configured listen address.
    pub async fn bind(&self) -> Result<TcpListener, StartError> {
        let addr = self.layer.config().listen.clone();
        TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })
    }

    /// Serve connections from `listener` until `shutdown` completes, then stop gracefully;
    /// the connection limits are [`ConnectionLimits::for_this_process`].
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Stop {
        self.serve_within(listener, ConnectionLimits::for_this_process(), shutdown)
            .await
    }

    /// Serve connections from `listener` within `limits` until `shutdown` completes; then
    /// stop accepting, and wait up to the drain deadline for the requests in flight and the
    /// background renders (which store their pages) to finish.
    pub async fn serve_within(
        self,
        listener: TcpListener,
        limits: ConnectionLimits,
        shutdown: impl Future<Output = ()>,
    ) -> Stop {
        let drain_timeout = limits.drain_timeout;
        let connections = Connections::new(limits);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => {
                    self.draining.store(true, Ordering::SeqCst);
                    break;
                }
            };
            match accepted {
                Ok((stream, peer)) => {
                    let mut service = self.service.clone();
                    service.peer = peer;
                    connections.serve(stream, service);
                }
                Err(error) => {
                    // Out of file descriptors and the like: say so, and give the system a
                    // moment instead of spinning on the same error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(listener);
        tracing::info!(
            drain_timeout_secs = drain_timeout.as_secs_f64(),
            "stopping: finishing the requests in flight and the background renders"
        );
        connections.stop();
        let drained = tokio::time::timeout(drain_timeout, async {
            connections.closed().await;
            self.layer.finish_background_renders().await;
        })
        .await;
        match drained {
            Ok(()) => Stop::Drained,
            Err(_) => {
                tracing::warn!(
                    drain_timeout_secs = drain_timeout.as_secs_f64(),
                    "the drain deadline passed: stopping with requests or renders unfinished"
                );
                Stop::DeadlinePassed
            }
        }
    }
}

/// How a proxy stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every request in flight was answered and every background render finished.
    Drained,
    /// The drain deadline passed first: what was still running is abandoned.
    DeadlinePassed,
}

/// Warn when Redis may evict the purge records (an `allkeys-*` eviction policy): isr
/// notices the loss and hard-purges every older entry, so pages are rendered again.
async fn warn_if_evicting(redis: Arc<RedisStore>) {
    match redis.evicts_purge_records().await {
        Ok(Some(policy)) => tracing::warn!(
            policy,
            "redis may evict the purge records under memory pressure (maxmemory-policy \
             {policy}); when it does, isr hard-purges every older page, which is rendered \
             again. Use noeviction or a volatile-* policy: entries have a TTL, purge \
             records have none"
        ),
        Ok(None) => {}
        Err(error) => tracing::debug!(%error, "cannot read redis's maxmemory-policy"),
    }
}

/// Remove from `disk` the entries that can never be served again.
async fn sweep(disk: &DiskStore, clock: &dyn Clock) {
    match disk.sweep(clock.now()).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed expired entries from the disk cache"),
        Err(error) => tracing::warn!(%error, "cannot remove expired entries from the disk cache"),
    }
}

/// [`sweep`] every [`SWEEP_EVERY`], for as long as the proxy holds the store.
async fn sweep_periodically(disk: Weak<DiskStore>, clock: Arc<dyn Clock>) {
    let mut every = tokio::time::interval_at(Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(disk) = disk.upgrade() else { return };
        sweep(&disk, &*clock).await;
    }
}

/// Routes `/_isr/…` to the admin API (or a 404 when it is off) and everything else to the
/// engine. The decision is made on the normalised path, so no spelling of the admin prefix
/// reaches the origin.
#[derive(Clone)]
struct Dispatch {
    isr: IsrService,
    admin: Option<axum::Router>,
    watch: Arc<Watch>,
    config: Arc<Config>,
    /// The client of this connection.
    peer: SocketAddr,
}

impl Service<Request<hyper::body::Incoming>> for Dispatch {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = DispatchFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> DispatchFuture {
        if !is_admin_request(request.uri().path()) {
            let watching = self.watch.observe(&self.config, &request, self.peer);
            return DispatchFuture::Engine(watching.answered_by(self.isr.call(request)));
        }
        let Some(admin) = self.admin.clone() else {
            return DispatchFuture::Admin(Box::pin(async { Ok(admin_off()) }));
        };
        DispatchFuture::Admin(Box::pin(async move {
            let response = match admin.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(Body::stream))
        }))
    }
}

/// Is `raw` (a request path as received) under the admin prefix once normalised? Only a
/// path with a `%` or the letters `isr` can normalise to it, so most requests are decided
/// without normalising.
fn is_admin_request(raw: &str) -> bool {
    (raw.contains('%') || raw.contains("isr"))
        && normalize_path(raw).is_ok_and(|path| is_admin_path(&path))
}

fn admin_off() -> Response<Body> {
    let mut response = Response::new(Body::from(
        "{\"error\":\"the admin API is off: start isr with an admin token (ISR_ADMIN_TOKEN)\"}",
    ));
    *response.status_mut() = StatusCode::NOT_FOUND;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    // A 404 may be cached heuristically downstream; this one must not be.
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The future of a [`Dispatch`] answer: the engine's (unboxed, so hits stay allocation-free)
/// or the admin API's.
enum DispatchFuture {
    Engine(Observed<isr::ResponseFuture>),
    Admin(Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>),
}

impl Future for DispatchFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            DispatchFuture::Engine(future) => Pin::new(future).poll(cx),
            DispatchFuture::Admin(future) => future.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_value_that_cannot_work_is_refused_before_anything_opens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache_dir = dir.path().join("cache");
        let mut config =
            Config::from_toml("origin = \"http://127.0.0.1:9\"", "isr.toml").expect("valid");
        config.cache_dir = cache_dir.display().to_string();
        config.engine.regenerate_concurrency = usize::MAX;
        let Err(error) = Proxy::from_config(config).await else {
            panic!("an unworkable concurrency is refused");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("`cache.regenerate_concurrency`: "),
            "{message}"
        );
        assert!(!cache_dir.exists(), "no store was opened");
    }

    #[tokio::test]
    async fn the_largest_values_of_the_file_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let toml = format!(
            "origin = \"http://127.0.0.1:9\"\ncache_dir = {:?}\nmemory = \"1000TB\"\n\
             disk = 18446744073709551615\nthreads = 1024\n[cache]\nrevalidate = \"36500d\"\n\
             expire = \"36500d\"\nstale_if_error = \"36500d\"\nlock_timeout = \"36500d\"\n\
             render_timeout = \"36500d\"\nretry_min = \"36500d\"\nretry_max = \"36500d\"\n\
             regenerate_concurrency = 65536\nmax_entry_size = 18446744073709551615\n",
            dir.path().display().to_string(),
        );
        let config = Config::from_toml(&toml, "isr.toml").expect("the largest values are valid");
        let proxy = Proxy::from_config(config).await.expect("starts");
        assert_eq!(proxy.handle().memory().entries, 0);
    }

    #[test]
    fn every_spelling_of_the_admin_prefix_is_recognised() {
        for path in [
            "/_isr/stats",
            "/%5Fisr/stats",
            "/_%69sr/stats",
            "/a/../_isr/cache",
            "/_isr",
        ] {
            assert!(is_admin_request(path), "{path}");
        }
        for path in ["/", "/blog/isr", "/_isrx", "/%41"] {
            assert!(!is_admin_request(path), "{path}");
        }
    }
}
