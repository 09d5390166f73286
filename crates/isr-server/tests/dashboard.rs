//! The dashboard's HTTP contract on the real proxy: 401 and a login form without a
//! session, the token posted in a form body (never a URL), a session cookie that is not
//! the token, the admin API and the dashboard's data behind the session and its header,
//! recent purges, and clear 4xx for bad input. (The browser test is dashboard_browser.rs.)
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
use support::{Answer, TestOrigin, TestProxy};

const TOKEN: &str = "dashboard-token-0123456789";

fn config() -> String {
    format!(
        "admin_token = \"{TOKEN}\"\n[[route]]\npath = \"/blog/[slug]\"\nrevalidate = 60\ntags = [\"blog\"]\n"
    )
}

async fn login(proxy: &TestProxy, form: &str) -> Answer {
    proxy
        .send(
            Request::post("/_isr/dashboard/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(form.to_owned()))
                .unwrap(),
        )
        .await
}

/// `name=value` of the session cookie a good login sets.
async fn session(proxy: &TestProxy) -> String {
    let answer = login(proxy, &format!("token={TOKEN}")).await;
    assert_eq!(answer.status, 303);
    assert_eq!(answer.header("location"), Some("/_isr/dashboard"));
    let cookie = answer.header("set-cookie").expect("a session cookie");
    cookie.split(';').next().expect("name=value").to_owned()
}

async fn get(proxy: &TestProxy, target: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::get(target);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    proxy.send(request.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn without_a_session_the_dashboard_is_a_login_form() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config()).await;
    let page = get(&proxy, "/_isr/dashboard", &[]).await;
    assert_eq!(page.status, 401);
    assert!(page.text().contains("<form id=\"login\" method=\"post\""));
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("default-src 'none'"))
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for target in [
        "/_isr/dashboard/app.js",
        "/_isr/dashboard/metrics",
        "/_isr/dashboard/purges",
    ] {
        assert_eq!(get(&proxy, target, &[]).await.status, 401, "{target}");
    }
    // A bearer token is not a browser session: the page wants the cookie.
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        get(&proxy, "/_isr/dashboard", &[("authorization", &bearer)])
            .await
            .status,
        401
    );

    let wrong = login(&proxy, "token=not-the-token-at-all").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.text().contains("Wrong admin token"),
        "{}",
        wrong.text()
    );
    assert!(wrong.header("set-cookie").is_none());
    assert_eq!(login(&proxy, "token=a&extra=b").await.status, 400);
    assert_eq!(login(&proxy, "user=a").await.status, 400);
    let huge = format!("token={}", "a".repeat(10_000));
    assert_eq!(login(&proxy, &huge).await.status, 413);
    assert_eq!(origin.total(), 0, "nothing under /_isr/ reaches the origin");
}

#[tokio::test]
async fn a_session_shows_the_page_and_reads_and_purges_through_the_admin_api() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config()).await;
    let good = login(&proxy, &format!("token={TOKEN}")).await;
    let set_cookie = good.header("set-cookie").expect("a session").to_owned();
    assert!(
        !set_cookie.contains(TOKEN),
        "the cookie is not the token: {set_cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/_isr/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = session(&proxy).await;
    let with_cookie = [("cookie", cookie.as_str())];
    let dashboard = [("cookie", cookie.as_str()), ("x-isr-dashboard", "1")];

    let page = get(&proxy, "/_isr/dashboard", &with_cookie).await;
    assert_eq!(page.status, 200);
    assert!(page.text().contains("id=\"hit-ratio\""));
    assert!(!page.text().contains(TOKEN));
    let script = get(&proxy, "/_isr/dashboard/app.js", &with_cookie).await;
    assert_eq!(script.status, 200);
    assert!(
        !script.text().contains("http://") && !script.text().contains("https://"),
        "no asset from elsewhere"
    );

    // The data wants the header too: a forged cross-site form carries the cookie only.
    assert_eq!(get(&proxy, "/_isr/stats", &with_cookie).await.status, 401);
    assert_eq!(
        get(&proxy, "/_isr/dashboard/metrics", &with_cookie)
            .await
            .status,
        401
    );
    proxy.get("/blog/a").await;
    proxy.get("/blog/a").await;
    let stats = get(&proxy, "/_isr/stats", &dashboard).await;
    assert_eq!(stats.status, 200);
    assert_eq!(stats.json()["requests"]["hit"], 1);
    let metrics = get(&proxy, "/_isr/dashboard/metrics", &dashboard).await;
    assert!(
        metrics
            .text()
            .contains("isr_origin_render_duration_seconds_count 1")
    );

    let mut purge = Request::post("/_isr/revalidate")
        .header("content-type", "application/json")
        .header("cookie", cookie.as_str());
    let forged = proxy
        .send(purge.body(Body::from(r#"{"paths":["/blog/a"]}"#)).unwrap())
        .await;
    assert_eq!(forged.status, 401, "no header, no purge");
    purge = Request::post("/_isr/revalidate")
        .header("content-type", "application/json")
        .header("cookie", cookie.as_str())
        .header("x-isr-dashboard", "1");
    let purged = proxy
        .send(purge.body(Body::from(r#"{"tags":["blog"]}"#)).unwrap())
        .await;
    assert_eq!(purged.status, 200, "{}", purged.text());
    assert_eq!(proxy.get("/blog/a").await.cache(), "STALE");
    let purges = get(&proxy, "/_isr/dashboard/purges", &dashboard).await;
    let purges = purges.json();
    assert_eq!(purges[0]["kind"], "tag");
    assert_eq!(purges[0]["target"], "blog");
    assert_eq!(purges[0]["mode"], "soft");

    assert_eq!(
        get(&proxy, "/_isr/dashboard?token=x", &with_cookie)
            .await
            .status,
        400
    );
    assert_eq!(
        get(&proxy, "/_isr/dashboard/metrics?x=1", &dashboard)
            .await
            .status,
        400
    );
    let logout = proxy
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/_isr/dashboard/logout")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(logout.status, 303);
    assert!(
        logout
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
}

#[tokio::test]
async fn without_an_admin_token_there_is_no_dashboard() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, "").await;
    assert_eq!(get(&proxy, "/_isr/dashboard", &[]).await.status, 404);
}
