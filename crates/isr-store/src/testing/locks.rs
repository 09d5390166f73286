//! [`MemoryLocks`]: render locks in process memory, with expiry on the caller's clock. No
//! runtime needs them (one process single-flights in memory, several share Redis's locks);
//! the conformance suite runs the lock checks against them as the reference.
//!
//! Invariant: a key is held by one token at a time, until that token releases it or its
//! expiry passes on the caller's clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use isr_core::UnixMillis;
use isr_core::store::{LockStore, LockToken, StoreError};

use crate::memory::lock;

/// Locks held in process memory, with expiry on the caller's clock.
#[derive(Debug, Default)]
pub struct MemoryLocks {
    /// key → (holder, expires at)
    locks: Mutex<HashMap<String, (LockToken, UnixMillis)>>,
    /// Makes every token this instance hands out distinct.
    next_token: AtomicU64,
}

impl MemoryLocks {
    /// No lock held.
    pub fn new() -> MemoryLocks {
        MemoryLocks::default()
    }

    fn new_token(&self) -> LockToken {
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        // The address tells instances apart, the counter tells tokens apart.
        LockToken(format!("{:x}-{n}", std::ptr::from_ref(self).addr()))
    }
}

#[async_trait::async_trait]
impl LockStore for MemoryLocks {
    async fn try_lock(
        &self,
        key: &str,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<Option<LockToken>, StoreError> {
        let mut locks = lock(&self.locks);
        if let Some((_, expires_at)) = locks.get(key)
            && *expires_at > now
        {
            return Ok(None);
        }
        let token = self.new_token();
        let expires_at = UnixMillis(now.0.saturating_add(ttl_ms));
        locks.insert(key.to_owned(), (token.clone(), expires_at));
        // Drop expired locks of other keys now and then, so abandoned keys don't pile up.
        if locks.len() > 1024 {
            locks.retain(|_, (_, expires_at)| *expires_at > now);
        }
        Ok(Some(token))
    }

    async fn extend(
        &self,
        key: &str,
        token: &LockToken,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut locks = lock(&self.locks);
        match locks.get_mut(key) {
            Some((holder, expires_at)) if holder == token && *expires_at > now => {
                *expires_at = UnixMillis(now.0.saturating_add(ttl_ms));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<bool, StoreError> {
        let mut locks = lock(&self.locks);
        match locks.get(key) {
            Some((holder, _)) if holder == token => {
                locks.remove(key);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_across_lock_stores() {
        let (a, b) = (MemoryLocks::new(), MemoryLocks::new());
        assert_ne!(a.new_token(), b.new_token());
        assert_ne!(a.new_token(), a.new_token());
    }
}
