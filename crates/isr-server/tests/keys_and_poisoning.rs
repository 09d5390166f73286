//! Cache keys and cache poisoning: unkeyed steering headers never reach the origin, Host
//! keying, path normalisation, fat GETs, RSC and encoding variants, and client cookies.
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
use support::{TestOrigin, TestProxy};

const CONFIG: &str = r#"
[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 100
"#;

async fn setup(toml: &str) -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, toml).await;
    (origin, proxy)
}

fn get_with(target: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(target);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

fn header<'a>(seen: &'a support::Seen, name: &str) -> Option<&'a str> {
    seen.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn steering_headers_never_reach_the_origin() {
    let (origin, proxy) = setup(CONFIG).await;
    let steering = [
        ("x-forwarded-host", "evil.example"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("x-host", "evil.example"),
        ("forwarded", "host=evil.example"),
        ("x-http-method-override", "DELETE"),
    ];
    let poisoned = proxy.send(get_with("/p/x", &steering)).await;
    assert_eq!(poisoned.cache(), "MISS");
    assert_eq!(poisoned.text(), "/p/x render #1");
    // The same on an unmatched route (client headers are forwarded there) and a bypass.
    let unmatched = proxy.send(get_with("/u/x", &steering)).await;
    assert_eq!(unmatched.status, 200);
    let mut post = Request::post("/p/x");
    for (name, value) in steering {
        post = post.header(name, value);
    }
    let post = proxy.send(post.body(Body::from("b")).unwrap()).await;
    assert_eq!(post.cache(), "BYPASS");

    let seen = origin.seen();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.target.split('?').next(), Some(&*request.target));
        assert!(!request.target.contains("admin"));
        for (name, _) in steering {
            let value = header(request, name).unwrap_or("");
            assert!(
                !value.contains("evil") && !value.contains("admin") && !value.contains("DELETE"),
                "{}: {name}: {value} reached the origin",
                request.target
            );
        }
        assert!(
            !header(request, "host").unwrap_or("").contains("evil"),
            "{}",
            request.target
        );
    }
    assert!(!seen[0].headers.contains_key("x-forwarded-host"));
    assert!(!seen[0].headers.contains_key("x-original-url"));
    assert!(!seen[0].headers.contains_key("x-rewrite-url"));

    let clean = proxy.get("/p/x").await;
    assert_eq!(
        clean.cache(),
        "HIT",
        "the poisoned request shared the clean entry"
    );
    assert_eq!(clean.text(), "/p/x render #1");
    assert!(!format!("{:?}", clean.headers).contains("evil"));
}

#[tokio::test]
async fn host_is_not_keyed_by_default() {
    let (origin, proxy) = setup(CONFIG).await;
    let a = proxy.send(get_with("/p/h", &[("host", "a.example")])).await;
    assert_eq!(a.cache(), "MISS");
    let b = proxy.send(get_with("/p/h", &[("host", "b.example")])).await;
    assert_eq!(b.cache(), "HIT", "one entry for every Host");
    assert_eq!(b.text(), "/p/h render #1");
    assert_eq!(origin.renders("/p/h"), 1);
    assert_eq!(
        header(&origin.seen()[0], "host"),
        Some(&*origin.addr.to_string()),
        "the origin sees its own authority, not the client's Host"
    );
}

#[tokio::test]
async fn key_host_keys_on_a_validated_host() {
    let (origin, proxy) = setup(&format!("key_host = true\n{CONFIG}")).await;
    let a = proxy.send(get_with("/p/h", &[("host", "a.example")])).await;
    assert_eq!(a.cache(), "MISS");
    let b = proxy.send(get_with("/p/h", &[("host", "b.example")])).await;
    assert_eq!(b.cache(), "MISS", "another Host is another entry");
    assert_eq!(b.text(), "/p/h render #2");
    let a_again = proxy.send(get_with("/p/h", &[("host", "A.example")])).await;
    assert_eq!(a_again.cache(), "HIT", "host names are case-insensitive");
    assert_eq!(a_again.text(), "/p/h render #1");
    let hosts: Vec<_> = origin
        .seen()
        .iter()
        .map(|s| header(s, "host").unwrap_or("").to_owned())
        .collect();
    assert_eq!(hosts, ["a.example", "b.example"]);

    for bad in ["a@b", "a/b", "evil.example/x"] {
        let answer = proxy.send(get_with("/p/h", &[("host", bad)])).await;
        assert_eq!(answer.status, 400, "Host {bad:?}");
        assert!(answer.text().contains("Host"), "{}", answer.text());
    }
    assert_eq!(origin.total(), 2, "bad hosts never reach the origin");
}

#[tokio::test]
async fn paths_are_normalised_before_keying_and_forwarding() {
    let (origin, proxy) = setup(CONFIG).await;
    assert_eq!(proxy.get("/p/%61").await.cache(), "MISS");
    let same = proxy.get("/p/a").await;
    assert_eq!(same.cache(), "HIT", "%61 is a");
    assert_eq!(same.text(), "/p/a render #1");

    let dotted = proxy.get("/assets/../p/b").await;
    assert_eq!(dotted.cache(), "MISS");
    assert_eq!(dotted.text(), "/p/b render #1");
    assert_eq!(proxy.get("/p/./b").await.cache(), "HIT");

    let encoded = proxy.get("/static/..%2faccount").await;
    assert_eq!(encoded.status, 200);
    assert_eq!(encoded.text(), "/static/..%2Faccount render #1");

    let targets: Vec<String> = origin.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(targets, ["/p/a", "/p/b", "/static/..%2Faccount"]);

    for bad in ["/p/a%00", "/p/%0d%0aSet-Cookie:x", "/p/%zz"] {
        let answer = proxy.get(bad).await;
        assert_eq!(answer.status, 400, "{bad}");
        assert!(
            answer.text().starts_with("isr: bad request path"),
            "{bad}: {}",
            answer.text()
        );
        assert_eq!(answer.cache(), "BYPASS");
    }
    assert_eq!(origin.total(), 3, "bad paths never reach the origin");
}

