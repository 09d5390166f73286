//! The data cache: stale-while-revalidate for any serialisable value, not just pages.
//!
//! [`DataCache::with_revalidate`] answers from the cache and refreshes in the background:
//!
//! - fresh: the cached value, nothing else happens;
//! - stale: the cached value now, and one background refresh (unless one is running, or a
//!   recent failure asks to wait);
//! - missing (or hard-invalidated, or past its expiry): the caller waits for a fetch, which
//!   is stored and returned.
//!
//! Invariants:
//! - Per key, at most one fetch runs at a time in this process: concurrent callers on a
//!   missing key wait for the same fetch, and get its value or the same error
//!   ([`DataError::Fetch`] holds one shared `Arc` of it). With Redis, at most one runs
//!   across every node sharing it ([`crate::across_nodes`]): a node whose fetch finds
//!   another node fetching the key waits for that value instead.
//! - Every decision is the page engine's, from isr-core's flow: what a value's state means
//!   ([`isr_core::flow::lookup`]), the backoff ([`isr_core::flow::backoff`]), what the
//!   callers waiting for a fetch answer ([`isr_core::flow::joiners`]).
//! - A failed fetch (its error, or a value that cannot be encoded) never replaces a stored
//!   value: the old one stays and is served stale, and the key is not refreshed again
//!   before its backoff has passed (doubling from `retry_min` up to `retry_max`, cleared by
//!   a success). Past its expiry, a value still servable on error is returned without a
//!   fetch while the key backs off.
//! - A value is fresh for its ttl counted from when it *arrived* (not from when the fetch
//!   started), unless an invalidation reaching it was recorded while it was being fetched:
//!   then it counts from the start, so that invalidation applies to it.
//! - An invalidation is one record (per key, tag, or everything), never a scan; once
//!   [`DataCache::invalidate`] (and the others) return, every call honours it.
//! - Fetches run in their own task: a caller that gives up does not cancel the fetch the
//!   others are waiting for. A fetch that panics ends as [`DataError::Abandoned`].
//!
//! Values are stored as JSON in the same [`Entry`] format as pages, under the key
//! `data|<key>`, in any [`EntryStore`] (memory, on-disk, tiered). Purge records live in a
//! [`PurgeStore`]: give the data cache its own (e.g. a [`MemoryPurges`]), since
//! [`DataCache::invalidate_all`] records a purge of everything in it.
//!
//! Several nodes share values, fetches and invalidations through Redis
//! ([`DataCache::redis_builder`]): a value fetched on one node is read by the others, a key
//! is fetched by one node at a time, and an invalidation on any node is honoured by every
//! node, under the lock TTL and lock timeout configured ([`DataCacheBuilder::config`],
//! [`DataCacheBuilder::lock`]).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use isr_core::UnixMillis;
use isr_core::config::{Config, EngineSettings, RedisSettings};
use isr_core::entry::Entry;
use isr_core::flow::joiners::{Joined, Outcome, joined, replaces};
use isr_core::flow::lookup::{Action, on_lookup};
use isr_core::flow::settle::BackoffChange;
use isr_core::freshness::{Freshness, PurgeMode, freshness};
use isr_core::headers::CacheStatus;
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::purge::Target;
use isr_core::store::{EntryStore, PurgeStore, StoreError};
#[cfg(feature = "redis")]
use isr_store::RedisStore;
use isr_store::{Cluster, MemoryPurges, MemoryStore, TieredStore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::across_nodes::{NodeLock, Once};
use crate::clock::{Clock, SystemClock};
use crate::flight::{Backoff, Ending, Flight, Flights, Join};
use crate::follow::{Follower, follow};
use crate::purges::PurgeLog;
use crate::store_errors;

/// Prefix of every storage key the data cache writes.
const KEY_PREFIX: &str = "data|";

/// A cache of values fetched by the app (API answers, database rows), with
/// stale-while-revalidate, single flight and tag invalidation. Cheap to clone: clones
/// share the same cache.
///
/// ```
/// use std::time::Duration;
///
/// use isr::DataCache;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = DataCache::memory(16 * 1024 * 1024);
/// let fetch = || async { Ok::<_, std::io::Error>(vec!["hello".to_owned(), "world".to_owned()]) };
///
/// // Missing: fetched, stored, returned.
/// let posts: Vec<String> = cache.with_revalidate("posts", Duration::from_secs(60), fetch).await?;
/// assert_eq!(posts, ["hello", "world"]);
///
/// // Fresh: the cached value; this fetch is never called.
/// let again: Vec<String> = cache
///     .with_revalidate("posts", Duration::from_secs(60), || async {
///         Err::<Vec<String>, _>(std::io::Error::other("not called"))
///     })
///     .await?;
/// assert_eq!(again, posts);
///
/// // Invalidated: the next call fetches again.
/// cache.invalidate("posts").await?;
/// let fetch = || async { Ok::<_, std::io::Error>(vec!["new".to_owned()]) };
/// let posts: Vec<String> = cache.with_revalidate("posts", Duration::from_secs(60), fetch).await?;
/// assert_eq!(posts, ["new"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DataCache {
    inner: Arc<Inner>,
}

