//! A request that may not be cached, forwarded to the origin: the headers it is sent with,
//! and how the origin's answer is finished.
//!
//! Invariants:
//! - What is forwarded has no hop-by-hop header and no header that could steer the origin
//!   unkeyed ([`forwardable`]), and carries the recursion guard.
//! - The client's `Host` reaches the origin only when the host is keyed (`key_host`);
//!   otherwise it becomes `X-Forwarded-Host` (the origin is addressed by its own name).
//! - The answer is marked `BYPASS`, has no hop-by-hop header, and a draft answer is
//!   `private, no-store`: no cache downstream may keep it either.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::flow::answer::{ErrorAnswer, mark};
use crate::headers::{CacheStatus, PRIVATE_NO_STORE, X_ISR_RENDER, forwardable, remove_hop_by_hop};

/// Where a forwarded request carries the client's `Host` when the host is not keyed.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The headers a bypassed request is forwarded with: the client's `headers`, prepared, and
/// the recursion guard `guard` (this deployment's secret).
pub fn forward_headers(headers: HeaderMap, key_host: bool, guard: HeaderValue) -> HeaderMap {
    let mut headers = forwardable(headers);
    if !key_host && let Some(host) = headers.remove(header::HOST) {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(X_ISR_RENDER, guard);
    headers
}

/// Finish the headers of the origin's answer (its `status`) to a bypassed request
/// (`draft`: it carried the draft/preview bypass). Its body goes only if
/// [`crate::flow::answer::keeps_body`].
pub fn finish_answer(headers: &mut HeaderMap, status: http::StatusCode, draft: bool) {
    remove_hop_by_hop(headers);
    mark(headers, CacheStatus::Bypass, Some(status), None);
    if draft {
        headers.insert(header::CACHE_CONTROL, PRIVATE_NO_STORE);
    }
}

/// The answer when the request's target is not a valid URI to forward.
pub fn unforwardable() -> ErrorAnswer {
    ErrorAnswer::new(
        http::StatusCode::BAD_REQUEST,
        CacheStatus::Bypass,
        "isr: the request target cannot be forwarded",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("shop.example"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("x-hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("x-original-url", HeaderValue::from_static("/admin"));
        headers.insert(X_ISR_RENDER, HeaderValue::from_static("forged"));
        headers
    }

    #[test]
    fn host_becomes_x_forwarded_host_unless_keyed_and_the_guard_is_ours() {
        let guard = HeaderValue::from_static("secret");
        let unkeyed = forward_headers(client(), false, guard.clone());
        assert!(!unkeyed.contains_key(header::HOST));
        assert_eq!(unkeyed[X_FORWARDED_HOST], "shop.example");
        assert_eq!(unkeyed[X_ISR_RENDER], "secret");
        assert_eq!(unkeyed[header::COOKIE], "a=1", "a bypass forwards cookies");
        for gone in ["connection", "x-hop", "x-original-url"] {
            assert!(!unkeyed.contains_key(gone), "{gone}");
        }
        let keyed = forward_headers(client(), true, guard);
        assert_eq!(keyed[header::HOST], "shop.example");
        assert!(!keyed.contains_key(X_FORWARDED_HOST));
    }

    #[test]
    fn a_draft_answer_is_private_and_every_answer_is_marked() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("s-maxage=60"),
        );
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        let mut plain = headers.clone();
        finish_answer(&mut plain, http::StatusCode::OK, false);
        assert_eq!(plain[header::CACHE_CONTROL], "s-maxage=60");
        assert_eq!(plain["x-isr-cache"], "BYPASS");
        assert_eq!(plain["x-nextjs-cache"], "BYPASS");
        assert_eq!(plain["cache-status"], "isr; fwd=bypass; fwd-status=200");
        assert!(!plain.contains_key(header::TRANSFER_ENCODING));
        finish_answer(&mut headers, http::StatusCode::OK, true);
        assert_eq!(headers[header::CACHE_CONTROL], "private, no-store");
    }
}
