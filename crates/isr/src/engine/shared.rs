//! The engine's state: what every service a layer builds shares (stores, purge log,
//! flights, backoff, pass marks, counters), and the engine over one renderer.
//!
//! Invariants:
//! - The freshness of an entry is always judged against every purge that reaches it
//!   ([`Shared::freshness_of`]), on the hit path too, without a lock or an allocation.
//! - The recursion-guard secret is random per process and never leaves it except on the
//!   requests isr sends to the origin.
//! - The state of failing and uncacheable keys is bounded (the backoff's table, the pass
//!   marks' cache), whatever how many keys fail.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use isr_core::UnixMillis;
use isr_core::build::Switch;
use isr_core::config::{Config, RedisSettings};
use isr_core::entry::Entry;
use isr_core::freshness::{Freshness, Invalidation, PurgeMode, freshness};
use isr_core::purge::Target;
use isr_core::store::{PurgeStore, StoreError};
use isr_store::{Cluster, MemoryStore, TieredStore};
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use crate::builds::{BuildState, BuildSwitchError};
use crate::clock::Clock;
use crate::flight::{Backoff, Flights};
use crate::follow::Follower;
use crate::purge_watch::PurgeObservers;
use crate::purges::PurgeLog;
use crate::render::Renderer;
use crate::stats::{Counters, Stats};
use crate::telemetry::EngineMetrics;

/// Keys whose pass mark is remembered at most (see [`isr_core::flow::settle`]).
const PASS_MARKS: usize = 10_000;

