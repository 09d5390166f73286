//! Purge records against a real redis-server that evicts keys (`maxmemory` with
//! `allkeys-lru`): when the purge hash is evicted while hard-purged entries stay in Redis,
//! a node that starts afterwards serves none of them; it notices the records are gone and
//! trusts no older entry. And isr warns at start about such an eviction policy.
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
use isr_store::testing::RedisServer;
use redis::AsyncCommands;
use support::{TestOrigin, TestProxy};

const CONFIG: &str = r#"
[[route]]
path = "/p/[n]"
revalidate = 3600
"#;

/// The purge hash of the default prefix.
const PURGES: &str = "{isr}:purges";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_purged_pages_stay_purged_after_redis_evicts_the_purge_records() {
    let redis = RedisServer::start();
    let mut connection = redis.connection().await;
    let origin = TestOrigin::start().await;
    let first = TestProxy::start_node(&origin, CONFIG, &redis.url()).await;
    for n in 0..20 {
        assert_eq!(first.get(&format!("/p/{n}")).await.cache(), "MISS");
    }
    let purged: Vec<Target> = (0..10)
        .map(|n| Target::path(&format!("/p/{n}")).unwrap())
        .collect();
    first
        .handle()
        .purge(&purged, PurgeMode::Hard)
        .await
        .unwrap();
    first.shutdown().await;
    let entries: Vec<String> = connection.keys("isr:e:*").await.unwrap();
    assert_eq!(entries.len(), 20, "the purged entries are still in Redis");
    let _: i64 = connection.exists(PURGES).await.unwrap();

    // Memory pressure under allkeys-lru, while the entries are read (as a listing would):
    // Redis evicts the purge hash, the least recently used key. Redis's LRU is sampled and
    // counts in whole seconds, so the hash is made the oldest key outright (RESTORE with
    // an idle time) and each eviction samples every key (few, large fillers).
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut connection)
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|value| value.trim().parse().ok())
        .expect("used_memory");
    for (name, value) in [
        ("maxmemory-policy", "allkeys-lru".to_owned()),
        ("maxmemory-samples", "64".to_owned()),
        ("maxmemory", (used + 512 * 1024).to_string()),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    let records: Vec<u8> = redis::cmd("DUMP")
        .arg(PURGES)
        .query_async(&mut connection)
        .await
        .unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg(PURGES)
        .arg(0)
        .arg(records)
        .arg("REPLACE")
        .arg("IDLETIME")
        .arg(1_000_000)
        .query_async(&mut connection)
        .await
        .unwrap();
    let filler = "x".repeat(16 * 1024);
    let mut written = 0;
    while connection.exists::<_, bool>(PURGES).await.unwrap() {
        for entry in &entries {
            let _: Option<Vec<u8>> = connection.get(entry).await.unwrap();
        }
        let _: () = connection
            .set(format!("filler:{written}"), &filler)
            .await
            .unwrap();
        written += 1;
        assert!(written < 10_000, "the purge hash was never evicted");
    }
    let left: Vec<String> = connection.keys("isr:e:*").await.unwrap();
    let purged_left = (0..10)
        .filter(|n| left.iter().any(|key| key.contains(&format!(":/p/{n}|"))))
        .count();
    assert!(
        purged_left > 0,
        "some hard-purged entries are still in Redis: {left:?}"
    );

    // A node that starts now renders every page again: none of the purged ones is served.
    let second = TestProxy::start_node_after(&origin, CONFIG, &redis.url(), 60).await;
    for n in 0..10 {
        let answer = second.get(&format!("/p/{n}")).await;
        assert_eq!(
            answer.text(),
            format!("/p/{n} render #2"),
            "a hard-purged page came back"
        );
    }
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eviction_policy_that_drops_keys_without_a_ttl_is_reported() {
    let redis = RedisServer::start();
    let mut connection = redis.connection().await;
    let store = isr_store::RedisStore::connect(&redis.settings()).unwrap();
    for (policy, reported) in [
        ("allkeys-lru", true),
        ("allkeys-lfu", true),
        ("allkeys-random", true),
        ("noeviction", false),
        ("volatile-lru", false),
        ("volatile-ttl", false),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query_async(&mut connection)
            .await
            .unwrap();
        let found = store.evicts_purge_records().await.unwrap();
        assert_eq!(found.is_some(), reported, "{policy}");
    }
}
