//! Purges, against a real origin through the real proxy: soft and hard, by path (every
//! variant), tag (route and origin tags), prefix and everything; eager regeneration; a
//! render racing a purge; purges across a restart; and the bounded purge state.
//!
//! Purges are driven through the cache handle (`proxy.handle()`), and a few through the
//! HTTP admin API. The clock is manual and is NOT moved between a purge and the requests
//! after it unless a test says so: a render in the purge's own millisecond must still work.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;
use isr_core::entry::Entry;
use isr_core::freshness::PurgeMode;
use isr_core::purge::Target;
use isr_core::store::EntryStore;
use isr_store::testing::{concurrently, until};
use support::{Page, TestOrigin, TestProxy, get_with};

const TOKEN: &str = "test-admin-token-0123456789";

fn config() -> String {
    format!(
        r#"
admin_token = "{TOKEN}"

[[route]]
path = "/blog/[slug]"
revalidate = 60
expire = 3600
tags = ["blog", "post:{{slug}}"]

[[route]]
path = "/news/[slug]"
revalidate = 60
expire = 3600
tags = ["news"]
"#
    )
}

async fn setup() -> (TestOrigin, TestProxy) {
    let origin = TestOrigin::start().await;
    let proxy = TestProxy::start(&origin, &config()).await;
    (origin, proxy)
}

fn path(p: &str) -> Target {
    Target::path(p).unwrap()
}

fn tag(t: &str) -> Target {
    Target::tag(t).unwrap()
}

fn prefix(p: &str) -> Target {
    Target::prefix(p).unwrap()
}

async fn purge(proxy: &TestProxy, targets: &[Target], mode: PurgeMode) {
    proxy.handle().purge(targets, mode).await.expect("purge");
}

/// Request `target` and check the cache status and body.
async fn expect(proxy: &TestProxy, target: &str, cache: &str, body: &str) {
    let answer = proxy.get(target).await;
    assert_eq!(answer.status, 200, "{target}: {}", answer.text());
    assert_eq!(answer.cache(), cache, "{target}: x-isr-cache");
    assert_eq!(answer.text(), body, "{target}: body");
}

