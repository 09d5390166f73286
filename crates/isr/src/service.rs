//! The engine as tower middleware: [`IsrLayer`] wraps any `Service<Request<Body>>` (an
//! origin client, an axum `Router`) into an [`IsrService`] that caches its answers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use isr_core::config::Config;
use isr_core::store::{PurgeStore, StoreError};
use isr_store::{Cluster, ClusterStatus, TieredStore};
use tower::{Layer, Service};

use crate::body::{Body, BoxError};
use crate::clock::{Clock, SystemClock};
use crate::engine::{Answer, Engine, Shared};
use crate::handle::Isr;
use crate::purge_watch::PurgeObserver;
use crate::render::{BoxFuture, ServiceRenderer};
use crate::stats::Stats;

/// Adds ISR caching in front of a service. Every service built from one layer shares its
/// stores, its single-flight state and its counters.
#[derive(Clone)]
pub struct IsrLayer {
    shared: Arc<Shared>,
}

impl IsrLayer {
    /// A layer caching by `config` into `store`, recording purges in `purges`, on the
    /// system clock. Call [`IsrLayer::restore_purges`] before serving.
    pub fn new(config: Config, store: Arc<TieredStore>, purges: Arc<dyn PurgeStore>) -> IsrLayer {
        IsrLayer::with_clock(config, store, purges, Arc::new(SystemClock))
    }

    /// A layer on another clock (tests move a [`crate::ManualClock`] instead of sleeping).
    pub fn with_clock(
        config: Config,
        store: Arc<TieredStore>,
        purges: Arc<dyn PurgeStore>,
        clock: Arc<dyn Clock>,
    ) -> IsrLayer {
        IsrLayer {
            shared: Arc::new(Shared::new(config, store, purges, None, clock)),
        }
    }

    /// A layer for one of several nodes sharing a store through `cluster` (see
    /// [`isr_store::RedisStore`]): purges are recorded in it and announced to every node,
    /// and a key is rendered once across all of them. `store` is this node's memory tier
    /// over the shared one ([`TieredStore::new`]). Must be called within a Tokio
    /// runtime: it starts the task that applies the other nodes' announcements.
    pub fn clustered(
        config: Config,
        store: Arc<TieredStore>,
        cluster: Arc<dyn Cluster>,
        clock: Arc<dyn Clock>,
    ) -> IsrLayer {
        let events = cluster.events();
        let purges: Arc<dyn PurgeStore> = Arc::clone(&cluster) as _;
        let shared = Arc::new(Shared::new(config, store, purges, Some(cluster), clock));
        tokio::spawn(crate::follow::follow(Arc::downgrade(&shared), events));
        IsrLayer { shared }
    }

    /// The state of the shared store, when this node is one of several.
    pub fn cluster_status(&self) -> Option<ClusterStatus> {
        self.shared.cluster.as_ref().map(|cluster| cluster.status())
    }

    /// Load the purges recorded by earlier runs, so a restart honours every purge.
    /// Returns how many records there are.
    pub async fn restore_purges(&self) -> Result<usize, StoreError> {
        self.shared.restore_purges().await
    }

    /// Wait until every render running on its own (background regenerations, renders
    /// whose client left) has finished and stored its page: what a graceful stop awaits
    /// once no request is in flight. Renders started meanwhile are awaited too.
    pub async fn finish_background_renders(&self) {
        self.shared.finish_background().await;
    }

    /// What the engine has done so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The store entries live in.
    pub fn store(&self) -> &Arc<TieredStore> {
        &self.shared.store
    }

    /// Tell `observer` of every purge recorded by this layer's services from now on.
    pub fn observe_purges(&self, observer: Arc<dyn PurgeObserver>) {
        self.shared.purge_observers.add(observer);
    }
}

impl<S, B> Layer<S> for IsrLayer
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Service = IsrService;

    fn layer(&self, inner: S) -> IsrService {
        let renderer = Arc::new(ServiceRenderer(inner));
        IsrService {
            engine: Arc::new(Engine::new(Arc::clone(&self.shared), renderer)),
        }
    }
}

/// A service answering from the cache, rendering through the wrapped service on a miss.
/// Never fails: origin trouble becomes a 502/504 answer (or the last good page).
#[derive(Clone)]
pub struct IsrService {
    engine: Arc<Engine>,
}

impl IsrService {
    /// A handle to purge, regenerate and inspect this service's cache.
    pub fn handle(&self) -> Isr {
        Isr::new(Arc::clone(&self.engine))
    }
}

impl<B> Service<Request<B>> for IsrService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        match self.engine.call(request) {
            Answer::Ready(response) => ResponseFuture(State::Ready(Some(response))),
            Answer::Pending(future) => ResponseFuture(State::Pending(future)),
        }
    }
}

/// The future of an [`IsrService`] answer: already complete for hits (no allocation), or
/// the boxed work of a miss.
pub struct ResponseFuture(State);

enum State {
    Ready(Option<Response<Body>>),
    Pending(BoxFuture<Response<Body>>),
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            State::Ready(response) => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending, // polled after completion: never resolves again
            },
            State::Pending(future) => future.as_mut().poll(cx).map(Ok),
        }
    }
}
