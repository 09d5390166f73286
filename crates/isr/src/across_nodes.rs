//! Once across nodes: a page render or a data fetch of one key runs on one node at a time,
//! among all the nodes that share a cluster. [`crate::flight`] does the same within a
//! node; this runs inside a node's flight.
//!
//! Invariants:
//! - The work runs only while this node holds the cluster's lock on the key, extended every
//!   third of its time to live while the work runs; a node that dies stops extending, and
//!   the lock expires.
//! - What another node stored is taken instead of working: the caller's `found` is asked
//!   once the lock is taken (before working) and after every wait.
//! - A node that cannot reach the cluster, or has waited past the lock timeout, works
//!   alone: a cluster outage costs duplicate work, never an answer.
//! - The listener for announcements is subscribed before the first try, so an entry
//!   stored between the try and the wait is not missed; a missed announcement costs at
//!   most [`LOCK_POLL`].

use std::future::Future;
use std::time::Duration;

use isr_core::store::LockToken;
use isr_store::{Cluster, ClusterEvent};
use tokio::sync::broadcast;

use crate::clock::Clock;

/// How often a node waiting for another node's work looks for its result, in case the
/// announcement was missed.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// The cluster's lock, as one node takes it.
pub(crate) struct NodeLock<'a> {
    pub(crate) cluster: &'a dyn Cluster,
    /// How long a lock lives unless its holder extends it.
    pub(crate) ttl_ms: u64,
    /// How long to wait for another node's work before working alone.
    pub(crate) timeout: Duration,
    pub(crate) clock: &'a dyn Clock,
}

/// What [`NodeLock::once`] did.
pub(crate) enum Once<W, F> {
    /// This node did the work.
    Worked(W),
    /// Another node did: this is what `found` found.
    Found(F),
}

impl NodeLock<'_> {
    /// Run `work` for storage key `key` unless another node does it: then return what
    /// `found` finds of its result. `waiting` is called once, when another node is first
    /// found holding the lock.
    pub(crate) async fn once<W, F, FoundFuture>(
        &self,
        key: &str,
        mut found: impl FnMut() -> FoundFuture,
        waiting: impl FnOnce(),
        work: impl Future<Output = W>,
    ) -> Once<W, F>
    where
        FoundFuture: Future<Output = Option<F>>,
    {
        // Listen before asking, so an announcement between the two is not missed.
        let mut events = self.cluster.events();
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut waiting = Some(waiting);
        loop {
            match self
                .cluster
                .try_lock(key, self.ttl_ms, self.clock.now())
                .await
            {
                Ok(Some(token)) => {
                    let done = match found().await {
                        Some(result) => Once::Found(result),
                        None => Once::Worked(self.holding(key, &token, work).await),
                    };
                    if let Err(error) = self.cluster.unlock(key, &token).await {
                        tracing::debug!(%error, key, "could not release a lock; it will expire");
                    }
                    return done;
                }
                Ok(None) => {
                    if let Some(waiting) = waiting.take() {
                        waiting();
                    }
                    wait_for_stored(&mut events, key, LOCK_POLL).await;
                    if let Some(result) = found().await {
                        return Once::Found(result);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                }
                // Degraded: no cross-node dedup until the cluster is back.
                Err(_) => break,
            }
        }
        Once::Worked(work.await)
    }

    /// Run `work` while holding the lock `token`, extending it every third of its time to
    /// live so that long work keeps it.
    async fn holding<W>(&self, key: &str, token: &LockToken, work: impl Future<Output = W>) -> W {
        let period = Duration::from_millis((self.ttl_ms / 3).max(1));
        let mut work = std::pin::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return output,
                () = tokio::time::sleep(period) => {
                    let extended = self.cluster.extend(key, token, self.ttl_ms, self.clock.now());
                    if let Err(error) = extended.await {
                        tracing::debug!(%error, key, "could not extend a lock");
                    }
                }
            }
        }
    }
}

/// Wait until an entry is announced as stored under `key`, or `at_most` passes.
async fn wait_for_stored(
    events: &mut broadcast::Receiver<ClusterEvent>,
    key: &str,
    at_most: Duration,
) {
    let announced = async {
        loop {
            match events.recv().await {
                Ok(ClusterEvent::Stored { key: stored, .. }) if stored == key => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    };
    let _ = tokio::time::timeout(at_most, announced).await;
}
