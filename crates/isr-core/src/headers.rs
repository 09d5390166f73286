//! The headers isr stores, forwards and answers with.
//!
//! Invariants:
//! - Hop-by-hop headers (RFC 9110 §7.6.1, and any named in `Connection`) are neither
//!   stored nor forwarded.
//! - Stored headers never include `Set-Cookie`, `Age`, `Date`, `Content-Length`,
//!   `Transfer-Encoding`, or isr's own status headers; a header value with a control
//!   character makes the response unstorable.
//! - Request headers that could steer the origin without being keyed (`X-Forwarded-Host`,
//!   `X-Original-URL`, `X-Rewrite-URL`, `X-HTTP-Method-Override`, ...) are never forwarded.

// TODO(helper: policy) implement.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::UnixMillis;
use crate::policy::Lifetime;

/// The cache status header isr answers with.
pub const X_ISR_CACHE: HeaderName = HeaderName::from_static("x-isr-cache");
/// Mirror of [`X_ISR_CACHE`] for tools that read Next.js's header.
pub const X_NEXTJS_CACHE: HeaderName = HeaderName::from_static("x-nextjs-cache");
/// Recursion guard: isr's own renders carry this header with a per-process secret.
pub const X_ISR_RENDER: HeaderName = HeaderName::from_static("x-isr-render");
/// Tags the origin assigns to a response (comma-separated), like `Cache-Tag`.
pub const X_ISR_TAGS: HeaderName = HeaderName::from_static("x-isr-tags");
/// Cloudflare-style tag header, also read for tags.
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

/// Longest tag accepted, and most tags per entry (Next.js uses the same limits).
pub const MAX_TAG_LEN: usize = 256;
pub const MAX_TAGS: usize = 128;

/// How an answer relates to the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    Hit,
    Stale,
    Miss,
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Stale => "STALE",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// `Cache-Control` for answers that must not be kept anywhere (bypass).
pub const PRIVATE_NO_STORE: HeaderValue = HeaderValue::from_static("private, no-store");

/// True for hop-by-hop header names (not counting those listed in `Connection`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    let _ = name;
    todo!("helper: policy")
}

/// Remove hop-by-hop headers, including every header named in `Connection`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let _ = headers;
    todo!("helper: policy")
}

/// Remove request headers that must never reach the origin from a client (see the
/// module invariants), including a client-sent [`X_ISR_RENDER`].
pub fn remove_unkeyed_steering(headers: &mut HeaderMap) {
    let _ = headers;
    todo!("helper: policy")
}

/// The response headers to store, or `None` if a value has a control character.
pub fn storable_headers(headers: &HeaderMap) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let _ = headers;
    todo!("helper: policy")
}

/// Tags the origin assigned in `x-isr-tags` and `cache-tag` (comma-separated, trimmed,
/// empty and over-long ones dropped, duplicates removed, at most [`MAX_TAGS`]).
pub fn origin_tags(headers: &HeaderMap) -> Vec<String> {
    let _ = headers;
    todo!("helper: policy")
}

/// The `Cache-Control` isr sends downstream for a cached entry, computed the way Next.js
/// does: `s-maxage=R, stale-while-revalidate=E-R`; `s-maxage=R` when E ≤ R or there is no
/// stale window; `s-maxage=31536000` for `revalidate = false`.
pub fn downstream_cache_control(lifetime: &Lifetime) -> HeaderValue {
    let _ = lifetime;
    todo!("helper: policy")
}

/// True when the request's `If-None-Match` matches `etag` (weak comparison, `*`, lists),
/// or, without `If-None-Match`, its `If-Modified-Since` is at or after `last_modified`.
pub fn is_not_modified(request: &HeaderMap, etag: &str, last_modified: UnixMillis) -> bool {
    let _ = (request, etag, last_modified);
    todo!("helper: policy")
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(t: UnixMillis) -> HeaderValue {
    let _ = t;
    todo!("helper: policy")
}

/// A strong ETag computed from a body: `"` + 16 hex digits of xxh3-64 + `"`.
pub fn body_etag(body: &[u8]) -> String {
    let _ = body;
    todo!("helper: policy")
}