impl fmt::Debug for DataCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataCache")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<dyn EntryStore>,
    /// With [`DataCache::redis_builder`]: this node's memory tier over Redis, and Redis as
    /// the cluster (announcements, fetch locks).
    shared: Option<(Arc<TieredStore>, Arc<dyn Cluster>)>,
    /// Every invalidation, durable and mirrored for reads (the same log pages use).
    purges: PurgeLog,
    clock: Arc<dyn Clock>,
    flights: Arc<Flights<DataOutcome>>,
    backoff: Backoff,
    expire: Option<u64>,
    stale_if_error: u64,
    /// With Redis: how long a fetch lock lives unless extended, and how long a node waits
    /// for another's value before fetching itself.
    lock_ttl_ms: u64,
    lock_timeout: Duration,
    /// Fetches running in their own tasks.
    running: watch::Sender<usize>,
    counters: Counters,
}

/// How long a value lives, and what it is tagged with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataOptions {
    ttl: Duration,
    tags: Vec<String>,
    expire: Option<Duration>,
}

impl DataOptions {
    /// Fresh for `ttl` (whole seconds, rounded up) after it arrived; then served stale while
    /// refreshed. A zero ttl refreshes on every call (still serving the cached value).
    pub fn new(ttl: Duration) -> DataOptions {
        DataOptions {
            ttl,
            tags: Vec::new(),
            expire: None,
        }
    }

    /// Tag the value, for [`DataCache::invalidate_tag`].
    pub fn tag(mut self, tag: impl Into<String>) -> DataOptions {
        self.tags.push(tag.into());
        self
    }

    /// Tag the value with each of `tags`.
    pub fn tags<I, S>(mut self, tags: I) -> DataOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Never serve the value stale once it is this old (whole seconds, rounded up; at least
    /// the ttl): past it, callers wait for a fetch. Default: the cache's
    /// ([`DataCacheBuilder::expire`]), which is "never".
    pub fn expire(mut self, expire: Duration) -> DataOptions {
        self.expire = Some(expire);
        self
    }
}

/// Why a [`DataCache::with_revalidate`] call has no value.
#[derive(Debug)]
pub enum DataError<E> {
    /// The fetch failed, and there was no value to serve instead. Every caller that waited
    /// for that fetch gets the same error.
    Fetch(Arc<E>),
    /// The value could not be encoded as JSON, or a stored value could not be decoded as
    /// the type asked for.
    Encoding(Arc<serde_json::Error>),
    /// The fetch this call waited for ended without a result: it panicked, or it was
    /// another caller's fetch of the same key that failed with another error type.
    Abandoned,
}

impl<E> Clone for DataError<E> {
    fn clone(&self) -> Self {
        match self {
            DataError::Fetch(error) => DataError::Fetch(Arc::clone(error)),
            DataError::Encoding(error) => DataError::Encoding(Arc::clone(error)),
            DataError::Abandoned => DataError::Abandoned,
        }
    }
}

impl<E: fmt::Display> fmt::Display for DataError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Fetch(error) => write!(f, "fetch failed: {error}"),
            DataError::Encoding(error) => write!(f, "value encoding: {error}"),
            DataError::Abandoned => f.write_str("the fetch ended without a result"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for DataError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Fetch(error) => Some(&**error),
            DataError::Encoding(error) => Some(&**error),
            DataError::Abandoned => None,
        }
    }
}

/// What a data-cache purge reaches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataTarget {
    /// The value under this key.
    Key(String),
    /// Every value carrying this tag.
    Tag(String),
    /// Every value.
    All,
}

