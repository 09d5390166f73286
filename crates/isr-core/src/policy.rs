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

use http::{HeaderMap, Method, StatusCode, header};

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

use crate::UnixMillis;
use crate::cache_control::CacheControl;
use crate::granted::Granted;
use crate::headers::has_control_char;

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
mod tests {
    use super::*;
    use http::HeaderValue;

    const KEYED: &[&str] = &["accept-encoding"];

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn defaults() -> CacheDefaults {
        CacheDefaults::default()
    }

    fn matched() -> RouteCachePolicy {
        RouteCachePolicy::default()
    }

    fn route(revalidate: Revalidate) -> RouteCachePolicy {
        RouteCachePolicy {
            revalidate: Some(revalidate),
            ..RouteCachePolicy::default()
        }
    }

    fn store(
        status: u16,
        pairs: &[(&'static str, &'static str)],
        route: Option<&RouteCachePolicy>,
    ) -> Result<Lifetime, NoStoreReason> {
        let status = StatusCode::from_u16(status).expect("valid status");
        lifetime_of(status, &map(pairs), route, &defaults(), KEYED)
    }

    fn lifetime_of(
        status: StatusCode,
        headers: &HeaderMap,
        route: Option<&RouteCachePolicy>,
        defaults: &CacheDefaults,
        keyed: &[&str],
    ) -> Result<Lifetime, NoStoreReason> {
        storability(status, headers, route, defaults, keyed, STARTED).map(|s| s.lifetime)
    }

    const STARTED: UnixMillis = UnixMillis(784_111_777_000); // Sun, 06 Nov 1994 08:49:37 GMT

    fn lifetime(revalidate: Revalidate, expire: Option<u64>, sie: u64) -> Lifetime {
        Lifetime {
            revalidate,
            expire,
            stale_if_error: sie,
        }
    }

    // --- requests ---

