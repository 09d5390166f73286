//! The tiered store: the memory tier (L1) over a durable tier (L2).
//!
//! Invariants:
//! - What is in L1 was committed to L2: a put writes L2 first, then L1; a failed L2
//!   write leaves L1 untouched. One exception: while the L2 cannot take writes
//!   ([`StoreError::Unavailable`]: a Redis that is unreachable, a disk that is full), a put
//!   still lands in L1, so the node keeps serving what it renders (degraded, not down).
//! - A read that misses L1 refills it from L2, but never over a newer write: the refill
//!   reserves the key in L1 before reading L2, and any put or remove in between cancels
//!   it. So L1 never resurrects a removed entry or an overwritten one.
//! - remove and clear act on L2 first, then L1.
//! - A memory-only store ([`TieredStore::memory_only`]) has no durable tier: every
//!   operation is the memory tier's, and what it evicts is gone.

use std::sync::Arc;

use isr_core::entry::Entry;
use isr_core::store::{EntryStore, StoreError};

use crate::memory::{MemoryStore, Refill};

/// A memory tier in front of a durable [`EntryStore`] (or alone: [`TieredStore::memory_only`]).
pub struct TieredStore {
    l1: Arc<MemoryStore>,
    l2: Arc<dyn EntryStore>,
    /// No durable tier: `l2` is [`Absent`] and every operation goes to `l1` alone.
    memory_only: bool,
}

impl std::fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredStore")
            .field("l1", &self.l1)
            .finish_non_exhaustive()
    }
}

impl TieredStore {
    /// A store with `l1` in front of `l2`. While the L2 cannot take writes, a put still
    /// fills L1 (and reports the L2's error), so the node keeps answering from memory.
    pub fn new(l1: Arc<MemoryStore>, l2: Arc<dyn EntryStore>) -> TieredStore {
        TieredStore {
            l1,
            l2,
            memory_only: false,
        }
    }

    /// A store with only the memory tier, holding at most `capacity_bytes` of entries:
    /// nothing survives a restart, and an evicted entry is simply rendered again.
    pub fn memory_only(capacity_bytes: u64) -> TieredStore {
        TieredStore {
            l1: Arc::new(MemoryStore::new(capacity_bytes)),
            l2: Arc::new(Absent),
            memory_only: true,
        }
    }

    /// Is there no durable tier?
    pub fn is_memory_only(&self) -> bool {
        self.memory_only
    }

    /// The memory tier, for the synchronous hit path ([`MemoryStore::get_sync`]).
    pub fn l1(&self) -> &MemoryStore {
        &self.l1
    }

    /// The durable tier ([`Absent`] for a memory-only store).
    pub fn l2(&self) -> &Arc<dyn EntryStore> {
        &self.l2
    }
}

#[async_trait::async_trait]
impl EntryStore for TieredStore {
    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
        if let Some(entry) = self.l1.get_sync(key) {
            return Ok(Some(entry));
        }
        if self.memory_only {
            return Ok(None);
        }
        match self.l1.begin_refill(key) {
            Refill::Present(entry) => Ok(Some(entry)),
            Refill::Vacant(guard) => {
                let found = self.l2.get(key).await?;
                if let Some(entry) = &found {
                    // Err means a put or remove overtook this read: theirs stands.
                    let _ = guard.insert(Arc::clone(entry));
                }
                Ok(found)
            }
            Refill::Busy => self.l2.get(key).await,
        }
    }

    async fn put(&self, key: &str, entry: Arc<Entry>) -> Result<(), StoreError> {
        if !self.memory_only {
            match self.l2.put(key, Arc::clone(&entry)).await {
                Ok(()) => {}
                Err(error @ StoreError::Unavailable(_)) => {
                    self.l1.insert_sync(key, entry);
                    return Err(error);
                }
                Err(error) => return Err(error),
            }
        }
        self.l1.insert_sync(key, entry);
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        if self.memory_only {
            return Ok(self.l1.remove_sync(key));
        }
        let in_l2 = self.l2.remove(key).await?;
        let in_l1 = self.l1.remove_sync(key);
        Ok(in_l2 || in_l1)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.l2.clear().await?;
        self.l1.clear_sync();
        Ok(())
    }

    /// Scans L2 only: L1 holds a subset of what L2 committed. (A memory-only store scans
    /// its memory tier.)
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        if self.memory_only {
            return self.l1.scan(after, limit).await;
        }
        self.l2.scan(after, limit).await
    }
}

