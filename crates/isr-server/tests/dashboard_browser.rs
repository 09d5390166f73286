//! The dashboard in a real headless Chromium (Debian's `chromium`, driven by
//! puppeteer-core: `tests/browser/dashboard.mjs`), against the real proxy and origin: log
//! in, see traffic move the figures, search, purge a page and a tag with their buttons, and
//! the next request answer STALE or MISS. The screenshot is saved as
//! `target/artifacts/dashboard.png`.
//!
//! It needs Chromium, Node and `npm install` in `tests/browser`: `ci/ops.sh` installs all
//! three and runs it (`cargo test -p isr-server --test dashboard_browser -- --ignored`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{TestOrigin, TestProxy};

const TOKEN: &str = "browser-token-0123456789";

#[tokio::test]
#[ignore = "needs chromium, node and tests/browser/node_modules: run by ci/ops.sh"]
async fn a_person_logs_in_watches_traffic_and_purges_a_page() {
    let origin = TestOrigin::start().await;
    let config = format!(
        "admin_token = \"{TOKEN}\"\n[[route]]\npath = \"/blog/[slug]\"\nrevalidate = 60\ntags = [\"blog\"]\n"
    );
    let proxy = TestProxy::start(&origin, &config).await;
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let artifacts = manifest.join("../../target/artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());

    let script = manifest.join("tests/browser/dashboard.mjs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("ISR_URL", format!("http://{}", proxy.addr))
            .env("ISR_TOKEN", TOKEN)
            .env("CHROMIUM", chromium)
            .env("SCREENSHOT", &screenshot)
            .output()
            .map(|output| (output, proxy, screenshot))
    })
    .await
    .expect("join");
    let (output, proxy, screenshot) = output.expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.ends_with("ok\n"), "{stdout}");
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");

    // Two pages rendered, and a regeneration of /blog/a after its purge.
    assert_eq!(origin.renders("/blog/b"), 1);
    assert!(origin.renders("/blog/a") >= 1);
    let stats = proxy.stats();
    assert_eq!(stats.hits, 3, "{stats:?}");
    proxy.shutdown().await;
}
