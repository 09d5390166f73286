//! A full disk under the real `isr` binary, its cache directory on a small tmpfs the test
//! mounts (root only, as in CI) and fills: pages are still served and cached in memory,
//! purges answer 200 and take effect, the log says once that the disk is full, and storing
//! on disk resumes by itself when space returns.
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

use isr_store::testing::Tmpfs;
use support::{Page, TestOrigin, get_url, get_url_with};

const TOKEN: &str = "disk-full-admin-token";
const FULL: &str = "the disk holding the cache is full";

fn page(path: &str) -> Page {
    Page::ok()
        .header("cache-control", "public, s-maxage=600")
        .body(format!("{path} {}", "x".repeat(64 * 1024)))
}

/// Entries in the disk tier, from `GET /_isr/stats`.
async fn disk_entries(listen: &str) -> u64 {
    let stats = get_url_with(
        format!("http://{listen}/_isr/stats"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await
    .unwrap();
    assert_eq!(stats.status, 200, "{}", stats.text());
    let json: serde_json::Value = serde_json::from_str(&stats.text()).unwrap();
    json["entries"]["disk"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_serving_caching_in_memory_and_purging() {
    let Some(tmpfs) = Tmpfs::mount(48 * 1024 * 1024) else {
        return;
    };
    let origin = TestOrigin::start().await;
    for path in (0..60).map(|n| format!("/page/{n}")) {
        origin.set(&path, page(&path));
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
    command
        .args(["serve", "--origin", &origin.url(), "--admin-token", TOKEN])
        .arg("--cache-dir")
        .arg(tmpfs.path().join("cache"));
    let (child, listen, log) = support::serve_logged(command).await;
    let get = |path: &str| get_url(format!("http://{listen}{path}"));

    assert_eq!(get("/page/0").await.unwrap().cache(), "MISS");
    assert_eq!(disk_entries(&listen).await, 1);

    let filler = tmpfs.fill();
    // Every page is served, and cached: in memory, once the disk has refused it.
    for n in 1..60 {
        let path = format!("/page/{n}");
        let answer = get(&path).await.unwrap();
        assert_eq!(answer.status, 200);
        assert!(answer.text().starts_with(&format!("{path} ")));
        assert_eq!(get(&path).await.unwrap().cache(), "HIT", "{path}");
        assert_eq!(origin.renders(&path), 1, "{path}");
    }
    let on_disk = disk_entries(&listen).await;
    assert!(on_disk < 60, "the disk filled up ({on_disk} entries on it)");

    // Purges work on a full disk, and take effect.
    let purge = Command::new(env!("CARGO_BIN_EXE_isr"))
        .args(["purge", "--path", "/page/59", "--hard"])
        .args(["--url", &format!("http://{listen}"), "--admin-token", TOKEN])
        .output()
        .unwrap();
    assert!(
        purge.status.success(),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    assert_eq!(get("/page/59").await.unwrap().cache(), "MISS");
    assert_eq!(origin.renders("/page/59"), 2);

    // Space returns: storing on disk resumes by itself (the disk tier probes once a second).
    std::fs::remove_file(filler).unwrap();
    let mut resumed = false;
    for n in 0..200 {
        let path = format!("/later/{n}");
        origin.set(&path, page(&path));
        assert_eq!(get(&path).await.unwrap().status, 200);
        if disk_entries(&listen).await > on_disk {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(resumed, "storing on disk resumes once space returns");

    drop(child);
    let log = log.text();
    assert_eq!(log.matches(FULL).count(), 1, "said once: {log}");
    assert!(log.contains("has space again"), "{log}");
    assert!(!log.contains("Previous I/O error"), "{log}");
}
