//! What a request gets once its render (its own, or the one it joined) is over, and the
//! error answers every runtime sends, as parts it converts into its own response type.
//!
//! Invariants:
//! - A failed render is answered with the fallback (the last good page, marked `STALE`)
//!   whenever the request has one; only without one does the failure reach the client.
//! - An origin that did not answer is a `504` (timeout) or `502` (unreachable), never the
//!   origin's own status; a failure status is passed on as the origin sent it.
//! - Every answer is marked with its cache status, in `x-isr-cache` and `x-nextjs-cache`.
//! - An answer to `HEAD` has no body.
//! - An error answer is plain text that no cache may keep (`no-store`).

use std::fmt::Display;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::entry::Entry;
use crate::flow::render::{OriginError, Rendered};
use crate::headers::{CacheStatus, X_ISR_CACHE, X_NEXTJS_CACHE};
use crate::plan::PlanError;

/// Mark an answer with its cache status.
pub fn mark(headers: &mut HeaderMap, status: CacheStatus) {
    headers.insert(X_ISR_CACHE, status.header_value());
    headers.insert(X_NEXTJS_CACHE, status.header_value());
}

/// Does the answer to `method` carry a body? (`HEAD`: never.)
pub fn keeps_body(method: &Method) -> bool {
    method != Method::HEAD
}

/// A plain-text error answer no cache may keep: the runtime sends `code`, [`Self::headers`]
/// and [`Self::body`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorAnswer {
    /// The status code to answer with.
    pub code: StatusCode,
    /// What the cache did, for `x-isr-cache`.
    pub cache_status: CacheStatus,
    /// The text, without its final newline.
    pub message: String,
}

impl ErrorAnswer {
    /// An error answer with this status, cache status and message.
    pub fn new(code: StatusCode, cache_status: CacheStatus, message: impl Into<String>) -> Self {
        ErrorAnswer {
            code,
            cache_status,
            message: message.into(),
        }
    }

    /// The origin did not answer: `504` for a timeout, `502` otherwise.
    pub fn origin<E: Display>(error: &OriginError<E>, cache_status: CacheStatus) -> Self {
        let code = match error {
            OriginError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            OriginError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        };
        ErrorAnswer::new(code, cache_status, format!("isr: {error}"))
    }

    /// A request that cannot be planned: `404` under the admin prefix (where no admin API
    /// answers), `400` otherwise.
    pub fn plan(error: &PlanError) -> Self {
        let code = match error {
            PlanError::Reserved => StatusCode::NOT_FOUND,
            PlanError::Path(_) | PlanError::Host => StatusCode::BAD_REQUEST,
        };
        ErrorAnswer::new(code, CacheStatus::Bypass, format!("isr: {error}"))
    }

    /// A flight this request joined failed, and it has no fallback.
    pub fn render_failed() -> Self {
        ErrorAnswer::new(
            StatusCode::BAD_GATEWAY,
            CacheStatus::Miss,
            "isr: the origin failed to render this page",
        )
    }

    /// The render this request started ended without telling it anything (its task was
    /// lost).
    pub fn render_lost() -> Self {
        ErrorAnswer::new(
            StatusCode::BAD_GATEWAY,
            CacheStatus::Miss,
            "isr: the render ended without an answer",
        )
    }

    /// The status, `Content-Type`, `Cache-Control: no-store` and cache status headers.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        mark(&mut headers, self.cache_status);
        headers
    }

    /// The message and a newline.
    pub fn body(&self) -> Bytes {
        let mut text = String::with_capacity(self.message.len() + 1);
        text.push_str(&self.message);
        text.push('\n');
        Bytes::from(text)
    }
}

/// The answer to a request whose render is over. `F`: the runtime's fallback entry.
#[derive(Debug)]
pub enum Reply<R, F> {
    /// Answer from this entry ([`crate::serve::serve`]), marked `status`.
    Entry {
        /// The entry to answer from.
        entry: Arc<Entry>,
        /// What the cache did.
        status: CacheStatus,
    },
    /// Answer from the fallback, marked [`CacheStatus::Stale`]: the render failed.
    Fallback(F),
    /// Pass the origin's answer on, [`mark`]ed `status`, with its body only if
    /// `keeps_body`. `too_large`: it was not stored because of its size (the Worker says
    /// so in a header).
    Pass {
        /// The origin's answer.
        response: R,
        /// What the cache did.
        status: CacheStatus,
        /// Whether the answer keeps its body (not for `HEAD`).
        keeps_body: bool,
        /// Whether the answer was not stored because of its size.
        too_large: bool,
    },
    /// An error answer.
    Error(ErrorAnswer),
}

/// What the request that rendered (or rendered alone) answers, to `method`, holding
/// `fallback`.
pub fn answer<R, E: Display, F>(
    rendered: Rendered<R, E>,
    fallback: Option<F>,
    method: &Method,
) -> Reply<R, F> {
    if rendered.is_failure()
        && let Some(stale) = fallback
    {
        return Reply::Fallback(stale);
    }
    let keeps_body = keeps_body(method);
    match rendered {
        Rendered::Storable(entry) | Rendered::Found(entry) => Reply::Entry {
            entry,
            status: CacheStatus::Miss,
        },
        Rendered::Uncacheable {
            response,
            too_large,
        } => Reply::Pass {
            response,
            status: CacheStatus::Bypass,
            keeps_body,
            too_large,
        },
        Rendered::FailedStatus(response) => Reply::Pass {
            response,
            status: CacheStatus::Miss,
            keeps_body,
            too_large: false,
        },
        Rendered::Failed(error) => Reply::Error(ErrorAnswer::origin(&error, CacheStatus::Miss)),
    }
}
