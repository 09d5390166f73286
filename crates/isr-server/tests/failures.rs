//! Failures: failed regenerations keep the stale page with a retry backoff, stale-if-error
//! past expire, an unreachable origin, the lock timeout, bounded regeneration concurrency
//! and the recursion guard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use isr::Body;
use isr_store::testing::until;
use support::{Fault, TestOrigin, TestProxy};

const CONFIG: &str = r#"
[cache]
retry_min = 5
retry_max = 60
render_timeout = "300ms"

[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 1000
"#;

/// How a regeneration fails.
#[derive(Clone, Copy, Debug)]
enum Breakage {
    Error500,
    Hang,
    Stopped,
}

/// A page is stale and its regeneration fails: the stale page keeps being served, nothing
/// failed is stored, the origin is not asked again before the backoff has passed, and
/// then exactly once.
async fn stale_page_survives(breakage: Breakage) -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    assert_eq!(proxy.get("/p/a").await.cache(), "MISS");
    proxy.advance(11);
    match breakage {
        Breakage::Error500 => origin.fault(Some(Fault::Error500)),
        Breakage::Hang => origin.fault(Some(Fault::Hang)),
        Breakage::Stopped => origin.stop(),
    }
    let stale = proxy.get("/p/a").await;
    assert_eq!(stale.status, 200, "{breakage:?}");
    assert_eq!(stale.cache(), "STALE");
    assert_eq!(stale.text(), "/p/a render #1");
    until("the regeneration to fail", || {
        proxy.stats().regenerations_failed == 1
    })
    .await;
    let renders = proxy.stats().renders;
    assert_eq!(renders, 2, "{breakage:?}: one miss and one regeneration");
    if !matches!(breakage, Breakage::Stopped) {
        assert_eq!(origin.renders("/p/a"), 2);
    }

    // During the backoff: served stale, the origin is not called.
    proxy.advance(4);
    for _ in 0..3 {
        let again = proxy.get("/p/a").await;
        assert_eq!(again.status, 200, "{breakage:?}");
        assert_eq!(again.cache(), "STALE");
        assert_eq!(again.text(), "/p/a render #1", "nothing failed was stored");
    }
    assert_eq!(
        proxy.stats().renders,
        2,
        "{breakage:?}: no render during the backoff"
    );
    assert_eq!(proxy.stats().regenerations_failed, 1);

    // Past retry_min (5 s after the failure): exactly one retry.
    proxy.advance(1);
    assert_eq!(proxy.get("/p/a").await.cache(), "STALE");
    until("the retry to fail", || {
        proxy.stats().regenerations_failed == 2
    })
    .await;
    assert_eq!(proxy.get("/p/a").await.text(), "/p/a render #1");
    assert_eq!(proxy.stats().renders, 3, "{breakage:?}: one retry");
    (origin, proxy)
}

#[tokio::test]
async fn failing_regeneration_with_500_keeps_the_stale_page_then_recovers() {
    let (origin, proxy) = stale_page_survives(Breakage::Error500).await;
    assert_eq!(origin.renders("/p/a"), 3);
    origin.fault(None);
    // The backoff doubled (10 s after the second failure).
    proxy.advance(9);
    assert_eq!(proxy.get("/p/a").await.cache(), "STALE");
    assert_eq!(proxy.stats().renders, 3, "still backing off");
    proxy.advance(1);
    assert_eq!(proxy.get("/p/a").await.cache(), "STALE");
    until("the regeneration to succeed", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    let fresh = proxy.get("/p/a").await;
    assert_eq!(fresh.cache(), "HIT");
    assert_eq!(fresh.text(), "/p/a render #4");
    assert_eq!(fresh.header("age"), Some("0"));
}

#[tokio::test]
async fn hanging_regeneration_times_out_and_keeps_the_stale_page() {
    let (origin, _proxy) = stale_page_survives(Breakage::Hang).await;
    assert_eq!(origin.renders("/p/a"), 3);
}

#[tokio::test]
async fn stopped_origin_keeps_the_stale_page() {
    stale_page_survives(Breakage::Stopped).await;
}

const EXPIRING: &str = r#"
[cache]
retry_min = 5
render_timeout = "300ms"

[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 20
stale_if_error = 30
"#;

#[tokio::test]
async fn past_expire_stale_is_served_on_error_only_within_stale_if_error() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, EXPIRING).await;
    assert_eq!(proxy.get("/p/e").await.text(), "/p/e render #1");
    assert_eq!(proxy.get("/p/down").await.text(), "/p/down render #1");
    proxy.advance(25); // expired, within stale_if_error
    origin.fault(Some(Fault::Error500));
    let rescued = proxy.get("/p/e").await;
    assert_eq!(rescued.status, 200);
    assert_eq!(rescued.cache(), "STALE");
    assert_eq!(rescued.text(), "/p/e render #1");
    assert_eq!(
        origin.renders("/p/e"),
        2,
        "the expired page was re-rendered first"
    );
    // During the backoff the failing origin is not asked again.
    assert_eq!(proxy.get("/p/e").await.cache(), "STALE");
    assert_eq!(origin.renders("/p/e"), 2);

    proxy.advance(30); // 55 s old: past expire + stale_if_error
    let failed = proxy.get("/p/e").await;
    assert_eq!(failed.status, 500, "the client gets the error");
    assert_eq!(failed.text(), "origin error");
    assert_ne!(failed.cache(), "HIT");
    assert_ne!(failed.cache(), "STALE");
    assert_eq!(origin.renders("/p/e"), 3);

    origin.stop();
    let unreachable = proxy.get("/p/down").await;
    assert_eq!(unreachable.status, 502);
    assert!(
        unreachable.text().contains("origin could not be reached"),
        "{}",
        unreachable.text()
    );
}

