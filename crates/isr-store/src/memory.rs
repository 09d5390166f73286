//! The memory tier: a byte-bounded entry cache, and an in-process purge-record store.
//!
//! Invariants:
//! - [`MemoryStore`] never holds more than its capacity in weight, where an entry weighs
//!   [`Entry::weight`] plus its key length. An entry too heavy to fit is not admitted, and
//!   inserting it still drops any older entry under that key (a put never leaves the
//!   previous version behind).
//! - The hit path ([`MemoryStore::get_sync`]) is synchronous and allocation-free: it
//!   borrows the key, and clones only an `Arc`.
//! - [`MemoryPurges`] keeps per record name the newest invalidation; an older one never
//!   replaces a newer one, and at equal times hard wins over soft.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::store::{EntryStore, PurgeStore, StoreError};
use quick_cache::sync::{Cache, GuardResult, PlaceholderGuard};
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

/// Weighs an entry by its approximate memory footprint, key included.
#[derive(Clone, Copy, Debug, Default)]
pub struct EntryWeighter;

impl Weighter<String, Arc<Entry>> for EntryWeighter {
    fn weight(&self, key: &String, entry: &Arc<Entry>) -> u64 {
        // Never 0: quick_cache never evicts zero-weight items.
        entry.weight().saturating_add(key.len() as u64).max(1)
    }
}

/// Counts evictions (for the budget, not removals), and drops what was evicted after the
/// cache's lock is released, as quick_cache's default lifecycle does.
#[derive(Clone, Debug, Default)]
pub(crate) struct CountingLifecycle {
    evicted: Arc<std::sync::atomic::AtomicU64>,
}

impl Lifecycle<String, Arc<Entry>> for CountingLifecycle {
    // Most requests evict one or two entries; more are dropped under the lock.
    type RequestState = [Option<(String, Arc<Entry>)>; 2];

    fn on_evict(&self, state: &mut Self::RequestState, key: String, entry: Arc<Entry>) {
        self.evicted
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(slot) = state.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some((key, entry));
        }
    }
}

type EntryCache = Cache<String, Arc<Entry>, EntryWeighter, DefaultHashBuilder, CountingLifecycle>;

/// A pending refill of one key (see [`MemoryStore::begin_refill`]).
pub(crate) type RefillGuard<'a> =
    PlaceholderGuard<'a, String, Arc<Entry>, EntryWeighter, DefaultHashBuilder, CountingLifecycle>;

/// What [`MemoryStore::begin_refill`] found.
pub(crate) enum Refill<'a> {
    /// The entry is already cached.
    Present(Arc<Entry>),
    /// Absent: fill it through the guard. The fill is dropped if the key is written or
    /// removed in the meantime, so a refill never overwrites a newer put.
    Vacant(RefillGuard<'a>),
    /// Another task is refilling this key right now.
    Busy,
}

/// Typical entry size used only to size the cache's index up front.
const ESTIMATED_ENTRY_BYTES: u64 = 16 * 1024;

/// The most entries the cache is told to expect (a 64 GiB budget's worth). quick_cache sizes
/// its list of recently evicted keys (kept to admit them again) by this estimate, so a huge
/// budget (`memory = "1PB"`: 61 billion) would let that list grow without bound. The
/// cache itself holds as many entries as the budget allows.
const MAX_EXPECTED_ENTRIES: u64 = 1 << 22;

