//! HTTP semantics of answers: HEAD from the cached GET, conditional requests (304), the
//! cache-status, Age and downstream Cache-Control headers, and hop-by-hop headers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use http::{Method, Request};
use isr::Body;
use isr_core::headers::http_date;
use support::{Page, START, TestOrigin, TestProxy};

const CONFIG: &str = r#"
[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 100
"#;

async fn setup() -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    (origin, proxy)
}

fn head(target: &str) -> Request<Body> {
    Request::head(target).body(Body::empty()).unwrap()
}

fn get_with(target: &str, name: &str, value: &str) -> Request<Body> {
    Request::get(target)
        .header(name, value)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn head_is_answered_from_the_cached_get() {
    let (origin, proxy) = setup().await;
    let get = proxy.get("/p/a").await;
    assert_eq!(get.cache(), "MISS");
    let answer = proxy.send(head("/p/a")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.cache(), "HIT");
    assert!(answer.body.is_empty(), "HEAD has no body");
    assert_eq!(
        answer.header("content-length"),
        Some(&*get.body.len().to_string()),
        "HEAD announces the GET body's length"
    );
    assert_eq!(answer.header("etag"), get.header("etag"));
    assert_eq!(
        origin.renders("/p/a"),
        1,
        "the HEAD did not reach the origin"
    );

    // A cold HEAD renders with a GET and stores the page for later GETs.
    let cold = proxy.send(head("/p/b")).await;
    assert_eq!(cold.status, 200);
    assert_eq!(cold.cache(), "MISS");
    assert!(cold.body.is_empty());
    assert_eq!(
        cold.header("content-length"),
        Some(&*"/p/b render #1".len().to_string())
    );
    assert!(
        origin.seen().iter().all(|s| s.method == Method::GET),
        "the origin only ever sees GET renders"
    );
    let after = proxy.get("/p/b").await;
    assert_eq!(after.cache(), "HIT");
    assert_eq!(after.text(), "/p/b render #1");
}

#[tokio::test]
async fn conditional_requests_get_304_only_when_they_match() {
    let (origin, proxy) = setup().await;
    let get = proxy.get("/p/c").await;
    let etag = get.header("etag").expect("an etag").to_owned();
    let created = http_date(START);
    assert_eq!(get.header("last-modified"), created.to_str().ok());

    let matching = proxy.send(get_with("/p/c", "if-none-match", &etag)).await;
    assert_eq!(matching.status, 304);
    assert!(matching.body.is_empty());
    assert_eq!(matching.header("etag"), Some(&*etag));
    assert_eq!(matching.cache(), "HIT");

    let listed = format!("\"nope\", {etag}");
    let in_list = proxy.send(get_with("/p/c", "if-none-match", &listed)).await;
    assert_eq!(in_list.status, 304);

    let other = proxy
        .send(get_with("/p/c", "if-none-match", "\"nope\""))
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.text(), "/p/c render #1");

    let since = proxy
        .send(get_with(
            "/p/c",
            "if-modified-since",
            created.to_str().unwrap(),
        ))
        .await;
    assert_eq!(since.status, 304, "If-Modified-Since = creation time");
    let later = http_date(START.add_secs(3600));
    let since_later = proxy
        .send(get_with(
            "/p/c",
            "if-modified-since",
            later.to_str().unwrap(),
        ))
        .await;
    assert_eq!(since_later.status, 304, "If-Modified-Since after creation");
    let earlier = http_date(isr_core::UnixMillis(START.0 - 3_600_000));
    let modified = proxy
        .send(get_with(
            "/p/c",
            "if-modified-since",
            earlier.to_str().unwrap(),
        ))
        .await;
    assert_eq!(modified.status, 200, "modified since an earlier time");
    assert_eq!(modified.text(), "/p/c render #1");

    // A conditional cold request is rendered in full (the origin never sees the
    // validators) and answered from the new entry.
    let cold = proxy.send(get_with("/p/d", "if-none-match", "*")).await;
    assert_eq!(cold.status, 304);
    let seen = origin.seen();
    let render = seen.iter().find(|s| s.target == "/p/d").expect("rendered");
    assert!(!render.headers.contains_key("if-none-match"));
    assert_eq!(proxy.get("/p/d").await.text(), "/p/d render #1");
}

