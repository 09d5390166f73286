//! Distributed mode: three proxy nodes sharing one real `redis-server` (started here on a
//! free loopback port, no persistence), or a real three-primary Redis Cluster, behave as
//! one cache. Render counts come from the
//! origin; waits are on counters and the origin's gate, never on sleeps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use isr_core::admin::EntryState;
use isr_core::freshness::PurgeMode;
use isr_core::purge::Target;
use isr_store::testing::{RedisCluster, RedisServer, concurrently, until};
use support::{TestOrigin, TestProxy};

const BLOG: &str = r#"
[[route]]
path = "/blog/[slug]"
revalidate = 10
expire = 100
tags = ["blog", "post:{slug}"]

# The URL is each test's own server. A generous timeout: the tests run many at once on a
# small machine, and an operation past it would (rightly) be treated as Redis being down.
[redis]
url = "redis://127.0.0.1:1"
timeout = "5s"
"#;

/// [`BLOG`] with more `[redis]` settings (`key = value` lines).
fn blog_with(redis_settings: &str) -> String {
    format!("{BLOG}{redis_settings}\n")
}

/// Three nodes on the Redis at `redis_url`.
async fn three_nodes(origin: &TestOrigin, redis_url: &str, toml: &str) -> Vec<Arc<TestProxy>> {
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(Arc::new(
            TestProxy::start_node(origin, toml, redis_url).await,
        ));
    }
    nodes
}

/// Purge `target` through `nodes[by]`, and wait until every node holds the record (heard
/// or reloaded). Returns how long that took.
async fn purge_everywhere(
    nodes: &[Arc<TestProxy>],
    by: usize,
    target: Target,
    mode: PurgeMode,
) -> std::time::Duration {
    let before: Vec<usize> = nodes.iter().map(|n| n.handle().purge_records()).collect();
    let sent = Instant::now();
    nodes[by].handle().purge(&[target], mode).await.unwrap();
    until("every node to hold the purge", || {
        nodes
            .iter()
            .zip(&before)
            .all(|(node, before)| node.handle().purge_records() > *before)
    })
    .await;
    sent.elapsed()
}

