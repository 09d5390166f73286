//! The proxy: an accept loop serving HTTP/1.1 and HTTP/2 (h2c) through the isr engine
//! wrapped around an [`HttpOrigin`].
//!
//! Invariants:
//! - One connection's failure (a reset, a malformed request) never affects another; hyper
//!   answers malformed requests (smuggling vectors, bad headers) with 400 and closes.
//! - A slow client cannot hold a connection open forever without sending headers.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use isr::{Clock, HttpOrigin, IsrLayer, IsrService, OriginError, SystemClock};
use isr_core::config::Config;
use isr_store::{DiskError, DiskStore, MemoryStore, TieredStore};
use tokio::net::TcpListener;
use tower::Layer;

/// How long a client has to send a request's headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "no origin is configured: pass --origin URL, set ISR_ORIGIN, or set origin in the config file"
    )]
    NoOrigin,
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error(transparent)]
    Store(#[from] DiskError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// The memory tier over the on-disk store in `dir`.
pub fn open_store(dir: &Path, memory_bytes: u64) -> Result<Arc<TieredStore>, DiskError> {
    let disk = DiskStore::open(dir)?;
    let memory = Arc::new(MemoryStore::new(memory_bytes));
    Ok(Arc::new(TieredStore::new(memory, Arc::new(disk))))
}

/// A configured proxy, ready to serve.
pub struct Proxy {
    layer: IsrLayer,
    service: IsrService,
}

impl Proxy {
    /// A proxy for `config` on the system clock, with the store `config` names.
    pub fn from_config(config: Config) -> Result<Proxy, StartError> {
        let store = open_store(Path::new(&config.cache_dir), config.memory_bytes)?;
        Proxy::new(config, store, Arc::new(SystemClock))
    }

    /// A proxy over an existing store and clock.
    pub fn new(
        config: Config,
        store: Arc<TieredStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Proxy, StartError> {
        let origin = HttpOrigin::new(config.origin.as_deref().ok_or(StartError::NoOrigin)?)?;
        let layer = IsrLayer::with_clock(config, store, clock);
        let service = layer.layer(origin);
        Ok(Proxy { layer, service })
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

    /// Serve connections from `listener` until `shutdown` completes.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => return,
            };
            match accepted {
                Ok((stream, peer)) => self.spawn_connection(stream, peer),
                Err(error) => {
                    // Out of file descriptors and the like: say so, and give the system a
                    // moment instead of spinning on the same error.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn spawn_connection(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(self.service.clone());
        tokio::spawn(async move {
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            let io = TokioIo::new(stream);
            if let Err(error) = builder.serve_connection(io, service).await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
}