#[tokio::test]
async fn cold_miss_with_the_origin_down_is_a_readable_502_and_stores_nothing() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    origin.stop();
    for _ in 0..2 {
        let answer = proxy.get("/p/cold").await;
        assert_eq!(answer.status, 502);
        assert!(
            answer
                .text()
                .starts_with("isr: the origin could not be reached"),
            "{}",
            answer.text()
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
    assert_eq!(proxy.stats().renders, 2, "each request tried the origin");
    assert_eq!(proxy.layer().store().l1().len(), 0, "nothing stored");
}

#[tokio::test]
async fn a_hanging_cold_render_is_a_504() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    origin.fault(Some(Fault::Hang));
    let answer = tokio::time::timeout(Duration::from_secs(5), proxy.get("/p/slow"))
        .await
        .expect("the render timeout ends the wait");
    assert_eq!(answer.status, 504);
    assert!(
        answer.text().contains("did not answer"),
        "{}",
        answer.text()
    );
}

const LOCK: &str = r#"
[cache]
lock_timeout = "200ms"

[[route]]
path = "/p/[slug]"
revalidate = 10
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_stops_waiting_after_the_lock_timeout_and_renders_itself() {
    let origin = TestOrigin::start().await;
    let proxy = Arc::new(TestProxy::start(&origin, LOCK).await);
    origin.close();
    let first = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { proxy.get("/p/lock").await }
    });
    until("the first render to be held", || origin.held() == 1).await;
    let second = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { proxy.get("/p/lock").await }
    });
    until("the second request to give up waiting and render", || {
        origin.held() == 2
    })
    .await;
    assert_eq!(
        proxy.stats().coalesced,
        1,
        "the second request joined first"
    );
    origin.open();
    let first = first.await.unwrap();
    let second = second.await.unwrap();
    assert_eq!(origin.renders("/p/lock"), 2);
    assert_eq!(first.text(), "/p/lock render #1");
    assert_eq!(second.text(), "/p/lock render #2");
    let hit = proxy.get("/p/lock").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(
        hit.text(),
        "/p/lock render #1",
        "the entry is the flight's render, not the impatient one's"
    );
}

const BOUNDED: &str = r#"
[cache]
regenerate_concurrency = 2

[[route]]
path = "/p/[slug]"
revalidate = 10
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_regenerate_concurrency_regenerations_run_at_once() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, BOUNDED).await;
    let paths: Vec<String> = (0..5).map(|i| format!("/p/k{i}")).collect();
    for path in &paths {
        assert_eq!(proxy.get(path).await.cache(), "MISS");
    }
    proxy.advance(11);
    origin.close();
    for path in &paths {
        assert_eq!(proxy.get(path).await.cache(), "STALE");
    }
    until("two regenerations at the origin", || origin.held() == 2).await;
    // More stale traffic starts nothing new: the other three wait for a permit.
    for path in &paths {
        assert_eq!(proxy.get(path).await.cache(), "STALE");
    }
    assert_eq!(origin.held(), 2);
    assert_eq!(origin.total(), 5 + 2);
    origin.open();
    until("all five regenerations", || {
        proxy.stats().regenerations_ok == 5
    })
    .await;
    assert_eq!(origin.max_held(), 2, "never more than two at once");
    for path in &paths {
        assert_eq!(origin.renders(path), 2, "{path}");
        let fresh = proxy.get(path).await;
        assert_eq!(fresh.cache(), "HIT");
        assert_eq!(fresh.text(), format!("{path} render #2"));
    }
}

#[tokio::test]
async fn an_origin_pointing_at_isr_itself_ends_in_508() {
    let proxy = TestProxy::start_looped(CONFIG).await;
    for request in [
        Request::get("/p/loop").body(Body::empty()).unwrap(),
        Request::get("/unmatched").body(Body::empty()).unwrap(),
        Request::post("/p/loop").body(Body::from("x")).unwrap(),
    ] {
        let answer = tokio::time::timeout(Duration::from_secs(5), proxy.send(request))
            .await
            .expect("the loop is cut at once, not after a timeout");
        assert_eq!(answer.status, 508, "{}", answer.text());
        assert!(answer.text().contains("own renders"), "{}", answer.text());
    }
    let stats = proxy.stats();
    assert_eq!(
        stats.renders, 2,
        "one render per cacheable request, no recursion"
    );
}

#[tokio::test]
async fn a_client_sent_render_guard_is_stripped() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    let forged = |request: http::request::Builder| {
        request
            .header("x-isr-render", "anything")
            .body(Body::empty())
            .unwrap()
    };
    let get = proxy.send(forged(Request::get("/p/g"))).await;
    assert_eq!(get.status, 200);
    assert_eq!(get.cache(), "MISS");
    let unmatched = proxy.send(forged(Request::get("/u/g"))).await;
    assert_eq!(unmatched.status, 200);
    let post = proxy.send(forged(Request::post("/p/g"))).await;
    assert_eq!(post.status, 200);
    assert_eq!(post.cache(), "BYPASS");
    let seen = origin.seen();
    assert_eq!(seen.len(), 3);
    for request in seen {
        let guard = request
            .headers
            .get("x-isr-render")
            .expect("isr's own guard");
        assert_ne!(guard.as_bytes(), b"anything", "{}", request.target);
    }
}
