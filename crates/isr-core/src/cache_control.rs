//! `Cache-Control` and `CDN-Cache-Control` (RFC 9111 §5.2, RFC 9213) parsing.
//!
//! Invariants:
//! - Parsing never fails: unknown directives are ignored, a malformed delta-seconds makes
//!   that directive absent, and values above `u32::MAX` saturate.
//! - Several header lines are one list. A directive given twice keeps the most
//!   restrictive value (the smaller number).

// TODO(helper: policy) implement.

use http::HeaderMap;

/// The directives isr acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    pub s_maxage: Option<u64>,
    pub max_age: Option<u64>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
    pub public: bool,
    pub private: bool,
    pub no_store: bool,
    pub no_cache: bool,
    pub must_revalidate: bool,
}

impl CacheControl {
    /// Parse every value of `name` in `headers` as one directive list.
    pub fn from_headers(headers: &HeaderMap, name: &str) -> CacheControl {
        let _ = (headers, name);
        todo!("helper: policy")
    }

    /// The policy a shared cache follows (RFC 9213): `CDN-Cache-Control` when the response
    /// has one, else `Cache-Control`. `None` when the response has neither.
    pub fn for_shared_cache(headers: &HeaderMap) -> Option<CacheControl> {
        let _ = headers;
        todo!("helper: policy")
    }
}
