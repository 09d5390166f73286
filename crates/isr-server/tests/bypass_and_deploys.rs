//! Draft/preview bypass (the `x-isr-bypass` header and `__isr_bypass` cookie carrying the
//! bypass token; Next.js's `__prerender_bypass` cookie when enabled), and deploys: entries
//! of one build id are never served under another, and are found again when it returns.
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
use support::{Answer, TestOrigin, TestProxy};

const BYPASS_TOKEN: &str = "draft-token-0123456789";

const ROUTES: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 60
expire = 3600
"#;

fn with_bypass(extra: &str) -> String {
    format!("bypass_token = \"{BYPASS_TOKEN}\"\n{extra}\n{ROUTES}")
}

fn get_with(target: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(target);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

fn assert_bypassed(answer: &Answer, body: &str, what: &str) {
    assert_eq!(answer.status, 200, "{what}");
    assert_eq!(answer.cache(), "BYPASS", "{what}");
    assert_eq!(
        answer.header("cache-control"),
        Some("private, no-store"),
        "{what}"
    );
    assert_eq!(answer.text(), body, "{what}");
}

async fn expect(proxy: &TestProxy, target: &str, cache: &str, body: &str) {
    let answer = proxy.get(target).await;
    assert_eq!(answer.status, 200, "{target}");
    assert_eq!(answer.cache(), cache, "{target}");
    assert_eq!(answer.text(), body, "{target}");
}

#[tokio::test]
async fn the_bypass_token_in_a_header_or_cookie_goes_to_the_origin_and_is_never_stored() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &with_bypass("")).await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;

    let draft_requests: [&[(&str, &str)]; 4] = [
        &[("x-isr-bypass", BYPASS_TOKEN)],
        &[("cookie", "__isr_bypass=draft-token-0123456789")],
        &[(
            "cookie",
            "theme=dark; __isr_bypass=draft-token-0123456789; b=2",
        )],
        // A wrong header next to the right cookie still carries the right token.
        &[
            ("x-isr-bypass", "nope"),
            ("cookie", "__isr_bypass=draft-token-0123456789"),
        ],
    ];
    for (i, headers) in draft_requests.iter().enumerate() {
        let answer = proxy.send(get_with("/blog/a", headers)).await;
        let render = i as u64 + 2;
        assert_bypassed(
            &answer,
            &format!("/blog/a render #{render}"),
            &format!("{i}"),
        );
        assert_eq!(origin.renders("/blog/a"), render, "each bypass renders");
        // The draft was not stored: the cached page is still the one everyone gets.
        expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;
    }
    assert_eq!(proxy.stats().bypasses, 4);

    // On a page not cached yet: the draft is not stored either, the next request misses.
    let draft = proxy
        .send(get_with("/blog/new", &[("x-isr-bypass", BYPASS_TOKEN)]))
        .await;
    assert_bypassed(&draft, "/blog/new render #1", "uncached");
    expect(&proxy, "/blog/new", "MISS", "/blog/new render #2").await;
    expect(&proxy, "/blog/new", "HIT", "/blog/new render #2").await;
    assert_eq!(proxy.handle().memory().entries, 2);

    // The draft reached the origin with what the origin needs to recognise it.
    let seen = origin.seen();
    let cookie_draft = seen
        .iter()
        .find(|s| {
            s.headers
                .get("cookie")
                .is_some_and(|c| c.to_str().unwrap().contains("theme=dark"))
        })
        .expect("the draft request's cookies reached the origin");
    assert_eq!(cookie_draft.target, "/blog/a");
}

