//! The storage conformance suite: every backend must pass the same tests.
//!
//! The checks are written once, as generic async functions over the `isr-core` traits
//! (modules `entries`, `purges`, `locks`), and instantiated per backend by the
//! `*_suite!` macros at the bottom. To add a backend, write a fixture that returns it (and
//! whatever must outlive it) and add one macro line; lock checks take a [`locks::Clock`]:
//! time passes for them by a later `now`, or, for a backend with its own clock (Redis), by
//! aging the lock in the backend, never by waiting. The Redis fixtures start their own
//! `redis-server` on a free port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use isr_core::UnixMillis;
use isr_core::config::RedisSettings;
use isr_core::entry::Entry;
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::store::{EntryStore, LockStore, LockToken, PurgeStore};
use isr_store::testing::{MemoryLocks, RedisCluster, RedisServer, concurrently};
use isr_store::{DiskStore, MemoryPurges, MemoryStore, RedisStore, TieredStore};
use tempfile::TempDir;

/// A deterministic entry whose every field depends on `seed`, with a binary body.
fn sample_entry(key: &str, seed: u8, body_len: usize) -> Entry {
    Entry {
        key: key.to_owned(),
        path: format!("/page/{seed}"),
        status: if seed.is_multiple_of(2) {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        },
        headers: vec![
            (
                HeaderName::from_static("content-type"),
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                HeaderName::from_static("x-seed"),
                HeaderValue::from_str(&seed.to_string()).unwrap(),
            ),
        ],
        body: (0..body_len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<u8>>()
            .into(),
        created_at: UnixMillis(1_700_000_000_000 + u64::from(seed)),
        lifetime: Lifetime {
            revalidate: if seed.is_multiple_of(3) {
                Revalidate::Never
            } else {
                Revalidate::After(u64::from(seed) + 1)
            },
            expire: if seed.is_multiple_of(5) {
                None
            } else {
                Some(86_400)
            },
            stale_if_error: 60,
        },
        tags: vec![format!("tag-{seed}"), "all".to_owned()],
        build_id: "build-1".to_owned(),
        etag: format!("\"etag-{seed}\""),
    }
}

mod entries {
    use super::*;

    pub(crate) async fn missing_key_is_none<S: EntryStore>(store: &S) {
        assert!(store.get("absent").await.unwrap().is_none());
        assert!(!store.remove("absent").await.unwrap());
    }

    pub(crate) async fn put_then_get_returns_what_was_put<S: EntryStore>(store: &S) {
        let entry = Arc::new(sample_entry("k", 7, 4096));
        store.put("k", Arc::clone(&entry)).await.unwrap();
        let got = store.get("k").await.unwrap().expect("present");
        assert_eq!(*got, *entry);
        // Every byte value survives.
        let all_bytes = Arc::new(Entry {
            body: Bytes::from((0..=255u8).cycle().take(2048).collect::<Vec<u8>>()),
            ..sample_entry("b", 3, 0)
        });
        store.put("b", Arc::clone(&all_bytes)).await.unwrap();
        assert_eq!(*store.get("b").await.unwrap().unwrap(), *all_bytes);
    }

    pub(crate) async fn empty_body_round_trips<S: EntryStore>(store: &S) {
        let entry = Arc::new(Entry {
            headers: Vec::new(),
            tags: Vec::new(),
            ..sample_entry("empty", 0, 0)
        });
        store.put("empty", Arc::clone(&entry)).await.unwrap();
        assert_eq!(*store.get("empty").await.unwrap().unwrap(), *entry);
    }

    pub(crate) async fn put_overwrites<S: EntryStore>(store: &S) {
        store
            .put("k", Arc::new(sample_entry("k", 1, 100)))
            .await
            .unwrap();
        let newer = Arc::new(sample_entry("k", 2, 200));
        store.put("k", Arc::clone(&newer)).await.unwrap();
        assert_eq!(*store.get("k").await.unwrap().unwrap(), *newer);
    }

    pub(crate) async fn remove_reports_whether_present<S: EntryStore>(store: &S) {
        store
            .put("k", Arc::new(sample_entry("k", 1, 10)))
            .await
            .unwrap();
        assert!(store.remove("k").await.unwrap());
        assert!(store.get("k").await.unwrap().is_none());
        assert!(!store.remove("k").await.unwrap());
    }

    pub(crate) async fn clear_removes_everything<S: EntryStore>(store: &S) {
        for i in 0..10u8 {
            let key = format!("k{i}");
            store
                .put(&key, Arc::new(sample_entry(&key, i, 100)))
                .await
                .unwrap();
        }
        store.clear().await.unwrap();
        for i in 0..10u8 {
            assert!(store.get(&format!("k{i}")).await.unwrap().is_none());
        }
        // Still usable after a clear.
        let entry = Arc::new(sample_entry("after", 9, 10));
        store.put("after", Arc::clone(&entry)).await.unwrap();
        assert_eq!(*store.get("after").await.unwrap().unwrap(), *entry);
    }

    pub(crate) async fn long_keys_work<S: EntryStore>(store: &S) {
        let key: String = "k/ü".repeat(100);
        assert!(key.len() >= 300);
        let entry = Arc::new(sample_entry(&key, 4, 100));
        store.put(&key, Arc::clone(&entry)).await.unwrap();
        assert_eq!(*store.get(&key).await.unwrap().unwrap(), *entry);
        // A key that is a prefix of it is another key.
        let prefix = key.strip_suffix('ü').unwrap();
        assert!(store.get(prefix).await.unwrap().is_none());
    }

    pub(crate) async fn many_keys_are_independent<S: EntryStore>(store: &S) {
        let entries: Vec<(String, Arc<Entry>)> = (0..100u8)
            .map(|i| {
                let key = format!("many/{i}");
                let entry = Arc::new(sample_entry(&key, i, 64 + usize::from(i)));
                (key, entry)
            })
            .collect();
        for (key, entry) in &entries {
            store.put(key, Arc::clone(entry)).await.unwrap();
        }
        for (key, entry) in &entries {
            assert_eq!(*store.get(key).await.unwrap().unwrap(), **entry, "{key}");
        }
        assert!(store.remove("many/50").await.unwrap());
        assert!(store.get("many/50").await.unwrap().is_none());
        assert!(store.get("many/51").await.unwrap().is_some());
    }

    /// Many tasks write different entries under one key while others read it, all let go
    /// at once: every read and the final value is exactly one of the written entries,
    /// never a mix.
    pub(crate) async fn concurrent_puts_leave_one_whole_entry<S: EntryStore + 'static>(
        store: Arc<S>,
    ) {
        const WRITERS: u8 = 16;
        let written: Arc<Vec<Entry>> = Arc::new(
            (0..WRITERS)
                .map(|i| sample_entry("contended", i, 32 * 1024 + usize::from(i)))
                .collect(),
        );
        const READERS: usize = 4;
        concurrently(usize::from(WRITERS) + READERS, |i| {
            let store = Arc::clone(&store);
            let written = Arc::clone(&written);
            async move {
                if let Some(entry) = written.get(i) {
                    store
                        .put("contended", Arc::new(entry.clone()))
                        .await
                        .unwrap();
                    return;
                }
                for _ in 0..20 {
                    if let Some(seen) = store.get("contended").await.unwrap() {
                        assert!(written.contains(&seen), "read a mixed entry");
                    }
                    tokio::task::yield_now().await;
                }
            }
        })
        .await;
        let last = store.get("contended").await.unwrap().expect("present");
        assert!(written.contains(&last), "final entry is a mix");
    }

    /// The keys of a page.
    fn keys(page: &[(String, Arc<Entry>)]) -> Vec<&str> {
        page.iter().map(|(key, _)| key.as_str()).collect()
    }

    pub(crate) async fn scan_pages_through_every_key_once_in_order<S: EntryStore>(store: &S) {
        assert!(store.scan(None, 7).await.unwrap().is_empty(), "empty store");
        // Written out of order; keys whose byte order differs from numeric order.
        let mut written: Vec<(String, Arc<Entry>)> = (0..25u8)
            .map(|i| (i % 5) * 5 + i / 5)
            .map(|i| {
                let key = format!("scan/{i}");
                let entry = Arc::new(sample_entry(&key, i, 50 + usize::from(i)));
                (key, entry)
            })
            .collect();
        for (key, entry) in &written {
            store.put(key, Arc::clone(entry)).await.unwrap();
        }
        assert!(store.scan(None, 0).await.unwrap().is_empty(), "limit 0");

        let mut seen: Vec<(String, Arc<Entry>)> = Vec::new();
        let mut sizes = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.scan(after.as_deref(), 7).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 7, "page over its limit");
            let page_keys = keys(&page);
            assert!(page_keys.is_sorted(), "page out of order: {page_keys:?}");
            if let Some(after) = &after {
                assert!(
                    page_keys[0] > after.as_str(),
                    "page starts at or before its cursor"
                );
            }
            sizes.push(page.len());
            after = Some(page.last().unwrap().0.clone());
            seen.extend(page);
            assert!(sizes.len() <= 25, "scan does not end");
        }
        assert_eq!(sizes, [7, 7, 7, 4]);
        written.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            keys(&seen),
            keys(&written),
            "each key exactly once, in order"
        );
        for ((key, got), (_, entry)) in seen.iter().zip(&written) {
            assert_eq!(**got, **entry, "{key}");
        }
        // One page of everything is the same listing.
        let whole = store.scan(None, 1000).await.unwrap();
        assert_eq!(keys(&whole), keys(&written));
    }

    pub(crate) async fn scan_after_the_last_key_is_empty<S: EntryStore>(store: &S) {
        for key in ["b", "d", "f"] {
            store
                .put(key, Arc::new(sample_entry(key, 1, 10)))
                .await
                .unwrap();
        }
        assert!(store.scan(Some("f"), 10).await.unwrap().is_empty());
        assert!(store.scan(Some("z"), 10).await.unwrap().is_empty());
        // The cursor need not be a stored key, and is exclusive when it is one.
        assert_eq!(keys(&store.scan(Some("c"), 10).await.unwrap()), ["d", "f"]);
        assert_eq!(keys(&store.scan(Some("d"), 10).await.unwrap()), ["f"]);
        assert_eq!(
            keys(&store.scan(Some(""), 10).await.unwrap()),
            ["b", "d", "f"]
        );
        assert_eq!(keys(&store.scan(None, 2).await.unwrap()), ["b", "d"]);
    }

    pub(crate) async fn scan_sees_overwrites_and_not_removed_keys<S: EntryStore>(store: &S) {
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            store
                .put(key, Arc::new(sample_entry(key, i as u8, 100)))
                .await
                .unwrap();
        }
        let newer = Arc::new(sample_entry("b", 42, 300));
        store.put("b", Arc::clone(&newer)).await.unwrap();
        assert!(store.remove("c").await.unwrap());
        let page = store.scan(None, 10).await.unwrap();
        assert_eq!(keys(&page), ["a", "b", "d"]);
        assert_eq!(*page[1].1, *newer, "the overwrite, not the first version");
        // Across a page boundary too.
        assert_eq!(keys(&store.scan(Some("a"), 1).await.unwrap()), ["b"]);
        assert_eq!(keys(&store.scan(Some("b"), 1).await.unwrap()), ["d"]);
        store.clear().await.unwrap();
        assert!(
            store.scan(None, 10).await.unwrap().is_empty(),
            "after clear"
        );
    }
}

