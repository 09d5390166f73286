//! Attacks through what an origin answers and what isr answers back, against the real
//! proxy and a real origin: headers the origin nominates in `Connection` still count for
//! the privacy checks, and the recursion guard's secret never reaches a client.
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
[[route]]
path = "/p/[slug]"
revalidate = 10
"#;

async fn setup() -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    (origin, proxy)
}

#[tokio::test]
async fn a_private_answer_is_not_stored_because_connection_nominates_its_private_header() {
    let (origin, proxy) = setup().await;
    let shared = "public, s-maxage=60";
    let pages = [
        (
            "/p/cookie",
            Page::ok()
                .header("cache-control", shared)
                .header("connection", "set-cookie")
                .header("set-cookie", "session=victim"),
        ),
        (
            "/u/cookie",
            Page::ok()
                .header("cache-control", shared)
                .header("connection", "set-cookie")
                .header("set-cookie", "session=victim"),
        ),
        (
            "/p/private",
            Page::ok()
                .header("connection", "cache-control")
                .header("cache-control", "private, max-age=60"),
        ),
        (
            "/p/vary",
            Page::ok()
                .header("cache-control", shared)
                .header("connection", "vary")
                .header("vary", "*"),
        ),
    ];
    for (path, page) in pages {
        origin.set(path, page);
    }
    for path in ["/p/cookie", "/u/cookie", "/p/private", "/p/vary"] {
        let first = proxy.get(path).await;
        let second = proxy.get(path).await;
        assert_ne!(second.cache(), "HIT", "{path} was stored");
        assert_eq!(
            origin.renders(path),
            2,
            "{path}: the second request renders"
        );
        for answer in [&first, &second] {
            assert!(
                !answer.headers.contains_key("connection"),
                "{path}: hop-by-hop headers are still removed from what is passed on"
            );
        }
    }
}

#[tokio::test]
async fn the_recursion_guard_secret_is_in_no_answer_even_when_the_origin_reflects_it() {
    let (origin, proxy) = setup().await;
    proxy.get("/p/first").await;
    let secret = origin
        .seen()
        .iter()
        .find_map(|seen| seen.headers.get("x-isr-render").cloned())
        .expect("renders carry the guard");
    let secret = secret.to_str().unwrap().to_owned();
    // An origin that reflects request headers (debug pages, echo endpoints) hands the
    // guard back; whatever the answer, it must not reach the client.
    let reflecting = |page: Page| page.header("x-isr-render", &secret);
    origin.set("/p/page", reflecting(Page::ok()));
    origin.set(
        "/u/private",
        reflecting(Page::ok().header("cache-control", "private")),
    );
    origin.set("/u/none", reflecting(Page::ok()));
    origin.set("/p/error", reflecting(Page::status(500)));
    let answers = [
        proxy.get("/p/page").await,
        proxy.get("/p/page").await,
        proxy.get("/u/private").await,
        proxy.get("/u/none").await,
        proxy.get("/p/error").await,
        proxy
            .send(Request::post("/p/page").body(Body::from("x")).unwrap())
            .await,
        proxy
            .send(
                Request::get("/p/page")
                    .header("authorization", "Bearer x")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
    ];
    for answer in &answers {
        assert!(
            answer
                .headers
                .values()
                .all(|value| value != secret.as_str()),
            "the guard's secret in a {} {} answer",
            answer.status,
            answer.cache()
        );
    }
}
