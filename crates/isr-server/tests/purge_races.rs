//! A render that began before a hard purge answers none of the requests that came after
//! the purge, even those that joined it while it ran: they get a render of their own.
//!
//! The real proxy on a manual clock that does not move; the origin holds its renders at a
//! gate, and every step waits on a counter (renders held, requests coalesced).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use isr_core::freshness::PurgeMode;
use isr_core::purge::Target;
use isr_store::testing::until;
use support::{TestOrigin, TestProxy};

const CONFIG: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 60
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_a_hard_purge_never_gets_a_render_begun_before_it() {
    let origin = TestOrigin::start().await;
    let proxy = std::sync::Arc::new(TestProxy::start(&origin, CONFIG).await);
    origin.close();

    // Before the purge: a request whose render is held at the origin.
    let before = {
        let proxy = std::sync::Arc::clone(&proxy);
        tokio::spawn(async move { proxy.get("/blog/a").await })
    };
    until("the first render at the origin", || origin.held() == 1).await;

    let purge = [Target::path("/blog/a").unwrap()];
    proxy.handle().purge(&purge, PurgeMode::Hard).await.unwrap();

    // After the purge: a request that finds the first render running, and joins it.
    let after = {
        let proxy = std::sync::Arc::clone(&proxy);
        tokio::spawn(async move { proxy.get("/blog/a").await })
    };
    until("the second request joined", || proxy.stats().coalesced == 1).await;
    origin.open();

    let before = before.await.unwrap();
    assert_eq!(before.text(), "/blog/a render #1", "its own render");
    let after = after.await.unwrap();
    assert_eq!(after.status, 200);
    assert_eq!(
        after.text(),
        "/blog/a render #2",
        "a render begun after the purge"
    );
    assert_eq!(origin.renders("/blog/a"), 2);
}
