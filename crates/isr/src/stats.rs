//! Counters of what the engine did, read by the admin API and the demo.

use std::sync::atomic::{AtomicU64, Ordering};

use isr_core::headers::CacheStatus;

/// Live counters (relaxed atomics: they are statistics, not synchronisation).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    stale: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    renders: AtomicU64,
    coalesced: AtomicU64,
    regenerations_ok: AtomicU64,
    regenerations_failed: AtomicU64,
    rendered_elsewhere: AtomicU64,
}

/// A snapshot of the engine's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Answers from a fresh entry.
    pub hits: u64,
    /// Answers from a stale entry.
    pub stale: u64,
    /// Answers rendered for the request.
    pub misses: u64,
    /// Answers passed to the origin, not stored.
    pub bypasses: u64,
    /// Renders started (foreground and background).
    pub renders: u64,
    /// Requests that waited for another request's render of the same key.
    pub coalesced: u64,
    /// Background regenerations that stored a new entry.
    pub regenerations_ok: u64,
    /// Background regenerations that failed.
    pub regenerations_failed: u64,
    /// Renders this node needed and took from another node sharing its store, instead of
    /// rendering them itself.
    pub rendered_elsewhere: u64,
}

impl Counters {
    pub(crate) fn answered(&self, status: CacheStatus) {
        let counter = match status {
            CacheStatus::Hit => &self.hits,
            CacheStatus::Stale => &self.stale,
            CacheStatus::Miss => &self.misses,
            CacheStatus::Bypass => &self.bypasses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn render_started(&self) {
        self.renders.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn coalesced(&self) {
        self.coalesced.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn regenerated(&self, ok: bool) {
        let counter = if ok {
            &self.regenerations_ok
        } else {
            &self.regenerations_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rendered_elsewhere(&self) {
        self.rendered_elsewhere.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            hits: load(&self.hits),
            stale: load(&self.stale),
            misses: load(&self.misses),
            bypasses: load(&self.bypasses),
            renders: load(&self.renders),
            coalesced: load(&self.coalesced),
            regenerations_ok: load(&self.regenerations_ok),
            regenerations_failed: load(&self.regenerations_failed),
            rendered_elsewhere: load(&self.rendered_elsewhere),
        }
    }
}