#[tokio::test]
async fn soft_purge_by_path_serves_stale_once_regenerates_once_then_hits() {
    let (origin, proxy) = setup().await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    expect(&proxy, "/blog/b", "MISS", "/blog/b render #1").await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;

    purge(&proxy, &[path("/blog/a")], PurgeMode::Soft).await;
    // The regeneration is held, so every request until it lands sees the old page at once.
    origin.close();
    for _ in 0..5 {
        expect(&proxy, "/blog/a", "STALE", "/blog/a render #1").await;
    }
    until("the regeneration to reach the origin", || {
        origin.held() == 1
    })
    .await;
    origin.open();
    until("the regeneration to be stored", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    assert_eq!(origin.renders("/blog/a"), 2, "exactly one regeneration");
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    expect(&proxy, "/blog/b", "HIT", "/blog/b render #1").await;
    assert_eq!(origin.renders("/blog/a"), 2);
    assert_eq!(origin.renders("/blog/b"), 1, "another path is untouched");
    assert_eq!(proxy.stats().renders, 3);
}

#[tokio::test]
async fn hard_purge_by_path_waits_for_a_fresh_render() {
    let (origin, proxy) = setup().await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;

    purge(&proxy, &[path("/blog/a")], PurgeMode::Hard).await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #2").await;
    assert_eq!(origin.renders("/blog/a"), 2);
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    assert_eq!(origin.renders("/blog/a"), 2, "the new render is fresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_after_a_hard_purge_coalesce_and_never_see_the_old_page() {
    const N: usize = 50;
    let (origin, proxy) = setup().await;
    let proxy = Arc::new(proxy);
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;

    purge(&proxy, &[path("/blog/a")], PurgeMode::Hard).await;
    origin.close();
    let coalesced_before = proxy.stats().coalesced;
    let requests = tokio::spawn({
        let proxy = Arc::clone(&proxy);
        async move {
            concurrently(N, move |_| {
                let proxy = Arc::clone(&proxy);
                async move { proxy.get("/blog/a").await }
            })
            .await
        }
    });
    until("one render held and every other request joined it", || {
        origin.held() == 1 && proxy.stats().coalesced - coalesced_before == (N as u64 - 1)
    })
    .await;
    origin.open();
    let answers = requests.await.unwrap();
    assert_eq!(origin.renders("/blog/a"), 2, "one render for all of them");
    for answer in &answers {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.cache(), "MISS");
        assert_eq!(
            answer.text(),
            "/blog/a render #2",
            "nobody got the purged page"
        );
    }
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
}

#[tokio::test]
async fn a_path_purge_reaches_every_variant_of_the_path_and_no_other_path() {
    let (origin, proxy) = setup().await;
    let variants: [&[(&str, &str)]; 4] = [
        &[],
        &[("accept-encoding", "gzip")],
        &[("rsc", "1")],
        &[("rsc", "1"), ("accept-encoding", "gzip")],
    ];
    for (i, headers) in variants.iter().enumerate() {
        let answer = proxy.send(get_with("/blog/a", headers)).await;
        assert_eq!(answer.cache(), "MISS", "variant {i}");
        assert_eq!(answer.text(), format!("/blog/a render #{}", i + 1));
    }
    expect(&proxy, "/blog/b", "MISS", "/blog/b render #1").await;
    for headers in variants {
        assert_eq!(
            proxy.send(get_with("/blog/a", headers)).await.cache(),
            "HIT"
        );
    }
    assert_eq!(origin.renders("/blog/a"), 4, "four variants, four entries");

    // The target is normalised like a request path: `%61` is `a`.
    purge(&proxy, &[path("/blog/%61")], PurgeMode::Soft).await;
    for (i, headers) in variants.iter().enumerate() {
        let answer = proxy.send(get_with("/blog/a", headers)).await;
        assert_eq!(answer.cache(), "STALE", "variant {i} is reached");
        assert_eq!(answer.text(), format!("/blog/a render #{}", i + 1));
    }
    expect(&proxy, "/blog/b", "HIT", "/blog/b render #1").await;
    until("each variant to regenerate", || {
        proxy.stats().regenerations_ok == 4
    })
    .await;
    assert_eq!(origin.renders("/blog/a"), 8, "one regeneration per variant");
    for headers in variants {
        assert_eq!(
            proxy.send(get_with("/blog/a", headers)).await.cache(),
            "HIT"
        );
    }

    // Hard: every variant waits for its own render.
    purge(&proxy, &[path("/blog/a")], PurgeMode::Hard).await;
    for (i, headers) in variants.iter().enumerate() {
        let answer = proxy.send(get_with("/blog/a", headers)).await;
        assert_eq!(answer.cache(), "MISS", "variant {i}");
        assert_eq!(answer.text(), format!("/blog/a render #{}", 9 + i));
    }
    expect(&proxy, "/blog/b", "HIT", "/blog/b render #1").await;
    assert_eq!(origin.renders("/blog/b"), 1);
}

/// Every entry in memory (by storage key) and on disk (key, created_at, body).
async fn snapshot(
    proxy: &TestProxy,
) -> (
    BTreeMap<String, Arc<Entry>>,
    Vec<(String, u64, bytes::Bytes)>,
) {
    let memory = proxy
        .layer()
        .store()
        .l1()
        .scan(None, 100_000)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let disk = proxy
        .layer()
        .store()
        .l2()
        .scan(None, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(key, entry)| (key, entry.created_at.0, entry.body.clone()))
        .collect();
    (memory, disk)
}

#[tokio::test]
async fn one_tag_purge_reaches_two_hundred_entries_without_touching_them() {
    const N: usize = 200;
    let (origin, proxy) = setup().await;
    for i in 0..N {
        let target = format!("/blog/p{i}");
        expect(&proxy, &target, "MISS", &format!("{target} render #1")).await;
    }
    for i in 0..10 {
        let target = format!("/news/n{i}");
        expect(&proxy, &target, "MISS", &format!("{target} render #1")).await;
    }
    expect(&proxy, "/about", "MISS", "/about render #1").await;
    let entries = N + 11;

    let (memory_before, disk_before) = snapshot(&proxy).await;
    assert_eq!(memory_before.len(), entries);
    assert_eq!(disk_before.len(), entries);
    assert_eq!(proxy.handle().memory().entries, entries);
    let stats_before = proxy.stats();
    let origin_before = origin.total();

    purge(&proxy, &[tag("blog")], PurgeMode::Soft).await;

    // The purge is one record: it rendered nothing, and read or wrote no entry (memory holds
    // the very same entry objects, disk the same rows).
    assert_eq!(proxy.handle().purge_records(), 1);
    assert_eq!(origin.total(), origin_before, "the purge rendered nothing");
    assert_eq!(
        proxy.stats(),
        stats_before,
        "the purge served and rendered nothing"
    );
    assert_eq!(proxy.handle().memory().entries, entries);
    let (memory_after, disk_after) = snapshot(&proxy).await;
    assert_eq!(disk_after, disk_before, "no entry on disk was rewritten");
    assert_eq!(memory_after.len(), memory_before.len());
    for (key, entry) in &memory_before {
        assert!(
            Arc::ptr_eq(entry, &memory_after[key]),
            "{key}: the memory entry was replaced"
        );
    }

    // Every tagged entry is stale on its next read; the others are untouched.
    for i in 0..N {
        let target = format!("/blog/p{i}");
        expect(&proxy, &target, "STALE", &format!("{target} render #1")).await;
    }
    for i in 0..10 {
        let target = format!("/news/n{i}");
        expect(&proxy, &target, "HIT", &format!("{target} render #1")).await;
    }
    expect(&proxy, "/about", "HIT", "/about render #1").await;
    until("every tagged entry to regenerate", || {
        proxy.stats().regenerations_ok == N as u64
    })
    .await;
    for i in 0..N {
        let target = format!("/blog/p{i}");
        expect(&proxy, &target, "HIT", &format!("{target} render #2")).await;
        assert_eq!(origin.renders(&target), 2);
    }

    // `post:{slug}` reaches exactly one entry.
    purge(&proxy, &[tag("post:p7")], PurgeMode::Hard).await;
    expect(&proxy, "/blog/p7", "MISS", "/blog/p7 render #3").await;
    expect(&proxy, "/blog/p8", "HIT", "/blog/p8 render #2").await;
    expect(&proxy, "/blog/p7", "HIT", "/blog/p7 render #3").await;

    // Hard, by tag: every tagged entry is rendered again before it is served.
    let renders_before = proxy.stats().renders;
    purge(&proxy, &[tag("blog")], PurgeMode::Hard).await;
    assert_eq!(
        proxy.stats().renders,
        renders_before,
        "a hard purge renders nothing"
    );
    assert_eq!(proxy.handle().memory().entries, entries);
    for i in 0..N {
        let target = format!("/blog/p{i}");
        let render = if i == 7 { 4 } else { 3 };
        expect(
            &proxy,
            &target,
            "MISS",
            &format!("{target} render #{render}"),
        )
        .await;
    }
    for i in 0..10 {
        let target = format!("/news/n{i}");
        expect(&proxy, &target, "HIT", &format!("{target} render #1")).await;
    }
    expect(&proxy, "/about", "HIT", "/about render #1").await;
    assert_eq!(proxy.stats().renders, renders_before + N as u64);
}

#[tokio::test]
async fn origin_assigned_tags_are_purgeable() {
    let (origin, proxy) = setup().await;
    let cc = "public, s-maxage=60, stale-while-revalidate=600";
    origin.set(
        "/tagged/x",
        Page::ok()
            .header("cache-control", cc)
            .header("x-isr-tags", "a, b"),
    );
    origin.set(
        "/tagged/y",
        Page::ok()
            .header("cache-control", cc)
            .header("cache-tag", "c,d"),
    );
    // A route tag and an origin tag on the same entry.
    origin.set(
        "/blog/z",
        Page::ok()
            .header("cache-control", cc)
            .header("x-isr-tags", "extra"),
    );
    for target in ["/tagged/x", "/tagged/y", "/blog/z"] {
        expect(&proxy, target, "MISS", &format!("{target} render #1")).await;
    }

    purge(&proxy, &[tag("b")], PurgeMode::Soft).await;
    expect(&proxy, "/tagged/x", "STALE", "/tagged/x render #1").await;
    expect(&proxy, "/tagged/y", "HIT", "/tagged/y render #1").await;
    expect(&proxy, "/blog/z", "HIT", "/blog/z render #1").await;
    until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    expect(&proxy, "/tagged/x", "HIT", "/tagged/x render #2").await;

    purge(&proxy, &[tag("d")], PurgeMode::Hard).await;
    expect(&proxy, "/tagged/y", "MISS", "/tagged/y render #2").await;
    expect(&proxy, "/tagged/x", "HIT", "/tagged/x render #2").await;

    purge(&proxy, &[tag("extra")], PurgeMode::Hard).await;
    expect(&proxy, "/blog/z", "MISS", "/blog/z render #2").await;
    // The regenerated entries keep their origin tags.
    purge(&proxy, &[tag("a")], PurgeMode::Hard).await;
    expect(&proxy, "/tagged/x", "MISS", "/tagged/x render #3").await;
    expect(&proxy, "/tagged/y", "HIT", "/tagged/y render #2").await;
}

#[tokio::test]
async fn a_prefix_purge_stops_at_segment_boundaries() {
    let (origin, proxy) = setup().await;
    let all = ["/docs", "/docs/a/b", "/docsx", "/blog/a"];
    for target in all {
        expect(&proxy, target, "MISS", &format!("{target} render #1")).await;
    }
    purge(&proxy, &[prefix("/docs/")], PurgeMode::Soft).await;
    expect(&proxy, "/docs", "STALE", "/docs render #1").await;
    expect(&proxy, "/docs/a/b", "STALE", "/docs/a/b render #1").await;
    expect(&proxy, "/docsx", "HIT", "/docsx render #1").await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;
    until("both regenerations", || proxy.stats().regenerations_ok == 2).await;
    expect(&proxy, "/docs", "HIT", "/docs render #2").await;
    expect(&proxy, "/docs/a/b", "HIT", "/docs/a/b render #2").await;
    assert_eq!(origin.renders("/docsx"), 1);
    assert_eq!(origin.renders("/blog/a"), 1);

    purge(&proxy, &[prefix("/docs")], PurgeMode::Hard).await;
    expect(&proxy, "/docs/a/b", "MISS", "/docs/a/b render #3").await;
    expect(&proxy, "/docs", "MISS", "/docs render #3").await;
    expect(&proxy, "/docsx", "HIT", "/docsx render #1").await;
}

#[tokio::test]
async fn purging_everything_reaches_every_entry() {
    let (origin, proxy) = setup().await;
    let all = ["/blog/a", "/news/b", "/docs/c", "/about"];
    for target in all {
        expect(&proxy, target, "MISS", &format!("{target} render #1")).await;
    }
    purge(&proxy, &[Target::All], PurgeMode::Soft).await;
    for target in all {
        expect(&proxy, target, "STALE", &format!("{target} render #1")).await;
    }
    until("every regeneration", || proxy.stats().regenerations_ok == 4).await;
    for target in all {
        expect(&proxy, target, "HIT", &format!("{target} render #2")).await;
    }

    // Over HTTP: DELETE /_isr/cache empties every tier.
    assert_eq!(proxy.handle().memory().entries, 4);
    let cleared = proxy
        .admin(Method::DELETE, "/_isr/cache", Some(TOKEN), None)
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text());
    assert_eq!(cleared.json(), serde_json::json!({ "cleared": true }));
    assert_eq!(proxy.handle().memory().entries, 0);
    let listed = proxy.handle().entries("/", None, 100).await.unwrap();
    assert!(listed.entries.is_empty(), "the disk tier is empty too");
    for target in all {
        expect(&proxy, target, "MISS", &format!("{target} render #3")).await;
        assert_eq!(origin.renders(target), 3);
    }
    for target in all {
        expect(&proxy, target, "HIT", &format!("{target} render #3")).await;
    }
}

