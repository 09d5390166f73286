//! Hostile clients against the real `isr` binary, on raw sockets: a connection that sends
//! nothing (or half an HTTP/2 preface) is closed at the request head deadline, an idle
//! keep-alive connection at the idle deadline, and a flood of silent connections larger
//! than the process's file descriptors cannot lock real clients (or their renders) out.
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

use support::{KillOnDrop, TestOrigin, get_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `isr serve` in front of `origin` with `extra` flags, run by `sh` after `limits` (shell
/// commands like `ulimit -n 256`).
async fn isr(
    origin: &TestOrigin,
    cache_dir: &std::path::Path,
    limits: &str,
    extra: &[&str],
) -> (KillOnDrop, String) {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("{limits} exec \"$@\""), "sh"])
        .arg(env!("CARGO_BIN_EXE_isr"))
        .args(["serve", "--origin", &origin.url(), "--cache-dir"])
        .arg(cache_dir)
        .args(extra);
    support::serve(command).await
}

/// Read until the proxy closes `stream`; `None` if it is still open after a bound far
/// above the deadlines tested here.
async fn closed_by_proxy(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received))
        .await
        .ok()
        .map(|_| received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_a_request_head_is_closed_at_the_deadline() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--request-head-timeout", "1s", "--idle-timeout", "1h"];
    let (child, listen) = isr(&origin, dir.path(), "", &flags).await;

    // Nothing at all: the read that tells HTTP/1 from HTTP/2 has the deadline too.
    let mut silent = TcpStream::connect(&listen).await.unwrap();
    // Half the HTTP/2 preface: still not a request.
    let mut half_preface = TcpStream::connect(&listen).await.unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    // Half an HTTP/1 head.
    let mut half_head = TcpStream::connect(&listen).await.unwrap();
    half_head
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();

    assert!(closed_by_proxy(&mut silent).await.is_some(), "silent");
    assert!(
        closed_by_proxy(&mut half_preface).await.is_some(),
        "half preface"
    );
    assert!(closed_by_proxy(&mut half_head).await.is_some(), "half head");
    assert_eq!(origin.total(), 0);
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_deadline() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--request-head-timeout", "1h", "--idle-timeout", "1s"];
    let (child, listen) = isr(&origin, dir.path(), "", &flags).await;

    let mut stream = TcpStream::connect(&listen).await.unwrap();
    stream
        .write_all(b"GET /page HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_by_proxy(&mut stream)
        .await
        .expect("closed once idle, though the head deadline is an hour");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with("/page render #1"),
        "answered whole: {answer}"
    );
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_does_not_lock_clients_out() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    // 256 descriptors in all, 300 silent connections, deadlines far away.
    let flags = ["--request-head-timeout", "1h", "--idle-timeout", "1h"];
    let (child, listen) = isr(&origin, dir.path(), "ulimit -n 256 &&", &flags).await;

    let mut flood = Vec::with_capacity(300);
    for _ in 0..300 {
        flood.push(TcpStream::connect(&listen).await.expect("connect"));
    }
    for round in 1..=3 {
        // A render (an origin connection, a store write) and a hit, each on a new
        // connection.
        let path = format!("http://{listen}/page/{round}");
        let miss = tokio::time::timeout(Duration::from_secs(20), get_url(path.clone()))
            .await
            .expect("a real client is served during the flood")
            .expect("answered");
        assert_eq!((miss.status.as_u16(), miss.cache()), (200, "MISS"));
        let hit = tokio::time::timeout(Duration::from_secs(20), get_url(path))
            .await
            .expect("a real client is served during the flood")
            .expect("answered");
        assert_eq!((hit.cache(), &hit.body), ("HIT", &miss.body));
        // The attacker keeps coming.
        for _ in 0..50 {
            flood.push(TcpStream::connect(&listen).await.expect("connect"));
        }
    }
    assert_eq!(origin.total(), 3);
    drop(flood);
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_served_and_an_idle_http2_connection_is_closed() {
    use http_body_util::BodyExt;
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--request-head-timeout", "1h", "--idle-timeout", "1s"];
    let (child, listen) = isr(&origin, dir.path(), "", &flags).await;

    let stream = TcpStream::connect(&listen).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("an HTTP/2 handshake (prior knowledge)");
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{listen}/page"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"/page render #1");
    // Nothing more is asked: the proxy closes the connection once it has been idle.
    let closed = tokio::time::timeout(Duration::from_secs(20), connection).await;
    assert!(closed.is_ok(), "the idle HTTP/2 connection was closed");
    drop(child);
}
