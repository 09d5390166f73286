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
    #[error("no route matched and the origin did not allow shared caching")]
    /// No route matched and the origin did not allow shared caching.
    NotExplicitlyCacheable,
    #[error("a response header contains a control character")]
    /// A response header contains a control character.
    BadHeader,
}

use http::{HeaderMap, Method, StatusCode, header};

use crate::cache_control::CacheControl;
use crate::headers::has_control_char;

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
    let status_cap = status_revalidate_cap(status, defaults)?;
    if headers.contains_key(header::SET_COOKIE) {
        return Err(NoStoreReason::SetCookie);
    }
    check_vary(headers, keyed_vary)?;
    if headers.values().any(|v| has_control_char(v.as_bytes())) {
        return Err(NoStoreReason::BadHeader);
    }
    let cc = CacheControl::for_shared_cache(headers).unwrap_or_default();
    check_directives(&cc)?;
    let origin_revalidate = origin_revalidate(&cc);
    if route.is_none() && !explicitly_shared_cacheable(&cc) {
        return Err(NoStoreReason::NotExplicitlyCacheable);
    }
    let lifetime = base_lifetime(route, &cc, origin_revalidate, defaults);
    Ok(normalised(apply_status_cap(lifetime, status_cap)))
}

/// `Ok(None)` for 200 (no cap), `Ok(Some(cap))` for a listed status, else the refusal.
///
/// Some statuses are refused even when listed: 1xx, 204, 206, 304 and 5xx are either not
/// complete representations or transient failures that must not be replayed.
fn status_revalidate_cap(
    status: StatusCode,
    defaults: &CacheDefaults,
) -> Result<Option<u64>, NoStoreReason> {
    if status == StatusCode::OK {
        return Ok(None);
    }
    let refused = Err(NoStoreReason::Status(status.as_u16()));
    if is_never_storable(status) {
        return refused;
    }
    match defaults
        .status_revalidate
        .iter()
        .find(|(code, _)| *code == status.as_u16())
    {
        // A cap of 0 would mean "fresh for 0 seconds", i.e. do not cache.
        Some(&(_, cap)) if cap > 0 => Ok(Some(cap)),
        _ => refused,
    }
}

fn is_never_storable(status: StatusCode) -> bool {
    status.is_informational()
        || status.is_server_error()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
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

/// The freshness lifetime the origin asks a shared cache for: `s-maxage`, else `max-age`.
fn origin_revalidate(cc: &CacheControl) -> Option<u64> {
    cc.s_maxage.or(cc.max_age).filter(|&secs| secs > 0)
}

/// RFC 9111 §3: without a route, only `s-maxage` or `public` + `max-age` lets a shared
/// cache store the response.
fn explicitly_shared_cacheable(cc: &CacheControl) -> bool {
    let s_maxage = cc.s_maxage.is_some_and(|secs| secs > 0);
    let public_max_age = cc.public && cc.max_age.is_some_and(|secs| secs > 0);
    s_maxage || public_max_age
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
    let stale_if_error = route
        .and_then(|r| r.stale_if_error)
        .or(cc.stale_if_error)
        .unwrap_or(defaults.stale_if_error);
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
        storability(status, &map(pairs), route, &defaults(), KEYED)
    }

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
            Ok(lifetime(Revalidate::After(10), Some(60), 86_400))
        );
        assert_eq!(
            store(404, &[], None),
            Err(NoStoreReason::NotExplicitlyCacheable)
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
                storability(status, &HeaderMap::new(), Some(&matched()), &d, KEYED),
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
            storability(
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
            storability(status, &headers, Some(&matched()), &defaults(), &[]),
            Err(NoStoreReason::VaryUnkeyed)
        );
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
            storability(
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
        let pairs = [("cache-control", "s-maxage=10, stale-while-revalidate=50")];
        assert_eq!(
            store(200, &pairs, None),
            Ok(lifetime(Revalidate::After(10), Some(60), 86_400))
        );
    }

    #[test]
    fn nextjs_14_bare_stale_while_revalidate_keeps_serving_stale_until_the_default_expire() {
        let pairs = [("cache-control", "s-maxage=10, stale-while-revalidate")];
        assert_eq!(
            store(200, &pairs, None),
            Ok(lifetime(Revalidate::After(10), Some(31_536_000), 86_400))
        );
    }

    #[test]
    fn no_route_without_permission_is_refused() {
        for value in ["max-age=60", "public", "must-revalidate", ""] {
            let pairs = [("cache-control", value)];
            assert_eq!(
                store(200, &pairs, None),
                Err(NoStoreReason::NotExplicitlyCacheable),
                "{value}"
            );
        }
        assert_eq!(
            store(200, &[], None),
            Err(NoStoreReason::NotExplicitlyCacheable)
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
            storability(
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
            storability(
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
