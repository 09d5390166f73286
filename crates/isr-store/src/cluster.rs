//! Several nodes sharing one durable tier: what a node must hear from the others, and the
//! lock that makes a render happen once across all of them.
//!
//! Invariants every implementation keeps:
//! - Every invalidation recorded through its [`PurgeStore`] is announced to every node
//!   ([`ClusterEvent::Purged`]), including the one that recorded it.
//! - After a node may have missed announcements (it was disconnected), it is told so
//!   ([`ClusterEvent::Resync`]) once it hears announcements again, so it can reload the
//!   recorded invalidations instead of trusting what it heard.
//! - Trouble with the shared tier is reported once per change of state, never per
//!   operation, and shows in [`Cluster::status`].

use isr_core::UnixMillis;
use isr_core::freshness::Invalidation;
use isr_core::store::{LockStore, PurgeStore, StoreError};
use tokio::sync::broadcast;

/// What another node did (or this one: a node hears its own announcements too).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// An invalidation was recorded under this record name
    /// ([`isr_core::purge::Target::record_name`]).
    Purged {
        /// The record name.
        name: String,
        /// The invalidation recorded.
        invalidation: Invalidation,
    },
    /// An entry was stored under `key` (a storage key) by node `node`, rendered at
    /// `created_at`.
    Stored {
        /// The node that stored it.
        node: u64,
        /// The storage key.
        key: String,
        /// When the entry was rendered.
        created_at: UnixMillis,
    },
    /// Every entry was removed by node `node`.
    Cleared {
        /// The node that removed them.
        node: u64,
    },
    /// Node `node` switched every node to build `build` ([`Cluster::switch_build`]).
    BuildSwitched {
        /// The node that switched.
        node: u64,
        /// The build served from now on.
        build: String,
    },
    /// Announcements may have been missed: reload the recorded invalidations.
    Resync,
}

/// The state of the connection to the shared tier.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterStatus {
    /// What the backend is (`"redis"`).
    pub backend: &'static str,
    /// Where, with any credentials hidden.
    pub address: String,
    /// Did the last operation succeed?
    pub up: bool,
    /// Operations that failed since start.
    pub errors: u64,
    /// Times the state changed (up to down or back) since start.
    pub transitions: u64,
    /// Announcements this node heard.
    pub events_received: u64,
}

/// A shared tier several nodes coordinate through: its invalidation records, its render
/// locks, and its announcements.
#[async_trait::async_trait]
pub trait Cluster: PurgeStore + LockStore {
    /// This node's id, as it appears in the announcements it makes.
    fn node_id(&self) -> u64;
    /// A receiver of every announcement from now on.
    fn events(&self) -> broadcast::Receiver<ClusterEvent>;
    /// The connection's state now.
    fn status(&self) -> ClusterStatus;
    /// Make `build` the build every node serves: recorded (a node that missed the
    /// announcement reads it back, [`Cluster::shared_build`]) and announced
    /// ([`ClusterEvent::BuildSwitched`]).
    async fn switch_build(&self, build: &str) -> Result<(), StoreError>;
    /// The build last recorded by [`Cluster::switch_build`], if any.
    async fn shared_build(&self) -> Result<Option<String>, StoreError>;
}
