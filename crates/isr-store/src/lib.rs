//! Native storage backends for isr: the byte-bounded memory tier, the on-disk store
//! (redb), the Redis tier shared by several nodes, and the tiered store that puts the
//! memory tier in front of either.
//!
//! Every backend implements the `isr-core` storage traits and passes the one
//! conformance suite (`tests/conformance.rs`). Invariants they all keep:
//! - `get` never returns a torn or corrupt entry: that is a miss.
//! - `put` is atomic per key: a reader sees the old entry or the new one, never a mix.
//! - A purge record is never undone by an older one; at equal times hard wins.
//! - A lock has one holder at a time, is released only by that holder's token, and
//!   expires on its own.
//!
//! Modules:
//! - [`memory`]: [`MemoryStore`] (the L1, with a synchronous hit path), [`MemoryPurges`].
//! - [`disk`]: [`DiskStore`], entries and purge records persisted in one redb file.
//! - `redis_tier` (feature `redis`): `RedisStore`, entries, purge records and render locks in Redis,
//!   with announcements between nodes.
//! - [`cluster`]: [`Cluster`], what nodes sharing one tier hear from each other.
//! - [`tiered`]: [`TieredStore`], L1 over any durable [`EntryStore`](isr_core::store::EntryStore),
//!   or L1 alone ([`TieredStore::memory_only`]).
//! - `testing` (feature `testing`): what the tests of every isr crate share: throwaway
//!   Redis servers and clusters, starting a server on a free port, waits on conditions,
//!   concurrent callers, and in-memory render locks.

pub mod cluster;
pub mod disk;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis_tier;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tiered;

pub use cluster::{Cluster, ClusterEvent, ClusterStatus};
pub use disk::{DiskError, DiskStats, DiskStore, OpenFailure};
pub use memory::{EntryWeighter, MemoryPurges, MemoryStore};
#[cfg(feature = "redis")]
pub use redis_tier::{NoAnswer, RedisStore, RedisTierError};
pub use tiered::{Absent, TieredStore};
