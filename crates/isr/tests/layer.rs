//! The layer in front of a real axum app, served on 127.0.0.1:0 and called over HTTP:
//! MISS → HIT → STALE → regenerated (by calling the app's router again, never over HTTP),
//! single flight, the last good page kept when a regeneration fails, the bypass token,
//! and purges through the handle, an app endpoint and the mounted admin router.
//!
//! Time is a `ManualClock`; waiting is on counters, never on sleeps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use isr::{Isr, IsrLayer, ManualClock, PurgeMode, RouteRule, Stats};
use isr_core::UnixMillis;
use isr_store::testing::{RedisServer, concurrently, until};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;

const ADMIN_TOKEN: &str = "admin-token-0123456789";
const BYPASS_TOKEN: &str = "bypass-token-0123456789";

/// What the app counts and how it behaves.
struct AppState {
    /// Renders per path, as the app's handlers saw them.
    renders: Mutex<HashMap<String, u64>>,
    /// Requests that reached the server over HTTP (renders by the layer do not).
    http_requests: AtomicU64,
    failing: AtomicBool,
    gate: watch::Receiver<bool>,
}

impl AppState {
    fn render(&self, path: &str) -> Result<u64, StatusCode> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StatusCode::INTERNAL_SERVER_ERROR);
        }
        let mut renders = self.renders.lock().unwrap();
        let n = renders.entry(path.to_owned()).or_default();
        *n += 1;
        Ok(*n)
    }
}

struct TestApp {
    addr: SocketAddr,
    state: Arc<AppState>,
    isr: Isr,
    clock: ManualClock,
    open: watch::Sender<bool>,
    client: Client<HttpConnector, Full<Bytes>>,
}

struct Answer {
    status: StatusCode,
    cache: String,
    body: String,
}

impl TestApp {
    async fn start() -> TestApp {
        TestApp::start_with(
            IsrLayer::builder()
                .route("/", RouteRule::revalidate(10))
                .route(
                    "/posts/[id]",
                    RouteRule::revalidate(60).tags(["posts", "post:{id}"]),
                )
                .route("/slow", RouteRule::revalidate(60))
                .bypass_token(BYPASS_TOKEN),
        )
        .await
    }