mod purges {
    use super::*;

    fn at(ms: u64, mode: PurgeMode) -> Invalidation {
        Invalidation {
            at: UnixMillis(ms),
            mode,
        }
    }

    /// The record under `name`, as [`PurgeStore::all`] reports it.
    async fn recorded<P: PurgeStore>(purges: &P, name: &str) -> Option<Invalidation> {
        let all = purges.all().await.unwrap();
        let mut found = all.iter().filter(|(recorded, _)| recorded == name);
        let first = found.next().map(|(_, invalidation)| *invalidation);
        assert!(found.next().is_none(), "{name} recorded twice");
        first
    }

    pub(crate) async fn unknown_names_have_no_record<P: PurgeStore>(purges: &P) {
        assert_eq!(recorded(purges, "never").await, None);
    }

    pub(crate) async fn invalidate_then_recorded<P: PurgeStore>(purges: &P) {
        purges
            .invalidate("blog", at(100, PurgeMode::Soft))
            .await
            .unwrap();
        assert_eq!(
            recorded(purges, "blog").await,
            Some(at(100, PurgeMode::Soft))
        );
        purges
            .invalidate("blog", at(200, PurgeMode::Hard))
            .await
            .unwrap();
        assert_eq!(
            recorded(purges, "blog").await,
            Some(at(200, PurgeMode::Hard))
        );
    }

