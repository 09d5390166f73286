//! Sessions (`bypass_cookies`): under a catch-all route, a logged-in request (one carrying
//! a session cookie) gets its own page from the origin, cookies and all, and nothing of it
//! is stored; an anonymous one gets the cached page, rendered without any cookie.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use support::{Page, TestOrigin, TestProxy, get_with};

const CATCH_ALL: &str = r#"
bypass_cookies = ["session", "sb-*"]

[[route]]
path = "/[...path]"
revalidate = 60

[[route]]
path = "/assets/[...file]"
revalidate = 60
bypass_cookies = []
"#;

#[tokio::test]
async fn a_session_cookie_bypasses_a_catch_all_route_and_nothing_private_is_stored() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CATCH_ALL).await;
    origin.set("/account", Page::ok());

    // Logged in: the origin sees the cookie, the answer is private, nothing is stored.
    let logged_in = get_with("/account", &[("cookie", "theme=dark; session=alice")]);
    let answer = proxy.send(logged_in).await;
    assert_eq!(answer.cache(), "BYPASS");
    assert_eq!(answer.text(), "/account render #1");
    assert_eq!(answer.header("cache-control"), Some("private, no-store"));
    let seen = origin.seen();
    assert_eq!(seen[0].headers["cookie"], "theme=dark; session=alice");

    // Anonymous (a cookie that is not a session's counts as none): cached, and the render
    // that is stored carries no cookie at all.
    let anonymous = || get_with("/account", &[("cookie", "theme=dark")]);
    let answer = proxy.send(anonymous()).await;
    assert_eq!(
        (answer.cache(), answer.text().as_str()),
        ("MISS", "/account render #2")
    );
    assert!(origin.seen()[1].headers.get("cookie").is_none());
    let answer = proxy.send(anonymous()).await;
    assert_eq!(
        (answer.cache(), answer.text().as_str()),
        ("HIT", "/account render #2")
    );
    assert_eq!(proxy.get("/account").await.text(), "/account render #2");

    // Logged in again (a prefix pattern): its own render, never the cached page.
    let answer = proxy
        .send(get_with("/account", &[("cookie", "sb-access-token=x")]))
        .await;
    assert_eq!(
        (answer.cache(), answer.text().as_str()),
        ("BYPASS", "/account render #3")
    );
    // The cached page is still the anonymous one.
    assert_eq!(proxy.get("/account").await.text(), "/account render #2");
    assert_eq!(origin.renders("/account"), 3);

    // A route that names no session cookies caches whatever the cookies.
    origin.set("/assets/app.css", Page::ok());
    let asset = || get_with("/assets/app.css", &[("cookie", "session=alice")]);
    assert_eq!(proxy.send(asset()).await.cache(), "MISS");
    assert_eq!(proxy.send(asset()).await.cache(), "HIT");
}

#[test]
fn bad_session_cookie_names_are_refused_with_the_key() {
    for (toml, key) in [
        ("bypass_cookies = [\"a b\"]\n", "bypass_cookies"),
        ("bypass_cookies = \"session\"\n", "bypass_cookies"),
        (
            "[[route]]\npath = \"/\"\nbypass_cookies = [\"ok\", \"*\"]\n",
            "route.bypass_cookies",
        ),
        (
            "[[route]]\npath = \"/\"\nrevalidate = 0\nbypass_cookies = [\"session\"]\n",
            "route.bypass_cookies",
        ),
    ] {
        let error = isr_core::config::Config::from_toml(toml, "isr.toml").unwrap_err();
        assert!(error.to_string().contains(key), "{toml}: {error}");
    }
}

/// A default app (no Cache-Control, no route) caches nothing; the real binary says why
/// once at info level, with what to add, and every answer's Cache-Status says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_config_app_is_told_why_nothing_is_cached() {
    let origin = TestOrigin::start().await;
    origin.set("/", Page::ok().header("content-type", "text/html"));
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_isr"));
    command.args(["serve", "--origin", &origin.url(), "--cache-dir"]);
    command.arg(dir.path());
    let (_isr, address, log) = support::serve_logged(command).await;
    let answer = support::get_url(format!("http://{address}/"))
        .await
        .unwrap();
    assert_ne!(answer.cache(), "HIT");
    let status = answer.header("cache-status").unwrap();
    assert!(status.contains("detail="), "{status}");
    let answer = support::get_url(format!("http://{address}/"))
        .await
        .unwrap();
    assert_ne!(answer.cache(), "HIT");
    assert_eq!(origin.renders("/"), 2);
    let mut reads = 0;
    while !log.text().contains("an HTML page was not stored") {
        reads += 1;
        assert!(reads < 400, "no log line: {}", log.text());
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let text = log.text();
    assert!(text.contains("revalidate = <seconds>"), "{text}");
    assert!(text.contains("s-maxage=<seconds>"), "{text}");
    assert_eq!(
        text.matches("an HTML page was not stored").count(),
        1,
        "{text}"
    );
}