#[tokio::test]
async fn purges_over_http_reach_paths_tags_and_prefixes() {
    let (origin, proxy) = setup().await;
    for target in ["/blog/a", "/news/b", "/docs/c", "/about"] {
        expect(&proxy, target, "MISS", &format!("{target} render #1")).await;
    }
    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            Some(TOKEN),
            Some(
                r#"{"paths": ["/about"], "tags": ["news"], "prefixes": ["/docs"], "mode": "hard"}"#,
            ),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["mode"], "hard");
    assert_eq!(
        json["purged"],
        serde_json::json!({ "paths": 1, "tags": 1, "prefixes": 1, "keys": 0 })
    );
    expect(&proxy, "/about", "MISS", "/about render #2").await;
    expect(&proxy, "/news/b", "MISS", "/news/b render #2").await;
    expect(&proxy, "/docs/c", "MISS", "/docs/c render #2").await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #1").await;

    // The webhook shape, soft by default.
    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            None,
            Some(&format!(r#"{{"secret": "{TOKEN}", "tags": ["blog"]}}"#)),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["mode"], "soft");
    expect(&proxy, "/blog/a", "STALE", "/blog/a render #1").await;
    until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    assert_eq!(origin.renders("/blog/a"), 2);
}

#[tokio::test]
async fn eager_regeneration_renders_before_any_request() {
    let (origin, proxy) = setup().await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            Some(TOKEN),
            Some(r#"{"paths": ["/blog/a", "/blog/uncached"], "regenerate": true, "if_cached": true}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["purged"]["paths"], 2);
    assert_eq!(json["regenerating"], serde_json::json!(["/blog/a"]));
    assert_eq!(
        json["skipped"],
        serde_json::json!([{ "path": "/blog/uncached", "reason": "not cached" }])
    );
    until("the eager regeneration", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    assert_eq!(
        origin.renders("/blog/a"),
        2,
        "rendered before any client asked"
    );
    assert_eq!(
        origin.renders("/blog/uncached"),
        0,
        "not cached: not rendered"
    );
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    assert_eq!(origin.renders("/blog/a"), 2);
    assert_eq!(proxy.stats().renders, 2);

    // Without if_cached an uncached path is rendered too; hard mode works the same way.
    let answer = proxy
        .admin(
            Method::POST,
            "/_isr/revalidate",
            Some(TOKEN),
            Some(r#"{"paths": ["/blog/b"], "regenerate": true, "mode": "hard"}"#),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json()["regenerating"],
        serde_json::json!(["/blog/b"])
    );
    until("the eager render", || proxy.stats().regenerations_ok == 2).await;
    assert_eq!(origin.renders("/blog/b"), 1);
    // Nothing was cached, so the variant browsers ask for was rendered.
    let browser = proxy
        .send(get_with(
            "/blog/b",
            &[("accept-encoding", "gzip, deflate, br")],
        ))
        .await;
    assert_eq!(browser.cache(), "HIT");
    assert_eq!(browser.text(), "/blog/b render #1");

    // Through the handle as well.
    purge(&proxy, &[path("/blog/a")], PurgeMode::Hard).await;
    assert_eq!(
        proxy.handle().regenerate("/blog/a", true).await,
        isr::Regeneration::Started
    );
    until("the regeneration", || proxy.stats().regenerations_ok == 3).await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #3").await;
    assert_eq!(
        proxy.handle().regenerate("/blog/never", true).await,
        isr::Regeneration::NotCached
    );
    assert_eq!(origin.renders("/blog/never"), 0);
}

/// A regeneration started before a purge and finishing after it is not fresh: the purge
/// may have been about a change the render did not see.
async fn render_racing_a_purge(tick_before_purge: bool) {
    let (origin, proxy) = setup().await;
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #1").await;
    proxy.advance(61); // stale by age
    origin.close();
    expect(&proxy, "/blog/a", "STALE", "/blog/a render #1").await;
    until("the regeneration to be held at the origin", || {
        origin.held() == 1
    })
    .await;
    if tick_before_purge {
        proxy.clock.advance(std::time::Duration::from_millis(1));
    }
    purge(&proxy, &[path("/blog/a")], PurgeMode::Soft).await;
    origin.open();
    until("the held regeneration to be stored", || {
        proxy.stats().regenerations_ok == 1
    })
    .await;
    assert_eq!(origin.renders("/blog/a"), 2);
    // Its page is served, but as stale, and it is regenerated once more.
    expect(&proxy, "/blog/a", "STALE", "/blog/a render #2").await;
    until("the regeneration after the purge", || {
        proxy.stats().regenerations_ok == 2
    })
    .await;
    assert_eq!(origin.renders("/blog/a"), 3);
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #3").await;
    assert_eq!(origin.renders("/blog/a"), 3);
}

#[tokio::test]
async fn a_render_started_before_a_purge_is_not_fresh_after_it() {
    render_racing_a_purge(true).await;
}

#[tokio::test]
async fn a_render_started_in_the_purges_millisecond_is_not_fresh_after_it() {
    render_racing_a_purge(false).await;
}

#[tokio::test]
async fn purges_survive_a_restart() {
    let (origin, proxy) = setup().await;
    for target in ["/blog/a", "/blog/b", "/blog/c"] {
        expect(&proxy, target, "MISS", &format!("{target} render #1")).await;
    }
    purge(&proxy, &[path("/blog/a")], PurgeMode::Soft).await;
    purge(&proxy, &[tag("post:b")], PurgeMode::Hard).await;
    let records = proxy.handle().purge_records();
    assert_eq!(records, 2);

    let proxy = proxy.restart(&origin, &config()).await;
    assert_eq!(
        proxy.handle().purge_records(),
        records,
        "every record was reloaded"
    );
    assert_eq!(proxy.handle().memory().entries, 0, "memory starts empty");
    expect(&proxy, "/blog/a", "STALE", "/blog/a render #1").await;
    expect(&proxy, "/blog/b", "MISS", "/blog/b render #2").await;
    expect(&proxy, "/blog/c", "HIT", "/blog/c render #1").await;
    until("the regeneration", || proxy.stats().regenerations_ok == 1).await;
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    expect(&proxy, "/blog/b", "HIT", "/blog/b render #2").await;
}

/// More than 100 000 distinct purges: the records stay bounded (the oldest are folded
/// into one record for everything), an entry older than all of them is still reached, and
/// a purge costs the same with 100 000 records held as with none. In-process with purge
/// records in memory: through the disk store each purge is a durable write, and 100 000
/// of them take minutes in a debug build.
#[tokio::test]
async fn the_purge_state_stays_bounded_and_still_reaches_old_entries() {
    const PURGES: usize = 100_500;
    let origin = TestOrigin::start().await;
    let engine = support::TestEngine::start(&origin, &config()).await;
    let handle = engine.handle();
    let old = engine.get("/blog/old").await;
    assert_eq!(old.cache(), "MISS");
    assert_eq!(engine.get("/blog/old").await.cache(), "HIT");
    let started = std::time::Instant::now();
    for i in 0..PURGES {
        let target = Target::Tag(format!("t{i}"));
        handle.purge(&[target], PurgeMode::Soft).await.unwrap();
        assert!(
            handle.purge_records() <= 100_001,
            "{} records after {i} purges",
            handle.purge_records()
        );
    }
    // The clock never moved: every record has the same instant (the hardest case for
    // folding the older half).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{PURGES} purges took {:?}: a purge's cost grows with the records held",
        started.elapsed()
    );
    let records = handle.purge_records();
    assert!(records <= 100_001, "{records} purge records");
    assert!(records < PURGES, "some records were folded");
    assert_eq!(engine.stats().renders, 1, "purges render nothing");

    // Not one of those purges named the entry, but it is older than all of them: once a
    // record is folded into "everything", the entry is reached: stale, not fresh.
    let stale = engine.get("/blog/old").await;
    assert_eq!(stale.cache(), "STALE");
    assert_eq!(stale.text(), "/blog/old render #1");
    until("the regeneration", || engine.stats().regenerations_ok == 1).await;
    let fresh = engine.get("/blog/old").await;
    assert_eq!(fresh.cache(), "HIT");
    assert_eq!(fresh.text(), "/blog/old render #2");
    // The newest purges are still held one by one, and still reach what they name.
    handle
        .purge(&[tag("post:old")], PurgeMode::Hard)
        .await
        .unwrap();
    assert_eq!(engine.get("/blog/old").await.cache(), "MISS");
    assert_eq!(origin.renders("/blog/old"), 3);
}

#[tokio::test]
async fn eager_regeneration_refreshes_every_cached_variant() {
    let (origin, proxy) = setup().await;
    let br = || get_with("/blog/a", &[("accept-encoding", "br")]);
    assert_eq!(proxy.send(br()).await.cache(), "MISS");
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #2").await; // identity
    assert_eq!(
        proxy.handle().regenerate("/blog/a", true).await,
        isr::Regeneration::Started
    );
    until("both variants regenerated", || {
        proxy.stats().regenerations_ok == 2
    })
    .await;
    assert_eq!(
        origin.renders("/blog/a"),
        4,
        "one render per cached variant"
    );
    let refreshed_br = proxy.send(br()).await;
    assert_eq!(refreshed_br.cache(), "HIT");
    assert!(
        refreshed_br.text().ends_with("render #3") || refreshed_br.text().ends_with("render #4")
    );
    let refreshed_identity = proxy.get("/blog/a").await;
    assert_eq!(refreshed_identity.cache(), "HIT");
    assert_ne!(refreshed_identity.text(), "/blog/a render #2");
}

#[tokio::test]
async fn a_key_purge_reaches_one_variant_and_not_the_others() {
    let (origin, proxy) = setup().await;
    let br = || get_with("/blog/a", &[("accept-encoding", "br")]);
    assert_eq!(proxy.send(br()).await.cache(), "MISS");
    expect(&proxy, "/blog/a", "MISS", "/blog/a render #2").await;
    // The listing names each variant's key; purge the br one alone, through the API.
    let listing = proxy
        .admin(
            Method::GET,
            "/_isr/entries?prefix=/blog/a",
            Some(TOKEN),
            None,
        )
        .await
        .json();
    let keys: Vec<String> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    let br_key = keys
        .iter()
        .find(|k| k.contains("|br|"))
        .expect("the br variant is listed");
    let body = serde_json::json!({ "keys": [br_key], "mode": "hard" }).to_string();
    let answer = proxy
        .admin(Method::POST, "/_isr/revalidate", Some(TOKEN), Some(&body))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["purged"]["keys"], 1);
    let again = proxy.send(br()).await;
    assert_eq!(again.cache(), "MISS", "the purged variant renders again");
    assert_eq!(again.text(), "/blog/a render #3");
    expect(&proxy, "/blog/a", "HIT", "/blog/a render #2").await;
    assert_eq!(origin.renders("/blog/a"), 3);
}
