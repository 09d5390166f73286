//! An origin answer whose body ends only where the origin closed the connection (no
//! `Content-Length`, no chunked framing) may be cut short by a FIN, and nobody can tell:
//! the real `isr` binary passes it on and never stores it, while the same page with a
//! length is stored. The origin is a raw socket, since an HTTP library would frame it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use support::{KillOnDrop, TestOrigin, get_url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An origin on a raw socket: answers every request with `head` and `body`, then closes
/// the connection. Counts the requests.
async fn raw_origin(head: &'static str, body: &'static str) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, requests)
}

async fn isr(origin: &str, dir: &tempfile::TempDir) -> (KillOnDrop, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
    command
        .args(["serve", "--origin", origin, "--cache-dir"])
        .arg(dir.path());
    support::serve(command).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_ended_by_the_close_is_passed_on_but_never_stored() {
    let head = "HTTP/1.1 200 OK\r\ncache-control: public, s-maxage=600\r\n\
                content-type: text/html\r\nconnection: close\r\n\r\n";
    let (origin, requests) = raw_origin(head, "<html>half a pa").await;
    let dir = tempfile::tempdir().unwrap();
    let (child, listen) = isr(&origin, &dir).await;

    for round in 1..=3 {
        let answer = get_url(format!("http://{listen}/page")).await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.text(), "<html>half a pa", "passed on as received");
        assert_ne!(
            answer.cache(),
            "HIT",
            "round {round}: never served from the cache"
        );
        assert_eq!(requests.load(Ordering::SeqCst), round, "rendered each time");
    }
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_answer_with_a_length_or_chunked_is_stored() {
    for head in [
        "HTTP/1.1 200 OK\r\ncache-control: public, s-maxage=600\r\ncontent-length: 11\r\n\
         connection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncache-control: public, s-maxage=600\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\nb\r\n",
    ] {
        let body = if head.contains("chunked") {
            "<html>whole\r\n0\r\n\r\n"
        } else {
            "<html>whole"
        };
        let (origin, requests) = raw_origin(head, body).await;
        let dir = tempfile::tempdir().unwrap();
        let (child, listen) = isr(&origin, &dir).await;
        let miss = get_url(format!("http://{listen}/page")).await.unwrap();
        assert_eq!(
            (miss.cache(), miss.text().as_str()),
            ("MISS", "<html>whole")
        );
        let hit = get_url(format!("http://{listen}/page")).await.unwrap();
        assert_eq!((hit.cache(), hit.text().as_str()), ("HIT", "<html>whole"));
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        drop(child);
    }
}

/// The test origin of the other tests frames every answer, so it is stored as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framed_origin_is_unaffected() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (child, listen) = isr(&origin.url(), &dir).await;
    let miss = get_url(format!("http://{listen}/page")).await.unwrap();
    let hit = get_url(format!("http://{listen}/page")).await.unwrap();
    assert_eq!((miss.cache(), hit.cache()), ("MISS", "HIT"));
    drop(child);
}
