//! What is cached and what is not: methods, statuses, origin directives, private requests,
//! route modes (`revalidate = false` / `0`), unmatched requests and query keys.
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
use support::{Page, TestOrigin, TestProxy};

const CONFIG: &str = r#"
[cache]
statuses = { "301" = 30, "308" = 30, "404" = 5, "410" = 5 }

[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 100

[[route]]
path = "/forever"
revalidate = false

[[route]]
path = "/live"
revalidate = 0

[[route]]
path = "/list"
revalidate = 10
expire = 100
query = ["page"]
"#;

async fn setup() -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    (origin, proxy)
}

#[tokio::test]
async fn post_bypasses_with_its_body_and_renders_every_time() {
    let (origin, proxy) = setup().await;
    assert_eq!(proxy.get("/p/form").await.cache(), "MISS");
    for n in 1..=2u64 {
        let post = proxy
            .send(
                Request::post("/p/form")
                    .header("content-type", "text/plain")
                    .body(Body::from(format!("payload {n}")))
                    .unwrap(),
            )
            .await;
        assert_eq!(post.status, 200);
        assert_eq!(post.cache(), "BYPASS");
        assert_eq!(post.header("x-nextjs-cache"), Some("BYPASS"));
        assert_eq!(post.text(), format!("/p/form render #{}", n + 1));
    }
    assert_eq!(origin.renders("/p/form"), 3, "each POST reaches the origin");
    let posts: Vec<_> = origin
        .seen()
        .into_iter()
        .filter(|s| s.method == http::Method::POST)
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(&posts[0].body[..], b"payload 1");
    assert_eq!(&posts[1].body[..], b"payload 2");
    // The POSTs did not replace or purge the cached GET.
    let hit = proxy.get("/p/form").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.text(), "/p/form render #1");
}

#[tokio::test]
async fn listed_statuses_are_stored_with_their_own_short_revalidate() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/p/moved",
        Page::status(301).header("location", "/p/elsewhere"),
    );
    origin.set("/p/perm", Page::status(308).header("location", "/p/other"));
    origin.set("/p/missing", Page::status(404).body("not here"));
    origin.set("/p/gone", Page::status(410).body("gone"));
    for (path, status) in [
        ("/p/moved", 301),
        ("/p/perm", 308),
        ("/p/missing", 404),
        ("/p/gone", 410),
    ] {
        let first = proxy.get(path).await;
        assert_eq!(first.status, status, "{path}");
        assert_eq!(first.cache(), "MISS", "{path}");
        let second = proxy.get(path).await;
        assert_eq!(second.status, status, "{path}");
        assert_eq!(second.cache(), "HIT", "{path} is stored");
        assert_eq!(second.body, first.body, "{path}");
        assert_eq!(origin.renders(path), 1, "{path}");
    }
    assert_eq!(
        proxy.get("/p/moved").await.header("location"),
        Some("/p/elsewhere")
    );
    // The route says 10 s, but 404 and 410 are capped at 5 s: stale after 6 s.
    proxy.advance(6);
    assert_eq!(proxy.get("/p/missing").await.cache(), "STALE");
    assert_eq!(proxy.get("/p/gone").await.cache(), "STALE");
    // 301 and 308 are capped at 30 s, so the route's own 10 s applies.
    assert_eq!(proxy.get("/p/moved").await.cache(), "HIT");
    assert_eq!(proxy.get("/p/perm").await.cache(), "HIT");
    proxy.advance(5);
    assert_eq!(proxy.get("/p/moved").await.cache(), "STALE");
    let hit = proxy.get("/p/moved").await;
    assert_eq!(
        hit.header("cache-control"),
        Some("s-maxage=10, stale-while-revalidate=90")
    );
}

/// Request `path` twice and check that nothing was stored: two renders, and each answer is
/// its own render. Returns both answers.
async fn assert_never_stored(
    origin: &TestOrigin,
    proxy: &TestProxy,
    path: &str,
    status: u16,
) -> (support::Answer, support::Answer) {
    let first = proxy.get(path).await;
    let second = proxy.get(path).await;
    assert_eq!(first.status, status, "{path}");
    assert_eq!(second.status, status, "{path}");
    assert_ne!(first.cache(), "HIT", "{path}");
    assert_ne!(
        second.cache(),
        "HIT",
        "{path} must not be served from the cache"
    );
    assert_eq!(
        origin.renders(path),
        2,
        "{path}: the second request renders again"
    );
    assert_eq!(
        second.header("x-render"),
        Some("2"),
        "{path}: the second answer is the second render"
    );
    (first, second)
}

