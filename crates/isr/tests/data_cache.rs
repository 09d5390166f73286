//! The data cache: fresh, stale and missing values, single flight under 1,000 concurrent
//! callers, failed refreshes, and invalidation by key, tag and everything.
//!
//! Time is a `ManualClock`; races are arranged with barriers, gates and counters, never
//! with sleeps (`isr_store::testing`: `concurrently` lets callers go behind one barrier,
//! `until` waits on a counter).
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

use isr::{Clock, DataCache, DataError, DataOptions, DataTarget, ManualClock};
use isr_core::UnixMillis;
use isr_core::freshness::PurgeMode;
use isr_store::testing::{RedisServer, concurrently, until};
use isr_store::{DiskStore, MemoryPurges, MemoryStore, TieredStore};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

const TTL: Duration = Duration::from_secs(10);
const N: usize = 1_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Post {
    id: u32,
    title: String,
    version: u32,
}

fn post(version: u32) -> Post {
    Post {
        id: 1,
        title: format!("post v{version}"),
        version,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct FetchError(&'static str);

fn clock() -> ManualClock {
    ManualClock::new(UnixMillis(1_700_000_000_000))
}

fn memory_cache(clock: &ManualClock) -> DataCache {
    DataCache::builder(
        Arc::new(MemoryStore::new(64 * 1024 * 1024)),
        Arc::new(MemoryPurges::new()),
    )
    .clock(Arc::new(clock.clone()))
    .retry(Duration::from_secs(1), Duration::from_secs(8))
    .build()
}

/// A fetch source that counts its calls and answers with the version it is set to (or
/// fails when told to).
#[derive(Clone, Default)]
struct Source {
    calls: Arc<AtomicUsize>,
    version: Arc<AtomicUsize>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Source {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn set(&self, version: usize) {
        self.version.store(version, Ordering::SeqCst);
    }

    fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn fetch(
        &self,
    ) -> impl FnOnce() -> std::future::Ready<Result<Post, FetchError>> + Send + 'static {
        let source = self.clone();
        move || {
            source.calls.fetch_add(1, Ordering::SeqCst);
            if source.failing.load(Ordering::SeqCst) {
                return std::future::ready(Err(FetchError("origin down")));
            }
            let version = u32::try_from(source.version.load(Ordering::SeqCst)).unwrap();
            std::future::ready(Ok(post(version)))
        }
    }
}

async fn get(cache: &DataCache, source: &Source) -> Result<Post, DataError<FetchError>> {
    cache.with_revalidate("post:1", TTL, source.fetch()).await
}

#[tokio::test]
async fn fresh_stale_and_missing_values() {
    let clock = clock();
    let cache = memory_cache(&clock);
    let source = Source::default();
    source.set(1);

    // Missing: fetched, stored, returned.
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    assert_eq!(source.calls(), 1);

    // Fresh: cached, no fetch.
    source.set(2);
    clock.advance(TTL - Duration::from_millis(1));
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    assert_eq!(source.calls(), 1);

    // Stale: the cached value now, one background refresh.
    clock.advance(Duration::from_millis(1));
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    cache.settled().await;
    assert_eq!(source.calls(), 2);

    // The refreshed value, fresh again.
    assert_eq!(get(&cache, &source).await.unwrap(), post(2));
    assert_eq!(source.calls(), 2);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.stale, stats.misses), (2, 1, 1));
    assert_eq!((stats.fetches, stats.refreshes), (2, 1));
}

#[tokio::test]
async fn freshness_counts_from_when_the_value_arrived() {
    let clock = clock();
    let cache = memory_cache(&clock);
    let calls = Arc::new(AtomicUsize::new(0));
    let slow_fetch = |clock: ManualClock, calls: Arc<AtomicUsize>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            // The fetch takes 5 s.
            clock.advance(Duration::from_secs(5));
            Ok::<_, FetchError>(post(1))
        }
    };
    let first: Post = cache
        .with_revalidate("k", TTL, slow_fetch(clock.clone(), Arc::clone(&calls)))
        .await
        .unwrap();
    assert_eq!(first, post(1));
    // 9.999 s after arrival (14.999 s after the fetch started): still fresh.
    clock.advance(TTL - Duration::from_millis(1));
    let _: Post = cache
        .with_revalidate("k", TTL, slow_fetch(clock.clone(), Arc::clone(&calls)))
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats().hits, 1);
    // 10 s after arrival: stale.
    clock.advance(Duration::from_millis(1));
    let _: Post = cache
        .with_revalidate("k", TTL, slow_fetch(clock.clone(), Arc::clone(&calls)))
        .await
        .unwrap();
    assert_eq!(cache.stats().stale, 1);
}

