//! Calling the origin (the wrapped service) for a render, and reading its answer.
//!
//! Invariants:
//! - A render's body is read at most up to the entry size limit; a larger answer is
//!   handed back as a stream (prefix + rest) and never stored.
//! - A render never takes longer than the render timeout to produce a verdict.
//! - An unreachable origin is reported with every cause under hyper's error ("connection
//!   refused", "invalid peer certificate: ..."), not just its first line.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::response::Parts;
use http::{Request, Response};
use http_body_util::BodyExt;
use isr_core::flow::render::OriginError;
use tower::{Service, ServiceExt};

use crate::body::{Body, BoxError};

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Something that answers requests: the origin client, or the app a layer wraps.
pub(crate) trait Renderer: Send + Sync + 'static {
    fn call(&self, request: Request<Body>) -> BoxFuture<Result<Response<Body>, BoxError>>;
}

/// A tower service as a [`Renderer`]: each call uses a fresh clone, so the service's
/// readiness is awaited per request (as tower requires).
pub(crate) struct ServiceRenderer<S>(pub(crate) S);

impl<S, B> Renderer for ServiceRenderer<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, request: Request<Body>) -> BoxFuture<Result<Response<Body>, BoxError>> {
        let service = self.0.clone();
        Box::pin(async move {
            let response = service.oneshot(request).await.map_err(Into::into)?;
            Ok(response.map(Body::stream))
        })
    }
}

/// An origin answer, read.
pub(crate) enum Collected {
    /// The whole body, within the size limit.
    Complete(Parts, Bytes),
    /// The body is larger than the limit: what was read, and the rest still to stream.
    TooLarge(Parts, Body),
}

/// Why a render produced no answer: isr-core's origin error, with hyper's error (and its
/// causes) for an unreachable origin.
pub(crate) type RenderError = OriginError<Unreachable>;

/// An origin that could not be reached, shown with every cause under the error.
#[derive(Debug)]
pub(crate) struct Unreachable(pub(crate) BoxError);

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&with_causes(self.0.as_ref()))
    }
}

/// `error` and its sources, `: `-separated: hyper's "client error (Connect)" says little
/// without the cause under it ("connection refused", "invalid peer certificate: ...").
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source's text in their own.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Send `request` and read the answer, within `timeout`, up to `limit` body bytes.
pub(crate) async fn fetch(
    renderer: &dyn Renderer,
    request: Request<Body>,
    timeout: Duration,
    limit: u64,
) -> Result<Collected, RenderError> {
    let work = async {
        let response = renderer.call(request).await?;
        collect(response, limit).await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(|error| OriginError::Unreachable(Unreachable(error))),
        Err(_) => Err(OriginError::Timeout(timeout)),
    }
}

async fn collect(response: Response<Body>, limit: u64) -> Result<Collected, BoxError> {
    let (parts, mut body) = response.into_parts();
    let mut chunks: VecDeque<Bytes> = VecDeque::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers are not stored
        };
        total = total.saturating_add(data.len() as u64);
        chunks.push_back(data);
        if total > limit {
            return Ok(Collected::TooLarge(parts, Body::prefixed(chunks, body)));
        }
    }
    Ok(Collected::Complete(parts, concat(chunks, total)))
}

/// One buffer from many; the common single-chunk case is not copied.
fn concat(mut chunks: VecDeque<Bytes>, total: u64) -> Bytes {
    if chunks.len() <= 1 {
        return chunks.pop_front().unwrap_or_default();
    }
    let mut buffer = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
    for chunk in chunks {
        buffer.extend_from_slice(&chunk);
    }
    buffer.freeze()
}