    async fn start_with(builder: isr::IsrBuilder) -> TestApp {
        let clock = ManualClock::new(UnixMillis(1_700_000_000_000));
        let (open, gate) = watch::channel(true);
        let state = Arc::new(AppState {
            renders: Mutex::default(),
            http_requests: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            gate,
        });
        let layer = builder
            .clock(Arc::new(clock.clone()))
            .build()
            .expect("valid configuration");

        // The app's own pages.
        let pages = Router::new()
            .route("/", get(home))
            .route("/posts/{id}", get(post_page))
            .route("/slow", get(slow))
            .route("/private", get(private))
            .with_state(Arc::clone(&state));
        let cached = layer.layer(pages);
        let isr = cached.handle();

        // What the app mounts around them: a purge endpoint and the admin API.
        let app = Router::new()
            .route("/purge", post(purge).with_state(isr.clone()))
            .merge(isr::admin::router(isr.clone(), ADMIN_TOKEN, None))
            .fallback_service(cached)
            .layer(middleware::from_fn_with_state(
                Arc::clone(&state),
                count_http,
            ));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestApp {
            addr,
            state,
            isr,
            clock,
            open,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{target}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self
            .client
            .request(request.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let cache = response
            .headers()
            .get("x-isr-cache")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            cache,
            body: String::from_utf8(body.to_vec()).unwrap(),
        }
    }

    async fn get(&self, target: &str) -> Answer {
        self.request("GET", target, &[]).await
    }

    fn renders(&self, path: &str) -> u64 {
        self.state
            .renders
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn http_requests(&self) -> u64 {
        self.state.http_requests.load(Ordering::SeqCst)
    }

    /// Wait until the engine's counters satisfy `done`.
    async fn until(&self, done: impl Fn(&Stats) -> bool) {
        until("the engine's counters", || done(&self.isr.stats())).await;
    }
}

async fn count_http(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    state.http_requests.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

async fn home(State(state): State<Arc<AppState>>) -> Result<String, StatusCode> {
    Ok(format!("home render #{}", state.render("/")?))
}

async fn post_page(
    State(state): State<Arc<AppState>>,
    Path(id): Path<u32>,
) -> Result<String, StatusCode> {
    let path = format!("/posts/{id}");
    Ok(format!("post {id} render #{}", state.render(&path)?))
}

async fn slow(State(state): State<Arc<AppState>>) -> Result<String, StatusCode> {
    let n = state.render("/slow")?;
    let mut gate = state.gate.clone();
    gate.wait_for(|open| *open).await.unwrap();
    Ok(format!("slow render #{n}"))
}

async fn private(State(state): State<Arc<AppState>>) -> Result<Response, StatusCode> {
    let n = state.render("/private")?;
    Ok((
        [("set-cookie", "session=abc")],
        format!("private render #{n}"),
    )
        .into_response())
}

async fn purge(
    State(isr): State<Isr>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<&'static str, (StatusCode, String)> {
    let bad = |e: isr::PurgeError| (StatusCode::BAD_REQUEST, e.to_string());
    if let Some(tag) = query.get("tag") {
        isr.revalidate_tag(tag).await.map_err(bad)?;
    }
    if let Some(path) = query.get("path") {
        isr.revalidate_path(path).await.map_err(bad)?;
    }
    Ok("purged")
}

#[tokio::test]
async fn miss_hit_stale_then_regenerated_by_calling_the_app_again() {
    let app = TestApp::start().await;

    let first = app.get("/posts/1").await;
    assert_eq!(
        (first.status, first.cache.as_str()),
        (StatusCode::OK, "MISS")
    );
    assert_eq!(first.body, "post 1 render #1");
    assert_eq!(app.renders("/posts/1"), 1);

    let second = app.get("/posts/1").await;
    assert_eq!(
        (second.cache.as_str(), second.body.as_str()),
        ("HIT", "post 1 render #1")
    );
    assert_eq!(app.renders("/posts/1"), 1);

    // Past its revalidate time: served stale, regenerated once in the background.
    app.clock.advance(Duration::from_secs(60));
    let third = app.get("/posts/1").await;
    assert_eq!(
        (third.cache.as_str(), third.body.as_str()),
        ("STALE", "post 1 render #1")
    );
    app.until(|stats| stats.regenerations_ok == 1).await;
    assert_eq!(app.renders("/posts/1"), 2);

    let fourth = app.get("/posts/1").await;
    assert_eq!(
        (fourth.cache.as_str(), fourth.body.as_str()),
        ("HIT", "post 1 render #2")
    );
    assert_eq!(app.renders("/posts/1"), 2);
    assert_eq!(
        app.http_requests(),
        4,
        "the regeneration called the app's router, not the server over HTTP"
    );

    // Another route, another revalidate time.
    assert_eq!(app.get("/").await.cache, "MISS");
    app.clock.advance(Duration::from_secs(10));
    assert_eq!(app.get("/").await.cache, "STALE");
    app.until(|stats| stats.regenerations_ok == 2).await;
    assert_eq!(app.get("/").await.body, "home render #2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_render_once() {
    const N: usize = 50;
    let app = Arc::new(TestApp::start().await);
    app.open.send_replace(false);
    let clients = tokio::spawn({
        let app = Arc::clone(&app);
        concurrently(N, move |_| {
            let app = Arc::clone(&app);
            async move { app.get("/slow").await }
        })
    });
    // Everyone but the render's own request waits for it; then let it finish.
    app.until(|stats| stats.coalesced == (N - 1) as u64).await;
    assert_eq!(app.renders("/slow"), 1);
    app.open.send_replace(true);
    for answer in clients.await.unwrap() {
        assert_eq!(
            (answer.cache.as_str(), answer.body.as_str()),
            ("MISS", "slow render #1")
        );
    }
    assert_eq!(app.renders("/slow"), 1, "one render for {N} requests");
}

#[tokio::test]
async fn a_failed_regeneration_keeps_the_last_good_page() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/posts/2").await.body, "post 2 render #1");
    app.state.failing.store(true, Ordering::SeqCst);
    app.clock.advance(Duration::from_secs(60));

    let stale = app.get("/posts/2").await;
    assert_eq!(
        (stale.cache.as_str(), stale.body.as_str()),
        ("STALE", "post 2 render #1")
    );
    app.until(|stats| stats.regenerations_failed == 1).await;
    let again = app.get("/posts/2").await;
    assert_eq!(
        (again.status, again.cache.as_str()),
        (StatusCode::OK, "STALE")
    );
    assert_eq!(again.body, "post 2 render #1", "the last good page stays");
    assert_eq!(
        app.isr.stats().regenerations_failed,
        1,
        "not retried before its backoff"
    );

    // A page never cached has nothing to fall back on: the app's error goes through.
    let missing = app.get("/posts/3").await;
    assert_eq!(missing.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn the_bypass_token_and_private_answers_skip_the_cache() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/posts/5").await.cache, "MISS");
    let draft = app
        .request("GET", "/posts/5", &[("x-isr-bypass", BYPASS_TOKEN)])
        .await;
    assert_eq!(
        (draft.cache.as_str(), draft.body.as_str()),
        ("BYPASS", "post 5 render #2")
    );
    let cached = app.get("/posts/5").await;
    assert_eq!(
        (cached.cache.as_str(), cached.body.as_str()),
        ("HIT", "post 5 render #1")
    );

    let wrong = app
        .request("GET", "/posts/5", &[("x-isr-bypass", "not-the-token")])
        .await;
    assert_eq!(wrong.cache, "HIT", "a wrong token is an ordinary request");

    // An unmatched route whose answer sets a cookie is never stored.
    assert_eq!(app.get("/private").await.body, "private render #1");
    assert_eq!(app.get("/private").await.body, "private render #2");
}

#[tokio::test]
async fn purges_through_the_handle_the_app_endpoint_and_the_admin_router() {
    let app = TestApp::start().await;
    for id in 1..=3 {
        assert_eq!(app.get(&format!("/posts/{id}")).await.cache, "MISS");
    }
    app.clock.advance(Duration::from_secs(1));

    // Soft, by path, through the handle: stale while one regeneration runs.
    app.isr.revalidate_path("/posts/1").await.unwrap();
    assert_eq!(app.get("/posts/1").await.cache, "STALE");
    assert_eq!(app.get("/posts/2").await.cache, "HIT");
    app.until(|stats| stats.regenerations_ok == 1).await;
    assert_eq!(app.get("/posts/1").await.body, "post 1 render #2");

    // Hard, by tag, through the handle: the next request waits for a render.
    app.clock.advance(Duration::from_secs(1));
    app.isr
        .revalidate_tag_with("post:2", PurgeMode::Hard)
        .await
        .unwrap();
    let purged = app.get("/posts/2").await;
    assert_eq!(
        (purged.cache.as_str(), purged.body.as_str()),
        ("MISS", "post 2 render #2")
    );
    assert_eq!(app.get("/posts/3").await.cache, "HIT");

    // The app's own purge endpoint, by tag: every post.
    app.clock.advance(Duration::from_secs(1));
    let answer = app.request("POST", "/purge?tag=posts", &[]).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (StatusCode::OK, "purged")
    );
    assert_eq!(app.get("/posts/3").await.cache, "STALE");
    let invalid = app.request("POST", "/purge?path=no-slash", &[]).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);

    // The admin router the app mounted under /_isr/.
    app.clock.advance(Duration::from_secs(1));
    let refused = app.request("POST", "/_isr/revalidate", &[]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let request = http::Request::post(format!("http://{}/_isr/revalidate", app.addr))
        .header("authorization", &bearer)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            r#"{"paths": ["/posts/2"], "mode": "hard"}"#,
        )))
        .unwrap();
    let response = app.client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let after = app.get("/posts/2").await;
    assert_eq!(
        (after.cache.as_str(), after.body.as_str()),
        ("MISS", "post 2 render #3")
    );
    let stats = app
        .request("GET", "/_isr/stats", &[("authorization", &bearer)])
        .await;
    assert_eq!(stats.status, StatusCode::OK);
    assert!(stats.body.contains("\"requests\""), "{}", stats.body);
}