/// No store at all: holds nothing, accepts every write and forgets it. The durable tier
/// of a memory-only [`TieredStore`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Absent;

#[async_trait::async_trait]
impl EntryStore for Absent {
    async fn get(&self, _key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
        Ok(None)
    }

    async fn put(&self, _key: &str, _entry: Arc<Entry>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn remove(&self, _key: &str) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn scan(
        &self,
        _after: Option<&str>,
        _limit: usize,
    ) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use isr_core::UnixMillis;
    use isr_core::policy::{Lifetime, Revalidate};

    use super::*;

    fn entry(seed: u8) -> Arc<Entry> {
        Arc::new(Entry {
            key: "k".to_owned(),
            path: "/".to_owned(),
            status: http::StatusCode::OK,
            headers: Vec::new(),
            body: Bytes::from(vec![seed; 100]),
            created_at: UnixMillis(u64::from(seed)),
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

    type Hook = Box<dyn FnOnce() + Send>;

    /// An L2 that can refuse its writes or be unreachable for them, and run a hook in the middle of a read (to land
    /// a "concurrent" write between the read and the refill).
    #[derive(Default)]
    struct ScriptedL2 {
        inner: PlainMap,
        /// Puts fail with [`StoreError::Backend`].
        refuse_puts: bool,
        /// Puts fail with [`StoreError::Unavailable`].
        unreachable: bool,
        during_get: Mutex<Option<Hook>>,
    }

    /// A plain map, so the test L2 is independent of the L1 under test.
    #[derive(Default)]
    struct PlainMap(Mutex<std::collections::HashMap<String, Arc<Entry>>>);

    #[async_trait::async_trait]
    impl EntryStore for ScriptedL2 {
        async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
            let found = self.inner.0.lock().unwrap().get(key).cloned();
            if let Some(hook) = self.during_get.lock().unwrap().take() {
                hook();
            }
            Ok(found)
        }
        async fn put(&self, key: &str, entry: Arc<Entry>) -> Result<(), StoreError> {
            if self.refuse_puts {
                return Err(StoreError::backend(
                    "scripted",
                    std::io::Error::from(std::io::ErrorKind::InvalidData),
                ));
            }
            if self.unreachable {
                return Err(StoreError::unavailable(
                    "scripted",
                    std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
                ));
            }
            self.inner.0.lock().unwrap().insert(key.to_owned(), entry);
            Ok(())
        }
        async fn remove(&self, key: &str) -> Result<bool, StoreError> {
            Ok(self.inner.0.lock().unwrap().remove(key).is_some())
        }
        async fn clear(&self) -> Result<(), StoreError> {
            self.inner.0.lock().unwrap().clear();
            Ok(())
        }
        async fn scan(
            &self,
            after: Option<&str>,
            limit: usize,
        ) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
            let map = self.inner.0.lock().unwrap();
            let mut page: Vec<(String, Arc<Entry>)> = map
                .iter()
                .filter(|(key, _)| after.is_none_or(|after| key.as_str() > after))
                .map(|(key, entry)| (key.clone(), Arc::clone(entry)))
                .collect();
            page.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            page.truncate(limit);
            Ok(page)
        }
    }

    fn tiered(l2: ScriptedL2) -> (TieredStore, Arc<MemoryStore>, Arc<ScriptedL2>) {
        let l1 = Arc::new(MemoryStore::new(1024 * 1024));
        let l2 = Arc::new(l2);
        let store = TieredStore::new(Arc::clone(&l1), Arc::clone(&l2) as Arc<dyn EntryStore>);
        (store, l1, l2)
    }

    #[tokio::test]
    async fn a_read_from_l2_refills_l1() {
        let (store, l1, l2) = tiered(ScriptedL2::default());
        l2.put("k", entry(1)).await.unwrap();
        assert!(store.l1().get_sync("k").is_none());
        assert_eq!(store.get("k").await.unwrap(), Some(entry(1)));
        assert_eq!(l1.get_sync("k"), Some(entry(1)));
    }

    #[tokio::test]
    async fn a_failed_l2_write_leaves_l1_untouched() {
        let (store, l1, _) = tiered(ScriptedL2 {
            refuse_puts: true,
            ..ScriptedL2::default()
        });
        assert!(store.put("k", entry(1)).await.is_err());
        assert!(l1.get_sync("k").is_none());
    }

    #[tokio::test]
    async fn an_l2_that_cannot_take_writes_still_fills_l1() {
        let (store, l1, _) = tiered(ScriptedL2 {
            unreachable: true,
            ..ScriptedL2::default()
        });
        assert!(matches!(
            store.put("k", entry(1)).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(l1.get_sync("k"), Some(entry(1)));
    }

    #[tokio::test]
    async fn a_refill_never_overwrites_a_put_that_landed_during_the_read() {
        let (store, l1, l2) = tiered(ScriptedL2::default());
        l2.put("k", entry(1)).await.unwrap();
        let l1_in_hook = Arc::clone(&l1);
        *l2.during_get.lock().unwrap() =
            Some(Box::new(move || l1_in_hook.insert_sync("k", entry(2))));
        // The read itself may return the older entry it found...
        assert_eq!(store.get("k").await.unwrap(), Some(entry(1)));
        // ...but L1 keeps the newer one.
        assert_eq!(l1.get_sync("k"), Some(entry(2)));
    }

    #[tokio::test]
    async fn a_refill_never_resurrects_a_removed_entry() {
        let (store, l1, l2) = tiered(ScriptedL2::default());
        l2.put("k", entry(1)).await.unwrap();
        let l1_in_hook = Arc::clone(&l1);
        *l2.during_get.lock().unwrap() = Some(Box::new(move || {
            l1_in_hook.remove_sync("k");
        }));
        let _ = store.get("k").await.unwrap();
        assert!(l1.get_sync("k").is_none());
    }

    #[tokio::test]
    async fn scan_lists_l2() {
        let (store, l1, l2) = tiered(ScriptedL2::default());
        store.put("b", entry(2)).await.unwrap();
        l2.put("a", entry(1)).await.unwrap();
        // Not committed to L2 (only the L1 tests reach L1 directly).
        l1.insert_sync("c", entry(3));
        let page = store.scan(None, 10).await.unwrap();
        let keys: Vec<&str> = page.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(page[0].1, entry(1));
    }

    #[tokio::test]
    async fn a_memory_only_store_keeps_entries_in_memory() {
        let store = TieredStore::memory_only(1024 * 1024);
        assert!(store.is_memory_only());
        assert_eq!(store.get("a").await.unwrap(), None);
        store.put("b", entry(2)).await.unwrap();
        store.put("a", entry(1)).await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), Some(entry(1)));
        assert_eq!(store.l1().get_sync("b"), Some(entry(2)));
        let page = store.scan(None, 10).await.unwrap();
        let keys: Vec<&str> = page.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert!(store.remove("a").await.unwrap());
        assert!(!store.remove("a").await.unwrap());
        assert_eq!(store.get("a").await.unwrap(), None);
        store.clear().await.unwrap();
        assert!(store.l1().is_empty());
        assert!(store.scan(None, 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn remove_and_clear_reach_both_tiers() {
        let (store, l1, l2) = tiered(ScriptedL2::default());
        store.put("a", entry(1)).await.unwrap();
        store.put("b", entry(2)).await.unwrap();
        assert!(store.remove("a").await.unwrap());
        assert!(l1.get_sync("a").is_none() && l2.get("a").await.unwrap().is_none());
        store.clear().await.unwrap();
        assert!(l1.is_empty() && l2.get("b").await.unwrap().is_none());
    }
}
