//! What the Redis tier does beyond the conformance suite: it fails fast and reports
//! itself down when Redis is gone, comes back by itself, announces what it records to
//! other stores on the same prefix (and no other), and treats a corrupt value as a miss.
//! Each test starts its own `redis-server` on a free loopback port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use isr_core::UnixMillis;
use isr_core::config::RedisSettings;
use isr_core::entry::Entry;
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::store::{EntryStore, PurgeStore, StoreError};
use isr_store::testing::RedisServer;
use isr_store::{Cluster, ClusterEvent, RedisStore};
use tokio::sync::broadcast;

fn settings(server: &RedisServer, prefix: &str) -> RedisSettings {
    RedisSettings {
        prefix: prefix.to_owned(),
        timeout_ms: 500,
        ..server.settings()
    }
}

fn entry(seed: u8) -> Arc<Entry> {
    Arc::new(Entry {
        key: "k".to_owned(),
        path: "/".to_owned(),
        status: StatusCode::OK,
        headers: Vec::new(),
        body: Bytes::from(vec![seed; 64]),
        created_at: UnixMillis(1_000 + u64::from(seed)),
        lifetime: Lifetime {
            revalidate: Revalidate::After(10),
            expire: Some(100),
            stale_if_error: 0,
        },
        tags: Vec::new(),
        build_id: String::new(),
        etag: String::new(),
    })
}

/// The next announcement other than a resync (those come with every subscription).
async fn next_announcement(events: &mut broadcast::Receiver<ClusterEvent>) -> ClusterEvent {
    loop {
        match events.recv().await.expect("announcements") {
            ClusterEvent::Resync => {}
            event => return event,
        }
    }
}

/// Wait until `store`'s subscription is up (its first resync).
async fn subscribed(events: &mut broadcast::Receiver<ClusterEvent>) {
    while events.recv().await.expect("announcements") != ClusterEvent::Resync {}
}

#[tokio::test]
async fn what_one_store_records_is_announced_to_the_others_on_its_prefix_only() {
    let server = RedisServer::start();
    let writer = RedisStore::connect(&settings(&server, "site")).unwrap();
    let reader = RedisStore::connect(&settings(&server, "site")).unwrap();
    let stranger = RedisStore::connect(&settings(&server, "other")).unwrap();
    let mut heard = reader.events();
    let mut not_heard = stranger.events();
    subscribed(&mut heard).await;
    subscribed(&mut not_heard).await;

    let invalidation = Invalidation {
        at: UnixMillis(5),
        mode: PurgeMode::Hard,
    };
    writer.invalidate("t:blog", invalidation).await.unwrap();
    assert_eq!(
        next_announcement(&mut heard).await,
        ClusterEvent::Purged {
            name: "t:blog".to_owned(),
            invalidation
        }
    );
    writer.put("k", entry(1)).await.unwrap();
    assert_eq!(
        next_announcement(&mut heard).await,
        ClusterEvent::Stored {
            node: writer.node_id(),
            key: "k".to_owned(),
            created_at: UnixMillis(1_001),
        }
    );
    writer.clear().await.unwrap();
    assert_eq!(
        next_announcement(&mut heard).await,
        ClusterEvent::Cleared {
            node: writer.node_id()
        }
    );
    // An older record than the one held is not stored, so not announced either.
    writer
        .invalidate(
            "t:blog",
            Invalidation {
                at: UnixMillis(1),
                mode: PurgeMode::Hard,
            },
        )
        .await
        .unwrap();
    // The other prefix heard nothing of it all (checked after a message of its own).
    stranger.invalidate("t:x", invalidation).await.unwrap();
    assert!(matches!(
        next_announcement(&mut not_heard).await,
        ClusterEvent::Purged { name, .. } if name == "t:x"
    ));
    assert!(
        stranger
            .all()
            .await
            .unwrap()
            .iter()
            .all(|(name, _)| name == "t:x")
    );
    assert_eq!(reader.status().events_received, 3);
}

#[tokio::test]
async fn with_redis_gone_operations_fail_fast_as_unavailable_and_recover_by_themselves() {
    let mut server = RedisServer::start();
    let store = RedisStore::connect(&settings(&server, "isr")).unwrap();
    store.put("k", entry(1)).await.unwrap();
    assert!(store.status().up);

    server.kill();
    let started = tokio::time::Instant::now();
    let error = store.get("k").await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
    // Bounded by the configured timeout (500 ms), not hanging: a generous bound only
    // guards against a hang, it is not a speed test.
    assert!(started.elapsed() < Duration::from_secs(10));
    let status = store.status();
    assert!(
        !status.up && status.errors >= 1 && status.transitions == 1,
        "{status:?}"
    );
    // Still down: counted, not a new transition.
    let _ = store.get("k").await;
    assert_eq!(store.status().transitions, 1);

    server.restart();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if store.get("k").await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = store.status();
    assert!(status.up && status.transitions == 2, "{status:?}");
    // Redis restarted empty (no persistence): the entry is gone, and a new one works.
    assert_eq!(store.get("k").await.unwrap(), None);
    store.put("k", entry(2)).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(entry(2)));
}

#[tokio::test]
async fn a_corrupt_value_is_a_miss_and_is_removed() {
    let server = RedisServer::start();
    let store = RedisStore::connect(&settings(&server, "isr")).unwrap();
    store.put("k", entry(1)).await.unwrap();
    let mut connection = server.connection().await;
    let mut bytes: Vec<u8> = redis::cmd("GET")
        .arg("isr:e:{k}")
        .query_async(&mut connection)
        .await
        .unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let _: () = redis::cmd("SET")
        .arg("isr:e:{k}")
        .arg(bytes)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);
    let exists: bool = redis::cmd("EXISTS")
        .arg("isr:e:{k}")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!exists, "the corrupt value was removed");
}

#[tokio::test]
async fn a_bad_url_is_a_clear_error_that_hides_the_password() {
    let bad = RedisSettings {
        url: "redis://:hunter2@127.0.0.1:notaport".to_owned(),
        ..RedisSettings::default()
    };
    let error = RedisStore::connect(&bad).unwrap_err().to_string();
    assert!(error.contains("invalid Redis URL"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[tokio::test]
async fn a_password_comes_from_the_url_or_from_the_settings() {
    let server = RedisServer::with_password("s3cret-pw");
    let from_settings = RedisStore::connect(&RedisSettings {
        password: Some("s3cret-pw".to_owned()),
        ..settings(&server, "isr")
    })
    .unwrap();
    from_settings.put("k", entry(1)).await.unwrap();
    let in_url = RedisStore::connect(&RedisSettings {
        url: server.url().replace("redis://", "redis://:s3cret-pw@"),
        ..settings(&server, "isr")
    })
    .unwrap();
    assert_eq!(in_url.get("k").await.unwrap(), Some(entry(1)));
    let without = RedisStore::connect(&settings(&server, "isr")).unwrap();
    assert!(without.get("k").await.is_err(), "no password, no data");
    assert!(!without.status().up);
}

#[test]
fn outside_a_runtime_connect_is_an_error_not_a_panic() {
    let error = RedisStore::connect(&RedisSettings {
        url: "redis://127.0.0.1:1".to_owned(),
        ..RedisSettings::default()
    })
    .unwrap_err();
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}
