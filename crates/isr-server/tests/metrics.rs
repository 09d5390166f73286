//! The metrics listener against the real proxy and origin: requests counted by cache
//! status and route pattern (never by path), renders and their failures by reason,
//! tiers, purges, health and readiness, bad input; and the text `promtool` accepts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;

use isr_store::testing::until;
use support::{Fault, TestOrigin, TestProxy};

const CONFIG: &str = r#"
[cache]
render_timeout = "300ms"
retry_min = 1

[[route]]
path = "/blog/[slug]"
revalidate = 10

[[route]]
path = "/blog/about"
revalidate = 10
"#;

/// One sample of `text`: the value of the series named `name` whose labels include
/// every one of `labels`; `None` if there is none.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels.iter().all(|(label, wanted)| {
                    series_labels
                        .split(',')
                        .any(|pair| pair == format!("{label}=\"{wanted}\""))
                });
            matches.then(|| value.parse().expect("a number"))
        })
}

async fn scrape(proxy: &TestProxy) -> String {
    let answer = proxy.metrics_get("/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        answer.header("content-type")
    );
    answer.text()
}

fn requests(text: &str, status: &str, route: &str) -> f64 {
    sample(
        text,
        "isr_requests_total",
        &[("status", status), ("route", route)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn requests_are_counted_by_status_and_route_pattern() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");
    assert_eq!(proxy.get("/blog/a").await.cache(), "HIT");
    assert_eq!(proxy.get("/blog/%61").await.cache(), "HIT");
    assert_eq!(proxy.get("/blog/about").await.cache(), "MISS");
    proxy.advance(11);
    assert_eq!(proxy.get("/blog/about").await.cache(), "STALE");
    until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    let bypass = proxy
        .send(
            http::Request::post("/blog/a")
                .body(isr::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(bypass.cache(), "BYPASS");
    for n in 0..20 {
        proxy.get(&format!("/unrouted/{n}")).await;
    }
    assert_eq!(proxy.get("/blog/%00").await.status, 400);

    let text = scrape(&proxy).await;
    assert_eq!(requests(&text, "MISS", "/blog/[slug]"), 1.0);
    assert_eq!(requests(&text, "HIT", "/blog/[slug]"), 2.0, "normalised");
    assert_eq!(requests(&text, "BYPASS", "/blog/[slug]"), 1.0);
    assert_eq!(requests(&text, "MISS", "/blog/about"), 1.0);
    assert_eq!(requests(&text, "STALE", "/blog/about"), 1.0);
    let unrouted: f64 = ["HIT", "MISS", "BYPASS", "STALE", "ERROR"]
        .iter()
        .map(|status| requests(&text, status, "(none)"))
        .sum();
    assert_eq!(unrouted, 21.0, "twenty, and the refused path");
    // Bounded: every series is one of 5 statuses × (2 routes + none), whatever the paths.
    let series = text
        .lines()
        .filter(|line| line.starts_with("isr_requests_total{"))
        .count();
    assert_eq!(series, 15, "{text}");
    assert!(!text.contains("/unrouted/"), "no raw path is a label");

    let answered = sample(
        &text,
        "isr_response_duration_seconds_count",
        &[("status", "HIT")],
    );
    assert_eq!(answered, Some(2.0));
    // Two blog pages, one regeneration, twenty unrouted pages (the POST is no render).
    assert_eq!(origin.total(), 24, "the POST reached the origin too");
    assert_eq!(sample(&text, "isr_origin_renders_total", &[]), Some(23.0));
    assert_eq!(
        sample(&text, "isr_origin_render_duration_seconds_count", &[]),
        Some(23.0)
    );
    assert_eq!(
        sample(&text, "isr_regenerations_total", &[("result", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "isr_origin_renders_in_flight", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "isr_cache_entries", &[("tier", "memory")]),
        Some(22.0),
        "two blog pages and twenty unrouted ones"
    );
    assert_eq!(
        sample(&text, "isr_cache_entries", &[("tier", "disk")]),
        Some(22.0)
    );
    assert!(sample(&text, "isr_cache_bytes", &[("tier", "memory")]).is_some_and(|b| b > 0.0));
    assert!(sample(&text, "process_resident_memory_bytes", &[]).is_some_and(|b| b > 0.0));
    proxy.shutdown().await;
}

#[tokio::test]
async fn render_failures_are_counted_by_reason() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    origin.fault(Some(Fault::Error500));
    assert_eq!(proxy.get("/blog/a").await.status, 500);
    origin.fault(Some(Fault::Hang));
    assert_eq!(proxy.get("/blog/b").await.status, 504);
    origin.fault(None);
    origin.stop();
    assert_eq!(proxy.get("/blog/c").await.status, 502);

    let text = scrape(&proxy).await;
    let failures = |reason| {
        sample(
            &text,
            "isr_origin_render_failures_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(failures("status"), Some(1.0));
    assert_eq!(failures("timeout"), Some(1.0));
    assert_eq!(failures("unreachable"), Some(1.0));
    assert_eq!(
        sample(&text, "isr_origin_renders_in_flight", &[]),
        Some(0.0)
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn joins_and_purges_are_counted() {
    let origin = TestOrigin::start().await;
    let proxy = Arc::new(TestProxy::start(&origin, CONFIG).await);
    origin.close();
    let first = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { proxy.get("/blog/a").await }
    });
    until("the render to reach the origin", || origin.held() == 1).await;
    let second = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move { proxy.get("/blog/a").await }
    });
    until("the second request to join", || {
        proxy.stats().coalesced == 1
    })
    .await;
    origin.open();
    assert_eq!(first.await.unwrap().status, 200);
    assert_eq!(second.await.unwrap().status, 200);
    assert_eq!(origin.renders("/blog/a"), 1);

    let handle = proxy.handle();
    handle.revalidate_tag("news").await.unwrap();
    handle.revalidate_path("/blog/a").await.unwrap();
    handle.revalidate_path("/blog/b").await.unwrap();

    let text = scrape(&proxy).await;
    assert_eq!(
        sample(&text, "isr_lock_waits_total", &[("scope", "local")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "isr_purges_total", &[("kind", "tag")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "isr_purges_total", &[("kind", "path")]),
        Some(2.0)
    );
    assert_eq!(sample(&text, "isr_purge_records", &[]), Some(3.0));
}

#[tokio::test]
async fn health_and_readiness() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    let alive = proxy.metrics_get("/healthz").await;
    assert_eq!(alive.status, 200);
    assert_eq!(alive.text(), "ok\n");
    let ready = proxy.metrics_get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.text(), "ready\n");
    assert_eq!(
        proxy.metrics_get("/metrics").await.header("cache-control"),
        Some("no-store")
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_stopping_proxy_is_alive_but_not_ready() {
    let origin = TestOrigin::start().await;
    let mut proxy = TestProxy::start(&origin, CONFIG).await;
    assert_eq!(proxy.metrics_get("/readyz").await.status, 200);
    proxy.stop_serving().await;
    let ready = proxy.metrics_get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.text(), "not ready: draining: the proxy is stopping\n");
    assert_eq!(proxy.metrics_get("/healthz").await.status, 200);
    proxy.shutdown().await;
}

#[tokio::test]
async fn readiness_says_when_redis_is_unreachable() {
    let origin = TestOrigin::start().await;
    // A port nothing listens on: the node starts degraded, and is not ready.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", closed.local_addr().unwrap());
    drop(closed);
    let proxy = TestProxy::start_node(&origin, CONFIG, &url).await;
    // The first lookup finds Redis down.
    let _ = proxy.get("/blog/a").await;
    let text = scrape(&proxy).await;
    assert_eq!(sample(&text, "isr_redis_up", &[]), Some(0.0));
    let ready = proxy.metrics_get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.text().starts_with("not ready: redis at ") && ready.text().contains("unreachable"),
        "{}",
        ready.text()
    );
    assert!(
        proxy.metrics_get("/healthz").await.status == 200,
        "alive still"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn bad_requests_to_the_metrics_listener_are_clear_4xx() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    for path in ["/metrics?format=json", "/readyz?x", "/healthz?verbose=1"] {
        let answer = proxy.metrics_get(path).await;
        assert_eq!(answer.status, 400, "{path}");
        assert!(answer.text().contains("no query parameters"), "{path}");
    }
    let huge = format!("/metrics?{}", "a".repeat(6000));
    assert_eq!(proxy.metrics_get(&huge).await.status, 400);
    let unknown = proxy.metrics_get("/admin").await;
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("/metrics, /healthz and /readyz"));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<isr::Body>();
    let post = http::Request::post(format!("http://{}/metrics", proxy.metrics))
        .body(isr::Body::empty())
        .unwrap();
    let answer = client.request(post).await.expect("answers");
    assert_eq!(answer.status(), 405);
    // Serving is untouched by all of it.
    assert_eq!(proxy.get("/blog/a").await.cache(), "MISS");
    proxy.shutdown().await;
}

/// `promtool check metrics` (Prometheus' own linter) accepts the text: names, types,
/// help, histogram buckets. Needs promtool (Debian's `prometheus`): `ci/ops.sh` installs
/// it and runs this test.
#[tokio::test]
#[ignore = "needs promtool: run by ci/ops.sh"]
async fn promtool_accepts_the_metrics() {
    use std::io::Write;
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    proxy.get("/blog/a").await;
    proxy.get("/blog/a").await;
    proxy.handle().revalidate_tag("t").await.unwrap();
    let text = scrape(&proxy).await;
    proxy.shutdown().await;
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = promtool.expect("promtool runs (apt-get install prometheus)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The metrics once `wanted` holds of them (what other nodes do arrives in the background).
async fn scrape_until(proxy: &TestProxy, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let text = scrape(proxy).await;
        if wanted(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never: {what}\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_waits_on_another_nodes_render_and_purge_arrivals_are_counted() {
    let redis = isr_store::testing::RedisServer::start();
    let origin = TestOrigin::start().await;
    let first = Arc::new(TestProxy::start_node(&origin, CONFIG, &redis.url()).await);
    let second = Arc::new(TestProxy::start_node(&origin, CONFIG, &redis.url()).await);

    // The first node renders; the second waits on its lock, then takes its page.
    origin.close();
    let rendering = tokio::spawn({
        let first = Arc::clone(&first);
        async move { first.get("/blog/a").await }
    });
    until("the first node's render to reach the origin", || {
        origin.held() == 1
    })
    .await;
    let waiting = tokio::spawn({
        let second = Arc::clone(&second);
        async move { second.get("/blog/a").await }
    });
    scrape_until(&second, "a wait on the other node", |text| {
        sample(text, "isr_lock_waits_total", &[("scope", "cluster")]) == Some(1.0)
    })
    .await;
    origin.open();
    assert_eq!(rendering.await.unwrap().status, 200);
    assert_eq!(waiting.await.unwrap().status, 200);
    assert_eq!(origin.renders("/blog/a"), 1);
    let text = scrape(&second).await;
    assert_eq!(
        sample(&text, "isr_rendered_elsewhere_total", &[]),
        Some(1.0)
    );
    assert_eq!(sample(&text, "isr_redis_up", &[]), Some(1.0));

    // A purge on the first node arrives on the second, and is timed there.
    first.handle().revalidate_tag("x").await.unwrap();
    scrape_until(&second, "the purge to arrive", |text| {
        sample(text, "isr_purge_visible_seconds_count", &[]).is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(
        sample(
            &scrape(&second).await,
            "isr_purges_total",
            &[("kind", "tag")]
        ),
        Some(0.0),
        "recorded by the first node, not this one"
    );
}

#[tokio::test]
async fn memory_evictions_are_counted() {
    let origin = TestOrigin::start().await;
    let config = "memory = \"512KiB\"\n[[route]]\npath = \"/big/[n]\"\nrevalidate = 60\n";
    let proxy = TestProxy::start(&origin, config).await;
    for n in 0..40 {
        let path = format!("/big/{n}");
        origin.set(&path, support::Page::ok().body(vec![b'x'; 20 * 1024]));
        assert_eq!(proxy.get(&path).await.cache(), "MISS");
    }
    let text = scrape(&proxy).await;
    let evicted = sample(&text, "isr_cache_evictions_total", &[("tier", "memory")]);
    let held = sample(&text, "isr_cache_entries", &[("tier", "memory")]).unwrap_or(0.0);
    assert!(held < 40.0, "the budget holds fewer than 40 pages: {held}");
    assert!(
        evicted.is_some_and(|evicted| evicted >= 40.0 - held),
        "every page that left was evicted: {evicted:?}, {held} held"
    );
    proxy.shutdown().await;
}