impl DataTarget {
    fn to_target(&self) -> Target {
        match self {
            DataTarget::Key(key) => Target::Path(storage_key(key)),
            DataTarget::Tag(tag) => Target::Tag(tag.clone()),
            DataTarget::All => Target::All,
        }
    }
}

/// Counters of what the data cache did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataStats {
    /// Calls answered with a fresh value.
    pub hits: u64,
    /// Calls answered with a stale value (a refresh may have started).
    pub stale: u64,
    /// Calls that had to wait for a fetch (started or joined).
    pub misses: u64,
    /// Calls that waited for a fetch another call started.
    pub coalesced: u64,
    /// Fetches started (foreground and background).
    pub fetches: u64,
    /// Fetches that failed.
    pub fetch_failures: u64,
    /// Background refreshes started.
    pub refreshes: u64,
    /// Fetches that found another node fetching the same key (with Redis), and waited.
    pub lock_waits: u64,
    /// Fetches not run because another node had fetched the value (with Redis).
    pub fetched_elsewhere: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    stale: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    fetches: AtomicU64,
    fetch_failures: AtomicU64,
    refreshes: AtomicU64,
    lock_waits: AtomicU64,
    fetched_elsewhere: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the callers waiting for a fetch learn when it ends.
type DataOutcome = Outcome<Arc<Entry>, DataFailure>;

/// Why a fetch has no value for its callers.
#[derive(Clone)]
enum DataFailure {
    /// The fetch's error, an `Arc<E>` of the starter's error type.
    Fetch(Arc<dyn Any + Send + Sync>),
    Unencodable(Arc<serde_json::Error>),
    Abandoned,
}

impl Ending for DataOutcome {
    fn abandoned() -> DataOutcome {
        Outcome::Failed(DataFailure::Abandoned)
    }
}

/// Builds a [`DataCache`] over chosen stores.
pub struct DataCacheBuilder {
    store: Arc<dyn EntryStore>,
    purges: Arc<dyn PurgeStore>,
    cluster: Option<(Arc<TieredStore>, Arc<dyn Cluster>)>,
    clock: Arc<dyn Clock>,
    retry_min: Duration,
    retry_max: Duration,
    expire: Option<Duration>,
    stale_if_error: Duration,
    lock_ttl: Duration,
    lock_timeout: Duration,
}

impl DataCacheBuilder {
    /// Read the time from `clock` (tests move a [`crate::ManualClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> DataCacheBuilder {
        self.clock = clock;
        self
    }

    /// Backoff after a failed refresh: `min` after the first failure, doubled per
    /// consecutive failure up to `max`. Default: 1 s to 60 s.
    pub fn retry(mut self, min: Duration, max: Duration) -> DataCacheBuilder {
        self.retry_min = min;
        self.retry_max = max;
        self
    }

    /// With Redis: a fetch's lock lives `ttl` unless its node extends it (it does every
    /// third of it while the fetch runs), and a node waits up to `timeout` for another
    /// node's value before fetching itself. Default: 10 s and 10 s.
    pub fn lock(mut self, ttl: Duration, timeout: Duration) -> DataCacheBuilder {
        self.lock_ttl = ttl;
        self.lock_timeout = timeout;
        self
    }

    /// The backoff ([`DataCacheBuilder::retry`]) and the locks ([`DataCacheBuilder::lock`])
    /// as `config` sets them for pages: `[cache] retry_min`, `retry_max`, `lock_timeout`,
    /// and `[redis] lock_ttl`.
    pub fn config(self, config: &Config) -> DataCacheBuilder {
        let engine = &config.engine;
        let lock_ttl_ms = config
            .redis
            .as_ref()
            .map_or(RedisSettings::default().lock_ttl_ms, |redis| {
                redis.lock_ttl_ms
            });
        self.retry(
            Duration::from_millis(engine.retry_min_ms),
            Duration::from_millis(engine.retry_max_ms),
        )
        .lock(
            Duration::from_millis(lock_ttl_ms),
            Duration::from_millis(engine.lock_timeout_ms),
        )
    }

    /// Default expiry of values ([`DataOptions::expire`]). Default: never.
    pub fn expire(mut self, expire: Duration) -> DataCacheBuilder {
        self.expire = Some(expire);
        self
    }

    /// After expiry, how long a value is still returned when its fetch fails. Default: 0.
    pub fn stale_if_error(mut self, window: Duration) -> DataCacheBuilder {
        self.stale_if_error = window;
        self
    }

    /// The data cache.
    pub fn build(self) -> DataCache {
        // No value outlives this: older purge records may be folded.
        let retention = self
            .expire
            .map(|expire| expire.saturating_add(self.stale_if_error));
        let events = self.cluster.as_ref().map(|(_, cluster)| cluster.events());
        let cache = DataCache {
            inner: Arc::new(Inner {
                store: self.store,
                shared: self.cluster,
                purges: PurgeLog::new(self.purges, retention),
                clock: self.clock,
                flights: Arc::default(),
                backoff: Backoff::new(millis(self.retry_min), millis(self.retry_max)),
                expire: self.expire.map(ceil_secs),
                stale_if_error: ceil_secs(self.stale_if_error),
                lock_ttl_ms: millis(self.lock_ttl),
                lock_timeout: self.lock_timeout,
                running: watch::Sender::new(0),
                counters: Counters::default(),
            }),
        };
        if let Some(events) = events {
            tokio::spawn(follow(Arc::downgrade(&cache.inner), events));
        }
        cache
    }
}

