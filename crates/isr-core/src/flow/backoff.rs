//! The retry backoff of keys whose render failed: after `n` consecutive failures a key is
//! not rendered again (in the background, or while it has something to serve instead)
//! before `min × 2^(n-1)`, at most `max`, has passed. A success clears it.
//!
//! [`RetryPolicy`] and [`Failing`] are the pure state machine, for a runtime that keeps the
//! state itself (the Worker, in its Durable Object's rows); [`Backoff`] holds it per key
//! for a runtime that keeps it in memory (the native engine and the data cache), bounded.
//!
//! Invariants:
//! - The wait doubles per consecutive failure from `min` and never exceeds `max`; the
//!   doubling is capped at [`MAX_SHIFT`] (2^32 × even 1 ms is 49 days, past any sensible
//!   `max`), so the arithmetic never overflows.
//! - [`Backoff`] holds at most its capacity of keys. Past it, keys whose wait has passed
//!   are forgotten first (they only lose their count of failures: their next failure
//!   waits `min` again), then the key whose wait ends soonest. Forgetting a key can only
//!   make it be tried sooner, never serve something that should not be.

use std::collections::HashMap;

use crate::UnixMillis;

/// The doubling stops at `2^MAX_SHIFT`.
pub const MAX_SHIFT: u32 = 32;

/// Keys a [`Backoff`] holds by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How long to wait after failures: from `min_ms`, doubling, up to `max_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    min_ms: u64,
    max_ms: u64,
}

impl RetryPolicy {
    /// A policy from `min_ms` to `max_ms` (a `max_ms` below `min_ms` counts as `min_ms`).
    pub fn new(min_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            min_ms,
            max_ms: max_ms.max(min_ms),
        }
    }

    /// The wait after `failures` consecutive failures (≥ 1).
    pub fn wait_ms(&self, failures: u32) -> u64 {
        let shift = failures.saturating_sub(1).min(MAX_SHIFT);
        self.min_ms.saturating_mul(1u64 << shift).min(self.max_ms)
    }
}

/// A key's state after one or more consecutive failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failing {
    /// Consecutive failures.
    pub failures: u32,
    /// Not retried before this instant.
    pub retry_at: UnixMillis,
}

impl Failing {
    /// The state after a failure at `now`, following `before` (`None`: it was not failing).
    pub fn after_failure(
        before: Option<Failing>,
        now: UnixMillis,
        policy: &RetryPolicy,
    ) -> Failing {
        let failures = before.map_or(0, |f| f.failures).saturating_add(1);
        Failing {
            failures,
            retry_at: UnixMillis(now.0.saturating_add(policy.wait_ms(failures))),
        }
    }

    /// Does it still hold the key back at `now`?
    pub fn holds_back(&self, now: UnixMillis) -> bool {
        now < self.retry_at
    }
}

/// The backoff of every failing key, bounded (see the module invariants).
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    capacity: usize,
    failing: HashMap<String, Failing>,
}

impl Backoff {
    /// An empty backoff holding at most `capacity` keys (at least one).
    pub fn new(policy: RetryPolicy, capacity: usize) -> Backoff {
        Backoff {
            policy,
            capacity: capacity.max(1),
            failing: HashMap::new(),
        }
    }

    /// Is `key` held back at `now`?
    pub fn is_backing_off(&self, key: &str, now: UnixMillis) -> bool {
        self.failing.get(key).is_some_and(|f| f.holds_back(now))
    }

    /// A render of `key` failed at `now`.
    pub fn failed(&mut self, key: &str, now: UnixMillis) {
        let before = self.failing.get(key).copied();
        if before.is_none() && self.failing.len() >= self.capacity {
            self.make_room(now);
        }
        let after = Failing::after_failure(before, now, &self.policy);
        self.failing.insert(key.to_owned(), after);
    }

    /// A render of `key` succeeded (or answered, uncacheable): it is not failing.
    pub fn succeeded(&mut self, key: &str) {
        self.failing.remove(key);
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.failing.len()
    }

    /// Whether no key is backing off.
    pub fn is_empty(&self) -> bool {
        self.failing.is_empty()
    }

    fn make_room(&mut self, now: UnixMillis) {
        self.failing.retain(|_, f| f.holds_back(now));
        if self.failing.len() < self.capacity {
            return;
        }
        let soonest = self
            .failing
            .iter()
            .min_by_key(|(_, f)| f.retry_at)
            .map(|(key, _)| key.clone());
        if let Some(key) = soonest {
            self.failing.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_max_and_a_success_clears_it() {
        let mut backoff = Backoff::new(RetryPolicy::new(1_000, 5_000), DEFAULT_CAPACITY);
        let t0 = UnixMillis(10_000);
        assert!(!backoff.is_backing_off("k", t0));
        backoff.failed("k", t0);
        assert!(backoff.is_backing_off("k", UnixMillis(10_999)));
        assert!(!backoff.is_backing_off("k", UnixMillis(11_000)));
        backoff.failed("k", UnixMillis(11_000));
        assert!(backoff.is_backing_off("k", UnixMillis(12_999)));
        assert!(!backoff.is_backing_off("k", UnixMillis(13_000)));
        for _ in 0..10 {
            backoff.failed("k", t0);
        }
        assert!(
            !backoff.is_backing_off("k", UnixMillis(15_000)),
            "capped at max"
        );
        backoff.succeeded("k");
        assert!(!backoff.is_backing_off("k", t0));
        assert!(backoff.is_empty());
    }

    #[test]
    fn the_shift_is_capped_so_nothing_overflows() {
        let policy = RetryPolicy::new(1, u64::MAX);
        assert_eq!(policy.wait_ms(1), 1);
        assert_eq!(policy.wait_ms(33), 1 << 32);
        assert_eq!(policy.wait_ms(u32::MAX), 1 << MAX_SHIFT);
        assert_eq!(RetryPolicy::new(u64::MAX, 0).wait_ms(40), u64::MAX);
        let far = Failing::after_failure(None, UnixMillis(u64::MAX - 1), &policy);
        assert_eq!(far.retry_at, UnixMillis(u64::MAX));
    }

    #[test]
    fn the_table_is_bounded_forgetting_passed_waits_first() {
        let mut backoff = Backoff::new(RetryPolicy::new(1_000, 1_000), 3);
        backoff.failed("a", UnixMillis(0));
        backoff.failed("b", UnixMillis(500));
        backoff.failed("c", UnixMillis(600));
        // At 1,200 "a" has passed: it goes, the others stay.
        backoff.failed("d", UnixMillis(1_200));
        assert_eq!(backoff.len(), 3);
        assert!(backoff.is_backing_off("b", UnixMillis(1_200)));
        assert!(backoff.is_backing_off("c", UnixMillis(1_200)));
        assert!(backoff.is_backing_off("d", UnixMillis(1_200)));
        // All held back: the one whose wait ends soonest ("b", at 1,500) goes.
        backoff.failed("e", UnixMillis(1_300));
        assert_eq!(backoff.len(), 3);
        assert!(!backoff.is_backing_off("b", UnixMillis(1_300)));
        assert!(backoff.is_backing_off("e", UnixMillis(1_300)));
        for i in 0..10_000 {
            backoff.failed(&format!("k{i}"), UnixMillis(2_000));
            assert!(backoff.len() <= 3);
        }
    }
}