/// The L1: a byte-bounded, concurrent, in-memory entry cache (S3-FIFO via quick_cache).
///
/// quick_cache splits the capacity into shards; an entry is admitted only if it fits in
/// one shard's share, so very large entries relative to the capacity are not kept.
pub struct MemoryStore {
    cache: EntryCache,
    capacity: u64,
    lifecycle: CountingLifecycle,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("weight", &self.weight())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl MemoryStore {
    /// A cache holding at most `capacity_bytes` of entries (by [`EntryWeighter`]).
    pub fn new(capacity_bytes: u64) -> MemoryStore {
        let estimated = (capacity_bytes / ESTIMATED_ENTRY_BYTES).clamp(1, MAX_EXPECTED_ENTRIES);
        let estimated_items = usize::try_from(estimated).unwrap_or(1);
        let options = OptionsBuilder::new()
            .estimated_items_capacity(estimated_items)
            .weight_capacity(capacity_bytes)
            .build();
        let lifecycle = CountingLifecycle::default();
        let cache = match options {
            Ok(options) => Cache::with_options(
                options,
                EntryWeighter,
                DefaultHashBuilder::default(),
                lifecycle.clone(),
            ),
            // Unreachable (both required options are set), but never panic for it.
            Err(_) => Cache::with(
                estimated_items,
                capacity_bytes,
                EntryWeighter,
                DefaultHashBuilder::default(),
                lifecycle.clone(),
            ),
        };
        MemoryStore {
            cache,
            capacity: capacity_bytes,
            lifecycle,
        }
    }

    /// Entries evicted to keep within the budget since the store was made.
    pub fn evicted(&self) -> u64 {
        self.lifecycle
            .evicted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The entry under `key`, without awaiting or allocating.
    pub fn get_sync(&self, key: &str) -> Option<Arc<Entry>> {
        self.cache.get(key)
    }

    /// Store `entry` under `key` (replacing any previous one). An entry heavier than the
    /// cache can hold is not admitted, and the previous one is dropped regardless.
    pub fn insert_sync(&self, key: &str, entry: Arc<Entry>) {
        self.cache.insert(key.to_owned(), entry);
    }

    /// Remove the entry under `key`; `true` if there was one.
    pub fn remove_sync(&self, key: &str) -> bool {
        self.cache.remove(key).is_some()
    }

    /// Remove every entry.
    pub fn clear_sync(&self) {
        self.cache.clear();
    }

    /// Total weight (≈ bytes) of the entries held.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The configured capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Look `key` up, and if absent reserve it for a refill from a slower tier. Never
    /// waits on another task's refill (that returns [`Refill::Busy`]).
    pub(crate) fn begin_refill(&self, key: &str) -> Refill<'_> {
        match self
            .cache
            .get_value_or_guard(key, Some(std::time::Duration::ZERO))
        {
            GuardResult::Value(entry) => Refill::Present(entry),
            GuardResult::Guard(guard) => Refill::Vacant(guard),
            GuardResult::Timeout => Refill::Busy,
        }
    }
}

#[async_trait::async_trait]
impl EntryStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
        Ok(self.get_sync(key))
    }

    async fn put(&self, key: &str, entry: Arc<Entry>) -> Result<(), StoreError> {
        self.insert_sync(key, entry);
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.remove_sync(key))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.clear_sync();
        Ok(())
    }

    /// Walks the whole cache and sorts what follows `after`: O(n log n), for
    /// administration only. Entries evicted or written during the walk may be missed or
    /// seen; each key appears at most once per page.
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut page: Vec<(String, Arc<Entry>)> = self
            .cache
            .iter()
            .filter(|(key, _)| after.is_none_or(|after| key.as_str() > after))
            .collect();
        if page.len() > limit {
            page.select_nth_unstable_by(limit - 1, |a, b| a.0.cmp(&b.0));
            page.truncate(limit);
        }
        page.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(page)
    }
}

/// Lock a mutex, recovering the data if a holder panicked: every critical section here
/// leaves the map consistent, so a poisoned lock holds valid data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `candidate` supersedes `current`: newer wins; at equal times hard wins.
pub(crate) fn supersedes(candidate: Invalidation, current: Invalidation) -> bool {
    candidate.at > current.at
        || (candidate.at == current.at
            && candidate.mode == PurgeMode::Hard
            && current.mode == PurgeMode::Soft)
}

/// Purge records held in process memory.
#[derive(Debug, Default)]
pub struct MemoryPurges {
    records: Mutex<HashMap<String, Invalidation>>,
}

impl MemoryPurges {
    /// No records.
    pub fn new() -> MemoryPurges {
        MemoryPurges::default()
    }
}

#[async_trait::async_trait]
impl PurgeStore for MemoryPurges {
    async fn invalidate(&self, name: &str, invalidation: Invalidation) -> Result<(), StoreError> {
        let mut records = lock(&self.records);
        match records.get_mut(name) {
            Some(current) => {
                if supersedes(invalidation, *current) {
                    *current = invalidation;
                }
            }
            None => {
                records.insert(name.to_owned(), invalidation);
            }
        }
        Ok(())
    }

    async fn forget_before(&self, before: UnixMillis) -> Result<u64, StoreError> {
        let mut records = lock(&self.records);
        let len = records.len();
        records.retain(|_, invalidation| invalidation.at >= before);
        Ok((len - records.len()) as u64)
    }

