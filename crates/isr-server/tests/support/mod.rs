//! Test support: a real origin that counts its renders, and the real proxy in front of it,
//! both on ephemeral loopback ports; the real `isr` binary as a child process.
//!
//! Waiting is done on conditions (render counts, engine counters), never on timing. What
//! the tests of other crates share too (Redis servers, ports, `until`, `concurrently`)
//! lives in `isr_store::testing`.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part of this

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use isr::{Body, ManualClock, Stats};
use isr_core::UnixMillis;
use isr_core::config::Config;
use isr_core::config::RedisSettings;
use isr_server::observe::listener;
use isr_server::proxy::{Proxy, Stores, open_redis_store, open_store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What the origin answers for a path.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Fixed body; default: `"<path?query> render #<n>"`. In header values, `{render}` is
    /// replaced by the render's number.
    pub body: Option<Bytes>,
}

impl Page {
    pub fn ok() -> Page {
        Page {
            status: 200,
            ..Page::default()
        }
    }

    pub fn status(status: u16) -> Page {
        Page {
            status,
            ..Page::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Page {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Page {
        self.body = Some(body.into());
        self
    }
}

/// How the origin misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer every request with 500.
    Error500,
    /// Never answer.
    Hang,
    /// Answer 500 to a request whose `Accept-Language` is this value (a failure one
    /// client's header causes), and normally to every other.
    Error500ForLanguage(&'static str),
}

/// A request as the origin saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub target: String,
    pub headers: HeaderMap,
    /// The request body, read whole.
    pub body: Bytes,
}

#[derive(Default)]
struct OriginState {
    pages: Mutex<HashMap<String, Page>>,
    renders: Mutex<HashMap<String, u64>>,
    total: AtomicU64,
    seen: Mutex<Vec<Seen>>,
    fault: Mutex<Option<Fault>>,
    held: AtomicU64,
    max_held: AtomicU64,
}

/// The origin: counts renders per path, can hold renders at a gate, and can fail.
pub struct TestOrigin {
    pub addr: SocketAddr,
    scheme: &'static str,
    state: Arc<OriginState>,
    gate: watch::Sender<bool>,
    tasks: Arc<Mutex<JoinSet<()>>>,
}

impl TestOrigin {
    pub async fn start() -> TestOrigin {
        TestOrigin::start_with(None).await
    }

    /// The origin over https, with the certificate and key of `files` (see
    /// [`test_certificates`]).
    pub async fn start_tls(files: &isr_store::testing::TlsFiles) -> TestOrigin {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&files.cert)
            .expect("read the certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse the certificate");
        let key = PrivateKeyDer::from_pem_file(&files.key).expect("read the key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server certificate");
        TestOrigin::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> TestOrigin {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin addr");
        let state = Arc::new(OriginState::default());
        let (gate, gate_rx) = watch::channel(true);
        let tasks = Arc::new(Mutex::new(JoinSet::new()));
        let accept_state = Arc::clone(&state);
        let accept_tasks = Arc::clone(&tasks);
        tasks.lock().unwrap().spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&accept_state);
                let gate = gate_rx.clone();
                let tls = tls.clone();
                accept_tasks.lock().unwrap().spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        let gate = gate.clone();
                        async move { Ok::<_, Infallible>(answer(&state, gate, request).await) }
                    });
                    let http = http1::Builder::new();
                    match tls {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                        Some(tls) => {
                            // A client that does not trust the certificate ends here.
                            let Ok(stream) = tls.accept(stream).await else {
                                return;
                            };
                            let _ = http.serve_connection(TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
        TestOrigin {
            addr,
            scheme,
            state,
            gate,
            tasks,
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Answer `path` (no query) with `page` from now on.
    pub fn set(&self, path: &str, page: Page) {
        self.state
            .pages
            .lock()
            .unwrap()
            .insert(path.to_owned(), page);
    }

    /// Renders of `path` (no query) so far.
    pub fn renders(&self, path: &str) -> u64 {
        self.state
            .renders
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// All requests answered or held so far.
    pub fn total(&self) -> u64 {
        self.state.total.load(Ordering::SeqCst)
    }

    /// Every request the origin has seen.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn fault(&self, fault: Option<Fault>) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// Hold every render at a gate until [`TestOrigin::open`].
    pub fn close(&self) {
        self.gate.send_replace(false);
    }

    pub fn open(&self) {
        self.gate.send_replace(true);
    }

    /// Renders currently held at the gate.
    pub fn held(&self) -> u64 {
        self.state.held.load(Ordering::SeqCst)
    }

    /// The most renders ever held at the gate at the same time.
    pub fn max_held(&self) -> u64 {
        self.state.max_held.load(Ordering::SeqCst)
    }

    /// Stop listening and drop every connection: the origin is down.
    pub fn stop(&self) {
        self.tasks.lock().unwrap().abort_all();
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn answer(
    state: &OriginState,
    mut gate: watch::Receiver<bool>,
    request: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    state.seen.lock().unwrap().push(Seen {
        method: parts.method.clone(),
        target: target.clone(),
        headers: parts.headers.clone(),
        body,
    });
    state.total.fetch_add(1, Ordering::SeqCst);
    let render = {
        let mut renders = state.renders.lock().unwrap();
        let count = renders.entry(path.clone()).or_default();
        *count += 1;
        *count
    };
    if !*gate.borrow() {
        let now_held = state.held.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_held.fetch_max(now_held, Ordering::SeqCst);
        let _ = gate.wait_for(|open| *open).await;
        state.held.fetch_sub(1, Ordering::SeqCst);
    }
    let fault = *state.fault.lock().unwrap();
    match fault {
        Some(Fault::Error500) => {
            let mut response = Response::new(Full::new(Bytes::from("origin error")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Error500ForLanguage(language))
            if parts
                .headers
                .get("accept-language")
                .is_some_and(|v| v == language) =>
        {
            let mut response = Response::new(Full::new(Bytes::from("origin error")));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return response;
        }
        Some(Fault::Error500ForLanguage(_)) | None => {}
    }
    let page = state
        .pages
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or_else(|| {
            Page::ok().header(
                "cache-control",
                "public, s-maxage=60, stale-while-revalidate=600",
            )
        });
    let body = page
        .body
        .clone()
        .unwrap_or_else(|| Bytes::from(format!("{target} render #{render}")));
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(page.status).unwrap();
    for (name, value) in &page.headers {
        // `{render}` in a header value becomes this render's number.
        let value = value.replace("{render}", &render.to_string());
        response.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
        .headers_mut()
        .insert("x-render", HeaderValue::from(render));
    response
}

/// An answer from the proxy, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    /// Read `response` whole; `None` if its body fails.
    pub async fn read<B: hyper::body::Body>(response: Response<B>) -> Option<Answer> {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.ok()?.to_bytes();
        Some(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The `x-isr-cache` value.
    pub fn cache(&self) -> &str {
        self.header("x-isr-cache").unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The real proxy on an ephemeral port, on a manual clock, with its store in a temp dir.
pub struct TestProxy {
    pub addr: SocketAddr,
    /// The metrics listener (`/metrics`, `/healthz`, `/readyz`).
    pub metrics: SocketAddr,
    pub clock: ManualClock,
    layer: isr::IsrLayer,
    handle: isr::Isr,
    client: Client<HttpConnector, Body>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stop_metrics: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<isr_server::proxy::Stop>>,
    pub dir: Arc<tempfile::TempDir>,
}

/// The instant the manual clocks start at.
pub const START: UnixMillis = UnixMillis(1_800_000_000_000);

impl TestProxy {
    /// A proxy for `origin` configured by `toml` (an `isr.toml` text).
    pub async fn start(origin: &TestOrigin, toml: &str) -> TestProxy {
        let config = Config::from_toml(toml, "test.toml").expect("test config");
        TestProxy::start_with(origin, config, Arc::new(tempfile::tempdir().unwrap())).await
    }

    /// A proxy with a given config and store directory (reuse a dir to test restarts).
    pub async fn start_with(
        origin: &TestOrigin,
        mut config: Config,
        dir: Arc<tempfile::TempDir>,
    ) -> TestProxy {
        config.origin = Some(origin.url());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        TestProxy::start_on(listener, config, dir, ManualClock::new(START)).await
    }

    /// A proxy whose origin is itself: its listener is bound first, so the configured
    /// origin can be its own address (the recursion guard must stop the loop).
    pub async fn start_looped(toml: &str) -> TestProxy {
        let mut config = Config::from_toml(toml, "test.toml").expect("test config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        config.origin = Some(format!("http://{}", listener.local_addr().unwrap()));
        let dir = Arc::new(tempfile::tempdir().unwrap());
        TestProxy::start_on(listener, config, dir, ManualClock::new(START)).await
    }

    async fn start_on(
        listener: TcpListener,
        mut config: Config,
        dir: Arc<tempfile::TempDir>,
        clock: ManualClock,
    ) -> TestProxy {
        config.listen = listener.local_addr().unwrap().to_string();
        config.cache_dir = dir.path().display().to_string();
        let store = match &config.redis {
            Some(redis) => open_redis_store(redis, config.memory_bytes).expect("redis store"),
            None => open_disk_store(&dir, &config).await,
        };
        let proxy = Proxy::new(config, store, Arc::new(clock.clone()))
            .await
            .expect("proxy");
        let layer = proxy.layer().clone();
        let handle = proxy.handle();
        let addr = listener.local_addr().unwrap();
        let metrics_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics");
        let metrics = metrics_listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(listener::serve(
            metrics_listener,
            proxy.metrics_router(),
            async {
                let _ = metrics_stopped.await;
            },
        ));
        let server = tokio::spawn(proxy.serve(listener, async {
            let _ = stopped.await;
        }));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(2_000)
            .build_http();
        TestProxy {
            addr,
            metrics,
            clock,
            layer,
            handle,
            client,
            stop: Some(stop),
            stop_metrics: Some(stop_metrics),
            server: Some(server),
            dir,
        }
    }

    /// One of several nodes sharing the Redis at `redis_url` (each has its own clock and
    /// memory tier).
    pub async fn start_node(origin: &TestOrigin, toml: &str, redis_url: &str) -> TestProxy {
        let mut config = Config::from_toml(toml, "test.toml").expect("test config");
        let redis = config.redis.take().unwrap_or_default();
        config.redis = Some(RedisSettings {
            url: redis_url.to_owned(),
            ..redis
        });
        TestProxy::start_with(origin, config, Arc::new(tempfile::tempdir().unwrap())).await
    }

    /// [`TestProxy::start_node`] for a node started `secs` after the first one (its clock
    /// starts there).
    pub async fn start_node_after(
        origin: &TestOrigin,
        toml: &str,
        redis_url: &str,
        secs: u64,
    ) -> TestProxy {
        let mut config = Config::from_toml(toml, "test.toml").expect("test config");
        let redis = config.redis.take().unwrap_or_default();
        config.redis = Some(RedisSettings {
            url: redis_url.to_owned(),
            ..redis
        });
        config.origin = Some(origin.url());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let clock = ManualClock::new(UnixMillis(START.0 + secs * 1000));
        let dir = Arc::new(tempfile::tempdir().unwrap());
        TestProxy::start_on(listener, config, dir, clock).await
    }

    pub fn stats(&self) -> Stats {
        self.layer.stats()
    }

    /// GET `path` on the metrics listener.
    pub async fn metrics_get(&self, path: &str) -> Answer {
        get_url(format!("http://{}{path}", self.metrics))
            .await
            .expect("the metrics listener answers")
    }

    /// The proxy's cache handle (purge, regenerate, inspect).
    pub fn handle(&self) -> &isr::Isr {
        &self.handle
    }

    pub fn layer(&self) -> &isr::IsrLayer {
        &self.layer
    }

    pub async fn get(&self, target: &str) -> Answer {
        self.send(Request::get(target).body(Body::empty()).unwrap())
            .await
    }

    /// Send a request; its URI is a path and query, the proxy's address is filled in.
    pub async fn send(&self, mut request: Request<Body>) -> Answer {
        let target = request.uri().to_string();
        *request.uri_mut() = format!("http://{}{}", self.addr, target).parse().unwrap();
        let response = self.client.request(request).await.expect("proxy answers");
        Answer::read(response).await.expect("proxy body")
    }

    /// Send raw bytes on a new connection and read until the proxy closes it (send
    /// `Connection: close`). For requests a client library would refuse or rewrite.
    pub async fn raw(&self, request: &[u8]) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        stream.write_all(request).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        out
    }

    /// Move the proxy's clock forward.
    pub fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Stop this proxy and start a new one on the same store directory: a process restart
    /// (empty memory tier, same disk tier).
    pub async fn restart(self, origin: &TestOrigin, toml: &str) -> TestProxy {
        let dir = Arc::clone(&self.dir);
        self.shutdown().await;
        let config = Config::from_toml(toml, "test.toml").expect("test config");
        TestProxy::start_with(origin, config, dir).await
    }

    /// Restart as a process started `secs` after the first one (its clock starts there).
    pub async fn restart_after(self, origin: &TestOrigin, toml: &str, secs: u64) -> TestProxy {
        let dir = Arc::clone(&self.dir);
        self.shutdown().await;
        let mut config = Config::from_toml(toml, "test.toml").expect("test config");
        config.origin = Some(origin.url());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let clock = ManualClock::new(UnixMillis(START.0 + secs * 1000));
        TestProxy::start_on(listener, config, dir, clock).await
    }

    /// Stop serving (the store stays in `dir`).
    pub async fn shutdown(mut self) {
        self.stop_serving().await;
        if let Some(stop) = self.stop_metrics.take() {
            let _ = stop.send(());
        }
    }

    /// Stop the public listener only; the metrics listener stays up.
    pub async fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

/// The on-disk store in `dir`. A previous proxy on the same directory may still be letting
/// go of it (its last connections closing): wait for the lock, as a restarted process
/// would.
async fn open_disk_store(dir: &tempfile::TempDir, config: &Config) -> Stores {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match open_store(dir.path(), config.memory_bytes, config.disk_bytes) {
            Ok(store) => return store,
            Err(error) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "open store: {error}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// A GET for `target` with extra request headers.
pub fn get_with(target: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::get(target);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

impl Answer {
    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

impl TestProxy {
    /// A request to the admin API (or any path): `token` is sent as a bearer token, `body`
    /// as a JSON body.
    pub async fn admin(
        &self,
        method: Method,
        target: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(target);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_owned())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }
}

/// The engine in-process (no proxy, no HTTP in front of it), over the test origin, with
/// entries and purge records in memory only: for tests that drive very many operations
/// through the handle, where a durable store's per-write cost would dominate.
pub struct TestEngine {
    pub clock: ManualClock,
    pub layer: isr::IsrLayer,
    pub service: isr::IsrService,
}

impl TestEngine {
    pub async fn start(origin: &TestOrigin, toml: &str) -> TestEngine {
        use tower::Layer;
        let clock = ManualClock::new(START);
        let layer = isr::IsrLayer::builder_from_toml(toml)
            .expect("test config")
            .clock(Arc::new(clock.clone()))
            .build()
            .expect("layer");
        let service = layer.layer(isr::HttpOrigin::new(&origin.url()).expect("origin"));
        TestEngine {
            clock,
            layer,
            service,
        }
    }

    pub fn handle(&self) -> isr::Isr {
        self.service.handle()
    }

    pub fn stats(&self) -> Stats {
        self.layer.stats()
    }

    pub async fn get(&self, target: &str) -> Answer {
        use tower::ServiceExt;
        let request = Request::get(target).body(Body::empty()).unwrap();
        let response = self.service.clone().oneshot(request).await.unwrap();
        Answer::read(response).await.expect("body")
    }
}

/// Kills the child process (by its PID) when dropped, whatever happened to the test.
pub struct KillOnDrop(pub std::process::Child);

impl KillOnDrop {
    /// Kill it now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `isr serve` as `command` has it (the binary and every argument but `--listen` and
/// `--log`), listening on a port it picks itself (`--listen 127.0.0.1:0`) and reports in
/// its start-up line: no port is picked in advance, so none can be taken by another
/// process meanwhile. Returns the process and its address once it listens. Its output is
/// read to the end (a full pipe would block it); its stderr is shown if it exits first.
pub async fn serve(command: std::process::Command) -> (KillOnDrop, String) {
    let (child, address, _log, _lines) = serve_watched(command).await;
    (child, address)
}

/// Everything a child process wrote (stdout and stderr lines, as they come).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    fn push(&self, line: &str) {
        let mut text = self.0.lock().unwrap();
        text.push_str(line);
        text.push('\n');
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// [`serve`], keeping what the process writes.
pub async fn serve_logged(command: std::process::Command) -> (KillOnDrop, String, Log) {
    let (child, address, log, _lines) = serve_watched(command).await;
    (child, address, log)
}

/// [`serve`], also handing over every line the process writes to its standard output
/// (its logs, its access log), as it writes them.
pub async fn serve_lines(
    command: std::process::Command,
) -> (KillOnDrop, String, std::sync::mpsc::Receiver<String>) {
    let (child, address, _log, lines) = serve_watched(command).await;
    (child, address, lines)
}

/// [`serve`], with both ways of reading what the process writes: everything so far
/// ([`Log`]), and each standard output line as it comes.
async fn serve_watched(
    mut command: std::process::Command,
) -> (KillOnDrop, String, Log, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut child = KillOnDrop(
        command
            .args(["--listen", "127.0.0.1:0", "--log", "warn,isr=info"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start isr serve"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let stderr = child.0.stderr.take().expect("piped stderr");
    let log = Log::default();
    let (listening, address) = tokio::sync::oneshot::channel();
    let out_log = log.clone();
    let (lines, read_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut listening = Some(listening);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            out_log.push(&line);
            // Nobody may be listening: the lines are read to the end all the same.
            let _ = lines.send(line.clone());
            let address = line
                .split_once("isr listening on http://")
                .and_then(|(_, rest)| rest.split(',').next());
            if let Some(address) = address
                && let Some(listening) = listening.take()
            {
                let _ = listening.send(address.to_owned());
            }
        }
    });
    let err_log = log.clone();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            err_log.push(&line);
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    match tokio::time::timeout(Duration::from_secs(20), address).await {
        Ok(Ok(address)) => (child, address, log, read_lines),
        outcome => {
            child.kill();
            let why = match outcome {
                Ok(_) => "exited before listening",
                Err(_) => "did not listen within 20 s",
            };
            panic!("isr serve {why}: {}", errors.join().unwrap_or_default());
        }
    }
}

/// Wait until `child` accepts connections on `listen` (its exiting first is a failure).
pub async fn wait_until_listening(child: &mut KillOnDrop, listen: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            return;
        }
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!("isr serve exited early with {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "isr serve never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// GET an absolute URL; `None` if the connection failed (the server died).
pub async fn get_url(url: String) -> Option<Answer> {
    get_url_with(url, &[]).await
}

/// GET an absolute URL with extra request headers.
pub async fn get_url_with(url: String, headers: &[(&str, &str)]) -> Option<Answer> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let response = client.request(get_with(&url, headers)).await.ok()?;
    Answer::read(response).await
}

/// A test CA and a certificate for 127.0.0.1 signed by it, made with `openssl` in `dir`.
pub fn test_certificates(dir: &std::path::Path) -> isr_store::testing::TlsFiles {
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let subject = |cn: &str| format!("/CN={cn}");
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        &subject("isr test CA"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        &subject("127.0.0.1"),
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "1",
        "-extfile",
        "server.ext",
    ]);
    isr_store::testing::TlsFiles {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        ca: dir.join("ca.pem"),
    }
}
