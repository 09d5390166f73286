//! Persistence: entries survive a proxy restart (disk tier), and an entry found only on
//! disk refills the memory tier, what can never be served again is removed from disk, and
//! the disk keeps within its byte budget.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use isr_core::store::EntryStore;
use support::{TestOrigin, TestProxy};

const CONFIG: &str = r#"
[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 100
"#;

#[tokio::test]
async fn entries_survive_a_restart_and_refill_memory() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    for path in ["/p/a", "/p/b"] {
        assert_eq!(proxy.get(path).await.cache(), "MISS");
    }
    let before = proxy.get("/p/a").await;
    assert_eq!(before.cache(), "HIT");

    let proxy = proxy.restart(&origin, CONFIG).await;
    assert_eq!(
        proxy.layer().store().l1().len(),
        0,
        "a new process starts with empty memory"
    );
    let after = proxy.get("/p/a").await;
    assert_eq!(after.status, 200);
    assert_eq!(after.cache(), "HIT", "served from disk without a render");
    assert_eq!(after.body, before.body);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(origin.renders("/p/a"), 1);
    assert_eq!(proxy.stats().renders, 0);
    assert_eq!(
        proxy.layer().store().l1().len(),
        1,
        "the disk hit refilled memory"
    );
    // Served again, from memory now; the other entry is still on disk only.
    assert_eq!(proxy.get("/p/a").await.cache(), "HIT");
    assert_eq!(proxy.get("/p/b").await.cache(), "HIT");
    assert_eq!(proxy.layer().store().l1().len(), 2);
    assert_eq!(origin.renders("/p/b"), 1);

    // Freshness is kept across the restart: a disk entry goes stale and regenerates.
    proxy.advance(11);
    let stale = proxy.get("/p/b").await;
    assert_eq!(stale.cache(), "STALE");
    isr_store::testing::until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    assert_eq!(proxy.get("/p/b").await.text(), "/p/b render #2");

    // And the regenerated entry is what the next process finds.
    let proxy = proxy.restart(&origin, CONFIG).await;
    proxy.advance(11); // the new process's clock starts where the old one was
    let again = proxy.get("/p/b").await;
    assert_eq!(again.cache(), "HIT");
    assert_eq!(again.text(), "/p/b render #2");
    assert_eq!(origin.renders("/p/b"), 2);
}

#[tokio::test]
async fn a_new_build_id_does_not_serve_old_entries() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &format!("build_id = \"one\"\n{CONFIG}")).await;
    assert_eq!(proxy.get("/p/a").await.cache(), "MISS");
    let proxy = proxy
        .restart(&origin, &format!("build_id = \"two\"\n{CONFIG}"))
        .await;
    let answer = proxy.get("/p/a").await;
    assert_eq!(answer.cache(), "MISS");
    assert_eq!(answer.text(), "/p/a render #2");
}

/// A page past `expire + stale_if_error` can never be served again: the next process
/// removes it from disk when it starts. Until then it stays (an origin failure would
/// still serve it), and pages that never expire always stay.
#[tokio::test]
async fn a_restart_removes_from_disk_what_can_never_be_served_again() {
    const EXPIRING: &str = r#"
[cache]
stale_if_error = 5

[[route]]
path = "/p/[slug]"
revalidate = 10
expire = 100

[[route]]
path = "/kept/[slug]"
revalidate = false
"#;
    async fn on_disk(proxy: &TestProxy) -> Vec<String> {
        let scanned = proxy.layer().store().scan(None, 100).await.unwrap();
        let mut paths: Vec<String> = scanned.into_iter().map(|(_, e)| e.path.clone()).collect();
        paths.sort();
        paths
    }
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, EXPIRING).await;
    assert_eq!(proxy.get("/p/a").await.cache(), "MISS");
    assert_eq!(proxy.get("/kept/a").await.cache(), "MISS");
    assert_eq!(on_disk(&proxy).await, ["/kept/a", "/p/a"]);

    // 104 s later /p/a is expired but still servable on error (until 105 s): kept.
    let proxy = proxy.restart_after(&origin, EXPIRING, 104).await;
    assert_eq!(on_disk(&proxy).await, ["/kept/a", "/p/a"]);

    let proxy = proxy.restart_after(&origin, EXPIRING, 105).await;
    assert_eq!(on_disk(&proxy).await, ["/kept/a"]);
    assert_eq!(proxy.get("/kept/a").await.cache(), "HIT");
    assert_eq!(origin.renders("/kept/a"), 1);
    let rendered = proxy.get("/p/a").await;
    assert_eq!(
        (rendered.cache(), rendered.text().as_str()),
        ("MISS", "/p/a render #2")
    );
}

/// With `disk` set, the disk keeps the newest renders that fit: after a restart those are
/// served without a render, and the older ones are rendered again.
#[tokio::test]
async fn the_disk_keeps_the_newest_renders_within_its_budget() {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, CONFIG).await;
    assert_eq!(proxy.get("/p/a").await.cache(), "MISS");
    let scanned = proxy.layer().store().scan(None, 10).await.unwrap();
    let (key, page) = &scanned[0];
    // Every /p/<letter> page takes as many bytes as /p/a.
    let page_bytes = key.len() + page.encode().len();
    let bounded = format!("disk = {}\n{CONFIG}", page_bytes * 3 + page_bytes / 2);

    // Rendered 1 s apart, after /p/a; the disk evicts /p/a, then /p/b.
    let proxy = proxy.restart_after(&origin, &bounded, 1).await;
    for path in ["/p/b", "/p/c", "/p/d", "/p/e"] {
        assert_eq!(proxy.get(path).await.cache(), "MISS");
        proxy.advance(1);
    }
    // Memory is not bound by the disk's budget.
    for path in ["/p/b", "/p/e"] {
        assert_eq!(proxy.get(path).await.cache(), "HIT");
    }

    let proxy = proxy.restart_after(&origin, &bounded, 5).await;
    for path in ["/p/c", "/p/d", "/p/e"] {
        assert_eq!(proxy.get(path).await.cache(), "HIT", "{path}");
        assert_eq!(origin.renders(path), 1, "{path}");
    }
    for path in ["/p/a", "/p/b"] {
        let answer = proxy.get(path).await;
        assert_eq!(answer.cache(), "MISS", "{path}");
        assert_eq!(answer.text(), format!("{path} render #2"));
    }
}
