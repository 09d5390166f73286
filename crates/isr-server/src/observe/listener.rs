//! The metrics listener: `/metrics` (Prometheus text), `/healthz` (alive) and `/readyz`
//! (ready for traffic), on an address of its own, apart from the public listener.
//!
//! Invariants:
//! - It runs as its own task on its own socket: whatever happens to it (a failed scrape,
//!   a flood of connections) never affects serving.
//! - Bad input is a clear 4xx, never a panic: any query string is 400 (these endpoints
//!   take no parameters), an unknown path 404, a method other than GET or HEAD 405.
//! - `/readyz` is 503 while draining, when the on-disk store cannot be read, or when
//!   the shared store (Redis) is configured and unreachable; the body says which.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use isr::Isr;
use isr_store::DiskStore;
use tokio::net::TcpListener;

use super::exporter::Telemetry;

/// What the metrics listener reads.
pub struct Watched {
    /// The proxy's cache.
    pub isr: Isr,
    /// Its on-disk tier, if it has one.
    pub disk: Option<Arc<DiskStore>>,
    /// Its recorder.
    pub telemetry: Arc<Telemetry>,
    /// Set when the proxy stops taking new work.
    pub draining: Arc<AtomicBool>,
}

/// The metrics listener's routes.
pub fn router(watched: Watched) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async {
            text(
                StatusCode::NOT_FOUND,
                "not found: this listener serves /metrics, /healthz and /readyz\n".to_owned(),
            )
        })
        .with_state(Arc::new(watched))
}

/// Serve `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(error) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(%error, "the metrics listener stopped");
    }
}

fn text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// These endpoints take no parameters: a query is a mistake worth saying so.
fn refused_query(query: Option<&str>) -> Option<Response> {
    query.map(|_| {
        text(
            StatusCode::BAD_REQUEST,
            "this endpoint takes no query parameters\n".to_owned(),
        )
    })
}

async fn metrics(State(watched): State<Arc<Watched>>, RawQuery(query): RawQuery) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    let body = watched
        .telemetry
        .render(&watched.isr, watched.disk.as_deref())
        .await;
    let mut response = text(StatusCode::OK, body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn healthz(RawQuery(query): RawQuery) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    text(StatusCode::OK, "ok\n".to_owned())
}

async fn readyz(State(watched): State<Arc<Watched>>, RawQuery(query): RawQuery) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    let mut problems = Vec::new();
    if watched.draining.load(Ordering::SeqCst) {
        problems.push("draining: the proxy is stopping".to_owned());
    }
    if let Some(disk) = &watched.disk
        && let Err(error) = disk.stats().await
    {
        problems.push(format!("the on-disk store cannot be read: {error}"));
    }
    if let Some(cluster) = watched.isr.cluster()
        && !cluster.up
    {
        problems.push(format!(
            "{} at {} is unreachable",
            cluster.backend, cluster.address
        ));
    }
    if problems.is_empty() {
        text(StatusCode::OK, "ready\n".to_owned())
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", problems.join("; ")),
        )
    }
}
