//! Tests of what may be cached, and for how long.

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