    pub(crate) async fn older_does_not_undo_newer<P: PurgeStore>(purges: &P) {
        purges
            .invalidate("t", at(500, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("t", at(400, PurgeMode::Hard))
            .await
            .unwrap();
        assert_eq!(recorded(purges, "t").await, Some(at(500, PurgeMode::Soft)));
    }

    pub(crate) async fn hard_wins_at_equal_times<P: PurgeStore>(purges: &P) {
        purges
            .invalidate("a", at(300, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("a", at(300, PurgeMode::Soft))
            .await
            .unwrap();
        assert_eq!(recorded(purges, "a").await, Some(at(300, PurgeMode::Hard)));
        purges
            .invalidate("b", at(300, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("b", at(300, PurgeMode::Hard))
            .await
            .unwrap();
        assert_eq!(recorded(purges, "b").await, Some(at(300, PurgeMode::Hard)));
    }

    /// A record under one name never changes another's.
    pub(crate) async fn names_are_independent<P: PurgeStore>(purges: &P) {
        purges
            .invalidate("x", at(100, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("y", at(300, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("z", at(200, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("w", at(300, PurgeMode::Hard))
            .await
            .unwrap();
        assert_eq!(recorded(purges, "x").await, Some(at(100, PurgeMode::Hard)));
        assert_eq!(recorded(purges, "y").await, Some(at(300, PurgeMode::Soft)));
        assert_eq!(recorded(purges, "z").await, Some(at(200, PurgeMode::Hard)));
        assert_eq!(recorded(purges, "w").await, Some(at(300, PurgeMode::Hard)));
        assert_eq!(recorded(purges, "missing").await, None);
    }

    pub(crate) async fn forget_before_removes_only_older<P: PurgeStore>(purges: &P) {
        purges
            .invalidate("old", at(100, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("edge", at(200, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("new", at(300, PurgeMode::Soft))
            .await
            .unwrap();
        assert_eq!(purges.forget_before(UnixMillis(200)).await.unwrap(), 1);
        assert_eq!(recorded(purges, "old").await, None);
        assert_eq!(
            recorded(purges, "edge").await,
            Some(at(200, PurgeMode::Soft))
        );
        assert_eq!(
            recorded(purges, "new").await,
            Some(at(300, PurgeMode::Soft))
        );
        assert_eq!(purges.forget_before(UnixMillis(200)).await.unwrap(), 0);
    }

    fn named(records: &[(&str, Invalidation)]) -> Vec<(String, Invalidation)> {
        records
            .iter()
            .map(|(name, invalidation)| ((*name).to_owned(), *invalidation))
            .collect()
    }

    /// Record names of every purge target kind (see `isr_core::purge::Target`).
    pub(crate) async fn all_returns_exactly_what_was_recorded<P: PurgeStore>(purges: &P) {
        assert!(purges.all().await.unwrap().is_empty());
        // Newest per name, whatever the order of arrival.
        purges
            .invalidate("t:blog", at(100, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("t:blog", at(200, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("t:blog", at(150, PurgeMode::Hard))
            .await
            .unwrap();
        // Hard wins at equal times, in either order.
        purges
            .invalidate("p:/a", at(300, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("p:/a", at(300, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("x:/docs", at(400, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("x:/docs", at(400, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("*", at(50, PurgeMode::Soft))
            .await
            .unwrap();
        assert_eq!(
            purges.all().await.unwrap(),
            named(&[
                ("*", at(50, PurgeMode::Soft)),
                ("p:/a", at(300, PurgeMode::Hard)),
                ("t:blog", at(200, PurgeMode::Soft)),
                ("x:/docs", at(400, PurgeMode::Hard)),
            ])
        );
    }

    pub(crate) async fn forget_before_drops_older_records_from_all<P: PurgeStore>(purges: &P) {
        purges
            .invalidate("t:old", at(100, PurgeMode::Hard))
            .await
            .unwrap();
        purges
            .invalidate("p:/edge", at(200, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("x:/new", at(300, PurgeMode::Soft))
            .await
            .unwrap();
        purges
            .invalidate("*", at(150, PurgeMode::Soft))
            .await
            .unwrap();
        assert_eq!(purges.forget_before(UnixMillis(200)).await.unwrap(), 2);
        assert_eq!(
            purges.all().await.unwrap(),
            named(&[
                ("p:/edge", at(200, PurgeMode::Soft)),
                ("x:/new", at(300, PurgeMode::Soft)),
            ])
        );
        assert_eq!(purges.forget_before(UnixMillis(u64::MAX)).await.unwrap(), 2);
        assert!(purges.all().await.unwrap().is_empty());
    }
}

pub(crate) mod locks {
    use super::*;

    /// Whose clock decides expiry, and so how a check lets time pass (never by waiting).
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Clock<'a> {
        /// The backend uses the `now` passed in: time passes by passing a later `now`.
        Caller,
        /// Redis keeps the time (`PX`): time passes by aging the lock's key in Redis.
        Redis(&'a RedisServer),
        /// The same, on whichever node of the cluster holds the key.
        RedisCluster(&'a RedisCluster),
    }

    impl Clock<'_> {
        /// Let `ms` pass for the lock on `key`; returns the `now` to pass from then on.
        async fn pass(self, key: &str, now: UnixMillis, ms: u64) -> UnixMillis {
            match self {
                Clock::Caller => UnixMillis(now.0 + ms),
                Clock::Redis(server) => {
                    server.age_lock(key, ms).await;
                    now
                }
                Clock::RedisCluster(cluster) => {
                    cluster.age_lock(key, ms).await;
                    now
                }
            }
        }
    }

    const NOW: UnixMillis = UnixMillis(1_700_000_000_000);

    pub(crate) async fn lock_is_exclusive<L: LockStore>(locks: &L) {
        let token = locks.try_lock("render:a", 10_000, NOW).await.unwrap();
        assert!(token.is_some());
        assert!(
            locks
                .try_lock("render:a", 10_000, NOW)
                .await
                .unwrap()
                .is_none()
        );
        // Other keys are independent.
        assert!(
            locks
                .try_lock("render:b", 10_000, NOW)
                .await
                .unwrap()
                .is_some()
        );
    }

    pub(crate) async fn only_the_holder_unlocks<L: LockStore>(locks: &L) {
        let token = locks
            .try_lock("render:c", 10_000, NOW)
            .await
            .unwrap()
            .unwrap();
        let other = locks
            .try_lock("render:d", 10_000, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_ne!(token, other, "tokens are distinct");
        assert!(!locks.unlock("render:c", &other).await.unwrap());
        assert!(
            locks
                .try_lock("render:c", 10_000, NOW)
                .await
                .unwrap()
                .is_none(),
            "a wrong token must not release the lock"
        );
        assert!(locks.unlock("render:c", &token).await.unwrap());
        assert!(!locks.unlock("render:c", &token).await.unwrap());
        let again = locks.try_lock("render:c", 10_000, NOW).await.unwrap();
        assert!(again.is_some(), "released lock can be taken again");
        assert!(!locks.unlock("render:never", &token).await.unwrap());
    }

    pub(crate) async fn only_the_holder_extends<L: LockStore>(locks: &L, clock: Clock<'_>) {
        let ttl_ms = 10_000;
        let token = locks
            .try_lock("render:f", ttl_ms, NOW)
            .await
            .unwrap()
            .unwrap();
        let stranger = LockToken("not-the-holder".to_owned());
        assert!(
            !locks
                .extend("render:f", &stranger, 60_000, NOW)
                .await
                .unwrap()
        );
        assert!(locks.extend("render:f", &token, 60_000, NOW).await.unwrap());
        // Past the first ttl, the extended lock is still held.
        let later = clock.pass("render:f", NOW, ttl_ms * 2).await;
        assert!(
            locks
                .try_lock("render:f", ttl_ms, later)
                .await
                .unwrap()
                .is_none()
        );
        assert!(locks.unlock("render:f", &token).await.unwrap());
        assert!(
            !locks
                .extend("render:f", &token, 60_000, later)
                .await
                .unwrap()
        );
    }

    pub(crate) async fn lock_expires<L: LockStore>(locks: &L, clock: Clock<'_>) {
        let ttl_ms = 10_000;
        let first = locks
            .try_lock("render:e", ttl_ms, NOW)
            .await
            .unwrap()
            .unwrap();
        let later = clock.pass("render:e", NOW, ttl_ms + 1).await;
        let second = locks.try_lock("render:e", ttl_ms, later).await.unwrap();
        let second = second.expect("an expired lock can be taken");
        assert_ne!(first, second);
        // The old holder can no longer release the new holder's lock.
        assert!(!locks.unlock("render:e", &first).await.unwrap());
        assert!(locks.unlock("render:e", &second).await.unwrap());
    }
}

// ---- fixtures: each returns the backend and whatever must outlive it ----

fn memory_entries() -> (Arc<MemoryStore>, Option<TempDir>) {
    (Arc::new(MemoryStore::new(64 * 1024 * 1024)), None)
}

fn disk_store() -> (Arc<DiskStore>, Option<TempDir>) {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    (Arc::new(store), Some(dir))
}

/// The disk store with a byte budget, which every commit enforces by eviction: as
/// generous as the memory store's, so that no test here is evicted.
fn bounded_disk_store() -> (Arc<DiskStore>, Option<TempDir>) {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open_with_budget(dir.path(), 64 * 1024 * 1024).unwrap();
    (Arc::new(store), Some(dir))
}

fn tiered_over_disk() -> (Arc<TieredStore>, Option<TempDir>) {
    let (disk, dir) = disk_store();
    let l1 = Arc::new(MemoryStore::new(64 * 1024 * 1024));
    (Arc::new(TieredStore::new(l1, disk)), dir)
}

fn memory_purges() -> (Arc<MemoryPurges>, Option<TempDir>) {
    (Arc::new(MemoryPurges::new()), None)
}

fn memory_locks() -> (Arc<MemoryLocks>, Option<TempDir>) {
    (Arc::new(MemoryLocks::new()), None)
}

/// A Redis store on a server of its own (stopped when the test ends).
fn redis_store() -> (Arc<RedisStore>, RedisServer) {
    let server = RedisServer::start();
    let settings = RedisSettings {
        timeout_ms: 5_000,
        ..server.settings()
    };
    (RedisStore::connect(&settings).unwrap(), server)
}

/// A Redis store on a Redis Cluster of its own (three primaries, stopped when the test
/// ends), reached through one of its nodes.
fn redis_cluster_store() -> (Arc<RedisStore>, RedisCluster) {
    let cluster = RedisCluster::start();
    let settings = RedisSettings {
        timeout_ms: 5_000,
        ..cluster.settings()
    };
    (RedisStore::connect(&settings).unwrap(), cluster)
}

fn tiered_over_redis() -> (Arc<TieredStore>, RedisServer) {
    let (redis, server) = redis_store();
    let l1 = Arc::new(MemoryStore::new(64 * 1024 * 1024));
    (Arc::new(TieredStore::new(l1, redis)), server)
}

macro_rules! entry_store_suite {
    ($name:ident, $fixture:path) => {
        mod $name {
            use super::*;

            entry_store_suite!(@test $fixture, missing_key_is_none);
            entry_store_suite!(@test $fixture, put_then_get_returns_what_was_put);
            entry_store_suite!(@test $fixture, empty_body_round_trips);
            entry_store_suite!(@test $fixture, put_overwrites);
            entry_store_suite!(@test $fixture, remove_reports_whether_present);
            entry_store_suite!(@test $fixture, clear_removes_everything);
            entry_store_suite!(@test $fixture, long_keys_work);
            entry_store_suite!(@test $fixture, many_keys_are_independent);
            entry_store_suite!(@test $fixture, scan_pages_through_every_key_once_in_order);
            entry_store_suite!(@test $fixture, scan_after_the_last_key_is_empty);
            entry_store_suite!(@test $fixture, scan_sees_overwrites_and_not_removed_keys);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_puts_leave_one_whole_entry() {
                let (store, _guard) = $fixture();
                entries::concurrent_puts_leave_one_whole_entry(store).await;
            }
        }
    };
    (@test $fixture:path, $check:ident) => {
        #[tokio::test]
        async fn $check() {
            let (store, _guard) = $fixture();
            entries::$check(&*store).await;
        }
    };
}

macro_rules! purge_store_suite {
    ($name:ident, $fixture:path) => {
        mod $name {
            use super::*;

            purge_store_suite!(@test $fixture, unknown_names_have_no_record);
            purge_store_suite!(@test $fixture, invalidate_then_recorded);
            purge_store_suite!(@test $fixture, older_does_not_undo_newer);
            purge_store_suite!(@test $fixture, hard_wins_at_equal_times);
            purge_store_suite!(@test $fixture, names_are_independent);
            purge_store_suite!(@test $fixture, forget_before_removes_only_older);
            purge_store_suite!(@test $fixture, all_returns_exactly_what_was_recorded);
            purge_store_suite!(@test $fixture, forget_before_drops_older_records_from_all);
        }
    };
    (@test $fixture:path, $check:ident) => {
        #[tokio::test]
        async fn $check() {
            let (purges, _guard) = $fixture();
            purges::$check(&*purges).await;
        }
    };
}

macro_rules! lock_store_suite {
    ($name:ident, $fixture:path, $clock:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn lock_is_exclusive() {
                let (locks, _guard) = $fixture();
                locks::lock_is_exclusive(&*locks).await;
            }

            #[tokio::test]
            async fn only_the_holder_unlocks() {
                let (locks, _guard) = $fixture();
                locks::only_the_holder_unlocks(&*locks).await;
            }

            #[tokio::test]
            async fn only_the_holder_extends() {
                let (locks, guard) = $fixture();
                locks::only_the_holder_extends(&*locks, ($clock)(&guard)).await;
            }

            #[tokio::test]
            async fn lock_expires() {
                let (locks, guard) = $fixture();
                locks::lock_expires(&*locks, ($clock)(&guard)).await;
            }
        }
    };
}

entry_store_suite!(memory_entry_store, memory_entries);
entry_store_suite!(disk_entry_store, disk_store);
entry_store_suite!(bounded_disk_entry_store, bounded_disk_store);
entry_store_suite!(tiered_entry_store, tiered_over_disk);
entry_store_suite!(redis_entry_store, redis_store);
entry_store_suite!(tiered_over_redis_entry_store, tiered_over_redis);
entry_store_suite!(redis_cluster_entry_store, redis_cluster_store);

purge_store_suite!(memory_purge_store, memory_purges);
purge_store_suite!(disk_purge_store, disk_store);
purge_store_suite!(redis_purge_store, redis_store);
purge_store_suite!(redis_cluster_purge_store, redis_cluster_store);

lock_store_suite!(memory_lock_store, memory_locks, |_| locks::Clock::Caller);
lock_store_suite!(redis_lock_store, redis_store, locks::Clock::Redis);
lock_store_suite!(
    redis_cluster_lock_store,
    redis_cluster_store,
    locks::Clock::RedisCluster
);
