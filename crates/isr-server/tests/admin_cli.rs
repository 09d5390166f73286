//! The client commands of the real `isr` binary (`purge`, `stats`, `entries`, `warm`)
//! against a fake isr that answers the admin API contract and records what it was sent;
//! and the config errors of the keys that came with the admin API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

const ISR: &str = env!("CARGO_BIN_EXE_isr");
const TOKEN: &str = "test-admin-token-0123456789";

// ---------------------------------------------------------------------------------------
// A fake isr.
// ---------------------------------------------------------------------------------------

/// A request as the fake server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    authorization: Option<String>,
    accept_encoding: Option<String>,
    body: String,
}

/// The answer: status, `x-isr-cache` (if any), body.
type Answer = (u16, Option<&'static str>, String);
type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

/// Holds the requests it picks until `count` of them have arrived, so that many are surely
/// in flight at once (a barrier, not a delay: nothing depends on timing).
struct Gate {
    count: usize,
    picks: Box<dyn Fn(&Seen) -> bool + Send + Sync>,
    arrived: tokio::sync::watch::Sender<usize>,
}

impl Gate {
    fn new(count: usize, picks: impl Fn(&Seen) -> bool + Send + Sync + 'static) -> Gate {
        Gate {
            count,
            picks: Box::new(picks),
            arrived: tokio::sync::watch::channel(0).0,
        }
    }

    /// Return once `count` picked requests have arrived (at once for one not picked).
    async fn pass(&self, seen: &Seen) {
        if !(self.picks)(seen) {
            return;
        }
        let mut arrived = self.arrived.subscribe();
        self.arrived.send_modify(|n| *n += 1);
        let _ = arrived.wait_for(|&n| n >= self.count).await;
    }
}

struct FakeIsr {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    max_in_flight: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeIsr {
    /// Answers every request with `handler`.
    async fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeIsr {
        FakeIsr::start_gated(None, handler).await
    }

    /// Answers every request with `handler`, once it has passed `gate`.
    async fn start_gated(
        gate: Option<Gate>,
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    ) -> FakeIsr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let gate = Arc::new(gate);
        let state = (
            seen.clone(),
            in_flight,
            max_in_flight.clone(),
            handler,
            gate,
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, in_flight, max_in_flight, handler, gate) = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (seen, in_flight, max_in_flight, handler, gate) = (
                            seen.clone(),
                            in_flight.clone(),
                            max_in_flight.clone(),
                            handler.clone(),
                            gate.clone(),
                        );
                        async move {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            max_in_flight.fetch_max(now, Ordering::SeqCst);
                            let header = |name: &str| {
                                request
                                    .headers()
                                    .get(name)
                                    .map(|v| v.to_str().unwrap().to_owned())
                            };
                            let record = Seen {
                                method: request.method().to_string(),
                                target: request.uri().to_string(),
                                authorization: header("authorization"),
                                accept_encoding: header("accept-encoding"),
                                body: String::new(),
                            };
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let record = Seen {
                                body: String::from_utf8(body.to_vec()).unwrap(),
                                ..record
                            };
                            seen.lock().unwrap().push(record.clone());
                            if let Some(gate) = gate.as_ref() {
                                gate.pass(&record).await;
                            }
                            let (status, cache, body) = handler(&record);
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            let mut response = Response::builder()
                                .status(status)
                                .header("content-type", "application/json");
                            if let Some(cache) = cache {
                                response = response.header("x-isr-cache", cache);
                            }
                            Ok::<_, Infallible>(
                                response.body(Full::new(Bytes::from(body))).unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeIsr {
            addr,
            seen,
            max_in_flight,
            task,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeIsr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ok(body: Value) -> Answer {
    (200, None, body.to_string())
}

/// The admin API's bearer check, as the contract says.
fn authorized(seen: &Seen) -> Result<(), Answer> {
    if seen.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")) {
        Ok(())
    } else {
        Err((
            401,
            None,
            json!({"error": "invalid admin token"}).to_string(),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary.
// ---------------------------------------------------------------------------------------

/// Kills the child (by its PID) when dropped, whatever happened to the test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// The binary, with no setting inherited from the environment.
fn isr(args: &[&str]) -> Command {
    let mut command = Command::new(ISR);
    for (name, _) in std::env::vars() {
        if name.starts_with("ISR_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Run to completion (at most 60 s) without blocking the fake server's runtime.
async fn run(mut command: Command) -> Run {
    let mut child = KillOnDrop(command.spawn().expect("start isr"));
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(child.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.0.stderr.take().map(|p| Box::new(p) as _));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(tokio::time::Instant::now() < deadline, "isr did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    Run {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn admin(command: &str, server: &FakeIsr, extra: &[&str]) -> Command {
    let mut command = isr(&[command, "--url", &server.url()]);
    command.args(extra).env("ISR_ADMIN_TOKEN", TOKEN);
    command
}

// ---------------------------------------------------------------------------------------
// purge
// ---------------------------------------------------------------------------------------

fn revalidate_answer(seen: &Seen) -> Answer {
    if let Err(answer) = authorized(seen) {
        return answer;
    }
    match (seen.method.as_str(), seen.target.as_str()) {
        ("POST", "/_isr/revalidate")
            if serde_json::from_str::<Value>(&seen.body)
                .unwrap()
                .as_object()
                .unwrap()
                .values()
                .any(|v| v.as_array().is_some_and(Vec::is_empty)) =>
        {
            // As the real server: an empty list is refused, not guessed at.
            (400, None, json!({"error": "an empty list"}).to_string())
        }
        ("POST", "/_isr/revalidate") => ok(json!({
            "mode": "hard",
            "purged": {"paths": 2, "tags": 1, "prefixes": 0},
            "regenerating": ["/blog/a"],
            "skipped": [{"path": "/x", "reason": "not cached"}],
        })),
        ("DELETE", "/_isr/cache") => ok(json!({"cleared": true})),
        _ => (
            404,
            None,
            json!({"error": "no such admin endpoint"}).to_string(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_sends_the_contract_and_prints_a_summary() {
    let server = FakeIsr::start(revalidate_answer).await;
    let out = run(admin(
        "purge",
        &server,
        &[
            "--path",
            "/blog/a",
            "--path",
            "/x",
            "--tag",
            "blog",
            "--hard",
            "--regenerate",
            "--if-cached",
        ],
    ))
    .await;
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", "/_isr/revalidate")
    );
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let sent: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        sent,
        json!({
            "paths": ["/blog/a", "/x"],
            "tags": ["blog"],
            "mode": "hard",
            "regenerate": true,
            "if_cached": true,
        })
    );
    assert_eq!(
        out.stdout,
        "purged (hard, deleted): 2 paths, 1 tag, 0 prefixes\n\
         regenerating /blog/a\n\
         skipped /x: not cached\n"
    );
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));

    // A soft purge by prefix, printed as JSON.
    let out = run(admin("purge", &server, &["--prefix", "/docs", "--json"])).await;
    assert!(out.status.success(), "{}", out.stderr);
    let sent: Value = serde_json::from_str(&server.seen()[1].body).unwrap();
    assert_eq!(sent["prefixes"], json!(["/docs"]));
    assert!(
        sent.get("paths").is_none() && sent.get("tags").is_none(),
        "{sent}"
    );
    assert_eq!(sent["mode"], "soft");
    assert_eq!(sent["regenerate"], false);
    let printed: Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    assert_eq!(printed["purged"]["paths"], 2);

    // --all clears the cache.
    let out = run(admin("purge", &server, &["--all"])).await;
    assert!(out.status.success(), "{}", out.stderr);
    let last = server.seen().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.target.as_str()),
        ("DELETE", "/_isr/cache")
    );
    assert_eq!(out.stdout, "cleared the whole cache\n");
}

/// As the server answers a purge by cache key: one key purged per key sent.
fn key_purge_answer(seen: &Seen) -> Answer {
    if let Err(answer) = authorized(seen) {
        return answer;
    }
    let sent: Value = serde_json::from_str(&seen.body).unwrap();
    let keys = sent["keys"].as_array().map_or(0, Vec::len);
    ok(json!({
        "mode": sent["mode"],
        "purged": {"paths": 0, "tags": 0, "prefixes": 0, "keys": keys},
        "regenerating": [],
        "skipped": [],
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_by_cache_key_sends_the_keys() {
    let server = FakeIsr::start(key_purge_answer).await;
    let key = "v1|site|identity|/blog/a?page=2";
    let out = run(admin(
        "purge",
        &server,
        &["--key", key, "--key=v1|site|br|/blog/a", "--hard"],
    ))
    .await;
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let seen = server.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", "/_isr/revalidate")
    );
    let sent: Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(
        sent,
        json!({
            "keys": [key, "v1|site|br|/blog/a"],
            "mode": "hard",
            "regenerate": false,
            "if_cached": false,
        })
    );
    assert_eq!(
        out.stdout,
        "purged (hard, deleted): 0 paths, 0 tags, 0 prefixes, 2 keys\n"
    );

    // A key the server would refuse is refused before anything is sent.
    let out = run(admin("purge", &server, &["--key", "bad\u{7}key"])).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("--key"), "{}", out.stderr);
    assert_eq!(server.seen().len(), 1, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_is_an_error_with_the_servers_message() {
    let server = FakeIsr::start(revalidate_answer).await;
    let mut command = admin("purge", &server, &["--tag", "blog"]);
    command.env("ISR_ADMIN_TOKEN", "wrong-token-0123456789");
    let out = run(command).await;
    assert!(!out.status.success());
    assert!(out.stderr.starts_with("isr: "), "{}", out.stderr);
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(out.stderr.contains("invalid admin token"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("wrong-token"),
        "the token is never printed"
    );
    assert_eq!(out.stdout, "");

    // Nothing listening: a clear error, not a panic.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let out = run({
        let mut c = isr(&["stats", "--url", &format!("http://{closed}")]);
        c.env("ISR_ADMIN_TOKEN", TOKEN);
        c
    })
    .await;
    assert!(!out.status.success());
    assert!(out.stderr.starts_with("isr: "), "{}", out.stderr);
    assert!(out.stderr.contains("/_isr/stats"), "{}", out.stderr);

    // No token at all: clap says it is required.
    let out = run(isr(&["stats", "--url", &server.url()])).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("--admin-token"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------
// stats and entries
// ---------------------------------------------------------------------------------------

fn stats_and_entries(seen: &Seen) -> Answer {
    if let Err(answer) = authorized(seen) {
        return answer;
    }
    let entry = |path: &str, state: &str, revalidate: Value| {
        json!({
            "key": format!("v1|k|{path}"), "path": path, "status": 200, "age": 75,
            "revalidate": revalidate, "expire": 3600, "state": state, "tags": ["blog", "x"],
            "size": 2048,
        })
    };
    match seen.target.as_str() {
        "/_isr/stats" => ok(json!({
            "entries": {"memory": 3, "disk": 5},
            "bytes": {"memory": 2048, "memory_capacity": 268435456, "disk": 1572864},
            "requests": {"hit": 6, "stale": 2, "miss": 2, "bypass": 1},
            "renders": 4, "coalesced": 1,
            "regenerations": {"ok": 2, "failed": 0},
            "purge_records": 7,
        })),
        "/_isr/entries?prefix=/blog" => ok(json!({
            "entries": [entry("/blog/a", "fresh", json!(60)), entry("/blog/b", "stale", json!(60))],
            "next_cursor": "page 2",
        })),
        "/_isr/entries?prefix=/blog&cursor=page%202" => ok(json!({
            "entries": [entry("/blog/c", "fresh", Value::Null)],
            "next_cursor": null,
        })),
        "/_isr/entries?prefix=/blog&limit=2" => ok(json!({
            "entries": [entry("/blog/a", "fresh", json!(60)), entry("/blog/b", "stale", json!(60))],
            "next_cursor": "page 2",
        })),
        _ => (
            400,
            None,
            json!({"error": format!("unexpected {}", seen.target)}).to_string(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_are_printed_readably_or_as_json() {
    let server = FakeIsr::start(stats_and_entries).await;
    let out = run(admin("stats", &server, &[])).await;
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(server.seen()[0].method, "GET");
    for line in [
        "entries:        3 in memory, 5 on disk",
        "bytes:          2.0 KiB of 256.0 MiB in memory, 1.5 MiB on disk",
        "requests:       6 hit, 2 stale, 2 miss, 1 bypass (hit ratio 80.0%)",
        "renders:        4 (1 coalesced",
        "regenerations:  2 ok, 0 failed",
        "purge records:  7",
    ] {
        assert!(out.stdout.contains(line), "lacks {line:?}:\n{}", out.stdout);
    }
    let out = run(admin("stats", &server, &["--json"])).await;
    let printed: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(printed["purge_records"], 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_follow_the_cursor_to_the_end() {
    let server = FakeIsr::start(stats_and_entries).await;
    let out = run(admin("entries", &server, &["--prefix", "/blog"])).await;
    assert!(out.status.success(), "{}", out.stderr);
    let targets: Vec<String> = server.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        [
            "/_isr/entries?prefix=/blog",
            "/_isr/entries?prefix=/blog&cursor=page%202"
        ]
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    let columns: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "STATE",
            "STATUS",
            "AGE",
            "REVALIDATE",
            "EXPIRE",
            "SIZE",
            "PATH",
            "TAGS"
        ]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row,
        [
            "fresh", "200", "1m15s", "1m", "1h", "2.0", "KiB", "/blog/a", "blog,x"
        ]
    );
    assert!(
        lines[2].contains("stale") && lines[2].contains("/blog/b"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("never") && lines[3].contains("/blog/c"),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4], "3 entries");

    // --json: every page as one answer.
    let out = run(admin("entries", &server, &["--prefix", "/blog", "--json"])).await;
    let printed: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(printed["entries"].as_array().unwrap().len(), 3);
    assert_eq!(printed["next_cursor"], Value::Null);

    // --limit: one page, and how to get the next.
    let before = server.seen().len();
    let out = run(admin(
        "entries",
        &server,
        &["--prefix", "/blog", "--limit", "2"],
    ))
    .await;
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(server.seen().len(), before + 1, "one page only");
    assert!(out.stdout.contains("2 entries"), "{}", out.stdout);
    assert!(out.stdout.contains("--cursor page 2"), "{}", out.stdout);
}

// ---------------------------------------------------------------------------------------
// warm
// ---------------------------------------------------------------------------------------

/// The site: two pages already cached, everything else rendered; one sitemap is served.
fn site(seen: &Seen) -> Answer {
    assert!(
        seen.authorization.is_none(),
        "warm does not use the admin API"
    );
    match seen.target.as_str() {
        "/maps/remote.xml" => (
            200,
            None,
            "<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\
             <url><loc>https://example.com/blog/b?page=2&amp;sort=new</loc></url>\
             <url><loc>https://example.com/</loc></url></urlset>"
                .to_owned(),
        ),
        "/" => (200, Some("HIT"), "home".to_owned()),
        "/gone" => (500, None, "boom".to_owned()),
        _ => (200, Some("MISS"), format!("page {}", seen.target)),
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_requests_each_sitemap_page_once_with_bounded_concurrency() {
    // Pages (not sitemaps, read before any page) are held until two have arrived: the
    // bound is surely reached, so the count below shows whether it was also kept.
    let gate = Gate::new(2, |seen| !seen.target.ends_with(".xml"));
    let server = FakeIsr::start_gated(Some(gate), site).await;
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir,
        "local.xml",
        "<urlset><url><loc>https://example.com/blog/a</loc></url>\
         <url><loc>https://example.com/</loc></url></urlset>",
    );
    let index = write(
        &dir,
        "sitemap.xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n\
           <sitemap><loc>local.xml</loc></sitemap>\n\
           <sitemap><loc>https://example.com/maps/remote.xml</loc></sitemap>\n\
         </sitemapindex>\n",
    );
    let out = run(isr(&[
        "warm",
        "--sitemap",
        &index,
        "--concurrency",
        "2",
        "--url",
        &server.url(),
        "/extra",
    ]))
    .await;
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);

    let seen = server.seen();
    let mut targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    // The remote sitemap is read first (before any page), through isr.
    assert_eq!(targets[0], "/maps/remote.xml");
    targets.sort_unstable();
    assert_eq!(
        targets,
        [
            "/",
            "/blog/a",
            "/blog/b?page=2&sort=new",
            "/extra",
            "/maps/remote.xml"
        ],
        "each page once, / only once although two sitemaps list it"
    );
    assert!(seen.iter().all(|s| s.method == "GET"));
    let page = seen.iter().find(|s| s.target == "/blog/a").unwrap();
    assert_eq!(
        page.accept_encoding.as_deref(),
        Some("gzip, deflate, br, zstd")
    );
    let max_in_flight = server.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max_in_flight <= 2,
        "at most --concurrency at once: {max_in_flight}"
    );
    assert_eq!(max_in_flight, 2, "the gate held two pages at once");
    assert_eq!(out.stdout, "warmed 4: 3 MISS, 1 HIT, 0 STALE, 0 errors\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn warm_reports_failures_and_exits_non_zero() {
    let server = FakeIsr::start(site).await;
    let out = run(isr(&[
        "warm",
        "--url",
        &server.url(),
        "/a",
        "/gone",
        "--json",
    ]))
    .await;
    assert!(!out.status.success());
    let printed: Value = serde_json::from_str(out.stdout.trim()).expect("JSON summary");
    assert_eq!(
        (printed["warmed"].as_u64(), printed["errors"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(out.stderr.contains("/gone: answered 500"), "{}", out.stderr);
    assert!(
        out.stderr.contains("isr: 1 of 2 pages failed"),
        "{}",
        out.stderr
    );

    // A sitemap that is not one.
    let dir = tempfile::tempdir().unwrap();
    let html = write(&dir, "page.html", "<html><body>hi</body></html>");
    let out = run(isr(&["warm", "--url", &server.url(), "--sitemap", &html])).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("not a sitemap"), "{}", out.stderr);
    // An https sitemap that cannot be read (nothing listens there) names the sitemap and
    // the cause.
    let nowhere = format!(
        "https://127.0.0.1:{}/sitemap.xml",
        isr_store::testing::free_port()
    );
    let out = run(isr(&[
        "warm",
        "--url",
        &server.url(),
        "--sitemap",
        &nowhere,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        out.stderr
            .contains(&format!("cannot read sitemap {nowhere}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------------------
// Config errors for the new keys.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn config_errors_name_the_file_line_or_flag() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |args: &[&str]| {
        let mut command = isr(&["serve"]);
        command.args(args).current_dir(dir.path());
        command
    };

    let short = write(
        &dir,
        "short.toml",
        "origin = \"http://127.0.0.1:1\"\n\nadmin_token = \"hunter2\"\n",
    );
    let out = run(serve(&["--config", &short])).await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(&format!("{short}:3:")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`admin_token`") && out.stderr.contains("too short"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("hunter2"),
        "the token is never printed: {}",
        out.stderr
    );

    let mut command = serve(&["--origin", "http://127.0.0.1:1"]);
    command.env("ISR_BYPASS_TOKEN", "hunter2");
    let out = run(command).await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("--bypass-token (ISR_BYPASS_TOKEN)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("hunter2"), "{}", out.stderr);

    let build_id = write(&dir, "BUILD_ID", "abc\n");
    let both = write(
        &dir,
        "both.toml",
        &format!(
            "origin = \"http://127.0.0.1:1\"\nbuild_id = \"x\"\nbuild_id_file = {build_id:?}\n"
        ),
    );
    let out = run(serve(&["--config", &both])).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains(&format!("{both}:3:")), "{}", out.stderr);
    assert!(
        out.stderr.contains("`build_id_file`") && out.stderr.contains("line 2"),
        "{}",
        out.stderr
    );

    let out = run(serve(&[
        "--origin",
        "http://127.0.0.1:1",
        "--build-id",
        "x",
        "--build-id-file",
        &build_id,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("--build-id-file") && out.stderr.contains("--build-id "),
        "{}",
        out.stderr
    );

    let missing = write(
        &dir,
        "missing.toml",
        "origin = \"http://127.0.0.1:1\"\nbuild_id_file = \"no/such/BUILD_ID\"\n",
    );
    let out = run(serve(&["--config", &missing])).await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(&format!("{missing}:2:")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no/such/BUILD_ID"), "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("no such file"),
        "{}",
        out.stderr
    );

    let out = run(serve(&[
        "--origin",
        "http://127.0.0.1:1",
        "--build-id-file",
        "no/such/BUILD_ID",
    ]))
    .await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("command line: --build-id-file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no/such/BUILD_ID"), "{}", out.stderr);
    assert!(
        !dir.path().join(".isr-cache").exists(),
        "nothing is created on a config error"
    );
}