    #[test]
    fn get_and_head_are_cacheable() {
        assert_eq!(classify_request(&Method::GET, &HeaderMap::new()), Ok(()));
        assert_eq!(classify_request(&Method::HEAD, &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn other_methods_bypass() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert_eq!(
                classify_request(&method, &HeaderMap::new()),
                Err(BypassReason::Method)
            );
        }
    }

    #[test]
    fn authorization_bypasses() {
        let headers = map(&[("authorization", "Bearer x")]);
        assert_eq!(
            classify_request(&Method::GET, &headers),
            Err(BypassReason::Authorization)
        );
        // Even an empty value: its presence is what matters.
        let headers = map(&[("authorization", "")]);
        assert_eq!(
            classify_request(&Method::HEAD, &headers),
            Err(BypassReason::Authorization)
        );
    }

    // --- status ---

    #[test]
    fn ok_with_a_route_uses_defaults() {
        let d = defaults();
        assert_eq!(
            store(200, &[], Some(&matched())),
            Ok(lifetime(d.revalidate, d.expire, d.stale_if_error))
        );
    }

    #[test]
    fn listed_statuses_are_capped() {
        let long = route(Revalidate::After(3600));
        assert_eq!(
            store(301, &[], Some(&long)).map(|l| l.revalidate),
            Ok(Revalidate::After(300))
        );
        assert_eq!(
            store(404, &[], Some(&long)).map(|l| l.revalidate),
            Ok(Revalidate::After(10))
        );
        // A revalidate below the cap is kept.
        let short = route(Revalidate::After(5));
        assert_eq!(
            store(404, &[], Some(&short)).map(|l| l.revalidate),
            Ok(Revalidate::After(5))
        );
    }

    #[test]
    fn cap_turns_never_into_the_cap_and_keeps_an_expire() {
        let never = route(Revalidate::Never);
        assert_eq!(
            store(404, &[], Some(&never)),
            Ok(lifetime(
                Revalidate::After(10),
                defaults().expire,
                defaults().stale_if_error
            ))
        );
    }

    #[test]
    fn cap_clamps_expire_to_the_new_revalidate() {
        let policy = RouteCachePolicy {
            revalidate: Some(Revalidate::After(1000)),
            expire: Some(5),
            stale_if_error: None,
        };
        // Route expire 5 < revalidate capped to 10: expire becomes 10.
        assert_eq!(
            store(404, &[], Some(&policy)).map(|l| (l.revalidate, l.expire)),
            Ok((Revalidate::After(10), Some(10)))
        );
    }

    #[test]
    fn capped_status_without_route_needs_explicit_permission() {
        assert_eq!(
            store(404, &[("cache-control", "s-maxage=60")], None),
            Ok(lifetime(Revalidate::After(10), Some(60), 0))
        );
        assert_eq!(store(404, &[], None), Err(NoStoreReason::NoFreshness));
    }

    #[test]
    fn without_a_route_any_final_status_with_explicit_freshness_is_stored() {
        for code in [203, 204, 299, 302, 303, 307, 400, 499] {
            assert_eq!(
                store(code, &[("cache-control", "max-age=60")], None).map(|l| l.revalidate),
                Ok(Revalidate::After(60)),
                "{code}"
            );
            assert_eq!(store(code, &[], None), Err(NoStoreReason::NoFreshness));
        }
        for code in [100, 206, 304, 500, 503] {
            assert_eq!(
                store(code, &[("cache-control", "max-age=60")], None),
                Err(NoStoreReason::Status(code))
            );
        }
        assert_eq!(
            store(204, &[("cache-control", "max-age=60")], Some(&matched())),
            Err(NoStoreReason::Status(204))
        );
    }

    #[test]
    fn unlisted_statuses_are_refused() {
        for code in [201, 302, 400, 403] {
            assert_eq!(
                store(code, &[], Some(&matched())),
                Err(NoStoreReason::Status(code))
            );
        }
    }

    #[test]
    fn some_statuses_are_never_stored_even_if_listed() {
        let d = CacheDefaults {
            status_revalidate: [100, 204, 206, 304, 500, 502, 503]
                .into_iter()
                .map(|code| (code, 60))
                .collect(),
            ..defaults()
        };
        for code in [100, 204, 206, 304, 500, 502, 503] {
            let status = StatusCode::from_u16(code).expect("valid");
            assert_eq!(
                lifetime_of(status, &HeaderMap::new(), Some(&matched()), &d, KEYED),
                Err(NoStoreReason::Status(code)),
                "{code}"
            );
        }
    }

    #[test]
    fn zero_cap_means_not_storable() {
        let d = CacheDefaults {
            status_revalidate: vec![(404, 0)],
            ..defaults()
        };
        assert_eq!(
            lifetime_of(
                StatusCode::NOT_FOUND,
                &HeaderMap::new(),
                Some(&matched()),
                &d,
                KEYED
            ),
            Err(NoStoreReason::Status(404))
        );
    }

    #[test]
    fn status_is_checked_first() {
        assert_eq!(
            store(
                500,
                &[("set-cookie", "a=1"), ("vary", "*")],
                Some(&matched())
            ),
            Err(NoStoreReason::Status(500))
        );
    }

    // --- privacy ---

    #[test]
    fn set_cookie_is_never_stored() {
        assert_eq!(
            store(
                200,
                &[
                    ("cache-control", "public, max-age=60"),
                    ("set-cookie", "a=1")
                ],
                None
            ),
            Err(NoStoreReason::SetCookie)
        );
        assert_eq!(
            store(
                200,
                &[("set-cookie", "a=1")],
                Some(&route(Revalidate::Never))
            ),
            Err(NoStoreReason::SetCookie)
        );
    }

    #[test]
    fn private_overrides_a_route() {
        let policy = route(Revalidate::After(60));
        assert_eq!(
            store(
                200,
                &[("cache-control", "private, max-age=60")],
                Some(&policy)
            ),
            Err(NoStoreReason::Private)
        );
    }

    #[test]
    fn no_store_and_no_cache_override_a_route() {
        let policy = route(Revalidate::After(60));
        assert_eq!(
            store(200, &[("cache-control", "no-store")], Some(&policy)),
            Err(NoStoreReason::NoStore)
        );
        assert_eq!(
            store(200, &[("cache-control", "no-cache")], Some(&policy)),
            Err(NoStoreReason::NoCache)
        );
    }

    #[test]
    fn nextjs_dynamic_page_header_is_private() {
        let value = "private, no-cache, no-store, max-age=0, must-revalidate";
        assert_eq!(
            store(200, &[("cache-control", value)], Some(&matched())),
            Err(NoStoreReason::Private)
        );
    }

    #[test]
    fn zero_max_age_without_s_maxage_is_refused() {
        assert_eq!(
            store(200, &[("cache-control", "max-age=0")], Some(&matched())),
            Err(NoStoreReason::ZeroMaxAge)
        );
        assert_eq!(
            store(
                200,
                &[("cache-control", "s-maxage=0, max-age=60")],
                Some(&matched())
            ),
            Err(NoStoreReason::ZeroMaxAge)
        );
    }

    #[test]
    fn zero_max_age_with_s_maxage_is_fine() {
        assert_eq!(
            store(200, &[("cache-control", "max-age=0, s-maxage=30")], None).map(|l| l.revalidate),
            Ok(Revalidate::After(30))
        );
    }

    #[test]
    fn cdn_cache_control_wins_over_cache_control() {
        let pairs = [
            ("cache-control", "private, no-store"),
            ("cdn-cache-control", "s-maxage=120"),
        ];
        assert_eq!(
            store(200, &pairs, None).map(|l| l.revalidate),
            Ok(Revalidate::After(120))
        );
        let pairs = [
            ("cache-control", "s-maxage=120"),
            ("cdn-cache-control", "no-store"),
        ];
        assert_eq!(store(200, &pairs, None), Err(NoStoreReason::NoStore));
    }

    // --- Vary ---

    #[test]
    fn vary_star_is_refused() {
        assert_eq!(
            store(200, &[("vary", "Accept-Encoding, *")], Some(&matched())),
            Err(NoStoreReason::VaryStar)
        );
    }

    #[test]
    fn vary_on_an_unkeyed_header_is_refused() {
        assert_eq!(
            store(200, &[("vary", "Accept-Language")], Some(&matched())),
            Err(NoStoreReason::VaryUnkeyed)
        );
        assert_eq!(
            store(
                200,
                &[("vary", "accept-encoding"), ("vary", "cookie")],
                Some(&matched())
            ),
            Err(NoStoreReason::VaryUnkeyed)
        );
    }

    #[test]
    fn vary_on_keyed_headers_is_fine() {
        assert!(store(200, &[("vary", "Accept-Encoding")], Some(&matched())).is_ok());
        assert!(store(200, &[("vary", " accept-encoding ,, ")], Some(&matched())).is_ok());
        assert!(store(200, &[("vary", "")], Some(&matched())).is_ok());
    }

    #[test]
    fn vary_with_nothing_keyed_refuses_any_header() {
        let status = StatusCode::OK;
        let headers = map(&[("vary", "accept-encoding")]);
        assert_eq!(
            lifetime_of(status, &headers, Some(&matched()), &defaults(), &[]),
            Err(NoStoreReason::VaryUnkeyed)
        );
    }

    #[test]
    fn credentials_allow_storing_only_what_addresses_shared_caches() {
        let by_extension = map(&[("cache-control", "public, max-age=600")]);
        assert_eq!(
            credentials_allow_storing(false, true, &by_extension),
            Err(NoStoreReason::Credentials)
        );
        assert_eq!(
            credentials_allow_storing(false, false, &by_extension),
            Ok(())
        );
        assert_eq!(credentials_allow_storing(true, true, &by_extension), Ok(()));
        let isr = map(&[("cache-control", "s-maxage=60, stale-while-revalidate=600")]);
        assert_eq!(credentials_allow_storing(false, true, &isr), Ok(()));
        let cdn = map(&[("cdn-cache-control", "max-age=60")]);
        assert_eq!(credentials_allow_storing(false, true, &cdn), Ok(()));
    }

    #[test]
    fn control_characters_are_refused() {
        // `http` cannot build such a value safely; the check itself is tested in
        // `headers`. Here: ordinary values, tabs and obs-text pass.
        let mut headers = map(&[("x-tab", "a\tb")]);
        headers.insert(
            "x-obs",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is valid"),
        );
        assert!(
            lifetime_of(
                StatusCode::OK,
                &headers,
                Some(&matched()),
                &defaults(),
                KEYED
            )
            .is_ok()
        );
        assert!(crate::headers::has_control_char(b"a\r\nb"));
    }

    // --- no route ---

    #[test]
    fn nextjs_isr_header_works_without_a_route() {
        // Stale while revalidating for as long as granted; past that, `s-maxage` implies
        // `proxy-revalidate`: no stale answer on error either.
        let pairs = [("cache-control", "s-maxage=10, stale-while-revalidate=50")];
        assert_eq!(
            store(200, &pairs, None),
            Ok(lifetime(Revalidate::After(10), Some(60), 0))
        );
    }

    #[test]
    fn nextjs_14_bare_stale_while_revalidate_keeps_serving_stale_until_the_default_expire() {
        let pairs = [("cache-control", "s-maxage=10, stale-while-revalidate")];
        assert_eq!(
            store(200, &pairs, None),
            Ok(lifetime(Revalidate::After(10), Some(31_536_000), 0))
        );
    }

    #[test]
    fn no_route_without_a_freshness_lifetime_is_refused() {
        for value in ["public", "must-revalidate", ""] {
            let pairs = [("cache-control", value)];
            assert_eq!(
                store(200, &pairs, None),
                Err(NoStoreReason::NoFreshness),
                "{value}"
            );
        }
        assert_eq!(store(200, &[], None), Err(NoStoreReason::NoFreshness));
        // An upstream Age that used the lifetime up leaves nothing to be fresh for.
        let used_up = [("cache-control", "max-age=60"), ("age", "60")];
        assert_eq!(store(200, &used_up, None), Err(NoStoreReason::NoFreshness));
        let past = [("expires", "Sun, 06 Nov 1994 08:49:37 GMT")];
        assert_eq!(store(200, &past, None), Err(NoStoreReason::NoFreshness));
    }

    #[test]
    fn no_route_last_modified_gives_a_heuristic_lifetime_and_a_route_keeps_its_own() {
        let pairs = [("last-modified", "Sun, 06 Nov 1994 07:49:37 GMT")]; // 1 h before
        assert_eq!(
            store(200, &pairs, None).map(|l| l.revalidate),
            Ok(Revalidate::After(360))
        );
        assert_eq!(
            store(200, &pairs, Some(&matched())).map(|l| l.revalidate),
            Ok(defaults().revalidate)
        );
    }

    #[test]
    fn no_route_max_age_and_expires_are_stored_as_a_shared_cache_would() {
        // RFC 9111 §3: `max-age` alone lets a shared cache store the answer (replaces the
        // first engine's rule that also asked for `public`).
        let pairs = [("cache-control", "max-age=60")];
        assert_eq!(
            store(200, &pairs, None),
            Ok(lifetime(Revalidate::After(60), Some(60), 86_400))
        );
        let pairs = [("expires", "Sun, 06 Nov 1994 08:59:37 GMT")];
        assert_eq!(
            store(200, &pairs, None).map(|l| l.revalidate),
            Ok(Revalidate::After(600))
        );
        let pairs = [("cache-control", "max-age=0005")];
        assert_eq!(
            store(200, &pairs, None).map(|l| l.revalidate),
            Ok(Revalidate::After(5))
        );
    }

    #[test]
    fn no_route_upstream_age_shortens_the_freshness_and_is_kept() {
        let headers = map(&[("cache-control", "max-age=3600"), ("age", "600")]);
        let stored = storability(StatusCode::OK, &headers, None, &defaults(), KEYED, STARTED);
        assert_eq!(
            stored.map(|s| (s.lifetime.revalidate, s.age)),
            Ok((Revalidate::After(3000), 600))
        );
    }

    #[test]
    fn no_route_must_revalidate_forbids_stale_on_error_unless_granted() {
        for value in [
            "max-age=60, must-revalidate",
            "max-age=60, proxy-revalidate",
        ] {
            let pairs = [("cache-control", value)];
            assert_eq!(
                store(200, &pairs, None).map(|l| l.stale_if_error),
                Ok(0),
                "{value}"
            );
        }
        let pairs = [(
            "cache-control",
            "max-age=60, must-revalidate, stale-if-error=30",
        )];
        assert_eq!(store(200, &pairs, None).map(|l| l.stale_if_error), Ok(30));
    }

    #[test]
    fn cdn_cache_control_max_age_wins_over_a_no_store_cache_control() {
        // RFC 9213: a CDN follows CDN-Cache-Control and ignores Cache-Control.
        let pairs = [
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=120"),
        ];
        assert_eq!(
            store(200, &pairs, None).map(|l| l.revalidate),
            Ok(Revalidate::After(120))
        );
    }

    #[test]
    fn no_route_public_max_age_is_stored_without_stale_serving() {
        let pairs = [("cache-control", "public, max-age=60")];
        assert_eq!(
            store(200, &pairs, None),
            Ok(lifetime(Revalidate::After(60), Some(60), 86_400))
        );
    }

    #[test]
    fn no_route_s_maxage_wins_over_max_age() {
        let pairs = [("cache-control", "public, max-age=600, s-maxage=30")];
        assert_eq!(
            store(200, &pairs, None).map(|l| l.revalidate),
            Ok(Revalidate::After(30))
        );
    }

    #[test]
    fn origin_stale_if_error_is_used() {
        let pairs = [("cache-control", "s-maxage=10, stale-if-error=300")];
        assert_eq!(store(200, &pairs, None).map(|l| l.stale_if_error), Ok(300));
    }

    // --- matched route lifetime ---

    #[test]
    fn route_revalidate_wins_over_origin() {
        let policy = route(Revalidate::After(30));
        let pairs = [("cache-control", "s-maxage=10, stale-while-revalidate=50")];
        // SWR only extends an origin-chosen revalidate, so the default expire applies.
        assert_eq!(
            store(200, &pairs, Some(&policy)),
            Ok(lifetime(Revalidate::After(30), defaults().expire, 86_400))
        );
    }

    #[test]
    fn matched_route_follows_origin_when_open() {
        let pairs = [("cache-control", "s-maxage=10, stale-while-revalidate=50")];
        assert_eq!(
            store(200, &pairs, Some(&matched())),
            Ok(lifetime(Revalidate::After(10), Some(60), 86_400))
        );
        // max-age counts when there is no s-maxage, even without `public` on a route.
        let pairs = [("cache-control", "max-age=45")];
        assert_eq!(
            store(200, &pairs, Some(&matched())),
            Ok(lifetime(Revalidate::After(45), defaults().expire, 86_400))
        );
    }

    #[test]
    fn route_fields_win_over_origin_and_defaults() {
        let policy = RouteCachePolicy {
            revalidate: None,
            expire: Some(500),
            stale_if_error: Some(7),
        };
        let pairs = [(
            "cache-control",
            "s-maxage=10, stale-while-revalidate=50, stale-if-error=300",
        )];
        assert_eq!(
            store(200, &pairs, Some(&policy)),
            Ok(lifetime(Revalidate::After(10), Some(500), 7))
        );
    }

    #[test]
    fn expire_is_clamped_to_revalidate() {
        let policy = RouteCachePolicy {
            revalidate: Some(Revalidate::After(100)),
            expire: Some(10),
            stale_if_error: None,
        };
        assert_eq!(
            store(200, &[], Some(&policy)).map(|l| l.expire),
            Ok(Some(100))
        );
        let d = CacheDefaults {
            expire: Some(5),
            ..defaults()
        };
        assert_eq!(
            lifetime_of(
                StatusCode::OK,
                &HeaderMap::new(),
                Some(&matched()),
                &d,
                KEYED
            )
            .map(|l| l.expire),
            Ok(Some(60))
        );
    }

    #[test]
    fn never_revalidate_never_expires() {
        let policy = RouteCachePolicy {
            revalidate: Some(Revalidate::Never),
            expire: Some(10),
            stale_if_error: None,
        };
        assert_eq!(
            store(200, &[], Some(&policy)),
            Ok(lifetime(Revalidate::Never, None, 86_400))
        );
    }

    #[test]
    fn default_expire_none_means_never_expires() {
        let d = CacheDefaults {
            expire: None,
            ..defaults()
        };
        assert_eq!(
            lifetime_of(
                StatusCode::OK,
                &HeaderMap::new(),
                Some(&matched()),
                &d,
                KEYED
            )
            .map(|l| l.expire),
            Ok(None)
        );
    }

    #[test]
    fn huge_origin_values_saturate() {
        let pairs = [(
            "cache-control",
            "s-maxage=99999999999, stale-while-revalidate=99999999999",
        )];
        let max = u64::from(u32::MAX);
        assert_eq!(
            store(200, &pairs, None).map(|l| (l.revalidate, l.expire)),
            Ok((Revalidate::After(max), Some(max * 2)))
        );
    }
}
