//! The real `isr` binary's access log (JSON and combined), its JSON application logs, and
//! its metrics listener (`--metrics-listen`), read from what the process writes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use support::{TestOrigin, get_url, get_url_with, serve_lines};

fn isr(origin: &TestOrigin, dir: &tempfile::TempDir, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
    for (name, _) in std::env::vars() {
        if name.starts_with("ISR_") {
            command.env_remove(name);
        }
    }
    command.args([
        "serve",
        "--origin",
        &origin.url(),
        "--cache-dir",
        &dir.path().display().to_string(),
        "--site",
        "example.com",
    ]);
    command.args(extra);
    command
}

/// The next line of `lines` that `wanted` accepts (others are skipped); fails after 20 s.
fn next_line(lines: &Receiver<String>, wanted: impl Fn(&str) -> bool) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("the process writes the line");
        if wanted(&line) {
            return line;
        }
    }
}

#[tokio::test]
async fn json_access_lines_say_status_route_key_and_origin_status() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("isr.toml");
    std::fs::write(
        &config,
        "[[route]]\npath = \"/blog/[slug]\"\nrevalidate = 60\n",
    )
    .unwrap();
    let command = isr(
        &origin,
        &dir,
        &[
            "--config",
            &config.display().to_string(),
            "--access-log",
            "json",
            "--log-format",
            "json",
        ],
    );
    let (_child, address, lines) = serve_lines(command).await;
    let url = format!("http://{address}/blog/a?x=1");
    let agent = [("user-agent", "tester/1 \"quoted\"")];
    assert_eq!(
        get_url_with(url.clone(), &agent).await.unwrap().cache(),
        "MISS"
    );
    assert_eq!(get_url_with(url, &agent).await.unwrap().cache(), "HIT");

    let access = |line: &str| line.contains("\"cache\":");
    let miss: serde_json::Value = serde_json::from_str(&next_line(&lines, access)).unwrap();
    let hit: serde_json::Value = serde_json::from_str(&next_line(&lines, access)).unwrap();
    assert_eq!(miss["cache"], "MISS");
    assert_eq!(miss["status"], 200);
    assert_eq!(miss["origin_status"], 200);
    assert_eq!(miss["route"], "/blog/[slug]");
    assert_eq!(miss["target"], "/blog/a?x=1");
    assert_eq!(miss["method"], "GET");
    assert_eq!(miss["client"], "127.0.0.1");
    assert_eq!(miss["user_agent"], "tester/1 \"quoted\"");
    assert!(miss["duration_us"].is_u64());
    assert_eq!(hit["cache"], "HIT");
    assert!(
        hit["origin_status"].is_null(),
        "a hit did not ask the origin"
    );
    let key = miss["key_hash"].as_str().expect("a key hash");
    assert_eq!(key.len(), 16);
    assert_eq!(hit["key_hash"], key, "one page, one key");
    assert_eq!(origin.total(), 1, "one render");
}

#[tokio::test]
async fn application_logs_can_be_json() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let command = isr(&origin, &dir, &["--log-format", "json"]);
    let (_child, _address, lines) = serve_lines(command).await;
    let started = next_line(&lines, |line| line.contains("isr listening on"));
    let started: serde_json::Value = serde_json::from_str(&started).expect("a JSON line");
    assert_eq!(started["level"], "INFO");
    assert!(
        started["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("isr listening on http://")),
        "{started}"
    );
}

#[tokio::test]
async fn combined_access_lines_and_the_metrics_listener() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let command = isr(
        &origin,
        &dir,
        &[
            "--access-log",
            "combined",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let (_child, address, lines) = serve_lines(command).await;
    let metrics_line = next_line(&lines, |line| line.contains("isr metrics on http://"));
    let metrics = metrics_line
        .split_once("isr metrics on http://")
        .and_then(|(_, rest)| rest.split('/').next())
        .expect("the metrics address")
        .to_owned();

    assert_eq!(
        get_url(format!("http://{address}/page"))
            .await
            .unwrap()
            .cache(),
        "MISS"
    );
    let line = next_line(&lines, |line| line.contains("\"GET /page HTTP/1.1\""));
    assert!(
        line.starts_with("127.0.0.1 - - ["),
        "the combined format: {line}"
    );
    assert!(
        line.contains("\"GET /page HTTP/1.1\" 200 ")
            && line.contains(" cache=MISS route=\"(none)\" key=")
            && line.contains(" origin_status=200 duration_us="),
        "{line}"
    );

    let scraped = get_url(format!("http://{metrics}/metrics")).await.unwrap();
    assert_eq!(scraped.status, 200);
    assert!(
        scraped
            .text()
            .contains("isr_requests_total{status=\"MISS\",route=\"(none)\"} 1"),
        "{}",
        scraped.text()
    );
    let ready = get_url(format!("http://{metrics}/readyz")).await.unwrap();
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn a_metrics_address_that_cannot_be_bound_does_not_stop_serving() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let command = isr(&origin, &dir, &["--metrics-listen", &taken_addr]);
    let (_child, address, lines) = serve_lines(command).await;
    let error = next_line(&lines, |line| line.contains("serving without metrics"));
    assert!(error.contains(&taken_addr), "names the address: {error}");
    assert_eq!(
        get_url(format!("http://{address}/page"))
            .await
            .unwrap()
            .cache(),
        "MISS"
    );
    drop(taken);
}
