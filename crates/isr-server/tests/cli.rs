//! The real `isr` binary: config errors name the file, line and key; help lists the flags;
//! `isr serve` serves a MISS then a HIT; `isr demo --walkthrough` runs to completion.

mod support;

use std::process::{Command, Output, Stdio};

use http::Request;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use isr::Body;
use isr_store::testing::free_port;
use support::{KillOnDrop, TestOrigin, wait_until_listening};

const ISR: &str = env!("CARGO_BIN_EXE_isr");

/// The binary, with no setting inherited from the environment.
fn isr() -> Command {
    let mut command = Command::new(ISR);
    for (name, _) in std::env::vars() {
        if name.starts_with("ISR_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("RUST_LOG");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("run isr");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

fn write_config(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

#[test]
fn an_unknown_key_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "bad.toml",
        "origin = \"http://127.0.0.1:1\"\n\n[cache]\nrevalidate = 10\nrevalidte = 5\n",
    );
    let (output, _, stderr) = run(isr().args(["serve", "--config", &path]));
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("{path}:5:")),
        "names the file and line: {stderr}"
    );
    assert!(
        stderr.contains("cache.revalidte"),
        "names the key: {stderr}"
    );
    assert!(!stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn a_bad_value_names_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "bad.toml",
        "origin = \"http://127.0.0.1:1\"\nmemory = \"lots\"\n",
    );
    let (output, _, stderr) = run(isr().args(["serve", "--config", &path]));
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("{path}:2:")), "{stderr}");
    assert!(stderr.contains("`memory`"), "{stderr}");
    assert!(stderr.contains("lots"), "{stderr}");

    let path = write_config(
        &dir,
        "route.toml",
        "origin = \"http://127.0.0.1:1\"\n[[route]]\npath = \"/a\"\nrevalidate = \"soon\"\n",
    );
    let (output, _, stderr) = run(isr().args(["serve", "--config", &path]));
    assert!(!output.status.success());
    assert!(stderr.contains(&format!("{path}:4:")), "{stderr}");
    assert!(stderr.contains("route.revalidate"), "{stderr}");
}

#[test]
fn serve_without_an_origin_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let (output, _, stderr) = run(isr().current_dir(dir.path()).arg("serve"));
    assert!(!output.status.success());
    assert!(stderr.contains("no origin"), "{stderr}");
    assert!(stderr.contains("--origin"), "{stderr}");
    assert!(
        !dir.path().join(".isr-cache").exists(),
        "nothing is created before the config is valid"
    );
}

#[test]
fn help_lists_the_commands_and_flags() {
    let (output, stdout, _) = run(isr().arg("--help"));
    assert!(output.status.success());
    for word in ["serve", "demo", "--help", "--version"] {
        assert!(stdout.contains(word), "isr --help lacks {word}: {stdout}");
    }
    let (output, stdout, _) = run(isr().args(["serve", "--help"]));
    assert!(output.status.success());
    for flag in [
        "--config",
        "--origin",
        "--listen",
        "--cache-dir",
        "--memory",
        "--site",
        "--build-id",
        "--key-host",
        "--revalidate",
        "--expire",
        "--stale-if-error",
        "--lock-timeout",
        "--render-timeout",
        "--regenerate-concurrency",
        "--max-entry-size",
        "--log",
    ] {
        assert!(
            stdout.contains(flag),
            "isr serve --help lacks {flag}: {stdout}"
        );
    }
}

#[tokio::test]
async fn serve_serves_a_miss_then_a_hit() {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let cache_dir = dir.path().join("cache");
    let mut child = KillOnDrop(
        isr()
            .args(["serve", "--origin", &origin.url(), "--listen", &listen])
            .arg("--cache-dir")
            .arg(&cache_dir)
            .args(["--log", "warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start isr serve"),
    );
    wait_until_listening(&mut child, &listen).await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let response = client
            .request(
                Request::get(format!("http://{listen}/page"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .expect("isr answers");
        let cache = response.headers()["x-isr-cache"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        answers.push((cache, body));
    }
    assert_eq!(answers[0].0, "MISS");
    assert_eq!(answers[1].0, "HIT");
    assert_eq!(&answers[0].1[..], b"/page render #1");
    assert_eq!(answers[1].1, answers[0].1);
    assert_eq!(origin.renders("/page"), 1);
    assert!(cache_dir.exists(), "the cache directory was created");
    drop(child);
}

#[test]
fn demo_walkthrough_shows_miss_hit_stale_hit() {
    let (output, stdout, stderr) =
        run(isr().args(["demo", "--walkthrough", "--listen", "127.0.0.1:0"]));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let statuses: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split("x-isr-cache:").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(statuses, ["MISS", "HIT", "STALE", "HIT"], "{stdout}");
    let last = stdout
        .lines()
        .rfind(|line| line.contains("x-isr-cache:"))
        .unwrap();
    assert!(
        last.contains("render #2"),
        "the final HIT is the new render: {last}"
    );
}
