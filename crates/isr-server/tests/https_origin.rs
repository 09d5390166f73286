//! An https origin: the real `isr` binary checks the origin's certificate against the CA
//! certificates it is given (`SSL_CERT_FILE`), caches its pages as an http origin's, and
//! answers 502, storing nothing, when the certificate is not trusted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;

use support::{KillOnDrop, TestOrigin, get_url, test_certificates};

/// `isr serve` in front of `origin`, trusting only the CA certificates in `ca_file`.
/// Returns the process, its address, and its cache directory (removed when dropped).
async fn isr_trusting(
    origin: &TestOrigin,
    ca_file: &std::path::Path,
) -> (KillOnDrop, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
    command
        .args(["serve", "--origin", &origin.url(), "--cache-dir"])
        .arg(dir.path().join("cache"))
        .env("SSL_CERT_FILE", ca_file)
        .env_remove("SSL_CERT_DIR");
    let (child, listen) = support::serve(command).await;
    (child, listen, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_origin_is_cached_like_an_http_one() {
    let certificates = tempfile::tempdir().unwrap();
    let files = test_certificates(certificates.path());
    let origin = TestOrigin::start_tls(&files).await;
    assert!(origin.url().starts_with("https://"));
    let (child, listen, _cache) = isr_trusting(&origin, &files.ca).await;

    let miss = get_url(format!("http://{listen}/page")).await.unwrap();
    assert_eq!(miss.status, 200, "{}", miss.text());
    assert_eq!(
        (miss.cache(), miss.text().as_str()),
        ("MISS", "/page render #1")
    );
    let hit = get_url(format!("http://{listen}/page")).await.unwrap();
    assert_eq!((hit.cache(), hit.body.clone()), ("HIT", miss.body.clone()));
    assert_eq!(origin.renders("/page"), 1);
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_origin_certificate_is_a_502_and_nothing_is_stored() {
    let certificates = tempfile::tempdir().unwrap();
    let files = test_certificates(certificates.path());
    let other = tempfile::tempdir().unwrap();
    let other_ca = test_certificates(other.path()).ca;
    let origin = TestOrigin::start_tls(&files).await;
    let (child, listen, _cache) = isr_trusting(&origin, &other_ca).await;

    for _ in 0..2 {
        let answer = get_url(format!("http://{listen}/page")).await.unwrap();
        assert_eq!(answer.status, 502, "{}", answer.text());
        assert_eq!(answer.cache(), "MISS", "never a HIT: nothing was stored");
        // The cause, not just "could not be reached": a person can act on it.
        assert!(answer.text().contains("certificate"), "{}", answer.text());
    }
    assert_eq!(
        origin.total(),
        0,
        "no request got through an untrusted connection"
    );
    drop(child);
}
