//! isr as a standard shared cache (RFC 9111) wherever no route decides, against the real
//! proxy and a real origin on a manual clock: what is stored and for how long, the headers
//! clients get, and invalidation after unsafe requests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use http::Request;
use isr::Body;
use support::{Fault, Page, TestOrigin, TestProxy};

/// No route but one: everything else is steered by the origin's headers.
const NO_ROUTES: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 600
"#;

async fn setup() -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, NO_ROUTES).await;
    (origin, proxy)
}

#[tokio::test]
async fn max_age_is_reused_for_its_lifetime_with_the_origin_headers_as_sent() {
    let (origin, proxy) = setup().await;
    let cc = "public, max-age=31536000, immutable";
    origin.set(
        "/_astro/app.1a2b.js",
        Page::ok()
            .header("cache-control", cc)
            .header("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    );
    origin.set("/feed", Page::ok().header("cache-control", "max-age=60"));
    let miss = proxy.get("/_astro/app.1a2b.js").await;
    assert_eq!(miss.cache(), "MISS");
    proxy.advance(30);
    let hit = proxy.get("/_astro/app.1a2b.js").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(origin.renders("/_astro/app.1a2b.js"), 1);
    assert_eq!(
        hit.header("cache-control"),
        Some(cc),
        "browsers get what the origin said"
    );
    assert_eq!(
        hit.header("date"),
        Some("Sun, 06 Nov 1994 08:49:37 GMT"),
        "a cache never updates Date"
    );
    assert_eq!(hit.header("age"), Some("30"));

    assert_eq!(proxy.get("/feed").await.cache(), "MISS");
    proxy.advance(59);
    assert_eq!(proxy.get("/feed").await.cache(), "HIT");
    proxy.advance(1);
    let expired = proxy.get("/feed").await;
    assert_eq!(
        expired.cache(),
        "MISS",
        "no stale answer the origin did not grant"
    );
    assert_eq!(origin.renders("/feed"), 2);
}

#[tokio::test]
async fn expires_and_upstream_age_set_the_lifetime() {
    let (origin, proxy) = setup().await;
    // The origin's Date is an hour behind isr's manual clock: only Expires − Date counts.
    origin.set(
        "/expires",
        Page::ok()
            .header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .header("expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
    );
    origin.set(
        "/aged",
        Page::ok()
            .header("cache-control", "max-age=100")
            .header("age", "90"),
    );
    proxy.get("/expires").await;
    proxy.advance(59);
    assert_eq!(proxy.get("/expires").await.cache(), "HIT");
    proxy.get("/aged").await;
    let hit = proxy.get("/aged").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.header("age"), Some("90"), "the upstream age is kept");
    proxy.advance(1);
    assert_eq!(
        proxy.get("/expires").await.cache(),
        "MISS",
        "60 s from Date"
    );
    proxy.advance(9);
    assert_eq!(
        proxy.get("/aged").await.cache(),
        "MISS",
        "100 s of freshness minus 90 s of upstream age"
    );
}

#[tokio::test]
async fn must_revalidate_and_s_maxage_never_answer_stale_on_error() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/strict",
        Page::ok().header("cache-control", "max-age=10, must-revalidate"),
    );
    origin.set("/shared", Page::ok().header("cache-control", "s-maxage=10"));
    origin.set(
        "/granted",
        Page::ok().header("cache-control", "s-maxage=10, stale-if-error=60"),
    );
    for path in ["/strict", "/shared", "/granted"] {
        proxy.get(path).await;
    }
    proxy.advance(11);
    origin.fault(Some(Fault::Error500));
    for path in ["/strict", "/shared"] {
        let answer = proxy.get(path).await;
        assert_eq!(
            answer.status, 500,
            "{path}: the origin's failure, not a stale page"
        );
    }
    let granted = proxy.get("/granted").await;
    assert_eq!((granted.status.as_u16(), granted.cache()), (200, "STALE"));
}

async fn send(proxy: &TestProxy, method: &str, target: &str, host: Option<&str>) -> u16 {
    let mut request = Request::builder().method(method).uri(target);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let answer = proxy.send(request.body(Body::from("form")).unwrap()).await;
    answer.status.as_u16()
}

