//! What may be cached, and for how long.
//!
//! Invariants:
//! - Nothing private is ever stored: a request with `Authorization`, or a response with
//!   `Set-Cookie`, `private`, `no-store`, `no-cache` or `Vary: *`, is never storable,
//!   whatever a route says.
//! - What a request's credentials may have shaped is never stored: without a route, an
//!   answer to a render that carried a `Cookie` is stored only when the origin addresses
//!   shared caches explicitly (`s-maxage`, `CDN-Cache-Control`).
//! - A route's explicit `revalidate` wins over the origin's `s-maxage`; the origin's
//!   headers steer only what the route leaves open.
//! - A request that matches no route is a standard shared cache's (RFC 9111 §3, §4.2): it
//!   is stored only with a freshness lifetime (`s-maxage`, `max-age`, `Expires`, or the
//!   heuristic one from `Last-Modified`) that its upstream `Age` has not used up, and is
//!   fresh for what is left.
//!   It is served stale only as its origin grants (`stale-while-revalidate`), and never
//!   on error under `must-revalidate`, `proxy-revalidate` or `s-maxage` unless
//!   `stale-if-error` says so.

use http::{HeaderMap, Method, StatusCode, header};

use crate::UnixMillis;
use crate::cache_control::CacheControl;
use crate::granted::Granted;
use crate::headers::has_control_char;

pub use crate::lifetime::{Lifetime, Revalidate};

/// Cache policy a route sets. `None` fields are left to the origin's headers and then
/// to the [`CacheDefaults`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteCachePolicy {
    /// `Some(None)` is not representable on purpose: `revalidate = 0` routes are pass-through
    /// (`RouteMode::PassThrough` in the configuration) and never reach the policy.
    pub revalidate: Option<Revalidate>,
    /// Seconds after which an entry is never served again, not even on error.
    pub expire: Option<u64>,
    /// Seconds a stale entry may be served when its regeneration fails.
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
    /// The method is not `GET` or `HEAD`.
    Method,
    #[error("request carries Authorization")]
    /// The request carries `Authorization`.
    Authorization,
    #[error("request carries a body")]
    /// The request carries a body.
    RequestBody,
    #[error("route has revalidate = 0")]
    /// The route has `revalidate = 0`.
    RouteNoCache,
    #[error("request carries the draft/preview bypass token")]
    /// The request carries the draft/preview bypass token.
    Draft,
    #[error("request carries a session cookie (bypass_cookies)")]
    /// The request carries a cookie `bypass_cookies` names (a logged-in visitor).
    Session,
}

impl BypassReason {
    /// Is the answer private to this visitor (a draft, a session), so isr tells every
    /// cache after it not to store it (`Cache-Control: private, no-store`)?
    pub fn is_private(self) -> bool {
        matches!(self, BypassReason::Draft | BypassReason::Session)
    }
}

impl NoStoreReason {
    /// What to change so pages like this one are cached, where isr can tell (a default
    /// Astro, SvelteKit or Nuxt app sends no Cache-Control: nothing is cached until it does
    /// or a route says how long).
    pub fn hint(self) -> Option<&'static str> {
        match self {
            NoStoreReason::NoFreshness => Some(
                "add a [[route]] for it with `revalidate = <seconds>` to isr.toml, or have the \
                 page send `Cache-Control: s-maxage=<seconds>`",
            ),
            _ => None,
        }
    }
}

/// Why a response is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoStoreReason {
    #[error("status {0} is not storable")]
    /// The status code is not storable.
    Status(u16),
    #[error("response sets a cookie")]
    /// The answer sets a cookie.
    SetCookie,
    #[error("Cache-Control: private")]
    /// `Cache-Control: private`.
    Private,
    #[error("Cache-Control: no-store")]
    /// `Cache-Control: no-store`.
    NoStore,
    #[error("Cache-Control: no-cache")]
    /// `Cache-Control: no-cache`.
    NoCache,
    #[error("max-age=0 without s-maxage")]
    /// `max-age=0` without `s-maxage`.
    ZeroMaxAge,
    #[error("Vary: *")]
    /// `Vary: *`.
    VaryStar,
    #[error("Vary on a request header that is not part of the key")]
    /// `Vary` names a request header that is not part of the key.
    VaryUnkeyed,
    /// No route matched, and the origin gave no freshness lifetime (or its `Age` used it up).
    #[error(
        "no route matched and the origin gave no freshness lifetime left (s-maxage, max-age or Expires, minus Age)"
    )]
    NoFreshness,
    #[error("a response header contains a control character")]
    /// A response header contains a control character.
    BadHeader,
    #[error("the body is in a content coding the runtime did not decode")]
    /// The body is still in a content coding (only identity bodies are stored).
    Encoded,
    /// No route matched, the render carried the client's credentials (`Cookie`), and the
    /// origin did not address shared caches explicitly.
    #[error(
        "the request carried a Cookie and the origin did not address shared caches (s-maxage or CDN-Cache-Control)"
    )]
    Credentials,
}