#[tokio::test]
async fn error_and_incomplete_statuses_are_never_stored() {
    let (origin, proxy) = setup().await;
    for status in [500, 502, 503] {
        let path = format!("/p/s{status}");
        origin.set(&path, Page::status(status).body("broken"));
        let (first, _) = assert_never_stored(&origin, &proxy, &path, status).await;
        assert_eq!(first.text(), "broken", "the origin's error is passed on");
        assert_eq!(first.header("x-isr-cache"), first.header("x-nextjs-cache"));
    }
    origin.set(
        "/p/empty",
        Page::status(204).header("cache-control", "s-maxage=60"),
    );
    assert_never_stored(&origin, &proxy, "/p/empty", 204).await;
    origin.set(
        "/p/notmod",
        Page::status(304).header("cache-control", "s-maxage=60"),
    );
    assert_never_stored(&origin, &proxy, "/p/notmod", 304).await;
}

#[tokio::test]
async fn private_responses_are_never_stored_nor_replayed() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/p/cookie",
        Page::ok()
            .header("cache-control", "public, s-maxage=60")
            .header("set-cookie", "session=secret-{render}; HttpOnly"),
    );
    let (first, second) = assert_never_stored(&origin, &proxy, "/p/cookie", 200).await;
    assert_eq!(first.cache(), "BYPASS");
    assert_eq!(second.cache(), "BYPASS");
    assert_eq!(
        first.header("set-cookie"),
        Some("session=secret-1; HttpOnly")
    );
    assert_eq!(
        second.header("set-cookie"),
        Some("session=secret-2; HttpOnly"),
        "the second client gets its own cookie, never the first one's"
    );

    let cases = [
        ("/p/private", "cache-control", "private, max-age=60"),
        ("/p/nostore", "cache-control", "no-store"),
        ("/p/nocache", "cache-control", "no-cache, s-maxage=60"),
        ("/p/maxage0", "cache-control", "max-age=0"),
        ("/p/varystar", "vary", "*"),
        ("/p/varylang", "vary", "Accept-Language"),
    ];
    for (path, name, value) in cases {
        origin.set(path, Page::ok().header(name, value));
        let (first, second) = assert_never_stored(&origin, &proxy, path, 200).await;
        assert_eq!(first.cache(), "BYPASS", "{path}");
        assert_eq!(second.cache(), "BYPASS", "{path}");
    }

    // Control: max-age=0 with s-maxage is for browsers only; a shared cache may store it.
    origin.set(
        "/p/shared",
        Page::ok().header("cache-control", "max-age=0, s-maxage=30"),
    );
    assert_eq!(proxy.get("/p/shared").await.cache(), "MISS");
    assert_eq!(proxy.get("/p/shared").await.cache(), "HIT");
    // Control: Vary on a keyed header is fine.
    origin.set("/p/varyenc", Page::ok().header("vary", "Accept-Encoding"));
    assert_eq!(proxy.get("/p/varyenc").await.cache(), "MISS");
    assert_eq!(proxy.get("/p/varyenc").await.cache(), "HIT");
}

