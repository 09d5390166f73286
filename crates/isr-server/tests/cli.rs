//! The real `isr` binary: config errors name the file, line and key; help lists the flags;
//! `isr serve` serves a MISS, a HIT and a regeneration on one thread or more; `isr demo
//! --walkthrough` runs to completion.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use isr_store::testing::free_port;
use support::{KillOnDrop, TestOrigin, get_url, wait_until_listening};

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
        "--threads",
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

/// `isr serve` on one thread (the single-threaded runtime) and on two: a MISS, a HIT, then
/// after a purge (by the `isr purge` client) a STALE answer whose background regeneration
/// the next answers serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_serves_misses_hits_and_regenerations_on_one_thread_or_more() {
    for threads in ["1", "2"] {
        let origin = TestOrigin::start().await;
        let dir = tempfile::tempdir().unwrap();
        let listen = format!("127.0.0.1:{}", free_port());
        let cache_dir = dir.path().join("cache");
        let token = "a-test-admin-token-of-some-length";
        let mut child = KillOnDrop(
            isr()
                .args(["serve", "--origin", &origin.url(), "--listen", &listen])
                .args(["--threads", threads, "--admin-token", token])
                .arg("--cache-dir")
                .arg(&cache_dir)
                .args(["--log", "warn"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start isr serve"),
        );
        wait_until_listening(&mut child, &listen).await;
        let url = format!("http://{listen}/page");
        let get = || async { get_url(url.clone()).await.expect("isr answers") };

        let miss = get().await;
        assert_eq!(
            (miss.cache(), miss.text().as_str()),
            ("MISS", "/page render #1")
        );
        let hit = get().await;
        assert_eq!((hit.cache(), hit.body.clone()), ("HIT", miss.body.clone()));

        let server = format!("http://{listen}");
        let purge = tokio::task::spawn_blocking(move || {
            run(isr().args([
                "purge",
                "--url",
                &server,
                "--admin-token",
                token,
                "--path",
                "/page",
            ]))
        });
        let (output, stdout, stderr) = purge.await.unwrap();
        assert!(output.status.success(), "{stdout}\n{stderr}");
        let stale = get().await;
        assert_eq!(
            (stale.cache(), stale.body.clone()),
            ("STALE", miss.body.clone())
        );
        // The regeneration runs in the background: poll until its render is served.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let answer = get().await;
            if answer.text() == "/page render #2" {
                assert_eq!(answer.cache(), "HIT");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "--threads {threads}: the regeneration was never served"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(origin.renders("/page"), 2, "--threads {threads}");
        assert!(cache_dir.exists(), "the cache directory was created");
        drop(child);
    }
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