impl Follower for Inner {
    fn purge_log(&self) -> &PurgeLog {
        &self.purges
    }

    fn memory(&self) -> Option<&MemoryStore> {
        self.shared.as_ref().map(|(tiered, _)| tiered.l1())
    }

    fn node_id(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |(_, cluster)| cluster.node_id())
    }
}

impl DataCache {
    /// A cache in memory only, holding at most `capacity_bytes` of values.
    pub fn memory(capacity_bytes: u64) -> DataCache {
        DataCache::builder(
            Arc::new(MemoryStore::new(capacity_bytes)),
            Arc::new(MemoryPurges::new()),
        )
        .build()
    }

    #[cfg(feature = "redis")]
    /// A cache whose values and invalidations are shared by every node using `redis`,
    /// with up to `memory_bytes` of values in this node's memory. Give it a Redis store of
    /// its own prefix (not the pages'): [`DataCache::invalidate_all`] invalidates everything
    /// under that prefix. A key is fetched by one node at a time, under Redis's lock
    /// (extended while the fetch runs; see [`DataCacheBuilder::lock`] for its time to live
    /// and how long a node waits for another's value). [`DataCacheBuilder::build`] must then run within a Tokio runtime
    /// (it starts the task that hears the other nodes' invalidations).
    pub fn redis_builder(redis: Arc<RedisStore>, memory_bytes: u64) -> DataCacheBuilder {
        let memory = Arc::new(MemoryStore::new(memory_bytes));
        let tiered = Arc::new(TieredStore::new(memory, Arc::clone(&redis) as _));
        let mut builder = DataCache::builder(Arc::clone(&tiered) as _, Arc::clone(&redis) as _);
        builder.cluster = Some((tiered, redis));
        builder
    }

    /// A cache storing values in `store` (memory, on-disk, tiered; it may be shared with
    /// the page cache) and its purge records in `purges`.
    pub fn builder(store: Arc<dyn EntryStore>, purges: Arc<dyn PurgeStore>) -> DataCacheBuilder {
        DataCacheBuilder {
            store,
            purges,
            cluster: None,
            clock: Arc::new(SystemClock),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            expire: None,
            stale_if_error: Duration::ZERO,
            lock_ttl: Duration::from_millis(RedisSettings::default().lock_ttl_ms),
            lock_timeout: Duration::from_millis(EngineSettings::default().lock_timeout_ms),
        }
    }

    /// Load the purge records of earlier runs (with a durable purge store), so a restart
    /// honours every invalidation. Returns how many records there are.
    pub async fn restore_purges(&self) -> Result<usize, StoreError> {
        self.inner.purges.restore().await
    }