#[tokio::test]
async fn every_answer_carries_cache_status_age_and_cache_control() {
    let (origin, proxy) = setup().await;
    let check = |answer: &support::Answer, status: &str| {
        assert_eq!(answer.cache(), status);
        assert_eq!(
            answer.header("x-nextjs-cache"),
            Some(status),
            "x-nextjs-cache equals x-isr-cache"
        );
    };
    let miss = proxy.get("/p/h").await;
    check(&miss, "MISS");
    assert_eq!(miss.header("age"), Some("0"));
    assert_eq!(
        miss.header("cache-control"),
        Some("s-maxage=10, stale-while-revalidate=90")
    );
    proxy.advance(7);
    let hit = proxy.get("/p/h").await;
    check(&hit, "HIT");
    assert_eq!(hit.header("age"), Some("7"));
    assert_eq!(
        hit.header("cache-control"),
        Some("s-maxage=10, stale-while-revalidate=90")
    );
    proxy.advance(5);
    let stale = proxy.get("/p/h").await;
    check(&stale, "STALE");
    assert_eq!(stale.header("age"), Some("12"));
    let post = proxy
        .send(Request::post("/p/h").body(Body::from("x")).unwrap())
        .await;
    check(&post, "BYPASS");
    origin.stop();
    let failed = proxy.get("/p/cold").await;
    assert_eq!(failed.status, 502);
    assert_eq!(
        failed.header("x-isr-cache"),
        failed.header("x-nextjs-cache")
    );
    assert_eq!(failed.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn connection_listed_response_headers_are_neither_stored_nor_sent() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/p/hop",
        Page::ok()
            .header("connection", "x-secret")
            .header("x-secret", "1")
            .header("x-kept", "yes"),
    );
    // Check that the origin really sent them (else this test would prove nothing).
    let direct = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>()
        .request(
            Request::get(format!("{}/p/hop", origin.url()))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        direct.headers().get("x-secret").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert!(direct.headers().contains_key("connection"));

    for expected in ["MISS", "HIT"] {
        let answer = proxy.get("/p/hop").await;
        assert_eq!(answer.cache(), expected);
        assert_eq!(answer.header("x-kept"), Some("yes"));
        assert_eq!(answer.header("x-secret"), None, "{expected}");
        assert_ne!(answer.header("connection"), Some("x-secret"), "{expected}");
    }
    // Passed-through answers too: a bypass, and an answer that is not stored.
    let post = proxy
        .send(Request::post("/p/hop").body(Body::from("x")).unwrap())
        .await;
    assert_eq!(post.cache(), "BYPASS");
    assert_eq!(post.header("x-kept"), Some("yes"));
    assert_eq!(post.header("x-secret"), None);
    origin.set(
        "/p/hop-private",
        Page::ok()
            .header("cache-control", "private")
            .header("connection", "x-secret")
            .header("x-secret", "1"),
    );
    let private = proxy.get("/p/hop-private").await;
    assert_eq!(private.cache(), "BYPASS");
    assert_eq!(private.header("x-secret"), None);
}

#[tokio::test]
async fn hop_by_hop_request_headers_never_reach_the_origin() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/u/open",
        Page::ok().header("cache-control", "public, s-maxage=60"),
    );
    // Unmatched route (client headers are forwarded) and a bypass (forwarded as sent).
    let requests: [&[u8]; 2] = [
        b"GET /u/open HTTP/1.1\r\nHost: localhost\r\nConnection: close, x-foo\r\n\
          x-foo: 1\r\nTE: trailers\r\nKeep-Alive: timeout=5\r\nx-other: kept\r\n\r\n",
        b"POST /p/form HTTP/1.1\r\nHost: localhost\r\nConnection: close, x-foo\r\n\
          x-foo: 1\r\nTE: trailers\r\nx-other: kept\r\nContent-Length: 4\r\n\r\nbody",
    ];
    for request in requests {
        let answer = proxy.raw(request).await;
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    }
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(
            request.headers.get("x-other").map(|v| v.as_bytes()),
            Some(&b"kept"[..]),
            "{}: an ordinary header is forwarded",
            request.target
        );
        for name in ["x-foo", "te", "keep-alive"] {
            assert!(
                !request.headers.contains_key(name),
                "{}: {name} reached the origin",
                request.target
            );
        }
        let connection = request
            .headers
            .get("connection")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(!connection.contains("x-foo"), "{connection}");
    }
    assert_eq!(&seen[1].body[..], b"body");
}
