//! An app's own caches, shared through isr's store: data entries by key (what a Next.js
//! cache handler stores for every Next instance), and the tags an app's pages carry, so a
//! purge of a tag reaches the pages isr holds of them. The contract is
//! [`isr_core::admin::data`]; the admin API serves it.
//!
//! Invariants:
//! - Data entries, tag indexes and path tags live under their own storage-key prefixes
//!   (never a page's), in the engine's store: in Redis when isr runs with one, so every
//!   node sharing it reads what any node stored.
//! - A data entry is judged by the engine's purge records: a purge of one of its tags, of
//!   a tag the reader names, or of everything, recorded at or after it was made, reaches
//!   it on every node once the purge is visible there. A hard purge or its expiry makes it
//!   a miss; a soft purge reports it [`DataState::Purged`].
//! - A purge of a tag also purges every path whose pages carry it: one index read per tag
//!   ([`Isr::purge`]), never a scan. An index past [`MAX_TAG_PATHS`] purges everything.
//! - The index of a tag is changed only under this node's lock and, with a cluster, the
//!   cluster's lock on it, and read from the durable tier: two nodes adding paths to one
//!   tag at once lose neither.
//!
//! [`MAX_TAG_PATHS`]: isr_core::admin::data::MAX_TAG_PATHS

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use isr_core::UnixMillis;
use isr_core::admin::data::{
    DataAnswer, DataPut, DataRemoved, DataState, DataStored, PATH_TAGS_PREFIX, PageTags,
    TAG_INDEX_PREFIX, TagIndex, data_storage_key,
};
use isr_core::entry::Entry;
use isr_core::freshness::{Freshness, PurgeMode, freshness};
use isr_core::headers::MAX_TAGS;
use isr_core::lifetime::{Lifetime, Revalidate};
use isr_core::purge::Target;
use isr_core::store::{EntryStore, LockToken, StoreError};

use crate::engine::Shared;
use crate::handle::Isr;

/// How long this node waits for another node's hold on a tag index.
const INDEX_LOCK_WAIT: Duration = Duration::from_secs(2);
/// How long a hold on a tag index lives if its holder dies.
const INDEX_LOCK_TTL_MS: u64 = 5_000;

