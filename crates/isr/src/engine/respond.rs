//! Turning the flow's answers ([`isr_core::flow::answer`], [`isr_core::serve`]) into
//! `Response<Body>`, and counting them.
//!
//! Invariants:
//! - Every answer from an entry or from the origin is counted once, under its cache
//!   status; error answers are not counted (they are neither hits nor renders).
//! - An entry's body is shared, never copied.

use std::sync::Arc;

use http::Response;
use http::request::Parts;
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::flow::answer::{ErrorAnswer, Reply, mark};
use isr_core::headers::CacheStatus;

use crate::body::Body;
use crate::engine::shared::Engine;

impl Engine {
    /// Answer from a cached entry: full, `HEAD`, or `304 Not Modified`.
    pub(super) fn serve(
        &self,
        entry: &Entry,
        status: CacheStatus,
        request: &Parts,
        now: UnixMillis,
    ) -> Response<Body> {
        self.shared.counters.answered(status);
        let served = isr_core::serve::serve(entry, status, &request.method, &request.headers, now);
        let mut response = Response::new(served.body.map_or_else(Body::empty, Body::full));
        *response.status_mut() = served.status;
        *response.headers_mut() = served.headers;
        // For a CDN in front: the entry's tags, so a purge by tag there reaches it too.
        let cdn = &self.shared.config.ops.cdn;
        cdn.mark_tags(response.headers_mut(), &entry.tags);
        response
    }

    /// Mark (and count) an answer passed on from the origin (`detail`: why it was not
    /// stored).
    pub(super) fn mark(
        &self,
        response: &mut Response<Body>,
        status: CacheStatus,
        detail: Option<&str>,
    ) {
        self.shared.counters.answered(status);
        let fwd_status = response.status();
        mark(response.headers_mut(), status, Some(fwd_status), detail);
    }

    /// The response for the flow's `reply` to `request`.
    pub(super) fn reply(
        &self,
        reply: Reply<Response<Body>, Arc<Entry>>,
        request: &Parts,
    ) -> Response<Body> {
        let now = self.now();
        match reply {
            Reply::Entry { entry, status } => self.serve(&entry, status, request, now),
            Reply::Fallback(stale) => self.serve(&stale, CacheStatus::Stale, request, now),
            Reply::Pass {
                mut response,
                status,
                keeps_body,
                too_large: _,
                detail,
            } => {
                self.mark(&mut response, status, detail);
                if !keeps_body {
                    *response.body_mut() = Body::empty();
                }
                response
            }
            Reply::Error(error) => error_response(&error),
        }
    }
}

/// A plain-text error answer that no cache may keep.
pub(crate) fn error_response(error: &ErrorAnswer) -> Response<Body> {
    let mut response = Response::new(Body::full(error.body()));
    *response.status_mut() = error.code;
    *response.headers_mut() = error.headers();
    response
}