#[tokio::test]
async fn authorization_bypasses_and_is_not_stored() {
    let (origin, proxy) = setup().await;
    let private = proxy
        .send(
            Request::get("/p/me")
                .header("authorization", "Bearer alice")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(private.status, 200);
    assert_eq!(private.cache(), "BYPASS");
    assert_eq!(private.text(), "/p/me render #1");
    let anonymous = proxy.get("/p/me").await;
    assert_eq!(
        anonymous.cache(),
        "MISS",
        "the authorized answer was not stored"
    );
    assert_eq!(anonymous.text(), "/p/me render #2");
    assert_eq!(origin.renders("/p/me"), 2);
    let seen = origin.seen();
    assert_eq!(
        seen[0]
            .headers
            .get("authorization")
            .map(|v| v.as_bytes().to_vec()),
        Some(b"Bearer alice".to_vec()),
        "a bypass is forwarded as sent"
    );
    assert!(
        !seen[1].headers.contains_key("authorization"),
        "the anonymous render carries no credentials"
    );
    assert_eq!(proxy.get("/p/me").await.cache(), "HIT");
}

#[tokio::test]
async fn binary_bodies_round_trip_byte_for_byte() {
    let (origin, proxy) = setup().await;
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..=255u8).cycle().take(256 * 4));
    png.extend((0..=255u8).rev());
    origin.set(
        "/p/image.png",
        Page::ok()
            .header("content-type", "image/png")
            .body(png.clone()),
    );
    let miss = proxy.get("/p/image.png").await;
    assert_eq!(miss.cache(), "MISS");
    assert_eq!(&miss.body[..], &png[..]);
    let hit = proxy.get("/p/image.png").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(&hit.body[..], &png[..]);
    assert_eq!(hit.header("content-type"), Some("image/png"));
    assert_eq!(hit.header("content-length"), Some(&*png.len().to_string()));
}

#[tokio::test]
async fn revalidate_false_stays_fresh_and_revalidate_zero_is_never_stored() {
    let (origin, proxy) = setup().await;
    assert_eq!(proxy.get("/forever").await.cache(), "MISS");
    proxy.advance(365 * 24 * 3600);
    let hit = proxy.get("/forever").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.text(), "/forever render #1");
    proxy.advance(10 * 365 * 24 * 3600);
    assert_eq!(proxy.get("/forever").await.cache(), "HIT");
    assert_eq!(origin.renders("/forever"), 1);

    // The origin's s-maxage does not matter: the route says never cache.
    for n in 1..=3 {
        let live = proxy.get("/live?x=1").await;
        assert_eq!(live.cache(), "BYPASS");
        assert_eq!(live.text(), format!("/live?x=1 render #{n}"));
    }
    assert_eq!(origin.renders("/live"), 3);
}

#[tokio::test]
async fn unmatched_requests_are_stored_only_when_the_origin_allows_sharing() {
    let (origin, proxy) = setup().await;
    origin.set("/u/smax", Page::ok().header("cache-control", "s-maxage=30"));
    origin.set(
        "/u/public",
        Page::ok().header("cache-control", "public, max-age=30"),
    );
    origin.set(
        "/u/maxage",
        Page::ok().header("cache-control", "max-age=60"),
    );
    origin.set("/u/none", Page::ok());

    for path in ["/u/smax", "/u/public"] {
        assert_eq!(proxy.get(path).await.cache(), "MISS", "{path}");
        assert_eq!(proxy.get(path).await.cache(), "HIT", "{path}");
        assert_eq!(origin.renders(path), 1, "{path}");
    }
    for path in ["/u/maxage", "/u/none"] {
        assert_never_stored(&origin, &proxy, path, 200).await;
    }

    // Keyed on the full URL: another query is another entry; parameter order is not.
    let a = proxy.get("/u/smax?a=1&b=2").await;
    assert_eq!(a.cache(), "MISS");
    assert_eq!(a.text(), "/u/smax?a=1&b=2 render #2");
    assert_eq!(proxy.get("/u/smax?b=2&a=1").await.cache(), "HIT");
    let other = proxy.get("/u/smax?a=2&b=2").await;
    assert_eq!(other.cache(), "MISS");
    assert_eq!(origin.renders("/u/smax"), 3);
}

