//! How long one stored entry lives: fresh for its revalidate time, servable stale until it
//! expires, and servable on error for a window after that. A model type: the policy
//! computes it, entries carry it, freshness reads it, the headers describe it.
//!
//! Invariants:
//! - Every duration is in whole seconds measured from the entry's creation.
//! - `Revalidate::After(0)` never exists: a zero revalidate means "do not cache" and is a
//!   pass-through route, decided before a lifetime is built.
//! - When both are finite, `expire` is at least the revalidate time.

/// How long after creation an entry is fresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Revalidate {
    /// Fresh for this many seconds (always > 0: 0 means "do not cache" and never gets here).
    After(u64),
    /// Fresh until purged (`revalidate = false`).
    Never,
}

/// The lifetime of one stored entry, measured from its creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lifetime {
    /// How long the entry stays fresh.
    pub revalidate: Revalidate,
    /// Seconds after creation past which the entry may no longer be served stale without
    /// a render. `None`: never expires. Always ≥ the revalidate time when both are finite.
    pub expire: Option<u64>,
    /// Seconds past `expire` during which the entry is still served if a render fails.
    pub stale_if_error: u64,
}

impl Lifetime {
    /// Seconds after creation past which the entry can never be served again, not even
    /// on error; `None`: it can always be (it never expires).
    pub fn servable_for_secs(&self) -> Option<u64> {
        self.expire
            .map(|expire| expire.saturating_add(self.stale_if_error))
    }
}
