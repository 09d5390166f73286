//! The storage traits of the native runtimes. Every native backend (memory, on-disk,
//! Redis; in `isr-store`) implements them and passes the one conformance suite
//! (`crates/isr-store/tests/conformance.rs`). The Cloudflare Worker does not use them:
//! its entries (Cache API, Workers KV) and its purge records and locks (a Durable Object)
//! have their own types in `isr-worker`.
//!
//! Invariants every implementation keeps:
//! - `get` never returns a torn or corrupt entry: such an entry is a miss (`Ok(None)`).
//! - `put` is atomic per key: a reader sees the old entry or the new one, never a mix.
//! - Keys are opaque storage keys ([`crate::key::CacheKey::storage`]); a backend does not
//!   interpret them.
//! - A purge record only moves forward: an older invalidation never replaces a newer one,
//!   and at equal times hard wins over soft.
//! - A lock is held by one token at a time, is released (or extended) only by its holder,
//!   and expires on its own if the holder dies.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use crate::UnixMillis;
use crate::entry::Entry;
use crate::freshness::Invalidation;

/// A storage backend failed. Corrupt entries are not errors (they are misses).
///
/// `Clone`, so that one failure can be reported to every caller waiting on it; the
/// backend's own error is kept (shared) as the [`Error::source`].
#[derive(Clone, Debug)]
pub enum StoreError {
    /// The backend answered, and failed or refused the operation.
    Backend(Failure),
    /// The backend cannot be reached, or did not answer in time.
    Unavailable(Failure),
}

impl StoreError {
    /// [`StoreError::Backend`]: `context` names the backend (`"redis"`, `"disk store"`).
    pub fn backend(context: &'static str, error: impl Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Failure::new(context, error))
    }

    /// [`StoreError::Unavailable`]: `context` names the backend (`"redis"`).
    pub fn unavailable(
        context: &'static str,
        error: impl Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Unavailable(Failure::new(context, error))
    }

    /// What the backend reported.
    pub fn failure(&self) -> &Failure {
        match self {
            StoreError::Backend(failure) | StoreError::Unavailable(failure) => failure,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Backend(failure) => write!(f, "storage backend: {failure}"),
            StoreError::Unavailable(failure) => {
                write!(f, "storage backend is unavailable: {failure}")
            }
        }
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.failure().error())
    }
}

/// What a backend reported: which backend (or part of one) failed, and its error.
#[derive(Clone, Debug)]
pub struct Failure {
    context: &'static str,
    error: Arc<dyn Error + Send + Sync>,
}

impl Failure {
    /// `error`, reported by `context` (`"redis"`, `"disk store"`).
    pub fn new(context: &'static str, error: impl Error + Send + Sync + 'static) -> Failure {
        Failure {
            context,
            error: Arc::new(error),
        }
    }

    /// Which backend (or part of one) failed.
    pub fn context(&self) -> &'static str {
        self.context
    }

    /// The backend's own error.
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.error)
    }
}

/// Cached entries, by storage key.
#[async_trait::async_trait]
pub trait EntryStore: Send + Sync {
    /// The entry under `key`, or `None` (absent, or corrupt: never a torn entry).
    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError>;
    /// Store `entry` under `key`, replacing any previous one, atomically.
    async fn put(&self, key: &str, entry: Arc<Entry>) -> Result<(), StoreError>;
    /// Remove the entry under `key`; `true` if there was one.
    async fn remove(&self, key: &str) -> Result<bool, StoreError>;
    /// Remove every entry.
    async fn clear(&self) -> Result<(), StoreError>;
    /// Up to `limit` entries whose storage key is strictly greater than `after` (or from
    /// the first key when `after` is `None`), in ascending key order (byte order of the
    /// keys). A cursor-paged listing for administration, not for the request path: pass
    /// the last key of one page as `after` to get the next; an empty page is the end.
    /// Corrupt entries are skipped (and removed, as [`EntryStore::get`] does), so a page
    /// may hold fewer than `limit` entries only when it is the last one. `limit` 0 is an
    /// empty page.
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<Entry>)>, StoreError>;
}

/// Purge records: per record name ([`crate::purge::Target::record_name`]: a tag, a path, a
/// path prefix, or everything), the newest invalidation time and mode. A purge is one
/// write, never a scan of entries; readers compare it with an entry's `created_at`.
#[async_trait::async_trait]
pub trait PurgeStore: Send + Sync {
    /// Record that the target named `name` was invalidated. A later call with an older
    /// `at` does not undo a newer one; at equal times a hard invalidation wins over a soft
    /// one.
    async fn invalidate(&self, name: &str, invalidation: Invalidation) -> Result<(), StoreError>;
    /// Forget invalidations older than `before` (they can no longer affect a live entry).
    async fn forget_before(&self, before: UnixMillis) -> Result<u64, StoreError>;
    /// Every record, by name (the newest invalidation per name: hard wins at equal times),
    /// in ascending name order. For loading the records at start.
    async fn all(&self) -> Result<Vec<(String, Invalidation)>, StoreError>;
}

/// Proof of holding a lock; release with the same token.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LockToken(pub String);

/// A lock per key with expiry, for single flight across processes.
#[async_trait::async_trait]
pub trait LockStore: Send + Sync {
    /// Take the lock on `key` for `ttl_ms` unless someone holds it. `now` is the caller's
    /// clock (backends with their own clock may ignore it).
    async fn try_lock(
        &self,
        key: &str,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<Option<LockToken>, StoreError>;
    /// Push the expiry of a lock `token` still holds to `ttl_ms` from now (a long render
    /// keeps its lock alive this way); `false` if it no longer holds it.
    async fn extend(
        &self,
        key: &str,
        token: &LockToken,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<bool, StoreError>;
    /// Release the lock if `token` still holds it; `true` if it did.
    async fn unlock(&self, key: &str, token: &LockToken) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_says_what_failed_and_keeps_the_backends_error() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let down = StoreError::unavailable("redis", refused());
        assert_eq!(
            down.to_string(),
            "storage backend is unavailable: redis: refused"
        );
        let source = down.source().expect("a source");
        let io = source
            .downcast_ref::<std::io::Error>()
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        let failed = StoreError::backend("disk store", refused());
        assert_eq!(failed.to_string(), "storage backend: disk store: refused");
        assert_eq!(failed.failure().context(), "disk store");
        // Clones share the one error.
        let copy = failed.clone();
        assert!(std::ptr::eq(
            std::ptr::from_ref(copy.failure().error()).cast::<u8>(),
            std::ptr::from_ref(failed.failure().error()).cast::<u8>()
        ));
    }
}
