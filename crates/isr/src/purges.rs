//! The purge log: every purge recorded durably, and mirrored in memory for reads. The
//! page engine and the data cache both keep one.
//!
//! Invariants:
//! - A purge is written to the durable store before it becomes visible, so once
//!   [`PurgeLog::record`] returns every read honours it, and a restart forgets none.
//! - A read ([`PurgeLog::newest_for`]) takes no lock and allocates nothing.
//! - A purge copies at most [`RECENT_PURGES`] records, whatever how many are held, and at
//!   most [`MAX_PURGE_RECORDS`] are held: older ones are folded (never simply dropped, see
//!   [`PurgeState::forget_before`]), in memory and in the durable store alike.
//! - A render dated by [`PurgeLog::date_render`] is reached by every purge recorded after
//!   it started, and by none that was visible before it started.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use isr_core::UnixMillis;
use isr_core::flow::dating::{needs_dating, purge_instant, render_instant};
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::purge::{MAX_PURGE_RECORDS, PurgeState, Target, newer};
use isr_core::store::{PurgeStore, StoreError};
use tokio::sync::Mutex;

use crate::clock::Clock;

/// Records held in [`Purges::recent`] before they are merged into the base.
const RECENT_PURGES: usize = 1_024;

/// The durable purge records and their in-memory mirror.
pub(crate) struct PurgeLog {
    store: Arc<dyn PurgeStore>,
    current: ArcSwap<Purges>,
    /// Held while a purge is recorded, and while a render dates itself after one (see
    /// [`PurgeLog::date_render`]), so the two never interleave.
    lock: Mutex<()>,
    /// The latest instant any visible purge is recorded at (ms).
    last: AtomicU64,
    /// No purge is recorded earlier than this (ms): a render that dated itself after a
    /// purge raised it to its own start, so every later purge still reaches that render.
    floor: AtomicU64,
    /// Bumped after every purge becomes visible.
    generation: AtomicU64,
    /// No entry outlives this: records older than it may be folded early.
    retention: Option<Duration>,
}

/// The records reads see: a base, rebuilt only every [`RECENT_PURGES`] records, and the
/// records since. A purge copies only the recent records.
#[derive(Clone, Default)]
struct Purges {
    base: Arc<PurgeState>,
    recent: PurgeState,
    /// Distinct records in `base` and `recent` together.
    len: usize,
}

impl Purges {
    fn newest_for_tags(&self, tags: &[String]) -> Option<Invalidation> {
        let base = self.base.newest_for_tags(tags);
        let recent = self.recent.newest_for_tags(tags);
        base.into_iter().chain(recent).reduce(newer)
    }

    fn newest_for(&self, key: &str, path: &str, tags: &[String]) -> Option<Invalidation> {
        let base = self.base.newest_for(key, path, tags);
        let recent = self.recent.newest_for(key, path, tags);
        base.into_iter().chain(recent).reduce(newer)
    }
}

impl PurgeLog {
    /// A log over `store`. `retention`: how long the longest-lived entry can be served.
    pub(crate) fn new(store: Arc<dyn PurgeStore>, retention: Option<Duration>) -> PurgeLog {
        PurgeLog {
            store,
            current: ArcSwap::default(),
            lock: Mutex::new(()),
            last: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            retention,
        }
    }

