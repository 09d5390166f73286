//! Stale-while-revalidate and single flight, against a real origin through the real proxy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;

use isr_store::testing::{concurrently, until};
use support::{Page, TestOrigin, TestProxy};

const BLOG: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 10
expire = 100
"#;

#[tokio::test]
async fn miss_then_hit_then_stale_then_regenerated() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, BLOG).await;

    let first = proxy.get("/blog/a").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.cache(), "MISS");
    assert_eq!(first.header("x-nextjs-cache"), Some("MISS"));
    assert_eq!(first.text(), "/blog/a render #1");
    assert_eq!(origin.renders("/blog/a"), 1);

    proxy.advance(5);
    let hit = proxy.get("/blog/a").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.text(), "/blog/a render #1");
    assert_eq!(hit.header("age"), Some("5"));
    assert_eq!(
        hit.header("cache-control"),
        Some("s-maxage=10, stale-while-revalidate=90")
    );
    assert_eq!(origin.renders("/blog/a"), 1, "a hit does not render");

    proxy.advance(6); // 11 s old: past revalidate, before expire
    let stale = proxy.get("/blog/a").await;
    assert_eq!(stale.cache(), "STALE");
    assert_eq!(
        stale.text(),
        "/blog/a render #1",
        "stale answers the old page at once"
    );

    until("the regeneration to be stored", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    assert_eq!(origin.renders("/blog/a"), 2);
    let fresh = proxy.get("/blog/a").await;
    assert_eq!(fresh.cache(), "HIT");
    assert_eq!(fresh.text(), "/blog/a render #2");
    assert_eq!(
        fresh.header("age"),
        Some("0"),
        "freshness counts from the new render"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_misses_render_once() {
    const N: usize = 1000;
    let origin = TestOrigin::start().await;
    let proxy = Arc::new(TestProxy::start(&origin, BLOG).await);
    origin.close();
    let requests = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move {
            concurrently(N, move |_| {
                let proxy = Arc::clone(&proxy);
                async move { proxy.get("/blog/cold").await }
            })
            .await
        }
    });
    // The barrier: one render is held at the origin and every other request has joined it.
    until("one render held and N-1 joined", || {
        origin.held() == 1 && proxy.stats().coalesced == (N as u64 - 1)
    })
    .await;
    origin.open();
    let answers = requests.await.unwrap();
    assert_eq!(
        origin.renders("/blog/cold"),
        1,
        "exactly one render for N cold requests"
    );
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && a.text() == "/blog/cold render #1")
    );
    assert!(answers.iter().all(|a| a.cache() == "MISS"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_stale_requests_regenerate_once() {
    const N: usize = 1000;
    let origin = TestOrigin::start().await;
    let proxy = Arc::new(TestProxy::start(&origin, BLOG).await);
    assert_eq!(proxy.get("/blog/hot").await.cache(), "MISS");
    proxy.advance(11);
    origin.close(); // the regeneration is held until every stale request was answered
    let answers = concurrently(N, |_| {
        let proxy = Arc::clone(&proxy);
        async move { proxy.get("/blog/hot").await }
    })
    .await;
    assert!(
        answers
            .iter()
            .all(|a| a.cache() == "STALE" && a.text() == "/blog/hot render #1")
    );
    until("the regeneration to reach the origin", || {
        origin.held() == 1
    })
    .await;
    origin.open();
    until("the regeneration to be stored", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    assert_eq!(
        origin.renders("/blog/hot"),
        2,
        "one initial render and exactly one regeneration"
    );
    assert_eq!(proxy.get("/blog/hot").await.text(), "/blog/hot render #2");
}

#[tokio::test]
async fn next_js_origin_works_with_no_route_config() {
    let origin = TestOrigin::start().await;
    origin.set(
        "/page",
        Page::ok().header("cache-control", "s-maxage=10, stale-while-revalidate=50"),
    );
    let proxy = TestProxy::start(&origin, "").await;
    assert_eq!(proxy.get("/page").await.cache(), "MISS");
    let hit = proxy.get("/page").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(
        hit.header("cache-control"),
        Some("s-maxage=10, stale-while-revalidate=50")
    );
    proxy.advance(11);
    assert_eq!(proxy.get("/page").await.cache(), "STALE");
    until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    proxy.advance(61);
    let expired = proxy.get("/page").await;
    assert_eq!(
        expired.cache(),
        "MISS",
        "past expire a request waits for a fresh render"
    );
    assert_eq!(origin.renders("/page"), 3);
}
