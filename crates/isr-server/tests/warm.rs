//! `isr warm` against the real proxy: pages missing from the cache are rendered, and a
//! page already cached (and newer than anything warm could render) is left alone; a sitemap
//! can be read over https.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;

use bytes::Bytes;
use support::{Page, TestOrigin, TestProxy};

const ROUTES: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 60
"#;

/// `isr warm --url <proxy>`, to be given its pages.
fn warm(proxy: &TestProxy) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
    command.args(["warm", "--url", &format!("http://{}", proxy.addr)]);
    command
}

/// Run `command` off the runtime (the proxy it asks runs on it); its stdout, once it has
/// succeeded.
async fn run_to_success(mut command: Command) -> String {
    let output = tokio::task::spawn_blocking(move || command.output().expect("run isr warm"))
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "isr warm failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_renders_what_is_missing_and_never_overwrites_what_is_cached() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, ROUTES).await;
    let browser = || {
        support::get_with(
            "/blog/cached",
            &[("accept-encoding", "gzip, deflate, br, zstd")],
        )
    };
    assert_eq!(proxy.send(browser()).await.cache(), "MISS");
    let sitemap = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        sitemap.path(),
        "<?xml version=\"1.0\"?><urlset>\
         <url><loc>https://example.com/blog/cached</loc></url>\
         <url><loc>https://example.com/blog/new</loc></url></urlset>",
    )
    .unwrap();
    let mut command = warm(&proxy);
    command
        .arg("--sitemap")
        .arg(sitemap.path())
        .arg("/blog/extra");
    let stdout = run_to_success(command).await;
    assert_eq!(
        origin.renders("/blog/cached"),
        1,
        "the cached page was not rendered again"
    );
    assert_eq!(origin.renders("/blog/new"), 1);
    assert_eq!(origin.renders("/blog/extra"), 1);
    assert!(stdout.contains("warmed 3"), "summary: {stdout}");
    let warmed = proxy.send(browser()).await;
    assert_eq!(warmed.cache(), "HIT");
    assert_eq!(
        warmed.text(),
        "/blog/cached render #1",
        "the cached render is what is served"
    );
}

/// A sitemap on an https server: read with its certificate checked (against the test CA,
/// through `SSL_CERT_FILE`), and its pages warmed through isr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_reads_a_sitemap_over_https() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, ROUTES).await;
    let certificates = tempfile::tempdir().unwrap();
    let files = support::test_certificates(certificates.path());
    let sitemaps = TestOrigin::start_tls(&files).await;
    sitemaps.set(
        "/sitemap.xml",
        Page {
            body: Some(Bytes::from_static(
                b"<?xml version=\"1.0\"?><urlset>\
                  <url><loc>https://example.com/blog/one</loc></url>\
                  <url><loc>https://example.com/blog/two</loc></url></urlset>",
            )),
            ..Page::ok()
        },
    );
    let mut command = warm(&proxy);
    command
        .args(["--sitemap", &format!("{}/sitemap.xml", sitemaps.url())])
        .env("SSL_CERT_FILE", &files.ca)
        .env_remove("SSL_CERT_DIR");
    let stdout = run_to_success(command).await;
    assert_eq!(sitemaps.renders("/sitemap.xml"), 1);
    assert_eq!(origin.renders("/blog/one"), 1);
    assert_eq!(origin.renders("/blog/two"), 1);
    assert!(stdout.contains("warmed 2"), "summary: {stdout}");
}
