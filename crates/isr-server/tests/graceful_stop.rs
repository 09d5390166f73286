//! The graceful stop of the real `isr` binary: on SIGTERM it stops accepting, answers every
//! request in flight (renders awaited, downloads finished), lets every background
//! regeneration store its page, and exits; the drain deadline bounds the wait, and a second
//! signal stops it at once.
//!
//! Every step waits on a condition (renders held at the origin's gate, the listener
//! refusing connections, the process exiting), never on time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;
use std::time::Duration;

use isr_store::testing::until;
use support::{Fault, KillOnDrop, Page, TestOrigin, get_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "graceful-stop-admin-token";

/// `isr serve` in front of `origin`, caching in `cache_dir`, with `extra` flags.
async fn isr(
    origin: &TestOrigin,
    cache_dir: &std::path::Path,
    extra: &[&str],
) -> (KillOnDrop, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
    command
        .args(["serve", "--origin", &origin.url(), "--cache-dir"])
        .arg(cache_dir)
        .args(["--admin-token", TOKEN])
        .args(extra);
    support::serve(command).await
}

/// Send `signal` (like `TERM`) to the process.
fn signal(child: &KillOnDrop, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.0.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal}");
}

/// Wait until nothing accepts connections at `listen` any more: the stop has begun.
async fn until_refused(listen: &str) {
    for _ in 0..2_000 {
        if tokio::net::TcpStream::connect(listen).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{listen} still accepts connections");
}

/// Wait for the process to exit (within a bound far above any drain here but the ones
/// tested); its exit status.
async fn exited(child: &mut KillOnDrop) -> std::process::ExitStatus {
    for _ in 0..2_000 {
        if let Some(status) = child.0.try_wait().expect("wait for isr") {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("isr did not exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_what_is_in_flight_and_stores_the_background_renders() {
    let origin = TestOrigin::start().await;
    let big = vec![b'x'; 6 * 1024 * 1024];
    origin.set(
        "/big",
        Page::ok()
            .header("cache-control", "public, s-maxage=600")
            .body(big.clone()),
    );
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let flags = ["--drain-timeout", "10m", "--regenerate-concurrency", "64"];
    let (mut child, listen) = isr(&origin, &cache, &flags).await;

    // Cached: the big page, and 30 pages to regenerate in the background.
    let first = get_url(format!("http://{listen}/big")).await.unwrap();
    assert_eq!((first.status.as_u16(), first.body.len()), (200, big.len()));
    let regenerated: Vec<String> = (0..30).map(|i| format!("/regen/{i}")).collect();
    for path in &regenerated {
        let miss = get_url(format!("http://{listen}{path}")).await.unwrap();
        assert_eq!(miss.text(), format!("{path} render #1"));
    }

    // A download of the big page, begun and then not read: the proxy is mid-body.
    let mut download = tokio::net::TcpStream::connect(&listen).await.unwrap();
    download
        .write_all(b"GET /big HTTP/1.1\r\nhost: isr\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut received = vec![0; 64 * 1024];
    download.read_exact(&mut received).await.unwrap();

    // 30 background regenerations and 20 requests waiting on renders, all held.
    origin.close();
    let body = serde_json::json!({ "paths": regenerated, "regenerate": true }).to_string();
    let revalidate = admin_post(&listen, "/_isr/revalidate", &body).await;
    assert!(revalidate.starts_with("HTTP/1.1 200"), "{revalidate}");
    until("30 regenerations at the origin", || origin.held() == 30).await;
    let waiting: Vec<_> = (0..20)
        .map(|i| tokio::spawn(get_url(format!("http://{listen}/wait/{i}"))))
        .collect();
    until("20 more renders at the origin", || origin.held() == 50).await;

    signal(&child, "TERM");
    until_refused(&listen).await;
    origin.open();

    for (i, answer) in waiting.into_iter().enumerate() {
        let answer = answer.await.unwrap().expect("answered, not cut");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.text(), format!("/wait/{i} render #1"));
    }
    download.read_to_end(&mut received).await.unwrap();
    let head_end = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert_eq!(received.len() - head_end, big.len(), "the whole download");
    assert!(exited(&mut child).await.success());

    // The regenerations were stored before the exit: a new process serves them as hits.
    let (restarted, listen) = isr(&origin, &cache, &[]).await;
    for path in &regenerated {
        let hit = get_url(format!("http://{listen}{path}")).await.unwrap();
        assert_eq!(
            (hit.cache(), hit.text()),
            ("HIT", format!("{path} render #2"))
        );
    }
    assert_eq!(origin.renders("/regen/0"), 2, "nothing rendered again");
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once() {
    let origin = TestOrigin::start().await;
    origin.fault(Some(Fault::Hang));
    let dir = tempfile::tempdir().unwrap();
    let (mut child, listen) = isr(
        &origin,
        &dir.path().join("cache"),
        &["--drain-timeout", "1h"],
    )
    .await;
    let waiting = tokio::spawn(get_url(format!("http://{listen}/hangs")));
    until("the render at the origin", || origin.total() == 1).await;

    signal(&child, "TERM");
    until_refused(&listen).await;
    assert!(child.0.try_wait().unwrap().is_none(), "still draining");
    signal(&child, "TERM");
    exited(&mut child).await;
    assert!(waiting.await.unwrap().is_none(), "the hung request was cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_deadline_bounds_the_stop() {
    let origin = TestOrigin::start().await;
    origin.fault(Some(Fault::Hang));
    let dir = tempfile::tempdir().unwrap();
    let (mut child, listen) = isr(
        &origin,
        &dir.path().join("cache"),
        &["--drain-timeout", "500ms"],
    )
    .await;
    let waiting = tokio::spawn(get_url(format!("http://{listen}/hangs")));
    until("the render at the origin", || origin.total() == 1).await;

    signal(&child, "TERM");
    assert!(exited(&mut child).await.success());
    assert!(waiting.await.unwrap().is_none(), "the hung request was cut");
}

/// POST `body` (JSON) to `target` with the admin token, on a raw connection; the answer.
async fn admin_post(listen: &str, target: &str, body: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(listen).await.unwrap();
    let request = format!(
        "POST {target} HTTP/1.1\r\nhost: isr\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}
