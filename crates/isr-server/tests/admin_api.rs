//! The admin API over HTTP on the proxy's own port: off without a token (404, never the
//! origin, however the path is spelled), the bearer token and the webhook `secret`, input
//! checks (400 naming the field, 413), the answers of every endpoint, and that outside
//! traffic can never purge through a proxied path.
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
use isr_store::testing::until;
use serde_json::{Value, json};
use support::{Answer, TestOrigin, TestProxy};

const TOKEN: &str = "test-admin-token-0123456789";

const ROUTES: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 60
expire = 3600
tags = ["blog", "post:{slug}"]
"#;

fn with_token() -> String {
    format!("admin_token = \"{TOKEN}\"\nmemory = \"8MiB\"\n{ROUTES}")
}

async fn setup(toml: &str) -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, toml).await;
    (origin, proxy)
}

fn assert_json_error(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.text());
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    let json = answer.json();
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {json}"
    );
}

/// The status line and body of a raw HTTP/1.1 answer.
fn parse_raw(raw: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[tokio::test]
async fn without_a_token_every_admin_path_is_404_json_and_never_reaches_the_origin() {
    let (origin, proxy) = setup(ROUTES).await;
    let requests = [
        (Method::GET, "/_isr/stats"),
        (Method::GET, "/_isr/entries"),
        (Method::POST, "/_isr/revalidate"),
        (Method::DELETE, "/_isr/cache"),
        (Method::GET, "/_isr"),
        (Method::GET, "/_isr/"),
        (Method::GET, "/_isr/anything?x=1"),
        (Method::GET, "/%5Fisr/stats"),
        (Method::GET, "/%5fisr/stats"),
        (Method::GET, "/_%69sr/stats"),
        (Method::GET, "/x/../_isr/stats"),
        (Method::GET, "//_isr/stats"),
    ];
    for round in 0..2 {
        for (method, target) in &requests {
            let body = format!(r#"{{"secret": "{TOKEN}", "paths": ["/blog/a"]}}"#);
            let answer = proxy
                .admin(method.clone(), target, Some(TOKEN), Some(&body))
                .await;
            assert_json_error(&answer, 404, &format!("round {round}: {method} {target}"));
            assert_ne!(answer.cache(), "HIT", "{target}");
        }
    }
    // Spellings a client library might rewrite, sent byte for byte.
    for target in ["/x/../_isr/stats", "/%5Fisr/stats", "/_%69sr/../_isr/stats"] {
        let raw = proxy
            .raw(
                format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await;
        let (status, body) = parse_raw(&raw);
        assert_eq!(status, 404, "{target}");
        assert!(body.contains("\"error\""), "{target}: {body}");
    }
    assert_eq!(origin.total(), 0, "no admin request reached the origin");
    let stats = proxy.stats();
    assert_eq!(stats.renders, 0);
    assert_eq!(
        stats.hits + stats.misses + stats.stale,
        0,
        "nothing was cached or served from cache"
    );
    assert_eq!(proxy.handle().memory().entries, 0);
    assert_eq!(proxy.handle().purge_records(), 0, "nothing was purged");

    // Ordinary paths still work, including ones that merely look similar.
    for target in ["/_isrx", "/blog/_isr", "/isr/stats"] {
        let answer = proxy.get(target).await;
        assert_eq!(answer.status, 200, "{target}");
        assert_eq!(answer.text(), format!("{target} render #1"));
    }
}

#[tokio::test]
async fn the_admin_api_needs_the_token() {
    let (origin, proxy) = setup(&with_token()).await;
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");
    let body = r#"{"paths": ["/blog/a"]}"#;
    let cases: [(Method, &str, Option<&str>, Option<&str>); 10] = [
        (Method::GET, "/_isr/stats", None, None),
        (
            Method::GET,
            "/_isr/stats",
            Some("wrong-token-0123456789abc"),
            None,
        ),
        (
            Method::GET,
            "/_isr/stats",
            Some(&TOKEN[..TOKEN.len() - 1]),
            None,
        ),
        (Method::GET, "/_isr/entries", None, None),
        (Method::GET, "/_isr/entries", Some("x"), None),
        (Method::DELETE, "/_isr/cache", None, None),
        (
            Method::DELETE,
            "/_isr/cache",
            Some("wrong-token-0123456789abc"),
            None,
        ),
        (Method::POST, "/_isr/revalidate", None, Some(body)),
        (
            Method::POST,
            "/_isr/revalidate",
            Some("wrong-token-0123456789abc"),
            Some(body),
        ),
        // Without the token, a malformed body is not discussed either.
        (Method::POST, "/_isr/revalidate", None, Some("{nope")),
    ];
    for (method, target, token, body) in cases {
        let answer = proxy.admin(method.clone(), target, token, body).await;
        assert_json_error(&answer, 401, &format!("{method} {target} {token:?}"));
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    // Not `Bearer`: the token in another scheme, or bare.
    for value in [
        format!("Basic {TOKEN}"),
        TOKEN.to_owned(),
        format!("bearer{TOKEN}"),
    ] {
        let answer = proxy
            .send(
                Request::get("/_isr/stats")
                    .header("authorization", value.as_str())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_json_error(&answer, 401, &value);
    }
    // A wrong webhook secret, with or without other fields.
    for body in [
        r#"{"secret": "wrong-token-0123456789abc", "paths": ["/blog/a"]}"#,
        r#"{"secret": "", "paths": ["/blog/a"]}"#,
        r#"{"secret": null, "paths": ["/blog/a"]}"#,
    ] {
        let answer = proxy
            .admin(Method::POST, "/_isr/revalidate", None, Some(body))
            .await;
        assert_json_error(&answer, 401, body);
    }
    assert_eq!(proxy.handle().purge_records(), 0, "nothing was purged");
    assert_eq!(proxy.handle().memory().entries, 1, "nothing was cleared");
    assert_eq!(proxy.get("/blog/a").await.cache(), "HIT");

    // The webhook shape: the token in the body, no header.
    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            None,
            Some(&format!(r#"{{"secret": "{TOKEN}", "paths": ["/blog/a"]}}"#)),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["purged"]["paths"], 1);
    let stale = proxy.get("/blog/a").await;
    assert_eq!(stale.cache(), "STALE");
    assert_eq!(stale.text(), "/blog/a render #1");
    until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    assert_eq!(proxy.get("/blog/a").await.text(), "/blog/a render #2");
    // The webhook secret is only for revalidate; the admin answers never reach the origin.
    assert_eq!(origin.renders("/blog/a"), 2);
    assert_eq!(origin.total(), 2);
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_changes_nothing() {
    let (origin, proxy) = setup(&with_token()).await;
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");
    let long_tag = "t".repeat(300);
    let cases: Vec<(String, &str)> = vec![
        (r#"{"paths": ["/blog/a"]"#.to_owned(), ""),
        ("not json".to_owned(), ""),
        (r#"{"pathz": []}"#.to_owned(), "pathz"),
        (r#"{"paths": []}"#.to_owned(), "paths"),
        (r#"{"tags": []}"#.to_owned(), "tags"),
        (format!(r#"{{"tags": ["{long_tag}"]}}"#), "tags[0]"),
        (r#"{"tags": ["ok", ""]}"#.to_owned(), "tags[1]"),
        (r#"{"paths": ["blog/a"]}"#.to_owned(), "paths[0]"),
        (r#"{"paths": ["/blog/a", "nope"]}"#.to_owned(), "paths[1]"),
        (r#"{"prefixes": ["docs"]}"#.to_owned(), "prefixes[0]"),
        ("{}".to_owned(), "nothing to revalidate"),
        (
            r#"{"regenerate": true}"#.to_owned(),
            "nothing to revalidate",
        ),
        (
            r#"{"paths": ["/blog/a"], "mode": "medium"}"#.to_owned(),
            "mode",
        ),
        (r#"{"paths": "/blog/a"}"#.to_owned(), "paths"),
        // A valid list next to an invalid one: still nothing is done.
        (
            r#"{"paths": ["/blog/a"], "tags": [""]}"#.to_owned(),
            "tags[0]",
        ),
    ];
    for (body, field) in &cases {
        let answer = proxy
            .admin(Method::POST, "/_isr/revalidate", Some(TOKEN), Some(body))
            .await;
        assert_json_error(&answer, 400, body);
        let error = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains(field),
            "{body}: the error names {field}: {error}"
        );
    }
    // Over 64 KiB: 413, whether or not the token is in the body.
    let big = format!(r#"{{"paths": ["/{}"]}}"#, "a".repeat(70 * 1024));
    let answer = proxy
        .admin(Method::POST, "/_isr/revalidate", Some(TOKEN), Some(&big))
        .await;
    assert_json_error(&answer, 413, "a 70 KiB body");
    // More than 1000 items in one list.
    let many: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let body = json!({ "tags": many }).to_string();
    let answer = proxy
        .admin(Method::POST, "/_isr/revalidate", Some(TOKEN), Some(&body))
        .await;
    assert_json_error(&answer, 400, "1001 tags");
    assert!(answer.json()["error"].as_str().unwrap().contains("tags"));

    // Listing parameters.
    for target in [
        "/_isr/entries?limit=0",
        "/_isr/entries?limit=1001",
        "/_isr/entries?limit=-1",
        "/_isr/entries?limit=many",
        "/_isr/entries?cursor=zz",
        "/_isr/entries?cursor=abc",
        "/_isr/entries?cursor=not-a-cursor",
        "/_isr/entries?unknown=1",
    ] {
        let answer = proxy.admin(Method::GET, target, Some(TOKEN), None).await;
        assert_json_error(&answer, 400, target);
    }
    // Unknown endpoint and wrong method.
    let answer = proxy
        .admin(Method::GET, "/_isr/nope", Some(TOKEN), None)
        .await;
    assert_json_error(&answer, 404, "/_isr/nope");
    let answer = proxy
        .admin(Method::GET, "/_isr/revalidate", Some(TOKEN), None)
        .await;
    assert_eq!(answer.status, 405, "{}", answer.text());

    assert_eq!(
        proxy.handle().purge_records(),
        0,
        "no rejected request purged anything"
    );
    assert_eq!(proxy.get("/blog/a").await.cache(), "HIT");
    assert_eq!(origin.total(), 1, "no admin request reached the origin");
}

async fn admin_stats(proxy: &TestProxy) -> Value {
    let answer = proxy
        .admin(Method::GET, "/_isr/stats", Some(TOKEN), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    answer.json()
}

#[tokio::test]
async fn the_answers_report_what_happened() {
    let (origin, proxy) = setup(&with_token()).await;
    let empty = admin_stats(&proxy).await;
    assert_eq!(empty["entries"]["memory"], 0);
    assert_eq!(empty["bytes"]["memory"], 0);
    assert_eq!(empty["bytes"]["memory_capacity"], 8 * 1024 * 1024);
    assert_eq!(empty["purge_records"], 0);
    assert_eq!(empty["requests"]["hit"], 0);
    assert_eq!(empty["requests"]["miss"], 0);

    for slug in ["a", "b", "c", "d", "e"] {
        assert_eq!(proxy.get(&format!("/blog/{slug}")).await.cache(), "MISS");
    }
    assert_eq!(proxy.get("/about").await.cache(), "MISS");
    assert_eq!(proxy.get("/blogroll").await.cache(), "MISS");
    for _ in 0..3 {
        assert_eq!(proxy.get("/blog/a").await.cache(), "HIT");
    }
    let post = proxy
        .send(Request::post("/blog/a").body(Body::from("x")).unwrap())
        .await;
    assert_eq!(post.cache(), "BYPASS");

    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            Some(TOKEN),
            Some(r#"{"paths": ["/blog/b", "/blog/nope"], "tags": ["post:c", "x", "y"], "prefixes": ["/docs"], "regenerate": true, "if_cached": true}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(
        answer.json(),
        json!({
            "mode": "soft",
            "purged": { "paths": 2, "tags": 3, "prefixes": 1, "keys": 0 },
            "regenerating": ["/blog/b"],
            "skipped": [{ "path": "/blog/nope", "reason": "not cached" }],
        })
    );
    until("the eager regeneration", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    // Purged soft but not regenerated: /blog/c. Purged hard: /blog/d.
    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            Some(TOKEN),
            Some(r#"{"paths": ["/blog/d"], "mode": "hard"}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["mode"], "hard");
    assert_eq!(answer.json()["regenerating"], json!([]));

    let stats = admin_stats(&proxy).await;
    assert_eq!(stats["entries"]["memory"], 7);
    assert_eq!(stats["entries"]["disk"], 7);
    let memory_bytes = stats["bytes"]["memory"].as_u64().unwrap();
    assert!(
        memory_bytes > 0 && memory_bytes <= 8 * 1024 * 1024,
        "{stats}"
    );
    let disk_bytes = stats["bytes"]["disk"].as_u64().unwrap();
    assert!(disk_bytes > 0, "{stats}");
    assert!(
        stats["bytes"]["disk_file"].as_u64().unwrap() > disk_bytes,
        "{stats}"
    );
    assert_eq!(stats["bytes"]["disk_capacity"], 10u64 << 30, "the default");
    assert_eq!(stats["evicted"]["disk"], 0);
    assert_eq!(stats["bytes"]["memory_capacity"], 8 * 1024 * 1024);
    assert_eq!(stats["requests"]["hit"], 3);
    assert_eq!(stats["requests"]["miss"], 7);
    assert_eq!(stats["requests"]["stale"], 0);
    assert_eq!(stats["requests"]["bypass"], 1);
    assert_eq!(stats["renders"], 8);
    assert_eq!(stats["regenerations"]["ok"], 1);
    assert_eq!(stats["regenerations"]["failed"], 0);
    assert_eq!(stats["coalesced"], 0);
    assert_eq!(
        stats["purge_records"], 7,
        "2 paths, 3 tags, 1 prefix, then 1 path again"
    );

    // Listing /blog two at a time: every entry exactly once, with its state.
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let target = match &cursor {
            Some(cursor) => format!("/_isr/entries?prefix=/blog/&limit=2&cursor={cursor}"),
            None => "/_isr/entries?prefix=/blog/&limit=2".to_owned(),
        };
        let answer = proxy.admin(Method::GET, &target, Some(TOKEN), None).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let page = answer.json();
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 2, "{page}");
        for entry in entries {
            assert_eq!(entry["status"], 200);
            assert!(entry["size"].as_u64().unwrap() > 0);
            assert_eq!(entry["revalidate"], 60);
            assert_eq!(entry["expire"], 3600);
            let path = entry["path"].as_str().unwrap().to_owned();
            let slug = path.trim_start_matches("/blog/");
            assert_eq!(
                entry["tags"],
                json!(["blog", format!("post:{slug}")]),
                "{entry}"
            );
            seen.push((path, entry["state"].as_str().unwrap().to_owned()));
        }
        pages += 1;
        assert!(pages <= 10, "the listing does not end");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen.sort();
    let expected: Vec<(String, String)> = [
        ("a", "fresh"),
        ("b", "fresh"), // regenerated after its purge
        ("c", "stale"),
        ("d", "purged"),
        ("e", "fresh"),
    ]
    .iter()
    .map(|(slug, state)| (format!("/blog/{slug}"), (*state).to_owned()))
    .collect();
    assert_eq!(seen, expected, "every /blog entry exactly once");
    assert!((3..=4).contains(&pages), "{pages} pages of two");

    // All entries, and the listing follows time.
    let all = proxy
        .admin(Method::GET, "/_isr/entries", Some(TOKEN), None)
        .await
        .json();
    assert_eq!(all["entries"].as_array().unwrap().len(), 7);
    assert_eq!(all["next_cursor"], Value::Null);
    proxy.advance(61);
    let later = proxy
        .admin(
            Method::GET,
            "/_isr/entries?prefix=/about",
            Some(TOKEN),
            None,
        )
        .await
        .json();
    assert_eq!(later["entries"][0]["state"], "stale");
    assert_eq!(later["entries"][0]["age"], 61);
    assert_eq!(later["entries"].as_array().unwrap().len(), 1);

    // DELETE /_isr/cache.
    let cleared = proxy
        .admin(Method::DELETE, "/_isr/cache", Some(TOKEN), None)
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert_eq!(cleared.json(), json!({ "cleared": true }));
    let after = admin_stats(&proxy).await;
    assert_eq!(after["entries"]["memory"], 0);
    assert_eq!(after["entries"]["disk"], 0);
    assert_eq!(after["bytes"]["memory"], 0);
    let listing = proxy
        .admin(Method::GET, "/_isr/entries", Some(TOKEN), None)
        .await
        .json();
    assert_eq!(listing["entries"], json!([]));
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");
    assert_eq!(
        origin.renders("/blog/a"),
        3,
        "a miss, the POST, and a miss after clearing"
    );
}

#[tokio::test]
async fn outside_traffic_cannot_purge_through_proxied_paths() {
    let (origin, proxy) = setup(&with_token()).await;
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");
    let webhook = format!(r#"{{"secret": "{TOKEN}", "paths": ["/blog/a"], "mode": "hard"}}"#);

    // Revalidate-looking requests to ordinary paths are the origin's business.
    for target in [
        "/revalidate",
        "/api/revalidate?secret=x&path=/blog/a",
        "/isr/revalidate",
        "/_isrx/revalidate",
        "/blog/_isr/revalidate",
    ] {
        let answer = proxy
            .admin(Method::POST, target, Some(TOKEN), Some(&webhook))
            .await;
        assert_eq!(answer.status, 200, "{target}");
        assert_eq!(answer.cache(), "BYPASS", "{target}");
        let seen = origin.seen();
        let last = seen.last().unwrap();
        assert_eq!(last.method, Method::POST);
        assert_eq!(last.target, target);
        assert_eq!(
            last.body,
            webhook.as_bytes(),
            "{target}: the body went to the origin"
        );
    }
    // Headers that other proxies use to rewrite the path change nothing here.
    let tricks = [
        ("x-original-url", "/_isr/revalidate"),
        ("x-rewrite-url", "/_isr/revalidate"),
        ("x-forwarded-prefix", "/_isr"),
        ("x-http-method-override", "DELETE"),
    ];
    let mut request = Request::post("/blog/a");
    for (name, value) in tricks {
        request = request.header(name, value);
    }
    let answer = proxy
        .send(request.body(Body::from(webhook.clone())).unwrap())
        .await;
    assert_eq!(answer.cache(), "BYPASS");
    assert_eq!(proxy.handle().purge_records(), 0, "nothing was purged");
    let hit = proxy.get("/blog/a").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.text(), "/blog/a render #1");

    // And on the admin path itself they are ignored: no token, no purge; with the secret,
    // exactly the revalidate asked for (not a clear, not another path).
    let mut request = Request::post("/_isr/revalidate").header("content-type", "application/json");
    for (name, value) in [
        ("x-original-url", "/_isr/cache"),
        ("x-rewrite-url", "/_isr/cache"),
        ("x-http-method-override", "DELETE"),
    ] {
        request = request.header(name, value);
    }
    let no_secret = request
        .body(Body::from(r#"{"paths": ["/blog/a"], "mode": "hard"}"#))
        .unwrap();
    let answer = proxy.send(no_secret).await;
    assert_json_error(&answer, 401, "tricks without the token");
    let mut request = Request::post("/_isr/revalidate").header("content-type", "application/json");
    for (name, value) in [
        ("x-original-url", "/_isr/cache"),
        ("x-http-method-override", "DELETE"),
    ] {
        request = request.header(name, value);
    }
    let answer = proxy
        .send(
            request
                .body(Body::from(format!(
                    r#"{{"secret": "{TOKEN}", "paths": ["/blog/b"]}}"#
                )))
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["purged"]["paths"], 1);
    let listed = proxy.handle().entries("/", None, 100).await.unwrap();
    assert_eq!(
        proxy.handle().memory().entries,
        1,
        "the cache was not cleared: {listed:?}"
    );
    let hit = proxy.get("/blog/a").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.text(), "/blog/a render #1");
    assert_eq!(
        origin.renders("/blog/a"),
        2,
        "the first miss and the forwarded POST"
    );
    assert!(
        origin
            .seen()
            .iter()
            .all(|s| !s.target.starts_with("/_isr/") && s.target != "/_isr"),
        "no admin request reached the origin"
    );
}

/// `answer` read as the contract's type `T`, which says back exactly what was sent: no
/// field the server sends is unknown to the type (the client reads the same types, so it
/// cannot drift from the server again).
#[track_caller]
fn as_contract<T: serde::de::DeserializeOwned + serde::Serialize>(answer: &Answer) -> T {
    let sent = answer.json();
    let read: T = serde_json::from_value(sent.clone())
        .unwrap_or_else(|e| panic!("not the contract's type ({e}): {sent}"));
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        sent,
        "a field was lost"
    );
    read
}

#[tokio::test]
async fn every_answer_is_the_shared_contract_type() {
    use isr_core::admin::{
        ClearAnswer, EntriesPage, EntryState, ErrorBody, RevalidateAnswer, SkipReason, StatsAnswer,
    };

    let (_origin, proxy) = setup(&with_token()).await;
    for slug in ["a", "b"] {
        assert_eq!(proxy.get(&format!("/blog/{slug}")).await.cache(), "MISS");
    }
    let call = |method: Method, target: &'static str, body: Option<&'static str>| {
        proxy.admin(method, target, Some(TOKEN), body)
    };

    let page: EntriesPage = as_contract(&call(Method::GET, "/_isr/entries?limit=1", None).await);
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].state, EntryState::Fresh);
    assert!(page.next_cursor.is_some(), "two entries, one a page");
    let key = page.entries[0].key.clone();

    let body = format!(
        r#"{{"keys": [{key:?}], "paths": ["/nope"], "regenerate": true, "if_cached": true}}"#
    );
    let answer = proxy
        .admin(Method::POST, "/_isr/revalidate", Some(TOKEN), Some(&body))
        .await;
    let answer: RevalidateAnswer = as_contract(&answer);
    assert_eq!((answer.purged.keys, answer.purged.paths), (1, 1));
    assert_eq!(answer.skipped[0].reason, SkipReason::NotCached);

    let stats: StatsAnswer = as_contract(&call(Method::GET, "/_isr/stats", None).await);
    assert_eq!(stats.entries.memory, Some(2));
    assert_eq!(stats.requests.miss, 2);
    assert_eq!(stats.cluster, None, "a single node");

    let error: ErrorBody = as_contract(&call(Method::GET, "/_isr/entries?limit=0", None).await);
    assert!(error.error.contains("`limit`"), "{}", error.error);

    let cleared: ClearAnswer = as_contract(&call(Method::DELETE, "/_isr/cache", None).await);
    assert!(cleared.cleared);
}
