//! Keeping one node in step with the others that share its store: what they announce is
//! applied to this node's memory (the page engine's, or a data cache's).
//!
//! Invariants:
//! - A purge announced by any node is honoured by this node's next read: it is applied to
//!   the in-memory purge records, which every hit consults.
//! - After announcements may have been missed (a lost subscription, a listener that fell
//!   behind), the durable purge records are reloaded and merged, so a missed purge is
//!   still honoured; merging never undoes a newer record.
//! - An entry in this node's memory that another node has replaced with a newer render is
//!   dropped, so the next read takes the newer one from the shared store.
//! - A build switch announced by any node (or read back after a resync) switches this one.
//! - The task holds what it follows weakly: it ends when that is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use isr_core::freshness::Invalidation;
use isr_store::{Cluster, ClusterEvent, MemoryStore};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::purges::PurgeLog;

/// A cache whose memory must follow its cluster's announcements.
pub(crate) trait Follower: Send + Sync + 'static {
    /// Its purge records.
    fn purge_log(&self) -> &PurgeLog;
    /// Its memory tier, if it has one in front of the shared store.
    fn memory(&self) -> Option<&MemoryStore>;
    /// This node's id in the announcements (its own are not applied twice).
    fn node_id(&self) -> u64;
    /// An announced purge was just applied (to time how long purges take to arrive).
    fn purge_arrived(&self, _invalidation: &Invalidation) {}
    /// A node switched every node to `build` (a page engine switches; a data cache has no
    /// build).
    fn build_switched(&self, _build: &str) {}
    /// The cluster, to read the shared build back after a resync (`None`: no build).
    fn cluster(&self) -> Option<&Arc<dyn Cluster>> {
        None
    }
}

/// Attempts to reload the purge records after a resync request before giving up until
/// the next one.
const RESYNC_ATTEMPTS: u32 = 10;

/// Apply every announcement from `events` to `follower`, until it is dropped.
pub(crate) async fn follow<F: Follower>(
    follower: Weak<F>,
    mut events: broadcast::Receiver<ClusterEvent>,
) {
    loop {
        let event = match events.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "fell behind the cluster's announcements; resyncing");
                ClusterEvent::Resync
            }
            Err(RecvError::Closed) => return,
        };
        let Some(follower) = follower.upgrade() else {
            return;
        };
        let own = follower.node_id();
        match event {
            ClusterEvent::Purged { name, invalidation } => {
                follower.purge_log().apply(&name, invalidation);
                follower.purge_arrived(&invalidation);
            }
            ClusterEvent::Stored {
                node,
                key,
                created_at,
            } if node != own => {
                if let Some(l1) = follower.memory()
                    && l1
                        .get_sync(&key)
                        .is_some_and(|held| held.created_at < created_at)
                {
                    l1.remove_sync(&key);
                }
            }
            ClusterEvent::Cleared { node } if node != own => {
                if let Some(l1) = follower.memory() {
                    l1.clear_sync();
                }
            }
            ClusterEvent::BuildSwitched { build, .. } => follower.build_switched(&build),
            ClusterEvent::Resync => {
                resync(follower.purge_log()).await;
                if let Some(cluster) = follower.cluster() {
                    match cluster.shared_build().await {
                        Ok(Some(build)) => follower.build_switched(&build),
                        Ok(None) => {}
                        Err(error) => {
                            tracing::debug!(%error, "could not read the shared build back");
                        }
                    }
                }
            }
            ClusterEvent::Stored { .. } | ClusterEvent::Cleared { .. } => {}
        }
    }
}

async fn resync(purges: &PurgeLog) {
    let mut wait = Duration::from_millis(50);
    for _ in 0..RESYNC_ATTEMPTS {
        match purges.resync().await {
            Ok(records) => {
                tracing::debug!(records, "purge records reloaded from the shared store");
                return;
            }
            Err(error) => tracing::debug!(%error, "could not reload the purge records yet"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}