impl NoStoreReason {
    /// A short token for the `detail` of `Cache-Status`.
    pub fn detail(self) -> &'static str {
        match self {
            NoStoreReason::Status(_) => "status",
            NoStoreReason::SetCookie => "set-cookie",
            NoStoreReason::Private => "private",
            NoStoreReason::NoStore => "no-store",
            NoStoreReason::NoCache => "no-cache",
            NoStoreReason::ZeroMaxAge => "max-age-0",
            NoStoreReason::VaryStar => "vary-star",
            NoStoreReason::VaryUnkeyed => "vary-unkeyed",
            NoStoreReason::NoFreshness => "no-freshness",
            NoStoreReason::BadHeader => "bad-header",
            NoStoreReason::Credentials => "cookie",
            NoStoreReason::Encoded => "encoded",
        }
    }
}

/// What a storable answer is stored with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Storable {
    /// How long the entry lives, from its creation.
    pub lifetime: Lifetime,
    /// Seconds the answer had already aged upstream (its `Age`), added to every `Age` isr
    /// answers with (RFC 9111 §4.2.3).
    pub age: u64,
}

/// Whether a request may be answered from (and stored in) the cache at all.
/// GET and HEAD only; never with `Authorization` (RFC 9111 §3.5).
pub fn classify_request(method: &Method, headers: &HeaderMap) -> Result<(), BypassReason> {
    if method != Method::GET && method != Method::HEAD {
        return Err(BypassReason::Method);
    }
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(BypassReason::Authorization);
    }
    Ok(())
}

/// Whether a response may be stored, and with which lifetime.
///
/// `route` is the matched route's policy (`None`: no route matched, so only a freshness
/// lifetime the origin grants makes it storable). `keyed_vary` lists the request headers
/// the key already accounts for (lower-case); a `Vary` on any other header makes the
/// response unstorable. `started`: when the render started (an `Expires` without `Date`
/// counts from there).
pub fn storability(
    status: StatusCode,
    headers: &HeaderMap,
    route: Option<&RouteCachePolicy>,
    defaults: &CacheDefaults,
    keyed_vary: &[&str],
    started: UnixMillis,
) -> Result<Storable, NoStoreReason> {
    let status_cap = status_revalidate_cap(status, route.is_some(), defaults)?;
    if headers.contains_key(header::SET_COOKIE) {
        return Err(NoStoreReason::SetCookie);
    }
    check_vary(headers, keyed_vary)?;
    if headers.values().any(|v| has_control_char(v.as_bytes())) {
        return Err(NoStoreReason::BadHeader);
    }
    let cc = CacheControl::for_shared_cache(headers).unwrap_or_default();
    check_directives(&cc)?;
    let granted = Granted::from_headers(&cc, status, headers, started);
    // A heuristic lifetime only where no route decides: a route has its own default.
    let heuristic = || {
        route
            .is_none()
            .then(|| granted.heuristic_remaining())
            .flatten()
    };
    let origin_revalidate = granted
        .remaining()
        .or_else(heuristic)
        .filter(|&secs| secs > 0);
    if route.is_none() && origin_revalidate.is_none() {
        return Err(NoStoreReason::NoFreshness);
    }
    let lifetime = base_lifetime(route, &cc, origin_revalidate, defaults);
    Ok(Storable {
        lifetime: normalised(apply_status_cap(lifetime, status_cap)),
        age: granted.age,
    })
}

/// Whether an answer to a render that carried the client's credentials (`credentialed`:
/// its `Cookie`) may be stored. On a route, yes: a route's render never carries them.
/// Without one, only when the origin addresses shared caches explicitly, with `s-maxage`
/// or `CDN-Cache-Control` (as Next.js does for ISR pages): `public` or `max-age` alone can
/// come from a rule by file extension that knows nothing of the user the page shows (web
/// cache deception: `/account;x.css` rendered with the victim's cookie).
pub fn credentials_allow_storing(
    routed: bool,
    credentialed: bool,
    headers: &HeaderMap,
) -> Result<(), NoStoreReason> {
    if routed || !credentialed {
        return Ok(());
    }
    let addresses_shared_caches = headers.contains_key(crate::headers::CDN_CACHE_CONTROL)
        || CacheControl::from_headers(headers, header::CACHE_CONTROL.as_str())
            .s_maxage
            .is_some();
    if addresses_shared_caches {
        Ok(())
    } else {
        Err(NoStoreReason::Credentials)
    }
}

/// `Ok(None)` for 200 (no cap), `Ok(Some(cap))` for a listed status, else the refusal.
/// Without a route (`routed` false) an unlisted final status is storable too, uncapped,
/// as RFC 9111 §3 lets a shared cache store any status it understands when the origin
/// gives it an explicit freshness lifetime (checked after this).
///
/// Some statuses are refused even when listed: 1xx, 206, 304 and 5xx are either not
/// complete representations or transient failures that must not be replayed; so is 204
/// on a route, whose pages are documents.
fn status_revalidate_cap(
    status: StatusCode,
    routed: bool,
    defaults: &CacheDefaults,
) -> Result<Option<u64>, NoStoreReason> {
    if status == StatusCode::OK {
        return Ok(None);
    }
    let refused = Err(NoStoreReason::Status(status.as_u16()));
    if is_never_storable(status) || (routed && status == StatusCode::NO_CONTENT) {
        return refused;
    }
    match defaults
        .status_revalidate
        .iter()
        .find(|(code, _)| *code == status.as_u16())
    {
        // A cap of 0 would mean "fresh for 0 seconds", i.e. do not cache.
        Some(&(_, cap)) if cap > 0 => Ok(Some(cap)),
        Some(_) => refused,
        None if routed => refused,
        None => Ok(None),
    }
}

