//! Attacks through what a client sends on paths no route matches, against the real proxy
//! and a real origin, with raw sockets where a client library would normalise the request:
//! unkeyed headers never reach a render, and a page rendered with a visitor's cookie is
//! not served to others unless the origin addressed shared caches (web cache deception).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;

use http::Request;
use isr::Body;
use isr_store::testing::until;
use support::{Fault, Page, TestOrigin, TestProxy};

const CONFIG: &str = r#"
site = "shop.example"
"#;

async fn setup() -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    (origin, proxy)
}

fn raw_get(target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut request = format!("GET {target} HTTP/1.1\r\nHost: shop.example\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    request.into_bytes()
}

#[tokio::test]
async fn no_unkeyed_header_reaches_a_render_of_an_unrouted_path() {
    let (origin, proxy) = setup().await;
    origin.set("/u/page", Page::ok().header("cache-control", "max-age=600"));
    // Spellings frameworks reflect into links, beyond any deny list's names.
    let hostile = [
        ("X-Forwarded-Prefix", "/evil"),
        ("X-Forwarded-Ssl", "on"),
        ("Front-End-Https", "on"),
        ("X-Url-Scheme", "javascript"),
        ("X-Original-Host", "evil.example"),
        ("X-Forwarded-Server", "evil.example"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "javascript"),
        ("X_Forwarded_Host", "evil.example"),
        ("Forwarded", "host=evil.example;proto=javascript"),
        ("X-Rewrite-Url", "/evil"),
    ];
    let answer = proxy.raw(&raw_get("/u/page", &hostile)).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let seen = origin.seen();
    let render = seen.last().expect("rendered");
    for (name, value) in render.headers.iter() {
        let value = value.to_str().unwrap_or("");
        assert!(
            !value.contains("evil") && !value.contains("javascript") && value != "on",
            "{name}: {value} reached the origin"
        );
    }
    assert_eq!(
        render.headers["x-forwarded-host"], "shop.example",
        "the site"
    );
    assert_eq!(
        render.headers["x-forwarded-proto"], "http",
        "the listener's scheme"
    );
    // The stored page is the clean render, for everyone.
    let clean = proxy.get("/u/page").await;
    assert_eq!(clean.cache(), "HIT");
}

#[tokio::test]
async fn a_page_rendered_with_a_visitors_cookie_is_not_served_to_others() {
    let (origin, proxy) = setup().await;
    let by_extension = Page::ok().header("cache-control", "public, max-age=600");
    let spellings = [
        "/account;x.css",
        "/account/x.css",
        "/account.css",
        "/account%2fx.css",
        "/account%3bx.css",
        "/account%3fx.css",
        "/account%23x.css",
    ];
    for path in spellings {
        // isr forwards percent-encoding with upper-case hex: the origin sees `%2F`.
        let forwarded = path
            .replace("%2f", "%2F")
            .replace("%3b", "%3B")
            .replace("%3f", "%3F");
        origin.set(&forwarded, by_extension.clone());
    }
    for path in spellings {
        let victim = proxy
            .raw(&raw_get(path, &[("Cookie", "session=victim")]))
            .await;
        assert!(victim.starts_with(b"HTTP/1.1 200"), "{path}");
        let before = origin.total();
        let anonymous = proxy.raw(&raw_get(path, &[])).await;
        let anonymous = String::from_utf8_lossy(&anonymous).to_ascii_lowercase();
        assert!(
            !anonymous.contains("x-isr-cache: hit"),
            "{path}: the victim's page was served"
        );
        assert_eq!(
            origin.total(),
            before + 1,
            "{path}: the anonymous visitor got its own render"
        );
    }
}

#[tokio::test]
async fn an_isr_page_addressing_shared_caches_stays_cacheable_for_visitors_with_cookies() {
    let (origin, proxy) = setup().await;
    origin.set(
        "/blog/post",
        Page::ok().header("cache-control", "s-maxage=60, stale-while-revalidate=600"),
    );
    let first = proxy
        .raw(&raw_get("/blog/post", &[("Cookie", "_ga=GA1.1.123")]))
        .await;
    assert!(first.starts_with(b"HTTP/1.1 200"));
    let second = proxy
        .raw(&raw_get("/blog/post", &[("Cookie", "_ga=GA1.1.456")]))
        .await;
    let second = String::from_utf8_lossy(&second).to_ascii_lowercase();
    assert!(second.contains("x-isr-cache: hit"), "{second}");
    assert_eq!(origin.renders("/blog/post"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_does_not_share_a_failure_another_clients_header_caused() {
    let origin = TestOrigin::start().await;
    let proxy = Arc::new(TestProxy::start(&origin, CONFIG).await);
    origin.set(
        "/u/shared",
        Page::ok().header("cache-control", "max-age=60"),
    );
    origin.fault(Some(Fault::Error500ForLanguage("xx-crash")));
    origin.close();
    let attacker = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move {
            let request = Request::get("/u/shared")
                .header("accept-language", "xx-crash")
                .body(Body::empty())
                .unwrap();
            proxy.send(request).await
        }
    });
    until("the attacker's render to be held", || origin.held() == 1).await;
    let visitor = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { proxy.get("/u/shared").await }
    });
    until("the visitor to join the attacker's render", || {
        proxy.stats().coalesced == 1
    })
    .await;
    origin.open();
    assert_eq!(attacker.await.unwrap().status, 500);
    let visitor = visitor.await.unwrap();
    assert_eq!(
        visitor.status, 200,
        "the visitor's own request earns a page"
    );
    assert_eq!(origin.renders("/u/shared"), 2);
}
