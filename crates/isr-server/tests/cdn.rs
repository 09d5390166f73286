//! Behind a CDN: each answer's tags downstream (`Cache-Tag`, `Surrogate-Key`), and every
//! local purge forwarded to Cloudflare and Fastly, in the background, retried with
//! backoff. The providers are local stand-ins (test origins that record what they are
//! sent); every request they saw is checked against the provider's documented API format.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;

use http::Method;
use isr_store::testing::until;
use support::{Fault, Seen, TestOrigin, TestProxy};

const ADMIN: &str = "cdn-admin-token-0123456789";
const CF_TOKEN: &str = "cloudflare-token-0123456789";
const CF_ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const FASTLY_TOKEN: &str = "fastly-token-0123456789";
const FASTLY_SERVICE: &str = "SU1Z0isxPaozGVKXdv0eY";

fn config(cloudflare: &TestOrigin, fastly: &TestOrigin, tags_header: &str) -> String {
    format!(
        r#"admin_token = "{ADMIN}"
[cdn]
tags_header = "{tags_header}"
site_url = "https://www.example.com"
cloudflare_zone = "{CF_ZONE}"
cloudflare_token = "{CF_TOKEN}"
cloudflare_api = "{}/client/v4"
fastly_service = "{FASTLY_SERVICE}"
fastly_token = "{FASTLY_TOKEN}"
fastly_api = "{}"
retry_min = "10ms"

[[route]]
path = "/blog/[slug]"
revalidate = 60
tags = ["blog", "post:{{slug}}"]
"#,
        cloudflare.url(),
        fastly.url()
    )
}

fn header<'s>(seen: &'s Seen, name: &str) -> Option<&'s str> {
    seen.headers.get(name).and_then(|value| value.to_str().ok())
}

/// Cloudflare's `POST /zones/{zone_id}/purge_cache`: a bearer API token, a JSON object
/// with exactly one of `tags`, `files`, `prefixes`, `hosts` (1 to 30 strings) or
/// `purge_everything: true`; files are absolute URLs, prefixes and hosts have no scheme.
fn check_cloudflare(seen: &Seen) -> Result<serde_json::Value, String> {
    if seen.method != Method::POST {
        return Err(format!("method {}", seen.method));
    }
    if seen.target != format!("/client/v4/zones/{CF_ZONE}/purge_cache") {
        return Err(format!("path {}", seen.target));
    }
    if header(seen, "authorization") != Some(&format!("Bearer {CF_TOKEN}")) {
        return Err("no bearer API token".into());
    }
    if header(seen, "content-type") != Some("application/json") {
        return Err("not JSON".into());
    }
    let body: serde_json::Value =
        serde_json::from_slice(&seen.body).map_err(|error| format!("body: {error}"))?;
    let object = body.as_object().ok_or("the body is not an object")?;
    let [(field, value)] = object.iter().collect::<Vec<_>>()[..] else {
        return Err(format!("one purge kind per request: {body}"));
    };
    match field.as_str() {
        "purge_everything" if value == &serde_json::Value::Bool(true) => {}
        "tags" | "files" | "prefixes" | "hosts" => {
            let items = value.as_array().ok_or("not a list")?;
            if items.is_empty() || items.len() > 30 {
                return Err(format!("{} items", items.len()));
            }
            for item in items {
                let item = item.as_str().ok_or("not a string")?;
                let absolute = item.starts_with("https://") || item.starts_with("http://");
                if (field == "files") != absolute {
                    return Err(format!("{field}: {item}"));
                }
            }
        }
        other => return Err(format!("unknown field {other}")),
    }
    Ok(body)
}

/// Fastly: `Fastly-Key`; `POST /service/{id}/purge` with 1 to 256 space-separated keys in
/// `Surrogate-Key`, `POST /service/{id}/purge_all`, or `POST /purge/{host}/{path}`;
/// `Fastly-Soft-Purge: 1` optional (never on purge_all).
fn check_fastly(seen: &Seen) -> Result<(), String> {
    if seen.method != Method::POST {
        return Err(format!("method {}", seen.method));
    }
    if header(seen, "fastly-key") != Some(FASTLY_TOKEN) {
        return Err("no Fastly-Key".into());
    }
    let soft = header(seen, "fastly-soft-purge");
    if soft.is_some_and(|soft| soft != "1") {
        return Err("Fastly-Soft-Purge is 1 or absent".into());
    }
    let service = format!("/service/{FASTLY_SERVICE}");
    if seen.target == format!("{service}/purge") {
        let keys = header(seen, "surrogate-key").ok_or("no Surrogate-Key")?;
        let count = keys.split(' ').filter(|key| !key.is_empty()).count();
        if count == 0 || count > 256 {
            return Err(format!("{count} keys"));
        }
    } else if seen.target == format!("{service}/purge_all") {
        if soft.is_some() {
            return Err("purge_all is never soft".into());
        }
    } else if !seen.target.starts_with("/purge/www.example.com/") {
        return Err(format!("path {}", seen.target));
    }
    Ok(())
}