fn is_never_storable(status: StatusCode) -> bool {
    status.is_informational()
        || status.is_server_error()
        || matches!(
            status,
            StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
        )
}

/// `Vary: *` is never storable; a `Vary` on a header the key ignores would serve one
/// client's variant to another.
fn check_vary(headers: &HeaderMap, keyed_vary: &[&str]) -> Result<(), NoStoreReason> {
    let varied: Vec<&[u8]> = headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|name| !name.is_empty())
        .collect();
    if varied.iter().any(|name| *name == b"*") {
        return Err(NoStoreReason::VaryStar);
    }
    let is_keyed = |name: &[u8]| {
        keyed_vary
            .iter()
            .any(|keyed| keyed.as_bytes().eq_ignore_ascii_case(name))
    };
    if varied.iter().all(|name| is_keyed(name)) {
        Ok(())
    } else {
        Err(NoStoreReason::VaryUnkeyed)
    }
}

/// Refusals the origin's directives impose, whatever the route says.
fn check_directives(cc: &CacheControl) -> Result<(), NoStoreReason> {
    if cc.private {
        return Err(NoStoreReason::Private);
    }
    if cc.no_store {
        return Err(NoStoreReason::NoStore);
    }
    if cc.no_cache {
        return Err(NoStoreReason::NoCache);
    }
    let zero_max_age = cc.max_age == Some(0) && cc.s_maxage.is_none();
    if zero_max_age || cc.s_maxage == Some(0) {
        return Err(NoStoreReason::ZeroMaxAge);
    }
    Ok(())
}

/// The lifetime before any status cap and normalisation: route first, then origin, then
/// defaults.
fn base_lifetime(
    route: Option<&RouteCachePolicy>,
    cc: &CacheControl,
    origin_revalidate: Option<u64>,
    defaults: &CacheDefaults,
) -> Lifetime {
    let route_revalidate = route.and_then(|r| r.revalidate);
    let revalidate = route_revalidate
        .or(origin_revalidate.map(Revalidate::After))
        .unwrap_or(defaults.revalidate);
    // Stale-while-revalidate only extends a revalidate time the origin itself chose
    // (Next.js sends `s-maxage=R, stale-while-revalidate=E-R`).
    let origin_expire = match (
        route_revalidate,
        origin_revalidate,
        cc.stale_while_revalidate,
    ) {
        (None, Some(r), Some(swr)) => Some(r.saturating_add(swr)),
        (None, Some(_), None) if cc.stale_while_revalidate_unbounded => defaults.expire,
        _ => None,
    };
    let expire = match route {
        Some(route) => route.expire.or(origin_expire).or(defaults.expire),
        // No route and no stale window: nothing allows serving it stale.
        None => origin_expire.or(origin_revalidate),
    };
    // Without a route, `must-revalidate`, `proxy-revalidate` and `s-maxage` (which implies
    // `proxy-revalidate`, RFC 9111 §5.2.2.10) forbid a stale answer on error too, unless
    // the origin grants one explicitly (RFC 9111 §5.2.2.2, RFC 5861 §4).
    let refuses_stale =
        route.is_none() && (cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage.is_some());
    let stale_if_error = route
        .and_then(|r| r.stale_if_error)
        .or(cc.stale_if_error)
        .unwrap_or(if refuses_stale {
            0
        } else {
            defaults.stale_if_error
        });
    Lifetime {
        revalidate,
        expire,
        stale_if_error,
    }
}

/// Cap the revalidate time of a non-200 response (`Never` becomes the cap).
fn apply_status_cap(lifetime: Lifetime, cap: Option<u64>) -> Lifetime {
    let Some(cap) = cap else {
        return lifetime;
    };
    let revalidate = match lifetime.revalidate {
        Revalidate::After(secs) => Revalidate::After(secs.min(cap)),
        Revalidate::Never => Revalidate::After(cap),
    };
    Lifetime {
        revalidate,
        ..lifetime
    }
}

/// Enforce the [`Lifetime`] invariants: no expiry without a revalidate time, and
/// expire ≥ revalidate when both are finite.
fn normalised(lifetime: Lifetime) -> Lifetime {
    let expire = match lifetime.revalidate {
        Revalidate::Never => None,
        Revalidate::After(secs) => lifetime.expire.map(|expire| expire.max(secs)),
    };
    Lifetime { expire, ..lifetime }
}

#[cfg(test)]
mod tests;