#[tokio::test]
async fn only_keyed_query_parameters_are_keyed_and_forwarded() {
    let (origin, proxy) = setup().await;
    let first = proxy.get("/list?page=2&utm_source=x").await;
    assert_eq!(first.cache(), "MISS");
    assert_eq!(first.text(), "/list?page=2 render #1");
    let second = proxy.get("/list?utm_source=y&page=2").await;
    assert_eq!(second.cache(), "HIT");
    assert_eq!(second.text(), "/list?page=2 render #1");
    let third = proxy.get("/list?page=3").await;
    assert_eq!(third.cache(), "MISS");
    assert_eq!(third.text(), "/list?page=3 render #2");
    // Unkeyed parameters alone: the entry without a query.
    assert_eq!(proxy.get("/list?fbclid=1").await.text(), "/list render #3");
    assert_eq!(proxy.get("/list").await.cache(), "HIT");

    // Parameter cloaking: `;` is not a separator, so `page=2` hides in utm_x's value.
    let cloaked = proxy.get("/list?page=1&utm_x=a;page=2").await;
    assert_eq!(cloaked.text(), "/list?page=1 render #4");
    assert_eq!(
        proxy.get("/list?page=1").await.cache(),
        "HIT",
        "the cloaked request was keyed as page=1"
    );

    let targets: Vec<String> = origin.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        ["/list?page=2", "/list?page=3", "/list", "/list?page=1"],
        "the origin sees exactly the keyed query"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_a_cookie_page_each_get_their_own_render() {
    const N: usize = 5;
    let (origin, proxy) = setup().await;
    let proxy = std::sync::Arc::new(proxy);
    origin.set(
        "/p/login",
        Page::ok()
            .header("cache-control", "public, s-maxage=60")
            .header("set-cookie", "session=secret-{render}"),
    );
    origin.close();
    let requests = tokio::spawn({
        let proxy = std::sync::Arc::clone(&proxy);
        async move {
            isr_store::testing::concurrently(N, move |_| {
                let proxy = std::sync::Arc::clone(&proxy);
                async move { proxy.get("/p/login").await }
            })
            .await
        }
    });
    isr_store::testing::until("one render held and the others joined", || {
        origin.held() == 1 && proxy.stats().coalesced == N as u64 - 1
    })
    .await;
    origin.open();
    let answers = requests.await.unwrap();
    assert_eq!(
        origin.renders("/p/login"),
        N as u64,
        "an uncacheable answer is not shared: every joiner renders its own"
    );
    let mut cookies: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 200);
            let cookie = a.header("set-cookie").expect("each client its cookie");
            // The cookie and the page come from the same render.
            let render = a.header("x-render").unwrap();
            assert_eq!(cookie, format!("session=secret-{render}"));
            cookie.to_owned()
        })
        .collect();
    cookies.sort();
    cookies.dedup();
    assert_eq!(cookies.len(), N, "no cookie was given to two clients");
}

#[tokio::test]
async fn a_regeneration_that_turns_private_replaces_nothing_and_is_not_replayed() {
    let (origin, proxy) = setup().await;
    assert_eq!(proxy.get("/p/turns").await.cache(), "MISS");
    origin.set(
        "/p/turns",
        Page::ok().header("set-cookie", "session=secret-{render}"),
    );
    proxy.advance(11);
    let stale = proxy.get("/p/turns").await;
    assert_eq!(stale.cache(), "STALE");
    assert_eq!(stale.header("set-cookie"), None);
    isr_store::testing::until("the regeneration to finish", || proxy.stats().renders == 2).await;
    isr_store::testing::until("the regeneration to be judged", || {
        proxy.stats().regenerations_ok + proxy.stats().regenerations_failed == 1
    })
    .await;
    let next = proxy.get("/p/turns").await;
    assert_ne!(next.cache(), "HIT");
    assert_ne!(next.cache(), "STALE", "the page is no longer cacheable");
    assert_eq!(
        next.header("set-cookie"),
        Some("session=secret-3"),
        "its own cookie, never the regeneration's"
    );
    assert_eq!(next.text(), "/p/turns render #3");
}

#[tokio::test]
async fn bodies_over_max_entry_size_pass_through_whole_and_are_not_stored() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(
        &origin,
        &format!(
            "[cache]\nmax_entry_size = \"1KiB\"\n{}",
            &CONFIG[CONFIG.find("[[route]]").unwrap()..]
        ),
    )
    .await;
    let big: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    origin.set("/p/big", Page::ok().body(big.clone()));
    for n in 1..=2 {
        let answer = proxy.get("/p/big").await;
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], &big[..], "the whole body passes through");
        assert_ne!(answer.cache(), "HIT");
        assert_eq!(origin.renders("/p/big"), n);
    }
    assert_eq!(proxy.get("/p/small").await.cache(), "MISS");
    assert_eq!(proxy.get("/p/small").await.cache(), "HIT");
}