    /// The value under `key`: fresh from the cache; stale from the cache while one
    /// background refresh runs `fetch`; or, when missing, from `fetch` (stored, then
    /// returned). Concurrent calls for a key run one fetch between them (across nodes,
    /// with [`DataCache::redis_builder`]).
    ///
    /// `fetch` runs in its own task, so it must be `'static`: move what it needs into it.
    pub async fn with_revalidate<T, E, F, Fut>(
        &self,
        key: &str,
        ttl: Duration,
        fetch: F,
    ) -> Result<T, DataError<E>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.with_options(key, DataOptions::new(ttl), fetch).await
    }

    /// [`DataCache::with_revalidate`] with tags and an expiry.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use isr::{DataCache, DataOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cache = DataCache::memory(1024 * 1024);
    /// let options = DataOptions::new(Duration::from_secs(30))
    ///     .tags(["posts", "post:1"])
    ///     .expire(Duration::from_secs(3600));
    /// let title: String = cache
    ///     .with_options("post:1", options, || async { Ok::<_, String>("Hello".to_owned()) })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(title, "Hello");
    /// cache.invalidate_tag("posts").await.unwrap(); // the next call fetches again
    /// # }
    /// ```
    pub async fn with_options<T, E, F, Fut>(
        &self,
        key: &str,
        options: DataOptions,
        fetch: F,
    ) -> Result<T, DataError<E>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let inner = &self.inner;
        let key = storage_key(key);
        let cached = inner.lookup(&key).await;
        let seen = cached.as_ref().map(|entry| entry.created_at);
        let now = inner.clock.now();
        let found = cached.map(|entry| {
            let state = inner.freshness_of(&entry, now);
            (entry, state)
        });
        let fallback = match on_lookup(found, || inner.backoff.is_backing_off(&key, now)) {
            Action::Serve {
                entry,
                status,
                regenerate,
            } => match decode(&entry) {
                Ok(value) => {
                    let counter = match status {
                        CacheStatus::Hit => &inner.counters.hits,
                        _ => &inner.counters.stale,
                    };
                    bump(counter);
                    if regenerate {
                        self.refresh(key, options, fetch, seen);
                    }
                    return Ok(value);
                }
                // Undecodable as the type asked for: fetch it as if it were missing.
                Err(_) => None,
            },
            Action::Render { fallback, .. } => fallback,
        };
        bump(&inner.counters.misses);
        let waiter = match inner.flights.join(&key) {
            Join::Started(flight) => {
                let waiter = flight.waiter();
                self.spawn_fetch(flight, key, options, fetch, seen);
                waiter
            }
            Join::Joined(waiter) => {
                bump(&inner.counters.coalesced);
                waiter
            }
        };
        let outcome = waiter.outcome().await;
        // The fallback is decoded only when it is needed.
        let fallback = match &outcome {
            Outcome::Failed(_) => fallback.and_then(|entry| decode::<T>(&entry).ok()),
            Outcome::Stored(_) | Outcome::Uncacheable => None,
        };
        match joined(Some(outcome), fallback) {
            Joined::Serve(entry) => decode(&entry).map_err(DataError::Encoding),
            Joined::Stale(value) => Ok(value),
            Joined::Failed(DataFailure::Fetch(error)) => Err(error
                .downcast::<E>()
                .map_or(DataError::Abandoned, DataError::Fetch)),
            Joined::Failed(DataFailure::Unencodable(error)) => Err(DataError::Encoding(error)),
            // A fetch is never uncacheable; abandoned is all that is left.
            Joined::Failed(DataFailure::Abandoned) | Joined::Alone(_) => Err(DataError::Abandoned),
        }
    }

    /// Invalidate the value under `key`: the next call waits for a fetch.
    pub async fn invalidate(&self, key: &str) -> Result<(), StoreError> {
        self.purge(&[DataTarget::Key(key.to_owned())], PurgeMode::Hard)
            .await
    }

    /// Invalidate every value tagged `tag`: their next calls wait for a fetch.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), StoreError> {
        self.purge(&[DataTarget::Tag(tag.to_owned())], PurgeMode::Hard)
            .await
    }

    /// Invalidate every value: every next call waits for a fetch.
    pub async fn invalidate_all(&self) -> Result<(), StoreError> {
        self.purge(&[DataTarget::All], PurgeMode::Hard).await
    }

    /// Invalidate `targets`: hard (the next call waits for a fetch) or soft (the value is
    /// served stale while one background refresh runs). Visible to every call once this
    /// returns; one record per target, whatever it reaches.
    pub async fn purge(&self, targets: &[DataTarget], mode: PurgeMode) -> Result<(), StoreError> {
        let targets: Vec<Target> = targets.iter().map(DataTarget::to_target).collect();
        let inner = &self.inner;
        inner.purges.record(&targets, mode, &*inner.clock).await?;
        Ok(())
    }

    /// Wait until no fetch this cache started is running (background refreshes included).
    pub async fn settled(&self) {
        let mut running = self.inner.running.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = running.wait_for(|&n| n == 0).await;
    }

    /// Counters of what the cache did so far.
    pub fn stats(&self) -> DataStats {
        let c = &self.inner.counters;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DataStats {
            hits: read(&c.hits),
            stale: read(&c.stale),
            misses: read(&c.misses),
            coalesced: read(&c.coalesced),
            fetches: read(&c.fetches),
            fetch_failures: read(&c.fetch_failures),
            refreshes: read(&c.refreshes),
            lock_waits: read(&c.lock_waits),
            fetched_elsewhere: read(&c.fetched_elsewhere),
        }
    }

    /// A stale value was served: refresh it in the background, once (the caller has
    /// checked the backoff).
    fn refresh<T, E, F, Fut>(
        &self,
        key: String,
        options: DataOptions,
        fetch: F,
        seen: Option<UnixMillis>,
    ) where
        T: Serialize + Send + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let inner = &self.inner;
        if let Join::Started(flight) = inner.flights.join(&key) {
            bump(&inner.counters.refreshes);
            self.spawn_fetch(flight, key, options, fetch, seen);
        }
    }

    /// Run `fetch` for `flight` in its own task. `seen`: when the entry the caller saw was
    /// created (a newer fresh one, stored meanwhile, makes the fetch unnecessary).
    fn spawn_fetch<T, E, F, Fut>(
        &self,
        flight: Flight<DataOutcome>,
        key: String,
        options: DataOptions,
        fetch: F,
        seen: Option<UnixMillis>,
    ) where
        T: Serialize + Send + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let running = Running::start(&inner.running);
        tokio::spawn(async move {
            let outcome = inner.fetch(&key, &options, fetch, seen).await;
            // Let go of the stores before anyone learns the fetch is over.
            drop(inner);
            flight.finish(outcome);
            drop(running);
        });
    }
}