#[tokio::test]
async fn the_layer_takes_the_proxys_isr_toml() {
    let builder = IsrLayer::builder_from_toml(
        r#"
        bypass_token = "bypass-token-0123456789"

        [[route]]
        path = "/posts/[id]"
        revalidate = 30
        tags = ["posts", "post:{id}"]

        [[route]]
        path = "/"
        revalidate = 0
        "#,
    )
    .unwrap();
    let app = TestApp::start_with(builder).await;
    assert_eq!(app.get("/posts/9").await.cache, "MISS");
    app.clock.advance(Duration::from_secs(29));
    assert_eq!(app.get("/posts/9").await.cache, "HIT");
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.get("/posts/9").await.cache, "STALE");
    // `revalidate = 0`: passed through, never stored.
    assert_eq!(app.get("/").await.cache, "BYPASS");
    assert_eq!(app.get("/").await.body, "home render #2");
    app.isr.revalidate_tag("post:9").await.unwrap();
}

/// Two app instances (two nodes) whose layers share one real Redis: a page rendered by one
/// is a HIT on the other without rendering, and a purge through either handle is honoured
/// by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_sharing_redis_render_once_and_purge_together() {
    let server = RedisServer::start();
    let settings = server.settings();
    let node = || async {
        let redis = isr_store::RedisStore::connect(&settings).unwrap();
        TestApp::start_with(
            IsrLayer::builder()
                .route("/posts/[id]", RouteRule::revalidate(60).tags(["post:{id}"]))
                .redis(redis),
        )
        .await
    };
    let (a, b) = (node().await, node().await);

    assert_eq!(a.get("/posts/1").await.cache, "MISS");
    let hit = b.get("/posts/1").await;
    assert_eq!(
        (hit.cache.as_str(), hit.body.as_str()),
        ("HIT", "post 1 render #1")
    );
    assert_eq!(b.renders("/posts/1"), 0, "b never rendered it");

    let before = b.isr.purge_records();
    a.isr
        .revalidate_tag_with("post:1", PurgeMode::Hard)
        .await
        .unwrap();
    until("b to hear of the purge", || b.isr.purge_records() != before).await;
    let after = b.get("/posts/1").await;
    assert_eq!(
        (after.cache.as_str(), after.body.as_str()),
        ("MISS", "post 1 render #1")
    );
    assert_eq!(b.renders("/posts/1"), 1, "b rendered it after the purge");
    assert!(b.isr.cluster().is_some_and(|status| status.up));
}