#[tokio::test]
async fn a_fat_get_body_is_not_forwarded() {
    let (origin, proxy) = setup(CONFIG).await;
    for target in ["/p/fat", "/u/fat"] {
        let answer = proxy
            .send(
                Request::get(target)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(Body::from("admin=true&page=evil"))
                    .unwrap(),
            )
            .await;
        assert_eq!(answer.status, 200, "{target}");
        assert_eq!(answer.cache(), "MISS", "{target}");
        assert_eq!(answer.text(), format!("{target} render #1"));
        assert_eq!(proxy.get(target).await.cache(), "HIT", "{target}");
    }
    for seen in origin.seen() {
        assert!(seen.body.is_empty(), "{}: body forwarded", seen.target);
        assert!(
            matches!(header(&seen, "content-length"), None | Some("0")),
            "{}",
            seen.target
        );
        assert!(!seen.headers.contains_key("transfer-encoding"));
    }
}

#[tokio::test]
async fn rsc_and_encoding_classes_are_separate_entries() {
    let (origin, proxy) = setup(CONFIG).await;
    let html = proxy.get("/p/r").await;
    let rsc = proxy.send(get_with("/p/r", &[("rsc", "1")])).await;
    assert_eq!(html.cache(), "MISS");
    assert_eq!(rsc.cache(), "MISS", "RSC is its own entry");
    assert_eq!(rsc.text(), "/p/r render #2");
    assert_eq!(proxy.get("/p/r").await.text(), "/p/r render #1");
    assert_eq!(
        proxy.send(get_with("/p/r", &[("rsc", "1")])).await.text(),
        "/p/r render #2"
    );
    let seen = origin.seen();
    assert_eq!(header(&seen[0], "rsc"), None);
    assert_eq!(header(&seen[1], "rsc"), Some("1"));

    let plain = proxy.get("/p/enc").await;
    let gzip = proxy
        .send(get_with("/p/enc", &[("accept-encoding", "gzip")]))
        .await;
    assert_eq!(plain.cache(), "MISS");
    assert_eq!(gzip.cache(), "MISS", "gzip is its own entry");
    let gzip_deflate = proxy
        .send(get_with("/p/enc", &[("accept-encoding", "gzip, deflate")]))
        .await;
    assert_eq!(gzip_deflate.cache(), "HIT", "same class as gzip");
    assert_eq!(gzip_deflate.text(), "/p/enc render #2");
    let br = proxy
        .send(get_with("/p/enc", &[("accept-encoding", "br, gzip")]))
        .await;
    assert_eq!(br.cache(), "MISS");
    let encodings: Vec<_> = origin
        .seen()
        .iter()
        .filter(|s| s.target == "/p/enc")
        .map(|s| header(s, "accept-encoding").unwrap_or("").to_owned())
        .collect();
    assert_eq!(encodings, ["identity", "gzip", "br"], "exactly the class");
}

#[tokio::test]
async fn client_cookies_never_reach_the_origin_on_configured_routes() {
    let (origin, proxy) = setup(CONFIG).await;
    let answer = proxy
        .send(get_with(
            "/p/c",
            &[("cookie", "session=alice"), ("user-agent", "alice-browser")],
        ))
        .await;
    assert_eq!(answer.cache(), "MISS");
    let seen = &origin.seen()[0];
    assert!(!seen.headers.contains_key("cookie"));
    assert_eq!(
        header(seen, "user-agent"),
        Some("isr"),
        "renders are built from the key alone"
    );
    let bob = proxy
        .send(get_with("/p/c", &[("cookie", "session=bob")]))
        .await;
    assert_eq!(bob.cache(), "HIT");
}

/// Next.js varies RSC answers on these; the key does not contain them, so the origin must
/// never see them (else one client's variant is stored for everyone).
#[tokio::test]
async fn next_router_headers_the_key_ignores_never_reach_the_origin() {
    let (origin, proxy) = setup(CONFIG).await;
    origin.set(
        "/u/photos",
        support::Page::ok()
            .header("cache-control", "public, s-maxage=60")
            .header(
                "vary",
                "RSC, Next-Router-State-Tree, Next-Router-Prefetch, Next-Router-Segment-Prefetch, Next-Url",
            ),
    );
    for target in ["/p/photos", "/u/photos"] {
        let poisoned = proxy
            .send(get_with(
                target,
                &[
                    ("rsc", "1"),
                    ("next-url", "/feed"),
                    ("next-router-state-tree", "%5B%22%22%5D"),
                    ("next-router-segment-prefetch", "/_tree"),
                ],
            ))
            .await;
        assert_eq!(poisoned.status, 200);
        let clean = proxy.send(get_with(target, &[("rsc", "1")])).await;
        assert_eq!(clean.cache(), "HIT", "{target}");
    }
    for seen in origin.seen() {
        assert_eq!(header(&seen, "rsc"), Some("1"));
        for name in [
            "next-url",
            "next-router-state-tree",
            "next-router-segment-prefetch",
        ] {
            assert!(
                !seen.headers.contains_key(name),
                "{}: {name} reached the origin, and its answer was stored for everyone",
                seen.target
            );
        }
    }
}