#[tokio::test]
async fn a_successful_unsafe_request_invalidates_its_target_and_same_origin_locations() {
    let (origin, proxy) = setup().await;
    let cached = Page::ok().header("cache-control", "max-age=600");
    for path in ["/cart", "/cart/summary", "/orders", "/elsewhere", "/blog/a"] {
        origin.set(path, cached.clone());
        proxy.get(path).await;
        assert_eq!(proxy.get(path).await.cache(), "HIT", "{path}");
    }
    // The POST's answer names two more paths: one on this origin, one on another.
    origin.set(
        "/cart",
        cached
            .clone()
            .header("location", "/orders")
            .header("content-location", "http://other.example/elsewhere"),
    );
    assert_eq!(send(&proxy, "POST", "/cart", None).await, 200);
    assert_eq!(proxy.get("/cart").await.cache(), "MISS");
    assert_eq!(proxy.get("/orders").await.cache(), "MISS");
    assert_eq!(
        proxy.get("/elsewhere").await.cache(),
        "HIT",
        "another origin's"
    );
    assert_eq!(
        proxy.get("/cart/summary").await.cache(),
        "HIT",
        "a path below"
    );

    for method in ["PUT", "DELETE", "M-SEARCH"] {
        proxy.get("/cart").await;
        assert_eq!(proxy.get("/cart").await.cache(), "HIT");
        send(&proxy, method, "/cart", None).await;
        assert_eq!(proxy.get("/cart").await.cache(), "MISS", "{method}");
    }

    // A failed unsafe request changes nothing.
    proxy.get("/cart").await;
    origin.fault(Some(Fault::Error500));
    assert_eq!(send(&proxy, "POST", "/cart", None).await, 500);
    origin.fault(None);
    assert_eq!(proxy.get("/cart").await.cache(), "HIT");
}

#[tokio::test]
async fn every_answer_carries_cache_status() {
    let (origin, proxy) = setup().await;
    origin.set("/feed", Page::ok().header("cache-control", "max-age=60"));
    origin.set(
        "/me",
        Page::ok()
            .header("cache-control", "max-age=60")
            .header("set-cookie", "a=1"),
    );
    let status = |answer: &support::Answer| answer.header("cache-status").unwrap_or("").to_owned();
    assert_eq!(
        status(&proxy.get("/feed").await),
        "isr; fwd=uri-miss; fwd-status=200; stored; ttl=60"
    );
    proxy.advance(20);
    assert_eq!(status(&proxy.get("/feed").await), "isr; hit; ttl=40");
    assert_eq!(
        status(&proxy.get("/me").await),
        "isr; fwd=uri-miss; fwd-status=200; detail=set-cookie"
    );
    let post = proxy
        .send(Request::post("/feed").body(Body::from("x")).unwrap())
        .await;
    assert_eq!(status(&post), "isr; fwd=bypass; fwd-status=200");
    assert_eq!(post.cache(), "BYPASS", "x-isr-cache stays");
}

#[tokio::test]
async fn a_stale_entry_is_revalidated_with_its_validators_and_a_304_refreshes_it() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/doc",
        Page::ok()
            .header("cache-control", "max-age=10, must-revalidate")
            .header("etag", "\"v1\"")
            .header("x-version", "1"),
    );
    let first = proxy.get("/doc").await;
    assert_eq!(first.text(), "/doc render #1");
    proxy.advance(11);
    // The origin now answers 304 Not Modified, with fresher headers.
    origin.set(
        "/doc",
        Page::status(304)
            .header("cache-control", "max-age=600")
            .header("etag", "\"v1\"")
            .header("x-version", "2"),
    );
    let revalidated = proxy.get("/doc").await;
    assert_eq!(
        revalidated.status, 200,
        "the client did not ask conditionally"
    );
    assert_eq!(revalidated.text(), "/doc render #1", "the stored body");
    assert_eq!(
        revalidated.header("x-version"),
        Some("2"),
        "headers updated"
    );
    assert_eq!(revalidated.header("cache-control"), Some("max-age=600"));
    let seen = origin.seen();
    let asked = seen.last().unwrap();
    assert_eq!(
        asked
            .headers
            .get("if-none-match")
            .and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    proxy.advance(500);
    let hit = proxy.get("/doc").await;
    assert_eq!(hit.cache(), "HIT", "fresh for the 304's 600 s");
    assert_eq!(hit.text(), "/doc render #1");
    assert_eq!(origin.renders("/doc"), 2);
    // A client's own conditional request is answered from the entry.
    let conditional = proxy
        .send(
            Request::get("/doc")
                .header("if-none-match", "W/\"v1\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(conditional.status, 304);
    assert_eq!(origin.renders("/doc"), 2);
}
