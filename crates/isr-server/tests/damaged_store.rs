//! A cache file damaged outside isr (bytes flipped at random places, as a failing disk
//! would: 4,096 of them, or a few dozen), under the real `isr` binary: it starts, serves nothing damaged, answers
//! the admin listing, and logs no panic of the database library.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::process::Command;

use support::{Page, TestOrigin, get_url, get_url_with};

const TOKEN: &str = "damaged-store-admin-token";

/// A small deterministic generator (xorshift), so a failure replays.
struct Flips(u64);

impl Flips {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heavily_damaged_store_serves_nothing_damaged_lists_and_logs_no_panic() {
    // So damaged that the database cannot open it: set aside, isr starts empty.
    damaged_store(4_096).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lightly_damaged_store_serves_nothing_damaged_lists_and_logs_no_panic() {
    // Damaged here and there: it opens, and the damaged pages are met while serving.
    damaged_store(48).await;
}

/// Fill a store, flip `flips` random bytes of its file, and serve from it.
async fn damaged_store(flips_wanted: usize) {
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let command = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_isr"));
        command
            .args(["serve", "--origin", &origin.url(), "--admin-token", TOKEN])
            .arg("--cache-dir")
            .arg(&cache);
        command
    };
    // Pages of 16 KiB: a file of some megabytes, which 4,096 flips damage here and there.
    for n in 0..200 {
        let body = format!("/page/{n} render #1 {}", "x".repeat(16 * 1024));
        origin.set(
            &format!("/page/{n}"),
            Page::ok()
                .header("cache-control", "public, s-maxage=600")
                .body(body),
        );
    }
    let (child, listen) = support::serve(command()).await;
    for n in 0..200 {
        let answer = get_url(format!("http://{listen}/page/{n}")).await.unwrap();
        assert_eq!(answer.status, 200);
    }
    // A clean stop: the file needs no repair at the next start, so the damage is met by
    // reads rather than by the repair at open.
    let mut child = child;
    let term = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(child.0.wait().unwrap().success());

    let file = cache.join("isr.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    let mut flips = Flips(0x9E37_79B9_7F4A_7C15);
    // Past the database's header page (a damaged header is refused at start, with a
    // message saying the file may be deleted: a start-up error test covers that).
    let header = 4_096;
    for _ in 0..flips_wanted {
        let span = (bytes.len() - header) as u64;
        let at = header + usize::try_from(flips.next() % span).unwrap();
        bytes[at] ^= u8::try_from(flips.next() % 255 + 1).unwrap();
    }
    std::fs::write(&file, &bytes).unwrap();

    // Its log is read whole once it stops: stderr and stdout, both.
    let (child, listen, log) = support::serve_logged(command()).await;
    let mut served = 0;
    for n in 0..200 {
        let answer = get_url(format!("http://{listen}/page/{n}")).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        let text = answer.text();
        // Whole and of this path: a cached copy, or a render of its own.
        assert!(text.starts_with(&format!("/page/{n} render #")), "{text}");
        served += 1;
    }
    assert_eq!(served, 200);
    let listing = get_url_with(
        format!("http://{listen}/_isr/entries?limit=50"),
        &[("authorization", &format!("Bearer {TOKEN}"))],
    )
    .await
    .unwrap();
    assert_eq!(listing.status, 200, "{}", listing.text());
    drop(child);
    let log = log.text();
    assert!(!log.contains("panicked"), "{log}");
}