/// State shared by every service a layer builds: the stores, the flights, the counters.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<TieredStore>,
    /// Every purge, durable and mirrored for the hit path.
    pub(super) purges: PurgeLog,
    pub(crate) clock: Arc<dyn Clock>,
    pub(super) flights: Arc<Flights>,
    pub(super) backoff: Backoff,
    /// Until when each key whose render was uncacheable skips single flight.
    pub(super) pass_marks: quick_cache::sync::Cache<String, UnixMillis>,
    pub(super) regenerations: Arc<Semaphore>,
    /// The renders that run on their own (background regenerations, and foreground
    /// renders that outlive the request that started them): what a graceful stop waits for.
    pub(super) background: TaskTracker,
    pub(super) secret: HeaderValue,
    pub(super) counters: Counters,
    /// What only the engine sees, as metrics handles.
    pub(super) metrics: EngineMetrics,
    /// Told of every purge recorded here.
    pub(crate) purge_observers: PurgeObservers,
    /// The nodes this one shares its store with, if any.
    pub(crate) cluster: Option<Arc<dyn Cluster>>,
    pub(super) lock_ttl_ms: u64,
    /// The build served now, and the builds it replaced.
    pub(crate) builds: BuildState,
    /// Whether the first HTML answer that was not stored has been logged (once, at info
    /// level, so an operator learns why a default setup caches nothing).
    pub(super) told_unstored_html: std::sync::atomic::AtomicBool,
    /// Held while this node updates the tag index of an app's pages
    /// ([`crate::app_data`]).
    pub(crate) tag_index: tokio::sync::Mutex<()>,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        store: Arc<TieredStore>,
        purge_store: Arc<dyn PurgeStore>,
        cluster: Option<Arc<dyn Cluster>>,
        clock: Arc<dyn Clock>,
    ) -> Shared {
        let lock_ttl_ms = config
            .redis
            .as_ref()
            .map_or(RedisSettings::default().lock_ttl_ms, |redis| {
                redis.lock_ttl_ms
            });
        let engine = &config.engine;
        // No entry with the default lifetime outlives this: older purge records may be
        // folded (see `PurgeLog`).
        let retention = config.defaults.expire.map(|expire| {
            Duration::from_secs(expire.saturating_add(config.defaults.stale_if_error))
        });
        Shared {
            builds: BuildState::new(&config.build_id),
            told_unstored_html: std::sync::atomic::AtomicBool::new(false),
            tag_index: tokio::sync::Mutex::new(()),
            backoff: Backoff::new(engine.retry_min_ms, engine.retry_max_ms),
            regenerations: Arc::new(Semaphore::new(engine.regenerate_concurrency.max(1))),
            background: TaskTracker::new(),
            config: Arc::new(config),
            store,
            purges: PurgeLog::new(purge_store, retention),
            clock,
            flights: Arc::default(),
            pass_marks: quick_cache::sync::Cache::new(PASS_MARKS),
            secret: render_secret(),
            counters: Counters::default(),
            metrics: EngineMetrics::register(),
            purge_observers: PurgeObservers::default(),
            cluster,
            lock_ttl_ms,
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Load the recorded purges into memory (at start: a restart forgets no purge).
    pub(crate) async fn restore_purges(&self) -> Result<usize, StoreError> {
        self.purges.restore().await
    }

    /// Wait until every render running on its own has finished (and stored what it
    /// stores), including those started meanwhile.
    pub(crate) async fn finish_background(&self) {
        self.background.close();
        self.background.wait().await;
    }

    /// Number of purge records held.
    pub(crate) fn purge_records(&self) -> usize {
        self.purges.len()
    }

    /// Invalidate `targets` now (see [`PurgeLog::record`]); returns the invalidation
    /// recorded.
    pub(crate) async fn purge(
        &self,
        targets: &[Target],
        mode: PurgeMode,
    ) -> Result<Invalidation, StoreError> {
        let invalidation = self.purges.record(targets, mode, &*self.clock).await?;
        self.metrics.purged(targets);
        self.purge_observers.tell(targets, mode, self.clock.now());
        Ok(invalidation)
    }

    /// Invalidate `targets` as of an `invalidation` recorded earlier for others (see
    /// [`PurgeLog::record_as`]).
    pub(crate) async fn purge_as(
        &self,
        targets: &[Target],
        invalidation: Invalidation,
    ) -> Result<(), StoreError> {
        self.purges.record_as(targets, invalidation).await?;
        self.metrics.purged(targets);
        self.purge_observers
            .tell(targets, invalidation.mode, self.clock.now());
        Ok(())
    }

    /// The newest invalidation reaching an entry under the raw `key`, for `path`, with
    /// `tags` (see [`PurgeLog::newest_for`]).
    pub(crate) fn newest_invalidation(
        &self,
        key: &str,
        path: &str,
        tags: &[String],
    ) -> Option<Invalidation> {
        self.purges.newest_for(key, path, tags)
    }

    /// The newest invalidation of one of `tags` (their own records only).
    pub(crate) fn newest_tag_invalidation(&self, tags: &[String]) -> Option<Invalidation> {
        self.purges.newest_for_tags(tags)
    }

    /// The instant a value made now counts as made (see [`PurgeLog::date_render`]).
    pub(crate) async fn date_render(&self) -> UnixMillis {
        self.purges.date_render(&*self.clock).await
    }

    /// Switch every request from now on to build `to`, on every node sharing the store.
    pub(crate) async fn switch_build(&self, to: &str) -> Result<Switch, BuildSwitchError> {
        let switch = self.builds.switch(to)?;
        if switch != Switch::Unchanged
            && let Some(cluster) = &self.cluster
        {
            cluster.switch_build(to).await?;
        }
        Ok(switch)
    }

    /// The state of `entry` at `now`, purges included.
    pub(super) fn freshness_of(&self, entry: &Entry, now: UnixMillis) -> Freshness {
        let invalidation = self.purges.newest_for(&entry.key, &entry.path, &entry.tags);
        freshness(entry.created_at, &entry.lifetime, now, invalidation)
    }
}

impl Follower for Shared {
    fn purge_log(&self) -> &PurgeLog {
        &self.purges
    }

    fn memory(&self) -> Option<&MemoryStore> {
        Some(self.store.l1())
    }

    fn node_id(&self) -> u64 {
        self.cluster.as_ref().map_or(0, |cluster| cluster.node_id())
    }

    fn purge_arrived(&self, invalidation: &Invalidation) {
        let delay = self.clock.now().millis_since(invalidation.at);
        self.metrics.purge_arrived(delay);
    }

    fn build_switched(&self, build: &str) {
        if let Err(error) = self.builds.switch(build) {
            tracing::warn!(%error, "ignored a build switch announced by another node");
        }
    }

    fn cluster(&self) -> Option<&Arc<dyn Cluster>> {
        self.cluster.as_ref()
    }
}

/// A random per-process secret for the recursion guard.
fn render_secret() -> HeaderValue {
    let secret: u128 = rand::random();
    HeaderValue::try_from(format!("{secret:032x}")).unwrap_or(HeaderValue::from_static("isr"))
}

/// The engine over one renderer (the wrapped service).
pub(crate) struct Engine {
    pub(super) shared: Arc<Shared>,
    pub(super) renderer: Arc<dyn Renderer>,
}

impl Engine {
    pub(crate) fn new(shared: Arc<Shared>, renderer: Arc<dyn Renderer>) -> Engine {
        Engine { shared, renderer }
    }

    pub(super) fn now(&self) -> UnixMillis {
        self.shared.clock.now()
    }

    /// The state of an entry now (for listings).
    pub(crate) fn state_of(&self, entry: &Entry) -> Freshness {
        self.shared.freshness_of(entry, self.now())
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}