    async fn all(&self) -> Result<Vec<(String, Invalidation)>, StoreError> {
        let mut all: Vec<(String, Invalidation)> = lock(&self.records)
            .iter()
            .map(|(name, invalidation)| (name.clone(), *invalidation))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use isr_core::policy::{Lifetime, Revalidate};

    fn entry(body_len: usize) -> Arc<Entry> {
        Arc::new(Entry {
            key: "k".to_owned(),
            path: "/".to_owned(),
            status: http::StatusCode::OK,
            headers: Vec::new(),
            body: Bytes::from(vec![7u8; body_len]),
            created_at: UnixMillis(0),
            lifetime: Lifetime {
                revalidate: Revalidate::Never,
                expire: None,
                stale_if_error: 0,
            },
            tags: Vec::new(),
            build_id: String::new(),
            etag: String::new(),
            representations: Vec::new(),
        })
    }

    #[test]
    fn stays_within_its_byte_capacity() {
        let store = MemoryStore::new(1024 * 1024);
        for i in 0..200 {
            store.insert_sync(&format!("key/{i}"), entry(20 * 1024));
            assert!(store.weight() <= store.capacity(), "over capacity at {i}");
        }
        assert!(store.len() < 200, "evicted nothing");
        assert!(!store.is_empty());
        assert!(store.evicted() > 0, "every eviction is counted");
        let before = store.evicted();
        store.remove_sync("key/199");
        store.clear_sync();
        assert_eq!(store.evicted(), before, "removals are not evictions");
    }

    #[test]
    fn an_entry_heavier_than_the_capacity_is_not_admitted_and_drops_the_old_one() {
        let store = MemoryStore::new(64 * 1024);
        store.insert_sync("k", entry(100));
        assert!(store.get_sync("k").is_some());
        store.insert_sync("k", entry(100 * 1024));
        assert!(store.get_sync("k").is_none(), "stale version left behind");
        assert_eq!(store.weight(), 0);
    }

    #[test]
    fn a_zero_capacity_store_admits_nothing() {
        let store = MemoryStore::new(0);
        store.insert_sync("k", entry(1));
        assert!(store.get_sync("k").is_none());
    }

    #[test]
    fn a_huge_budget_starts_and_works() {
        // By the budget alone, 1 PB would be expected to hold 61 billion entries.
        let store = MemoryStore::new(1_000_000_000_000_000);
        store.insert_sync("k", entry(1));
        assert!(store.get_sync("k").is_some());
        assert_eq!(MemoryStore::new(u64::MAX).capacity(), u64::MAX);
    }

    #[test]
    fn weight_counts_the_entry_and_its_key() {
        let store = MemoryStore::new(1024 * 1024);
        let e = entry(1000);
        store.insert_sync("twelve chars", Arc::clone(&e));
        assert_eq!(store.weight(), e.weight() + 12);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn sync_operations() {
        let store = MemoryStore::new(1024 * 1024);
        let e = entry(10);
        store.insert_sync("a", Arc::clone(&e));
        store.insert_sync("b", Arc::clone(&e));
        assert!(Arc::ptr_eq(&store.get_sync("a").unwrap(), &e));
        assert!(store.remove_sync("a"));
        assert!(!store.remove_sync("a"));
        store.clear_sync();
        assert!(store.get_sync("b").is_none());
        assert_eq!((store.len(), store.weight()), (0, 0));
    }

    #[test]
    fn a_refill_loses_to_a_concurrent_insert_or_remove() {
        let store = MemoryStore::new(1024 * 1024);
        let (old, new) = (entry(1), entry(2));
        let Refill::Vacant(guard) = store.begin_refill("k") else {
            panic!("expected a vacant slot");
        };
        assert!(matches!(store.begin_refill("k"), Refill::Busy));
        store.insert_sync("k", Arc::clone(&new));
        assert!(guard.insert(old.clone()).is_err());
        assert!(Arc::ptr_eq(&store.get_sync("k").unwrap(), &new));

        let Refill::Vacant(guard) = store.begin_refill("gone") else {
            panic!("expected a vacant slot");
        };
        store.remove_sync("gone");
        let _ = guard.insert(old);
        assert!(store.get_sync("gone").is_none());
    }
}