async fn revalidate(proxy: &TestProxy, body: &str) {
    let answer = proxy
        .admin(Method::POST, "/_isr/revalidate", Some(ADMIN), Some(body))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

async fn scrape(proxy: &TestProxy) -> String {
    proxy.metrics_get("/metrics").await.text()
}

/// The metrics once they contain `line` (the forwarder counts after its last attempt).
async fn scrape_until(proxy: &TestProxy, line: &str) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = scrape(proxy).await;
        if text.contains(line) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never counted: {line}\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn every_purge_reaches_both_providers_in_their_own_format() {
    let (origin, cloudflare, fastly) = tokio::join!(
        TestOrigin::start(),
        TestOrigin::start(),
        TestOrigin::start()
    );
    let proxy = TestProxy::start(&origin, &config(&cloudflare, &fastly, "Cache-Tag")).await;
    revalidate(&proxy, r#"{"tags":["blog"]}"#).await;
    revalidate(&proxy, r#"{"paths":["/blog/a"],"mode":"hard"}"#).await;
    revalidate(&proxy, r#"{"prefixes":["/docs"]}"#).await;
    until("every request to arrive", || {
        cloudflare.total() == 3 && fastly.total() == 2
    })
    .await;

    let cloudflare_seen = cloudflare.seen();
    let bodies: Vec<serde_json::Value> = cloudflare_seen
        .iter()
        .map(|seen| check_cloudflare(seen).unwrap_or_else(|error| panic!("Cloudflare: {error}")))
        .collect();
    for wanted in [
        serde_json::json!({"tags": ["blog"]}),
        serde_json::json!({"files": ["https://www.example.com/blog/a"]}),
        serde_json::json!({"prefixes": ["www.example.com/docs"]}),
    ] {
        assert!(bodies.contains(&wanted), "{wanted} in {bodies:?}");
    }
    let fastly_seen = fastly.seen();
    for seen in &fastly_seen {
        check_fastly(seen).unwrap_or_else(|error| panic!("Fastly: {error}"));
    }
    let keys = fastly_seen
        .iter()
        .find(|seen| seen.target.ends_with("/purge"))
        .expect("the key purge");
    assert_eq!(header(keys, "surrogate-key"), Some("blog"));
    assert_eq!(
        header(keys, "fastly-soft-purge"),
        Some("1"),
        "soft here, soft there"
    );
    let url = fastly_seen
        .iter()
        .find(|seen| seen.target.starts_with("/purge/"))
        .expect("the URL purge");
    assert_eq!(url.target, "/purge/www.example.com/blog/a");
    assert_eq!(
        header(url, "fastly-soft-purge"),
        None,
        "hard here, hard there"
    );

    scrape_until(
        &proxy,
        "isr_cdn_purges_total{provider=\"cloudflare\",result=\"ok\"} 3",
    )
    .await;
    let text = scrape_until(
        &proxy,
        "isr_cdn_purges_total{provider=\"fastly\",result=\"ok\"} 2",
    )
    .await;
    assert!(!text.contains(CF_TOKEN) && !text.contains(FASTLY_TOKEN));

    // Emptying the cache empties the CDN's too, in one request each.
    let clear = proxy
        .admin(Method::DELETE, "/_isr/cache", Some(ADMIN), None)
        .await;
    assert_eq!(clear.status, 200);
    until("the purges of everything", || {
        cloudflare.total() == 4 && fastly.total() == 3
    })
    .await;
    let everything = cloudflare.seen().pop().expect("the last request");
    assert_eq!(
        check_cloudflare(&everything).expect("Cloudflare's format"),
        serde_json::json!({"purge_everything": true})
    );
    let all = fastly.seen().pop().expect("the last request");
    check_fastly(&all).expect("Fastly's format");
    assert_eq!(all.target, format!("/service/{FASTLY_SERVICE}/purge_all"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_failing_cdn_is_retried_with_backoff_and_never_holds_up_the_local_purge() {
    let (origin, cloudflare, fastly) = tokio::join!(
        TestOrigin::start(),
        TestOrigin::start(),
        TestOrigin::start()
    );
    let proxy =
        Arc::new(TestProxy::start(&origin, &config(&cloudflare, &fastly, "Cache-Tag")).await);
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");

    // The CDN holds every request: the local purge is done and visible all the same.
    cloudflare.close();
    fastly.close();
    revalidate(&proxy, r#"{"tags":["post:a"]}"#).await;
    assert_eq!(proxy.get("/blog/a").await.cache(), "STALE");
    until("both providers to be asked", || {
        cloudflare.held() == 1 && fastly.held() == 1
    })
    .await;

    // Cloudflare fails twice (503), then takes it; Fastly takes it at once.
    cloudflare.fault(Some(Fault::Error500));
    cloudflare.open();
    fastly.open();
    until("two failed attempts", || cloudflare.total() >= 2).await;
    cloudflare.fault(None);
    let text = scrape_until(
        &proxy,
        "isr_cdn_purges_total{provider=\"cloudflare\",result=\"ok\"} 1",
    )
    .await;
    // Every attempt but the last failed and was retried: at least the two seen failing
    // (one more if the third came before the fault was lifted), none after the success.
    let attempts = cloudflare.total();
    assert!(attempts >= 3, "{attempts}");
    let retries = format!(
        "isr_cdn_purge_retries_total{{provider=\"cloudflare\"}} {}",
        attempts - 1
    );
    assert!(text.contains(&retries), "{retries} in {text}");
    for seen in cloudflare.seen() {
        check_cloudflare(&seen).unwrap_or_else(|error| panic!("Cloudflare: {error}"));
    }
    assert!(
        text.contains("isr_cdn_purges_total{provider=\"fastly\",result=\"ok\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_purge_is_not_retried() {
    let (origin, cloudflare, fastly) = tokio::join!(
        TestOrigin::start(),
        TestOrigin::start(),
        TestOrigin::start()
    );
    // The stand-in refuses like Cloudflare does a bad token.
    cloudflare.set(
        &format!("/client/v4/zones/{CF_ZONE}/purge_cache"),
        support::Page::status(403),
    );
    let proxy = TestProxy::start(&origin, &config(&cloudflare, &fastly, "Cache-Tag")).await;
    revalidate(&proxy, r#"{"tags":["blog"]}"#).await;
    let text = scrape_until(
        &proxy,
        "isr_cdn_purges_total{provider=\"cloudflare\",result=\"failed\"} 1",
    )
    .await;
    assert_eq!(cloudflare.total(), 1, "a refusal is final");
    assert!(
        text.contains("isr_cdn_purge_retries_total{provider=\"cloudflare\"} 0"),
        "{text}"
    );
}

#[tokio::test]
async fn answers_carry_their_tags_downstream() {
    let (origin, cloudflare, fastly) = tokio::join!(
        TestOrigin::start(),
        TestOrigin::start(),
        TestOrigin::start()
    );
    let proxy = TestProxy::start(&origin, &config(&cloudflare, &fastly, "Cache-Tag")).await;
    let miss = proxy.get("/blog/a").await;
    assert_eq!(miss.header("cache-tag"), Some("blog,post:a"));
    let hit = proxy.get("/blog/a").await;
    assert_eq!(hit.cache(), "HIT");
    assert_eq!(hit.header("cache-tag"), Some("blog,post:a"));
    proxy.shutdown().await;

    let proxy = TestProxy::start(&origin, &config(&cloudflare, &fastly, "Surrogate-Key")).await;
    let answer = proxy.get("/blog/b").await;
    assert_eq!(answer.header("surrogate-key"), Some("blog post:b"));
    assert_eq!(answer.header("cache-tag"), None);
    proxy.shutdown().await;

    let plain = TestProxy::start(
        &origin,
        "[[route]]\npath = \"/blog/[slug]\"\ntags = [\"blog\"]\n",
    )
    .await;
    let answer = plain.get("/blog/c").await;
    assert_eq!(answer.header("cache-tag"), None, "off unless configured");
    assert_eq!(answer.header("surrogate-key"), None);
}