/// Counts a running fetch task, until dropped (even by a panic).
struct Running(watch::Sender<usize>);

impl Running {
    fn start(running: &watch::Sender<usize>) -> Running {
        running.send_modify(|n| *n += 1);
        Running(running.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Inner {
    /// The entry under `key`; a store error is a miss (logged).
    async fn lookup(&self, key: &str) -> Option<Arc<Entry>> {
        match self.store.get(key).await {
            Ok(found) => found.filter(|entry| entry.key == key),
            Err(error) => {
                store_errors::log(&error, key, "data cache: store read failed; fetching");
                None
            }
        }
    }

    fn freshness_of(&self, entry: &Entry, now: UnixMillis) -> Freshness {
        let invalidation = self.purges.newest_for(&entry.key, &entry.path, &entry.tags);
        freshness(entry.created_at, &entry.lifetime, now, invalidation)
    }

    /// Fetch, once across the nodes sharing a cluster, and store what arrives. Stores
    /// nothing on failure.
    async fn fetch<T, E, F, Fut>(
        &self,
        key: &str,
        options: &DataOptions,
        fetch: F,
        seen: Option<UnixMillis>,
    ) -> DataOutcome
    where
        T: Serialize + Send + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        // A fetch that finished between the caller's look and its flight already stored a
        // fresh value: use it rather than fetching again.
        if let Some(entry) = self.lookup(key).await
            && self.replaces(&entry, key, seen)
        {
            return Outcome::Stored(entry);
        }
        let Some((tiered, cluster)) = &self.shared else {
            return self.fetch_and_store(key, options, fetch).await;
        };
        let lock = NodeLock {
            cluster: &**cluster,
            ttl_ms: self.lock_ttl_ms,
            timeout: self.lock_timeout,
            clock: &*self.clock,
        };
        let elsewhere = || self.fetched_elsewhere(tiered, key, seen);
        let waiting = || bump(&self.counters.lock_waits);
        let work = self.fetch_and_store(key, options, fetch);
        match lock.once(key, elsewhere, waiting, work).await {
            Once::Worked(outcome) => outcome,
            Once::Found(entry) => {
                bump(&self.counters.fetched_elsewhere);
                Outcome::Stored(entry)
            }
        }
    }

    /// A fresh value for `key` that another node stored in Redis, newer than the one the
    /// caller saw (created at `seen`); put in this node's memory tier.
    async fn fetched_elsewhere(
        &self,
        tiered: &TieredStore,
        key: &str,
        seen: Option<UnixMillis>,
    ) -> Option<Arc<Entry>> {
        let entry = tiered.l2().get(key).await.ok()??;
        self.replaces(&entry, key, seen).then(|| {
            tiered.l1().insert_sync(key, Arc::clone(&entry));
            entry
        })
    }

    /// Does `entry` make a fetch of `key` unnecessary for a caller that saw a value created
    /// at `seen`?
    fn replaces(&self, entry: &Entry, key: &str, seen: Option<UnixMillis>) -> bool {
        let state = self.freshness_of(entry, self.clock.now());
        replaces(entry, key, seen, state)
    }

    /// Fetch, and store what arrives. Stores nothing on failure.
    async fn fetch_and_store<T, E, F, Fut>(
        &self,
        key: &str,
        options: &DataOptions,
        fetch: F,
    ) -> DataOutcome
    where
        T: Serialize + Send + 'static,
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        bump(&self.counters.fetches);
        let started = self.purges.date_render(&*self.clock).await;
        let generation = self.purges.generation();
        let value = match fetch().await {
            Ok(value) => value,
            Err(error) => {
                bump(&self.counters.fetch_failures);
                self.backoff
                    .apply(BackoffChange::Fail, key, self.clock.now());
                tracing::warn!(key, "data cache: fetch failed; keeping the last value");
                let error: Arc<dyn Any + Send + Sync> = Arc::new(error);
                return Outcome::Failed(DataFailure::Fetch(error));
            }
        };
        let body = match serde_json::to_vec(&value) {
            Ok(body) => Bytes::from(body),
            Err(error) => {
                self.backoff
                    .apply(BackoffChange::Fail, key, self.clock.now());
                return Outcome::Failed(DataFailure::Unencodable(Arc::new(error)));
            }
        };
        self.backoff
            .apply(BackoffChange::Clear, key, self.clock.now());
        let created_at = self.created_at(key, options, started, generation);
        let entry = Arc::new(self.entry(key, options, body, created_at));
        if let Err(error) = self.store.put(key, Arc::clone(&entry)).await {
            store_errors::log(&error, key, "data cache: could not store a value");
        }
        Outcome::Stored(entry)
    }

    /// When a value fetched from `started` on counts as created: when it arrived, unless
    /// an invalidation reaching it landed during the fetch (then the start, so it applies).
    /// Never at or before an invalidation it did not see land.
    fn created_at(
        &self,
        key: &str,
        options: &DataOptions,
        started: UnixMillis,
        generation: u64,
    ) -> UnixMillis {
        let arrived = self.clock.now();
        // No entry yet, so no key: data keys are purged as paths (`DataTarget::Key`).
        let newest = self.purges.newest_for("", key, &options.tags);
        let purged_meanwhile =
            self.purges.generation() != generation && newest.is_some_and(|inv| inv.at >= started);
        match newest {
            _ if purged_meanwhile => started,
            Some(inv) => arrived.max(UnixMillis(inv.at.0.saturating_add(1))),
            None => arrived,
        }
    }

    fn entry(
        &self,
        key: &str,
        options: &DataOptions,
        body: Bytes,
        created_at: UnixMillis,
    ) -> Entry {
        let revalidate = ceil_secs(options.ttl);
        let expire = options
            .expire
            .map(ceil_secs)
            .or(self.expire)
            .map(|expire| expire.max(revalidate));
        Entry {
            key: key.to_owned(),
            path: key.to_owned(),
            status: StatusCode::OK,
            headers: Vec::new(),
            body,
            created_at,
            lifetime: Lifetime {
                revalidate: Revalidate::After(revalidate),
                expire,
                stale_if_error: self.stale_if_error,
            },
            tags: options.tags.clone(),
            build_id: String::new(),
            etag: String::new(),
            representations: Vec::new(),
        }
    }
}

fn storage_key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

fn decode<T: DeserializeOwned>(entry: &Entry) -> Result<T, Arc<serde_json::Error>> {
    serde_json::from_slice(&entry.body).map_err(Arc::new)
}

fn ceil_secs(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
