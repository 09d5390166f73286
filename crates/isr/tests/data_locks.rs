//! The data cache's fetch locks across nodes follow the settings it is given: the lock
//! lives the configured time to live, and a node waits for another node's value only as
//! long as its lock timeout. On a real Redis; races are arranged with a gate and counters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use isr::{Config, DataCache};
use isr_core::config::RedisSettings;
use isr_store::RedisStore;
use isr_store::testing::{RedisServer, until};
use tokio::sync::watch;

const TTL: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Never;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fetch_lock_lives_its_configured_ttl_and_a_node_waits_only_its_timeout() {
    let server = RedisServer::start();
    let settings = RedisSettings {
        url: server.url(),
        prefix: "data".to_owned(),
        ..Default::default()
    };
    let holder = DataCache::redis_builder(RedisStore::connect(&settings).unwrap(), 1 << 20)
        .lock(Duration::from_secs(3), Duration::from_secs(60))
        .build();
    // The other node takes its locks from a configuration: it does not wait at all.
    let mut config = Config::default();
    config.engine.lock_timeout_ms = 0;
    let impatient = DataCache::redis_builder(RedisStore::connect(&settings).unwrap(), 1 << 20)
        .config(&config)
        .build();

    let calls = Arc::new(AtomicUsize::new(0));
    let (open, mut gate) = watch::channel(false);
    let held = {
        let holder = holder.clone();
        let calls = Arc::clone(&calls);
        tokio::spawn(async move {
            let fetch = || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.wait_for(|open| *open).await.unwrap();
                Ok::<_, Never>(1u32)
            };
            holder.with_revalidate("k", TTL, fetch).await
        })
    };
    until("the holder's fetch runs", || {
        calls.load(Ordering::SeqCst) == 1
    })
    .await;

    let ttls = server.ttls_ms("data:l:*").await;
    assert_eq!(ttls.len(), 1, "one lock, the holder's");
    assert!(
        ttls[0] > 0 && ttls[0] <= 3_000,
        "the configured 3 s, not the default 10 s: {ttls:?}"
    );

    // The holder's fetch is still held: the impatient node fetches on its own at once
    // (it would wait 10 s with the default timeout).
    let own = tokio::time::timeout(
        Duration::from_secs(5),
        impatient.with_revalidate("k", TTL, || async { Ok::<_, Never>(2u32) }),
    )
    .await
    .expect("the impatient node waited past its lock timeout")
    .unwrap();
    assert_eq!(own, 2);
    assert_eq!(impatient.stats().lock_waits, 1);
    assert_eq!(impatient.stats().fetches, 1);

    open.send_replace(true);
    assert_eq!(held.await.unwrap().unwrap(), 1);
}