fn advance_all(nodes: &[Arc<TestProxy>], secs: u64) {
    for node in nodes {
        node.advance(secs);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_page_rendered_through_one_node_is_a_hit_on_the_others() {
    let mut redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;

    let first = nodes[0].get("/blog/a").await;
    assert_eq!(first.cache(), "MISS");
    for node in &nodes[1..] {
        let answer = node.get("/blog/a").await;
        assert_eq!(
            answer.cache(),
            "HIT",
            "filled from Redis into this node's memory"
        );
        assert_eq!(answer.body, first.body);
        assert_eq!(node.stats().renders, 0);
    }
    assert_eq!(origin.renders("/blog/a"), 1);
    // Now in every node's memory: still a HIT with Redis gone.
    redis.kill();
    for node in &nodes {
        assert_eq!(node.get("/blog/a").await.cache(), "HIT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_misses_over_three_nodes_render_once() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;
    origin.close();

    let requests = {
        let nodes = nodes.clone();
        tokio::spawn(concurrently(1_000, move |i| {
            let node = Arc::clone(&nodes[i % 3]);
            async move { node.get("/blog/cold").await }
        }))
    };
    // Every request has arrived: one render at the origin, and on each node every request
    // but that node's leader is waiting on it.
    until("one render held and every request waiting", || {
        let waiting: u64 = nodes.iter().map(|n| n.stats().coalesced).sum();
        origin.held() == 1 && waiting == 1_000 - 3
    })
    .await;
    origin.open();
    let answers = requests.await.unwrap();

    assert_eq!(
        origin.renders("/blog/cold"),
        1,
        "one render across the cluster"
    );
    assert!(answers.iter().all(|a| a.status == 200));
    assert!(answers.iter().all(|a| a.body == answers[0].body));
    let elsewhere: u64 = nodes.iter().map(|n| n.stats().rendered_elsewhere).sum();
    assert_eq!(elsewhere, 2, "the two other nodes took the one render");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_page_is_regenerated_once_across_the_cluster() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;
    nodes[0].get("/blog/a").await;
    for node in &nodes[1..] {
        assert_eq!(node.get("/blog/a").await.cache(), "HIT");
    }
    advance_all(&nodes, 11);
    origin.close();

    let answers = {
        let nodes = nodes.clone();
        concurrently(1_000, move |i| {
            let node = Arc::clone(&nodes[i % 3]);
            async move { node.get("/blog/a").await }
        })
        .await
    };
    assert!(
        answers
            .iter()
            .all(|a| a.cache() == "STALE" && a.text() == "/blog/a render #1"),
        "every request is answered at once from memory"
    );
    until("one regeneration at the origin", || origin.held() == 1).await;
    origin.open();
    // The node that won the lock stored the render; the two others took it.
    until("every node to have the regenerated page", || {
        let ok: u64 = nodes.iter().map(|n| n.stats().regenerations_ok).sum();
        let elsewhere: u64 = nodes.iter().map(|n| n.stats().rendered_elsewhere).sum();
        ok == 1 && elsewhere == 2
    })
    .await;
    assert_eq!(origin.renders("/blog/a"), 2, "exactly one regeneration");
    for node in &nodes {
        let fresh = node.get("/blog/a").await;
        assert_eq!(fresh.cache(), "HIT");
        assert_eq!(fresh.text(), "/blog/a render #2");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_on_one_node_is_honoured_by_every_node() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;
    let mut visible_after = Vec::new();
    for (round, mode) in [(0, PurgeMode::Hard), (1, PurgeMode::Soft)] {
        let path = format!("/blog/p{round}");
        nodes[0].get(&path).await;
        for node in &nodes[1..] {
            assert_eq!(node.get(&path).await.cache(), "HIT");
        }
        let tag = Target::Tag(format!("post:p{round}"));
        visible_after.push(purge_everywhere(&nodes, 0, tag, mode).await);
        // Each node judges the entry by the purge records it holds.
        let expected = match mode {
            PurgeMode::Hard => EntryState::Purged,
            PurgeMode::Soft => EntryState::Stale,
        };
        for node in &nodes {
            let page = node.handle().entries("/", None, 10).await.unwrap();
            let entry = page
                .entries
                .iter()
                .find(|e| e.path == path)
                .expect("listed");
            assert_eq!(entry.state, expected, "{mode:?} purge");
        }
        match mode {
            PurgeMode::Hard => {
                let rendered = nodes[1].get(&path).await;
                assert_eq!(rendered.cache(), "MISS");
                assert_eq!(rendered.text(), format!("{path} render #2"));
                let elsewhere = nodes[2].get(&path).await;
                assert_eq!(
                    elsewhere.text(),
                    format!("{path} render #2"),
                    "never the purged page"
                );
            }
            PurgeMode::Soft => {
                let stale = nodes[2].get(&path).await;
                assert_eq!(stale.cache(), "STALE");
                assert_eq!(stale.text(), format!("{path} render #1"));
            }
        }
    }
    // Reported, not asserted (timing is measured, never tested): see the issue's 50 ms.
    eprintln!("purge visible on every node after: {visible_after:?}");
}

/// A purge whose announcement never reached the nodes (recorded straight into Redis, as
/// if published while they were disconnected) is honoured once they reconnect: every
/// (re)subscription reloads the recorded purges.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_a_node_missed_is_honoured_after_it_reconnects() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;
    nodes[0].get("/blog/a").await;
    assert_eq!(nodes[1].get("/blog/a").await.cache(), "HIT");
    let before = nodes[1].handle().purge_records();

    let mut connection = redis.connection().await;
    let unannounced = format!("{}:1", support::START.0);
    let _: () = redis::cmd("HSET")
        .arg("{isr}:purges")
        .arg("p:/blog/a")
        .arg(&unannounced)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        nodes[1].get("/blog/a").await.cache(),
        "HIT",
        "not heard of yet"
    );

    // Drop every subscription: the nodes subscribe again, and reload what they missed.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut connection)
        .await
        .unwrap();
    until("node 1 to reload the purge it missed", || {
        nodes[1].handle().purge_records() > before
    })
    .await;
    assert_eq!(nodes[1].get("/blog/a").await.cache(), "MISS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_going_down_and_coming_back_fails_no_request() {
    let mut redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;
    for page in 0..10 {
        nodes[0].get(&format!("/blog/warm{page}")).await;
    }
    let failures = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let nodes = nodes.clone();
        let (failures, answered, stop) = (failures.clone(), answered.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let node = &nodes[(i % 3) as usize];
                // Warm pages (hits), and new pages (misses that must render).
                let path = if i.is_multiple_of(2) {
                    format!("/blog/warm{}", i % 10)
                } else {
                    format!("/blog/new{i}")
                };
                let answer = node.get(&path).await;
                if answer.status != 200 {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                answered.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    let served = |n: u64| {
        let answered = answered.clone();
        move || answered.load(Ordering::SeqCst) >= n
    };
    until("load before the outage", served(100)).await;
    redis.kill();
    until("every node to notice Redis is down", || {
        nodes
            .iter()
            .all(|n| n.handle().cluster().is_some_and(|c| !c.up))
    })
    .await;
    // A purge cannot reach the other nodes now: it is refused, not applied on one node.
    let refused = nodes[0]
        .handle()
        .purge(&[Target::Tag("blog".to_owned())], PurgeMode::Soft)
        .await;
    assert!(refused.is_err());
    let during = answered.load(Ordering::SeqCst);
    until("load during the outage", served(during + 100)).await;
    redis.restart();
    until("every node to recover by itself", || {
        nodes
            .iter()
            .all(|n| n.handle().cluster().is_some_and(|c| c.up))
    })
    .await;
    let after = answered.load(Ordering::SeqCst);
    until("load after the outage", served(after + 100)).await;
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "no request failed because of Redis"
    );

    // Whole again: a page rendered through one node is a hit on another.
    let renders = origin.renders("/blog/after");
    assert_eq!(nodes[0].get("/blog/after").await.cache(), "MISS");
    assert_eq!(nodes[2].get("/blog/after").await.cache(), "HIT");
    assert_eq!(origin.renders("/blog/after"), renders + 1);
    let status = nodes[0].handle().cluster().unwrap();
    assert!(status.errors > 0 && status.transitions >= 2, "{status:?}");
}

/// The lock holder is a real `isr` process (on one thread: its render and the extension of
/// its lock share it), killed (SIGKILL) while its render is held at the origin; a node in
/// this process then takes the lock over once it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_render_whose_lock_holder_died_is_taken_over() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let dir = tempfile::tempdir().unwrap();
    // The holder's lock lives 1 s unless extended: once it is killed, it expires soon.
    let toml = blog_with("lock_ttl = \"1s\"").replace("redis://127.0.0.1:1", &redis.url());
    let config = dir.path().join("isr.toml");
    std::fs::write(&config, &toml).unwrap();
    origin.close();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_isr"));
    command
        .args(["serve", "--origin", &origin.url(), "--config"])
        .arg(&config)
        .args(["--threads", "1"]);
    let (mut holder, listen) = support::serve(command).await;
    let held = tokio::spawn(support::get_url(format!("http://{listen}/blog/a")));
    until("the holder's render to reach the origin", || {
        origin.held() == 1
    })
    .await;

    let node = Arc::new(TestProxy::start_node(&origin, BLOG, &redis.url()).await);
    let waiting = {
        let node = Arc::clone(&node);
        tokio::spawn(async move { node.get("/blog/a").await })
    };
    holder.kill();
    let _ = held.await;
    origin.open();
    let answer = waiting.await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.cache(), "MISS");
    assert_eq!(
        answer.text(),
        "/blog/a render #2",
        "this node rendered it after the holder died"
    );
    assert_eq!(node.stats().renders, 1);
    assert_eq!(origin.renders("/blog/a"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn entries_in_redis_expire_with_their_page() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), BLOG).await;
    nodes[0].get("/blog/a").await;
    let ttl = redis.ttls_ms("isr:e:*").await;
    assert_eq!(ttl.len(), 1);
    // expire 100 s + stale_if_error (default 1 day) + a 60 s margin.
    let expected_ms = (100 + 86_400 + 60) * 1_000;
    assert!(
        ttl[0] > 0 && ttl[0] <= expected_ms && ttl[0] > expected_ms - 60_000,
        "ttl {} ms",
        ttl[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sites_with_different_prefixes_share_one_redis_without_meeting() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let shop = TestProxy::start_node(&origin, &blog_with("prefix = \"shop\""), &redis.url()).await;
    let docs = TestProxy::start_node(&origin, &blog_with("prefix = \"docs\""), &redis.url()).await;
    assert_eq!(shop.get("/blog/a").await.cache(), "MISS");
    assert_eq!(
        docs.get("/blog/a").await.cache(),
        "MISS",
        "another site's entry is not this one's"
    );
    let before = docs.handle().purge_records();
    shop.handle()
        .purge(&[Target::Tag("blog".to_owned())], PurgeMode::Hard)
        .await
        .unwrap();
    assert_eq!(shop.get("/blog/a").await.cache(), "MISS");
    assert_eq!(
        docs.get("/blog/a").await.cache(),
        "HIT",
        "a purge stays within its prefix"
    );
    assert_eq!(docs.handle().purge_records(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploys_with_different_build_ids_never_share_entries() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let old =
        TestProxy::start_node(&origin, &format!("build_id = \"b1\"\n{BLOG}"), &redis.url()).await;
    let new =
        TestProxy::start_node(&origin, &format!("build_id = \"b2\"\n{BLOG}"), &redis.url()).await;
    assert_eq!(old.get("/blog/a").await.cache(), "MISS");
    assert_eq!(
        new.get("/blog/a").await.cache(),
        "MISS",
        "another build's page is not served"
    );
    assert_eq!(origin.renders("/blog/a"), 2);
}

/// Redis, frozen (SIGSTOP) until the test lets it go on (SIGCONT), answers nothing: every
/// operation times out, the nodes answer from memory and the origin, then recover on
/// their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_redis_is_not_an_outage() {
    let redis = RedisServer::start();
    let origin = TestOrigin::start().await;
    let toml = BLOG.replace("timeout = \"5s\"", "timeout = \"200ms\"");
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(TestProxy::start_node(&origin, &toml, &redis.url()).await);
    }
    nodes[0].get("/blog/warm").await;
    for node in &nodes[1..] {
        assert_eq!(node.get("/blog/warm").await.cache(), "HIT");
    }
    redis.pause();
    // Keep asking until every node has found Redis unresponsive; every answer is a 200.
    let mut page = 0;
    while !nodes
        .iter()
        .all(|n| n.handle().cluster().is_some_and(|c| !c.up))
    {
        for node in &nodes {
            page += 1;
            let fresh = node.get(&format!("/blog/new{page}")).await;
            assert_eq!(fresh.status, 200, "rendered without Redis");
            assert_eq!(
                node.get("/blog/warm").await.cache(),
                "HIT",
                "memory still answers"
            );
        }
        assert!(
            page < 10_000,
            "the nodes never noticed Redis was unresponsive"
        );
    }
    redis.resume();
    // Redis answers again: the next operations succeed and each node is whole again.
    while !nodes
        .iter()
        .all(|n| n.handle().cluster().is_some_and(|c| c.up))
    {
        for node in &nodes {
            page += 1;
            assert_eq!(node.get(&format!("/blog/new{page}")).await.status, 200);
        }
        assert!(page < 20_000, "the nodes never recovered");
    }
    assert_eq!(nodes[0].get("/blog/shared").await.cache(), "MISS");
    assert_eq!(nodes[1].get("/blog/shared").await.cache(), "HIT");
}

/// Two `isr` processes on a TLS-only Redis (`rediss://`), its certificate signed by a test
/// CA that they trust through `SSL_CERT_FILE`: they share pages as over plain TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_share_a_redis_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let files = support::test_certificates(dir.path());
    let redis = RedisServer::with_tls(&files);
    let origin = TestOrigin::start().await;
    let token = "admin-token-0123456789";
    let mut processes = Vec::new();
    let mut addresses = Vec::new();
    // One process on the single-threaded runtime, one on two threads.
    for threads in ["1", "2"] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_isr"));
        command
            .args(["serve", "--origin", &origin.url()])
            .args(["--redis", &format!("{}/0", redis.url())])
            .args(["--threads", threads])
            .env("ISR_ADMIN_TOKEN", token)
            .env("SSL_CERT_FILE", &files.ca);
        let (process, listen) = support::serve(command).await;
        processes.push(process);
        addresses.push(listen);
    }
    let first = support::get_url(format!("http://{}/blog/a", addresses[0]))
        .await
        .unwrap();
    assert_eq!(first.cache(), "MISS");
    let second = support::get_url(format!("http://{}/blog/a", addresses[1]))
        .await
        .unwrap();
    assert_eq!(second.cache(), "HIT", "shared over TLS");
    assert_eq!(origin.renders("/blog/a"), 1);
    let bearer = format!("Bearer {token}");
    let stats = support::get_url_with(
        format!("http://{}/_isr/stats", addresses[1]),
        &[("authorization", &bearer)],
    )
    .await
    .unwrap()
    .json();
    assert_eq!(stats["cluster"]["backend"], "redis");
    assert_eq!(stats["cluster"]["up"], true, "{stats}");
    assert_eq!(stats["entries"]["disk"], serde_json::Value::Null);
}

/// Three nodes on a Redis Cluster of three primaries: a page renders once across the
/// nodes, pages spread over the shards are all listed by every node, a purge on one node
/// is honoured by all, and clearing empties every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_share_a_redis_cluster() {
    let redis = RedisCluster::start();
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), &blog_with("cluster = true")).await;

    origin.close();
    let requests = {
        let nodes = nodes.clone();
        tokio::spawn(concurrently(300, move |i| {
            let node = Arc::clone(&nodes[i % 3]);
            async move { node.get("/blog/cold").await }
        }))
    };
    until("one render held and every request waiting", || {
        let waiting: u64 = nodes.iter().map(|n| n.stats().coalesced).sum();
        origin.held() == 1 && waiting == 300 - 3
    })
    .await;
    origin.open();
    let answers = requests.await.unwrap();
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && a.body == answers[0].body)
    );
    assert_eq!(
        origin.renders("/blog/cold"),
        1,
        "one render across the cluster"
    );

    // Rendered through every node in turn; 30 keys land on all three shards.
    let paths: Vec<String> = (0..30).map(|i| format!("/blog/p{i}")).collect();
    for (i, path) in paths.iter().enumerate() {
        assert_eq!(nodes[i % 3].get(path).await.cache(), "MISS");
    }
    for node in &nodes {
        let listed = node.handle().entries("/blog/p", None, 100).await.unwrap();
        let mut listed: Vec<String> = listed.entries.into_iter().map(|e| e.path).collect();
        listed.sort();
        let mut expected = paths.clone();
        expected.sort();
        assert_eq!(listed, expected);
    }

    let tag = Target::Tag("post:p7".to_owned());
    purge_everywhere(&nodes, 1, tag, PurgeMode::Hard).await;
    let rendered = nodes[2].get("/blog/p7").await;
    assert_eq!(
        (rendered.cache(), rendered.text().as_str()),
        ("MISS", "/blog/p7 render #2")
    );

    nodes[0].handle().clear().await.unwrap();
    let left = nodes[2].handle().entries("/", None, 100).await.unwrap();
    assert!(left.entries.is_empty(), "every shard was cleared");
}

/// The cluster node every proxy hears announcements through (the one in `url`) crashes:
/// the proxies subscribe through another node and reload the purge records, so a purge
/// made after the crash is honoured by every proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purge_is_heard_after_the_subscribed_cluster_node_dies() {
    let mut redis = RedisCluster::start();
    // A prefix whose purge records live on a node that stays up.
    let prefix = (0..)
        .map(|i| format!("site{i}"))
        .find(|prefix| redis.node_of(&format!("{{{prefix}}}:purges")) != 0)
        .unwrap();
    let toml = blog_with(&format!("cluster = true\nprefix = \"{prefix}\""));
    let origin = TestOrigin::start().await;
    let nodes = three_nodes(&origin, &redis.url(), &toml).await;
    for node in &nodes {
        node.get("/blog/a").await;
        assert_eq!(node.get("/blog/a").await.cache(), "HIT");
    }

    redis.kill(0);
    let tag = Target::Tag("post:a".to_owned());
    purge_everywhere(&nodes, 1, tag, PurgeMode::Hard).await;
    for node in &nodes {
        let answer = node.get("/blog/a").await;
        assert_eq!(answer.cache(), "MISS", "never the purged page");
    }
}