/// The tag index could not be changed or read.
#[derive(Debug, thiserror::Error)]
pub enum TagIndexError {
    /// Another node held the index for longer than this node waits (2 s).
    #[error("the index of tag `{0}` is held by another node; try again")]
    Busy(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Isr {
    /// The data entry under `key`, judged with its tags and `extra_tags`: `None` if absent,
    /// hard-purged or expired.
    pub async fn data_get(
        &self,
        key: &str,
        extra_tags: &[String],
    ) -> Result<Option<DataAnswer>, StoreError> {
        let shared = self.shared();
        let storage = data_storage_key(key);
        let Some(entry) = shared.store.get(&storage).await? else {
            return Ok(None);
        };
        if entry.key != storage {
            return Ok(None);
        }
        let mut tags = entry.tags.clone();
        tags.extend(extra_tags.iter().cloned());
        let now = shared.clock.now();
        let invalidation = shared.newest_invalidation(&entry.key, &entry.path, &tags);
        let state = match freshness(entry.created_at, &entry.lifetime, now, invalidation) {
            Freshness::Purged | Freshness::Expired { .. } => return Ok(None),
            Freshness::Fresh => DataState::Fresh,
            Freshness::Stale
                if invalidation.is_some_and(|inv| {
                    inv.at >= entry.created_at && inv.mode == PurgeMode::Soft
                }) =>
            {
                DataState::Purged
            }
            Freshness::Stale => DataState::Stale,
        };
        let Ok(value) = String::from_utf8(entry.body.to_vec()) else {
            return Ok(None);
        };
        Ok(Some(DataAnswer {
            key: key.to_owned(),
            value,
            tags: entry.tags.clone(),
            created_at: entry.created_at.0,
            revalidate: match entry.lifetime.revalidate {
                Revalidate::After(secs) => Some(secs),
                Revalidate::Never => None,
            },
            expire: entry.lifetime.expire,
            state,
        }))
    }

    /// Store a checked [`DataPut`] (see [`DataPut::check`]).
    pub async fn data_put(&self, put: DataPut) -> Result<DataStored, StoreError> {
        let shared = self.shared();
        let dated = shared.date_render().await;
        let created_at = put
            .created_at
            .map_or(dated, |made| UnixMillis(made.min(dated.0)));
        let storage = data_storage_key(&put.key);
        let lifetime = Lifetime {
            revalidate: put.revalidate.map_or(Revalidate::Never, Revalidate::After),
            expire: put.expire,
            stale_if_error: 0,
        };
        let mut entry = plain_entry(
            storage.clone(),
            Bytes::from(put.value),
            created_at,
            lifetime,
        );
        entry.tags = put.tags;
        shared.store.put(&storage, Arc::new(entry)).await?;
        Ok(DataStored {
            created_at: created_at.0,
        })
    }

    /// Remove the data entry under `key`, on every node: it is removed from the store and
    /// hard-purged by key, so no node's memory serves it again.
    pub async fn data_remove(&self, key: &str) -> Result<DataRemoved, StoreError> {
        let storage = data_storage_key(key);
        let removed = self.shared().store.remove(&storage).await?;
        if let Ok(target) = Target::key(&storage) {
            self.shared().purge(&[target], PurgeMode::Hard).await?;
        }

        Ok(DataRemoved { removed })
    }

    /// Learn that the page at `tags.path` carries `tags.tags`: every later purge of one of
    /// them purges that path too, and so does one recorded before the tags arrived (the
    /// page may have been rendered before it: its path is purged as of that purge's
    /// instant, so a render that started after it is not). Returns how many tags the path
    /// was new to.
    pub async fn attach_tags(&self, tags: &PageTags) -> Result<u64, TagIndexError> {
        let shared = self.shared();
        let _serial = shared.tag_index.lock().await;
        let known_key = format!("{PATH_TAGS_PREFIX}{}", tags.path);
        let mut known: Vec<String> = read_json(shared, &known_key).await?.unwrap_or_default();
        let new: Vec<&String> = tags.tags.iter().filter(|t| !known.contains(t)).collect();
        if new.is_empty() {
            return Ok(0);
        }
        let mut added = 0;
        for tag in &new {
            let index_key = format!("{TAG_INDEX_PREFIX}{tag}");
            let hold = ClusterHold::take(shared, &index_key).await?;
            let result = async {
                let mut index: TagIndex = read_json(shared, &index_key).await?.unwrap_or_default();
                let was_overflowed = index.overflowed;
                let grew = index.add(&tags.path);
                if grew || index.overflowed != was_overflowed {
                    write_json(shared, &index_key, &index).await?;
                }
                Ok::<bool, StoreError>(grew)
            }
            .await;
            hold.release(shared).await;
            if result? {
                added += 1;
            }
        }
        // A purge of a new tag recorded before its path was in the index missed the page:
        // purge the path as of that purge (pages rendered after it are not reached).
        let new_tags: Vec<String> = new.iter().map(|t| (*t).clone()).collect();
        if let Some(missed) = shared.newest_tag_invalidation(&new_tags) {
            shared
                .purge_as(&[Target::Path(tags.path.clone())], missed)
                .await?;
        }
        // The newest tags first, so a path whose tags change keeps what it carries now.
        let mut merged: Vec<String> = tags.tags.clone();
        merged.extend(known.drain(..).filter(|t| !tags.tags.contains(t)));
        merged.truncate(2 * MAX_TAGS);
        write_json(shared, &known_key, &merged).await?;
        Ok(added)
    }

    /// The tags last learned for `path` (normalised), newest first.
    pub async fn page_tags(&self, path: &str) -> Result<Vec<String>, StoreError> {
        let key = format!("{PATH_TAGS_PREFIX}{path}");
        Ok(read_json(self.shared(), &key).await?.unwrap_or_default())
    }

    /// The paths whose pages carry one of the tags among `targets` (as path targets), and
    /// everything if one of their indexes overflowed: what a purge of `targets` must also
    /// purge.
    pub async fn tagged_paths(&self, targets: &[Target]) -> Result<Vec<Target>, StoreError> {
        let shared = self.shared();
        let mut paths: Vec<Target> = Vec::new();
        for target in targets {
            let Target::Tag(tag) = target else { continue };
            let Some(index) =
                read_json::<TagIndex>(shared, &format!("{TAG_INDEX_PREFIX}{tag}")).await?
            else {
                continue;
            };
            if index.overflowed {
                tracing::warn!(
                    tag,
                    "more pages carry this tag than its index holds; purging everything"
                );
                return Ok(vec![Target::All]);
            }
            for path in index.paths {
                let path = Target::Path(path);
                if !paths.contains(&path) && !targets.contains(&path) {
                    paths.push(path);
                }
            }
        }
        Ok(paths)
    }
}

/// A hold on the cluster's lock of one tag index (nothing on a single node).
struct ClusterHold {
    key: String,
    token: Option<LockToken>,
}

impl ClusterHold {
    async fn take(shared: &Shared, key: &str) -> Result<ClusterHold, TagIndexError> {
        let lock_key = format!("{key}|lock");
        let Some(cluster) = &shared.cluster else {
            return Ok(ClusterHold {
                key: lock_key,
                token: None,
            });
        };
        let deadline = tokio::time::Instant::now() + INDEX_LOCK_WAIT;
        let mut wait = Duration::from_millis(1);
        loop {
            let now = shared.clock.now();
            if let Some(token) = cluster.try_lock(&lock_key, INDEX_LOCK_TTL_MS, now).await? {
                return Ok(ClusterHold {
                    key: lock_key,
                    token: Some(token),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                let tag = key.strip_prefix(TAG_INDEX_PREFIX).unwrap_or(key);
                return Err(TagIndexError::Busy(tag.to_owned()));
            }
            // Another node is adding a path to this tag: a few milliseconds at most.
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(20));
        }
    }

    async fn release(self, shared: &Shared) {
        if let (Some(cluster), Some(token)) = (&shared.cluster, &self.token)
            && let Err(error) = cluster.unlock(&self.key, token).await
        {
            tracing::debug!(%error, key = self.key, "could not release a tag index lock; it expires");
        }
    }
}

/// An entry holding a value, not a page: no path (path and prefix purges never reach it),
/// no headers.
fn plain_entry(key: String, body: Bytes, created_at: UnixMillis, lifetime: Lifetime) -> Entry {
    Entry {
        key,
        path: String::new(),
        status: StatusCode::OK,
        headers: Vec::new(),
        body,
        created_at,
        lifetime,
        tags: Vec::new(),
        build_id: String::new(),
        etag: String::new(),
        representations: Vec::new(),
    }
}

/// The JSON value stored under `key`, read from the durable tier (this node's memory may
/// hold an older copy another node has since replaced).
async fn read_json<T: serde::de::DeserializeOwned>(
    shared: &Shared,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let store = &shared.store;
    let entry = if store.is_memory_only() {
        store.get(key).await?
    } else {
        store.l2().get(key).await?
    };
    Ok(entry
        .filter(|entry| entry.key == key)
        .and_then(|entry| serde_json::from_slice(&entry.body).ok()))
}

async fn write_json<T: serde::Serialize>(
    shared: &Shared,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let lifetime = Lifetime {
        revalidate: Revalidate::Never,
        expire: None,
        stale_if_error: 0,
    };
    let entry = plain_entry(
        key.to_owned(),
        Bytes::from(body),
        shared.clock.now(),
        lifetime,
    );
    shared.store.put(key, Arc::new(entry)).await
}
