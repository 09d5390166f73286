//! What may be cached, and for how long.
//!
//! Invariants:
//! - Nothing private is ever stored: a request with `Authorization`, or a response with
//!   `Set-Cookie`, `private`, `no-store`, `no-cache` or `Vary: *`, is never storable,
//!   whatever a route says.
//! - A route's explicit `revalidate` wins over the origin's `s-maxage`; the origin's
//!   headers steer only what the route leaves open.
//! - A request that matches no route is stored only if the origin explicitly allows a
//!   shared cache to keep it (`s-maxage`, or `public` with `max-age`; RFC 9111 §3).

// TODO(helper: policy) implement; types below are the contract.

/// How long after creation an entry is fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Revalidate {
    /// Fresh for this many seconds (always > 0: 0 means "do not cache" and never gets here).
    After(u64),
    /// Fresh until purged (`revalidate = false`).
    Never,
}

/// The lifetime of one stored entry, measured from its creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lifetime {
    pub revalidate: Revalidate,
    /// Seconds after creation past which the entry may no longer be served stale without
    /// a render. `None`: never expires. Always ≥ the revalidate time when both are finite.
    pub expire: Option<u64>,
    /// Seconds past `expire` during which the entry is still served if a render fails.
    pub stale_if_error: u64,
}

/// Cache policy a route sets. `None` fields are left to the origin's headers and then
/// to the [`CacheDefaults`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteCachePolicy {
    /// `Some(None)` is not representable on purpose: `revalidate = 0` routes are pass-through
    /// and never reach the policy (see [`crate::config::RouteRevalidate`]).
    pub revalidate: Option<Revalidate>,
    pub expire: Option<u64>,
    pub stale_if_error: Option<u64>,
}

/// Site-wide defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheDefaults {
    /// Revalidate time for matched routes when neither the route nor the origin sets one.
    pub revalidate: Revalidate,
    /// Expire (max staleness from creation) when neither the route nor the origin sets one.
    pub expire: Option<u64>,
    /// stale-if-error window when the origin sends none.
    pub stale_if_error: u64,
    /// Statuses other than 200 that may be stored, each with its own revalidate cap
    /// (seconds): e.g. 301, 308, 404, 410. Statuses not listed are never stored.
    pub status_revalidate: Vec<(u16, u64)>,
}

impl Default for CacheDefaults {
    fn default() -> Self {
        CacheDefaults {
            revalidate: Revalidate::After(60),
            expire: Some(31_536_000),
            stale_if_error: 86_400,
            status_revalidate: vec![(301, 300), (308, 300), (404, 10), (410, 60)],
        }
    }
}

/// Why a request skips the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BypassReason {
    #[error("method is not GET or HEAD")]
    Method,
    #[error("request carries Authorization")]
    Authorization,
    #[error("request carries a body")]
    RequestBody,
    #[error("route has revalidate = 0")]
    RouteNoCache,
}

/// Why a response is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoStoreReason {
    #[error("status {0} is not storable")]
    Status(u16),
    #[error("response sets a cookie")]
    SetCookie,
    #[error("Cache-Control: private")]
    Private,
    #[error("Cache-Control: no-store")]
    NoStore,
    #[error("Cache-Control: no-cache")]
    NoCache,
    #[error("max-age=0 without s-maxage")]
    ZeroMaxAge,
    #[error("Vary: *")]
    VaryStar,
    #[error("Vary on a request header that is not part of the key")]
    VaryUnkeyed,
    #[error("no route matched and the origin did not allow shared caching")]
    NotExplicitlyCacheable,
    #[error("a response header contains a control character")]
    BadHeader,
}

use http::{HeaderMap, Method, StatusCode};

/// Whether a request may be answered from (and stored in) the cache at all.
/// GET and HEAD only; never with `Authorization` (RFC 9111 §3.5).
pub fn classify_request(method: &Method, headers: &HeaderMap) -> Result<(), BypassReason> {
    let _ = (method, headers);
    todo!("helper: policy")
}

/// Whether a response may be stored, and with which lifetime.
///
/// `route` is the matched route's policy (`None`: no route matched, so only an explicit
/// shared-cache permission from the origin makes it storable). `keyed_vary` lists the
/// request headers the key already accounts for (lower-case); a `Vary` on any other header
/// makes the response unstorable.
pub fn storability(
    status: StatusCode,
    headers: &HeaderMap,
    route: Option<&RouteCachePolicy>,
    defaults: &CacheDefaults,
    keyed_vary: &[&str],
) -> Result<Lifetime, NoStoreReason> {
    let _ = (status, headers, route, defaults, keyed_vary);
    todo!("helper: policy")
}
