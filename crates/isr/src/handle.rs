//! [`Isr`]: a handle on a running engine, to purge, regenerate and inspect its cache. The
//! admin API is built on it; an app using the layer can call it directly.

use std::sync::Arc;

pub use isr_core::admin::EntryInfo;
use isr_core::admin::data::is_data_storage_key;
use isr_core::freshness::PurgeMode;
use isr_core::purge::{Target, TargetError};
use isr_core::store::{EntryStore, StoreError};
use serde::Serialize;

use crate::engine::Engine;
use crate::stats::Stats;
pub use isr_core::flow::regenerate::Regeneration;

/// Most entries one listing call looks at (a prefix filter may skip many).
const MAX_SCANNED_PER_PAGE: usize = 10_000;

/// Why a purge by path or tag did nothing.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The path or tag is not valid.
    #[error("invalid purge target: {0}")]
    Target(#[from] TargetError),
    /// The purge could not be recorded.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A handle on an engine. Cheap to clone.
#[derive(Clone)]
pub struct Isr {
    engine: Arc<Engine>,
}

/// An [`Isr`] that does not keep the engine alive (for tasks that should end with it).
#[derive(Clone)]
pub struct WeakIsr {
    engine: std::sync::Weak<Engine>,
}

impl WeakIsr {
    /// The handle, while the engine runs.
    pub fn upgrade(&self) -> Option<Isr> {
        self.engine.upgrade().map(Isr::new)
    }
}

/// A page of a listing; pass `next_cursor` back for the next one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryPage {
    /// The entries of this page.
    pub entries: Vec<EntryInfo>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The memory tier's occupancy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryUse {
    /// Entries held.
    pub entries: usize,
    /// Bytes held.
    pub bytes: u64,
    /// The byte budget.
    pub capacity: u64,
    /// Entries evicted to keep within the budget since start.
    pub evicted: u64,
}

impl Isr {
    pub(crate) fn new(engine: Arc<Engine>) -> Isr {
        Isr { engine }
    }

    /// A handle that does not keep the engine alive.
    pub fn downgrade(&self) -> WeakIsr {
        WeakIsr {
            engine: Arc::downgrade(&self.engine),
        }
    }

    /// Invalidate `targets`: soft (served stale while one regeneration runs) or hard (the
    /// next request waits for a render). Visible to every request once this returns. A tag
    /// also reaches the paths an app said carry it ([`Isr::attach_tags`]).
    pub async fn purge(&self, targets: &[Target], mode: PurgeMode) -> Result<(), StoreError> {
        let shared = self.engine.shared();
        let invalidation = shared.purge(targets, mode).await?;
        // The tags first, then the paths learned to carry them, as of the same instant: a
        // path learned meanwhile is caught by `attach_tags`, which reads the tag's record
        // after adding the path.
        let tagged = self.tagged_paths(targets).await?;
        if !tagged.is_empty() {
            shared.purge_as(&tagged, invalidation).await?;
        }
        Ok(())
    }

    pub(crate) fn shared(&self) -> &crate::engine::Shared {
        self.engine.shared()
    }

    /// Mark every cached variant of `path` stale: it is served while one regeneration
    /// runs (like Next.js's `revalidatePath`). The path is normalised as requests are.
    pub async fn revalidate_path(&self, path: &str) -> Result<(), PurgeError> {
        self.revalidate_path_with(path, PurgeMode::Soft).await
    }

    /// Mark every entry tagged `tag` stale: each is served while one regeneration runs
    /// (like Next.js's `revalidateTag`).
    pub async fn revalidate_tag(&self, tag: &str) -> Result<(), PurgeError> {
        self.revalidate_tag_with(tag, PurgeMode::Soft).await
    }

    /// [`Isr::revalidate_path`], soft or hard (the next request waits for a render).
    pub async fn revalidate_path_with(
        &self,
        path: &str,
        mode: PurgeMode,
    ) -> Result<(), PurgeError> {
        let target = Target::path(path)?;
        Ok(self.purge(&[target], mode).await?)
    }

    /// [`Isr::revalidate_tag`], soft or hard (the next request waits for a render).
    pub async fn revalidate_tag_with(&self, tag: &str, mode: PurgeMode) -> Result<(), PurgeError> {
        let target = Target::tag(tag)?;
        Ok(self.purge(&[target], mode).await?)
    }

    /// Regenerate `path` now, in the background (see [`Regeneration`]).
    pub async fn regenerate(&self, path: &str, if_cached: bool) -> Regeneration {
        self.engine.regenerate_path(path, if_cached).await
    }

    /// Remove every entry from every tier, and purge everything (hard) so nothing rendered
    /// before this instant is served.
    pub async fn clear(&self) -> Result<(), StoreError> {
        self.purge(&[Target::All], PurgeMode::Hard).await?;
        self.engine.shared().store.clear().await
    }

    /// The build served now, and the builds it replaced.
    pub fn build(&self) -> isr_core::admin::BuildAnswer {
        self.engine.shared().builds.answer(false)
    }

    /// Serve build `id` from now on, on every node sharing the store: every request is
    /// keyed under it, so no page of the old build is served again (its entries are
    /// evicted as usual). `Ok(false)`: it was already the current build.
    pub async fn switch_build(&self, id: &str) -> Result<bool, crate::BuildSwitchError> {
        let switch = self.engine.shared().switch_build(id).await?;
        Ok(switch != isr_core::build::Switch::Unchanged)
    }

    /// Counters of what the engine did.
    pub fn stats(&self) -> Stats {
        self.engine.shared().stats()
    }

    /// The state of the store shared with other nodes (`None` on a single node).
    pub fn cluster(&self) -> Option<isr_store::ClusterStatus> {
        let cluster = self.engine.shared().cluster.as_ref()?;
        Some(cluster.status())
    }

    /// Purge records held (bounded).
    pub fn purge_records(&self) -> usize {
        self.engine.shared().purge_records()
    }

    /// The memory tier's occupancy.
    pub fn memory(&self) -> MemoryUse {
        let l1 = self.engine.shared().store.l1();
        MemoryUse {
            entries: l1.len(),
            bytes: l1.weight(),
            capacity: l1.capacity(),
            evicted: l1.evicted(),
        }
    }

    /// Up to `limit` entries whose path starts with `prefix`, after `cursor`.
    pub async fn entries(
        &self,
        prefix: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<EntryPage, StoreError> {
        let store = &self.engine.shared().store;
        let mut entries = Vec::new();
        let mut after = cursor.map(str::to_owned);
        let mut scanned = 0;
        while entries.len() < limit && scanned < MAX_SCANNED_PER_PAGE {
            let batch = store
                .scan(after.as_deref(), (limit - entries.len()).max(64))
                .await?;
            let Some((last, _)) = batch.last() else {
                return Ok(EntryPage {
                    entries,
                    next_cursor: None,
                });
            };
            after = Some(last.clone());
            scanned += batch.len();
            for (key, entry) in batch {
                if is_data_storage_key(&key) || !entry.path.starts_with(prefix) {
                    continue;
                }
                entries.push(self.describe(&entry));
                if entries.len() == limit {
                    after = Some(key);
                    break;
                }
            }
        }
        Ok(EntryPage {
            entries,
            next_cursor: after,
        })
    }

    fn describe(&self, entry: &isr_core::entry::Entry) -> EntryInfo {
        let now = self.engine.shared().clock.now();
        EntryInfo::describe(entry, self.engine.state_of(entry), now)
    }
}