#[tokio::test]
async fn a_wrong_bypass_token_is_no_token() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &with_bypass("")).await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    let wrong: [&[(&str, &str)]; 7] = [
        &[("x-isr-bypass", "wrong")],
        &[("x-isr-bypass", "draft-token-012345678")],
        &[("x-isr-bypass", "draft-token-01234567890")],
        &[("x-isr-bypass", "")],
        &[("cookie", "__isr_bypass=wrong")],
        &[("cookie", "__isr_bypassx=draft-token-0123456789")],
        &[("cookie", "x__isr_bypass=draft-token-0123456789")],
    ];
    for headers in wrong {
        let answer = proxy.send(get_with("/blog/a", headers)).await;
        assert_eq!(answer.cache(), "HIT", "{headers:?}");
        assert_eq!(answer.text(), "/blog/a render #1", "{headers:?}");
    }
    // The Next.js preview cookie is not honoured unless enabled.
    let preview = proxy
        .send(get_with("/blog/a", &[("cookie", "__prerender_bypass=abc")]))
        .await;
    assert_eq!(preview.cache(), "HIT");
    assert_eq!(
        origin.renders("/blog/a"),
        1,
        "no wrong token reached the origin"
    );
    assert_eq!(proxy.stats().bypasses, 0);
}

#[tokio::test]
async fn without_a_bypass_token_nothing_bypasses() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, ROUTES).await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    for headers in [
        &[("x-isr-bypass", "")][..],
        &[("x-isr-bypass", BYPASS_TOKEN)],
        &[("cookie", "__isr_bypass=")],
        &[("cookie", "__prerender_bypass=abc")],
    ] {
        let answer = proxy.send(get_with("/blog/a", headers)).await;
        assert_eq!(answer.cache(), "HIT", "{headers:?}");
    }
    assert_eq!(origin.renders("/blog/a"), 1);
}

#[tokio::test]
async fn the_nextjs_preview_cookie_bypasses_when_enabled() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &with_bypass("bypass_nextjs_preview = true")).await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    let preview = proxy
        .send(get_with(
            "/blog/a",
            &[("cookie", "__prerender_bypass=0f1e2d; __next_preview_data=x")],
        ))
        .await;
    assert_bypassed(&preview, "/blog/a render #2", "preview cookie");
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;
    // Its value is Next.js's own secret: any value counts, and it reaches the origin.
    let seen = origin.seen();
    let last = seen.last().unwrap();
    assert!(
        last.headers
            .get("cookie")
            .is_some_and(|c| c.to_str().unwrap().contains("__prerender_bypass=0f1e2d"))
    );
    // The isr token still works alongside.
    let draft = proxy
        .send(get_with("/blog/a", &[("x-isr-bypass", BYPASS_TOKEN)]))
        .await;
    assert_bypassed(&draft, "/blog/a render #3", "token");
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;
    assert_eq!(proxy.stats().bypasses, 2);
}

fn build(id: &str) -> String {
    format!("build_id = \"{id}\"\n{ROUTES}")
}

#[tokio::test]
async fn switching_build_ids_never_serves_another_builds_entries_and_keeps_them() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &build("a")).await;
    expect(&proxy, "/blog/x", "MISS", "/blog/x render #1").await;
    expect(&proxy, "/blog/x", "HIT", "/blog/x render #1").await;

    // Deploy build b: a's entry is not served.
    let proxy = proxy.restart(&origin, &build("b")).await;
    expect(&proxy, "/blog/x", "MISS", "/blog/x render #2").await;
    expect(&proxy, "/blog/x", "HIT", "/blog/x render #2").await;
    assert_eq!(origin.renders("/blog/x"), 2);
    let listed = proxy.handle().entries("/blog/", None, 100).await.unwrap();
    assert_eq!(
        listed.entries.len(),
        2,
        "build a's entry is kept next to build b's: {listed:?}"
    );

    // Roll back to a: its entry is found again, without a render.
    let proxy = proxy.restart(&origin, &build("a")).await;
    expect(&proxy, "/blog/x", "HIT", "/blog/x render #1").await;
    // And forward to b again.
    let proxy = proxy.restart(&origin, &build("b")).await;
    expect(&proxy, "/blog/x", "HIT", "/blog/x render #2").await;
    assert_eq!(origin.renders("/blog/x"), 2);

    // A purge is not per build: it reaches the path in whichever build serves it.
    proxy
        .handle()
        .purge(
            &[isr_core::purge::Target::path("/blog/x").unwrap()],
            isr_core::freshness::PurgeMode::Hard,
        )
        .await
        .unwrap();
    let proxy = proxy.restart(&origin, &build("a")).await;
    expect(&proxy, "/blog/x", "MISS", "/blog/x render #3").await;
}