/// A fetch that counts its calls and waits at a gate before answering.
fn gated_fetch(
    calls: &Arc<AtomicUsize>,
    gate: &watch::Receiver<bool>,
    answer: Result<Post, &'static str>,
) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<Post, FetchError>> + Send>>
+ Send
+ 'static
+ use<> {
    let calls = Arc::clone(calls);
    let mut gate = gate.clone();
    move || {
        Box::pin(async move {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.wait_for(|open| *open).await.unwrap();
            answer.map_err(FetchError)
        })
    }
}

/// Wait until `n` callers have joined a running fetch.
async fn until_coalesced(cache: &DataCache, n: u64) {
    until("the callers to join the fetch", || {
        cache.stats().coalesced >= n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_callers_on_a_missing_key_run_one_fetch() {
    let cache = memory_cache(&clock());
    let calls = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let callers = tokio::spawn({
        let (cache, calls) = (cache.clone(), Arc::clone(&calls));
        concurrently(N, move |_| {
            let cache = cache.clone();
            let fetch = gated_fetch(&calls, &gate, Ok(post(7)));
            async move { cache.with_revalidate("post:7", TTL, fetch).await }
        })
    });
    // Everyone but the one whose fetch runs is waiting for it; only then may it answer.
    until_coalesced(&cache, (N - 1) as u64).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    open.send_replace(true);
    for answer in callers.await.unwrap() {
        assert_eq!(answer.unwrap(), post(7));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one fetch for {N} callers");
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.coalesced, stats.fetches),
        (N as u64, (N - 1) as u64, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_fetch_on_a_miss_is_every_waiting_callers_error() {
    let cache = memory_cache(&clock());
    let calls = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let callers = tokio::spawn({
        let (cache, calls) = (cache.clone(), Arc::clone(&calls));
        concurrently(N, move |_| {
            let cache = cache.clone();
            let fetch = gated_fetch(&calls, &gate, Err("database down"));
            async move { cache.with_revalidate("post:8", TTL, fetch).await }
        })
    });
    until_coalesced(&cache, (N - 1) as u64).await;
    open.send_replace(true);
    let mut errors = Vec::with_capacity(N);
    for answer in callers.await.unwrap() {
        match answer {
            Err(DataError::Fetch(error)) => errors.push(error),
            other => panic!("expected the fetch's error, got {other:?}"),
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(*errors[0], FetchError("database down"));
    assert!(
        errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])),
        "every caller gets the one error of the one fetch"
    );
    // Nothing was stored: the next call fetches again.
    let fetched: Post = cache
        .with_revalidate("post:8", TTL, || async { Ok::<_, FetchError>(post(8)) })
        .await
        .unwrap();
    assert_eq!(fetched, post(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_callers_on_a_stale_key_get_it_now_and_one_refresh() {
    let clock = clock();
    let cache = memory_cache(&clock);
    let source = Source::default();
    source.set(1);
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    clock.advance(TTL);

    let calls = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let answers = concurrently(N, |_| {
        let cache = cache.clone();
        let fetch = gated_fetch(&calls, &gate, Ok(post(2)));
        async move { cache.with_revalidate("post:1", TTL, fetch).await }
    })
    .await;
    // Every caller answers with the stale value while the refresh is held at its gate.
    for answer in answers {
        assert_eq!(answer.unwrap(), post(1));
    }
    assert_eq!(cache.stats().stale, N as u64);
    assert_eq!(cache.stats().refreshes, 1);
    open.send_replace(true);
    cache.settled().await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one refresh for {N} callers"
    );
    assert_eq!(get(&cache, &source).await.unwrap(), post(2));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_value_and_is_retried_with_backoff() {
    let clock = clock();
    let cache = memory_cache(&clock);
    let source = Source::default();
    source.set(1);
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));

    // Stale, and the refresh fails: the old value stays.
    source.fail(true);
    clock.advance(TTL);
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    cache.settled().await;
    assert_eq!(source.calls(), 2);
    assert_eq!(cache.stats().fetch_failures, 1);
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    cache.settled().await;
    assert_eq!(
        source.calls(),
        2,
        "no retry before the backoff (1 s) has passed"
    );

    // After 1 s: retried, fails again; the wait doubles to 2 s.
    clock.advance(Duration::from_secs(1));
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    cache.settled().await;
    assert_eq!(source.calls(), 3);
    clock.advance(Duration::from_millis(1_999));
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    cache.settled().await;
    assert_eq!(source.calls(), 3, "the second wait is 2 s");

    // The origin recovers: the next retry replaces the value, and the backoff is cleared.
    source.fail(false);
    source.set(2);
    clock.advance(Duration::from_millis(1));
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    cache.settled().await;
    assert_eq!(source.calls(), 4);
    assert_eq!(get(&cache, &source).await.unwrap(), post(2));
    assert_eq!(source.calls(), 4, "fresh again");
}

#[tokio::test]
async fn an_expired_value_is_served_on_error_within_the_window_only() {
    let clock = clock();
    let cache = DataCache::builder(
        Arc::new(MemoryStore::new(1024 * 1024)),
        Arc::new(MemoryPurges::new()),
    )
    .clock(Arc::new(clock.clone()))
    .expire(Duration::from_secs(60))
    .stale_if_error(Duration::from_secs(30))
    .build();
    let source = Source::default();
    source.set(1);
    assert_eq!(get(&cache, &source).await.unwrap(), post(1));
    source.fail(true);
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        get(&cache, &source).await.unwrap(),
        post(1),
        "expired, servable on error"
    );
    assert_eq!(source.calls(), 2, "an expired value waits for a fetch");
    clock.advance(Duration::from_secs(30));
    assert!(matches!(
        get(&cache, &source).await,
        Err(DataError::Fetch(_))
    ));
}

#[tokio::test]
async fn invalidate_by_key_tag_and_all() {
    let clock = clock();
    let cache = memory_cache(&clock);
    let calls = Arc::new(AtomicUsize::new(0));
    let load = |key: &'static str, tags: &[&str], version: u32| {
        let cache = cache.clone();
        let calls = Arc::clone(&calls);
        let options = DataOptions::new(Duration::from_secs(3600)).tags(tags.iter().copied());
        async move {
            cache
                .with_options(key, options, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, FetchError>(format!("{key} v{version}"))
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(load("a", &["posts", "post:a"], 1).await, "a v1");
    assert_eq!(load("b", &["posts", "post:b"], 1).await, "b v1");
    assert_eq!(load("c", &["pages"], 1).await, "c v1");
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // By key: only that value is fetched again.
    cache.invalidate("a").await.unwrap();
    assert_eq!(load("a", &["posts", "post:a"], 2).await, "a v2");
    assert_eq!(load("b", &["posts", "post:b"], 2).await, "b v1");
    assert_eq!(load("c", &["pages"], 2).await, "c v1");
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // By tag: every value carrying it, nothing else.
    clock.advance(Duration::from_secs(1));
    cache.invalidate_tag("posts").await.unwrap();
    assert_eq!(load("a", &["posts", "post:a"], 3).await, "a v3");
    assert_eq!(load("b", &["posts", "post:b"], 3).await, "b v3");
    assert_eq!(load("c", &["pages"], 3).await, "c v1");
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    // Fetched after the purge: not reached by it.
    assert_eq!(load("a", &["posts", "post:a"], 4).await, "a v3");
    assert_eq!(calls.load(Ordering::SeqCst), 6);

    // Everything.
    clock.advance(Duration::from_secs(1));
    cache.invalidate_all().await.unwrap();
    assert_eq!(load("a", &["posts", "post:a"], 5).await, "a v5");
    assert_eq!(load("b", &["posts", "post:b"], 5).await, "b v5");
    assert_eq!(load("c", &["pages"], 5).await, "c v5");
    assert_eq!(calls.load(Ordering::SeqCst), 9);

    // Soft: served stale while one refresh runs.
    clock.advance(Duration::from_secs(1));
    cache
        .purge(&[DataTarget::Tag("pages".into())], PurgeMode::Soft)
        .await
        .unwrap();
    assert_eq!(load("c", &["pages"], 6).await, "c v5");
    cache.settled().await;
    assert_eq!(calls.load(Ordering::SeqCst), 10);
    assert_eq!(load("c", &["pages"], 7).await, "c v6");
}

#[tokio::test]
async fn an_invalidation_during_a_fetch_applies_to_what_it_brings() {
    let clock = clock();
    let cache = memory_cache(&clock);
    let calls = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let options = DataOptions::new(Duration::from_secs(3600)).tag("posts");
    let fetch = gated_fetch(&calls, &gate, Ok(post(1)));
    let waiting = {
        let cache = cache.clone();
        let options = options.clone();
        tokio::spawn(async move { cache.with_options("p", options, fetch).await })
    };
    until("the fetch to start", || calls.load(Ordering::SeqCst) > 0).await;
    clock.advance(Duration::from_secs(1));
    cache.invalidate_tag("posts").await.unwrap();
    open.send_replace(true);
    assert_eq!(
        waiting.await.unwrap().unwrap(),
        post(1),
        "the caller still gets it"
    );
    // ...but it was fetched before the purge landed, so the next call fetches again.
    let next: Post = cache
        .with_options("p", options, || async { Ok::<_, FetchError>(post(2)) })
        .await
        .unwrap();
    assert_eq!(next, post(2));
}

#[tokio::test]
async fn values_and_invalidations_survive_a_restart_with_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock();
    let open = || {
        let disk = Arc::new(DiskStore::open(dir.path()).unwrap());
        let store = Arc::new(TieredStore::new(
            Arc::new(MemoryStore::new(1024 * 1024)),
            Arc::clone(&disk) as _,
        ));
        DataCache::builder(store, disk)
            .clock(Arc::new(clock.clone()) as Arc<dyn Clock>)
            .build()
    };
    let source = Source::default();
    source.set(1);
    {
        let cache = open();
        assert_eq!(get(&cache, &source).await.unwrap(), post(1));
        let other: String = cache
            .with_revalidate("other", TTL, || async {
                Ok::<_, FetchError>("x".to_owned())
            })
            .await
            .unwrap();
        assert_eq!(other, "x");
        clock.advance(Duration::from_secs(1));
        cache.invalidate("other").await.unwrap();
        cache.settled().await;
    }
    let cache = open();
    assert_eq!(cache.restore_purges().await.unwrap(), 1);
    source.set(2);
    assert_eq!(
        get(&cache, &source).await.unwrap(),
        post(1),
        "stored on disk"
    );
    assert_eq!(source.calls(), 1);
    let other: String = cache
        .with_revalidate("other", TTL, || async {
            Ok::<_, FetchError>("y".to_owned())
        })
        .await
        .unwrap();
    assert_eq!(other, "y", "the invalidation survived the restart");
}

#[tokio::test]
async fn a_memory_only_tiered_store_works_too() {
    let cache = DataCache::builder(
        Arc::new(TieredStore::memory_only(1024 * 1024)),
        Arc::new(MemoryPurges::new()),
    )
    .build();
    let source = Source::default();
    source.set(3);
    assert_eq!(get(&cache, &source).await.unwrap(), post(3));
    assert_eq!(get(&cache, &source).await.unwrap(), post(3));
    assert_eq!(source.calls(), 1);
}

/// Settings for `server`, under a prefix of the data cache's own.
fn data_prefix(server: &RedisServer) -> isr_core::config::RedisSettings {
    isr_core::config::RedisSettings {
        prefix: "data".to_owned(),
        ..server.settings()
    }
}

/// Two data caches (two nodes) on one real Redis: a value fetched by one is read by the
/// other without fetching, and an invalidation on either is honoured by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_values_and_invalidations_through_redis() {
    let server = RedisServer::start();
    let settings = data_prefix(&server);
    let node = || {
        let redis = isr_store::RedisStore::connect(&settings).unwrap();
        DataCache::redis_builder(redis, 1 << 20).build()
    };
    let (a, b) = (node(), node());
    let fetched = Arc::new(AtomicUsize::new(0));
    let fetch = |value: &'static str| {
        let fetched = Arc::clone(&fetched);
        move || async move {
            fetched.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(value.to_owned())
        }
    };
    let options = || DataOptions::new(Duration::from_secs(60)).tag("posts");
    let first: String = a.with_options("k", options(), fetch("one")).await.unwrap();
    let shared: String = b.with_options("k", options(), fetch("two")).await.unwrap();
    assert_eq!((first.as_str(), shared.as_str()), ("one", "one"));
    assert_eq!(fetched.load(Ordering::SeqCst), 1, "b read a's value");

    a.invalidate_tag("posts").await.unwrap();
    // b hears of it, and fetches a new value of its own (60 s bound: a hang is a failure).
    let refreshed = async {
        loop {
            let value: String = b
                .with_options("k", options(), fetch("three"))
                .await
                .unwrap();
            if value == "three" {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), refreshed)
        .await
        .expect("b honoured a's invalidation");
    assert_eq!(fetched.load(Ordering::SeqCst), 2);
}

/// Three data caches (three nodes) on one real Redis, a missing key asked for on all three
/// while the first node's fetch is held: one fetch in all, and the other two nodes take its
/// value from Redis. Then the value goes stale everywhere: one refresh in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_sharing_redis_fetch_a_key_once_between_them() {
    let server = RedisServer::start();
    let settings = data_prefix(&server);
    let clock = clock();
    let nodes: Vec<DataCache> = (0..3)
        .map(|_| {
            let redis = isr_store::RedisStore::connect(&settings).unwrap();
            DataCache::redis_builder(redis, 1 << 20)
                .clock(Arc::new(clock.clone()))
                .build()
        })
        .collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let ask = |node: &DataCache, version: u32| {
        let node = node.clone();
        let fetch = gated_fetch(&calls, &gate, Ok(post(version)));
        tokio::spawn(async move { node.with_revalidate("post", TTL, fetch).await })
    };

    let first = ask(&nodes[0], 1);
    until("the fetch to start", || calls.load(Ordering::SeqCst) > 0).await;
    let others = [ask(&nodes[1], 2), ask(&nodes[2], 3)];
    // Every node is either waiting on another's lock or (were there no lock) has called
    // its own fetch; only then are the fetches let go.
    let all_waiting_or_fetching = |total: u64| {
        let waits: u64 = nodes.iter().map(|n| n.stats().lock_waits).sum();
        waits + calls.load(Ordering::SeqCst) as u64 == total
    };
    until("every node to wait or fetch", || all_waiting_or_fetching(3)).await;
    open.send_replace(true);
    assert_eq!(first.await.unwrap().unwrap(), post(1));
    for other in others {
        assert_eq!(other.await.unwrap().unwrap(), post(1), "node 0's value");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one fetch across the nodes"
    );
    let elsewhere: u64 = nodes.iter().map(|n| n.stats().fetched_elsewhere).sum();
    assert_eq!(elsewhere, 2);

    // Stale on every node, with refreshes held: each node answers at once, then one
    // refresh runs in all.
    open.send_replace(false);
    clock.advance(TTL + Duration::from_secs(1));
    for (i, node) in nodes.iter().enumerate() {
        let fetch = gated_fetch(&calls, &gate, Ok(post(10 + i as u32)));
        let stale = node.with_revalidate("post", TTL, fetch).await.unwrap();
        assert_eq!(stale, post(1));
    }
    until("every node to wait or fetch", || all_waiting_or_fetching(6)).await;
    open.send_replace(true);
    for node in &nodes {
        node.settled().await;
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refresh across the nodes"
    );
    let mut refreshed = Vec::new();
    for node in &nodes {
        let fetch = gated_fetch(&calls, &gate, Ok(post(99)));
        refreshed.push(node.with_revalidate("post", TTL, fetch).await.unwrap());
    }
    assert!(
        refreshed
            .iter()
            .all(|v| *v == refreshed[0] && v.version >= 10)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