    /// Load the durable records (at start). Returns how many are held.
    pub(crate) async fn restore(&self) -> Result<usize, StoreError> {
        self.resync().await?;
        Ok(self.len())
    }

    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.current.load().len
    }

    /// Changes every time a purge becomes visible.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The newest invalidation that reaches the entry under the raw `key`, for `path`,
    /// with `tags`.
    pub(crate) fn newest_for(
        &self,
        key: &str,
        path: &str,
        tags: &[String],
    ) -> Option<Invalidation> {
        self.current.load().newest_for(key, path, tags)
    }

    /// The newest invalidation of one of `tags` (their own records only).
    pub(crate) fn newest_for_tags(&self, tags: &[String]) -> Option<Invalidation> {
        self.current.load().newest_for_tags(tags)
    }

    /// Invalidate `targets` now. The cost does not depend on how many entries a target
    /// reaches.
    pub(crate) async fn record(
        &self,
        targets: &[Target],
        mode: PurgeMode,
        clock: &dyn Clock,
    ) -> Result<Invalidation, StoreError> {
        let _serial = self.lock.lock().await;
        let now = clock.now();
        let floor = UnixMillis(self.floor.load(Ordering::SeqCst));
        let invalidation = Invalidation {
            at: purge_instant(now, floor),
            mode,
        };
        self.write(targets, invalidation).await?;
        Ok(invalidation)
    }

    /// Invalidate `targets` as of an `invalidation` already recorded for other targets
    /// (its instant and mode): entries made after it are not reached. What a purge of a
    /// tag did, extended to the paths learned since to carry that tag.
    pub(crate) async fn record_as(
        &self,
        targets: &[Target],
        invalidation: Invalidation,
    ) -> Result<(), StoreError> {
        let _serial = self.lock.lock().await;
        self.write(targets, invalidation).await
    }

    /// Write `targets` at `invalidation` durably, then make them visible (the lock held).
    async fn write(
        &self,
        targets: &[Target],
        invalidation: Invalidation,
    ) -> Result<(), StoreError> {
        for target in targets {
            self.store
                .invalidate(&target.record_name(), invalidation)
                .await?;
        }
        let horizon = self.horizon(invalidation.at);
        let records: Vec<(Target, Invalidation)> =
            targets.iter().map(|t| (t.clone(), invalidation)).collect();
        let folded_at = self.mirror(&records, horizon);
        self.last.fetch_max(invalidation.at.0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(before) = folded_at {
            // Persist the fold, then forget what it covers, so a restart sees the same state.
            if let Some(all) = self.current.load().base.all() {
                self.store
                    .invalidate(&Target::All.record_name(), all)
                    .await?;
            }
            self.store.forget_before(before).await?;
        }
        Ok(())
    }

    /// Add `records` to the in-memory mirror. Returns the instant before which records
    /// were folded, if a fold happened (the caller persists it if it recorded them).
    fn mirror(
        &self,
        records: &[(Target, Invalidation)],
        horizon: Option<UnixMillis>,
    ) -> Option<UnixMillis> {
        let mut folded_at = None;
        self.current.rcu(|current| {
            // Only the recent records are copied; the base is shared.
            let mut next = Purges::clone(current);
            for (target, invalidation) in records {
                if !next.base.contains(target) && !next.recent.contains(target) {
                    next.len += 1;
                }
                next.recent.record(target, *invalidation);
            }
            folded_at = None;
            if next.recent.len() < RECENT_PURGES && next.len <= MAX_PURGE_RECORDS {
                return next;
            }
            // Now and then, merge the recent records into a new base.
            let mut merged = PurgeState::clone(&next.base);
            merged.merge(&next.recent);
            // Records older than any entry can live are forgotten; so are the oldest when
            // there are too many. Either way they are folded, never simply dropped.
            folded_at = horizon.filter(|&h| merged.forget_before(h) > 0);
            if let Some(cut) = merged.bound(MAX_PURGE_RECORDS) {
                folded_at = Some(folded_at.map_or(cut, |h: UnixMillis| h.max(cut)));
            }
            Purges {
                len: merged.len(),
                base: Arc::new(merged),
                recent: PurgeState::default(),
            }
        });
        folded_at
    }

    /// Honour invalidations another node recorded (they are already in the shared durable
    /// store): memory only. Applying one twice, or an older one, changes nothing.
    pub(crate) fn apply(&self, name: &str, invalidation: Invalidation) {
        let Some(target) = Target::from_record_name(name) else {
            return;
        };
        let horizon = self.horizon(invalidation.at);
        self.mirror(&[(target, invalidation)], horizon);
        self.last.fetch_max(invalidation.at.0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Reload every durable record and merge it into memory (after announcements may have
    /// been missed). Merging never undoes a newer record. Returns how many were read.
    pub(crate) async fn resync(&self) -> Result<usize, StoreError> {
        let records: Vec<(Target, Invalidation)> = self
            .store
            .all()
            .await?
            .into_iter()
            .filter_map(|(name, invalidation)| {
                Some((Target::from_record_name(&name)?, invalidation))
            })
            .collect();
        let Some(latest) = records.iter().map(|(_, inv)| inv.at).max() else {
            return Ok(0);
        };
        self.mirror(&records, self.horizon(latest));
        self.last.fetch_max(latest.0, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(records.len())
    }

    /// The instant a render (or fetch) starting now dates from
    /// ([`isr_core::flow::dating`]): normally now; just after the latest purge if one is
    /// visible at or after now, and then the floor of purge times rises to it, so a purge
    /// recorded after this still reaches the render. Only that case takes the lock, so it
    /// never interleaves with a purge being recorded.
    pub(crate) async fn date_render(&self, clock: &dyn Clock) -> UnixMillis {
        let last = || UnixMillis(self.last.load(Ordering::SeqCst));
        let now = clock.now();
        if !needs_dating(now, last()) {
            return now;
        }
        let _serial = self.lock.lock().await;
        let now = clock.now();
        let started = render_instant(now, last());
        if started != now {
            self.floor.fetch_max(started.0, Ordering::SeqCst);
        }
        started
    }

    /// Before this instant no entry can still be served, so purge records older than it
    /// may be forgotten (folded).
    fn horizon(&self, now: UnixMillis) -> Option<UnixMillis> {
        let life_ms = u64::try_from(self.retention?.as_millis()).unwrap_or(u64::MAX);
        (now.0 > life_ms).then(|| UnixMillis(now.0 - life_ms))
    }
}
