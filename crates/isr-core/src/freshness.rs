//! Fresh, stale, expired or purged: the state of an entry at a given instant.
//!
//! Invariants:
//! - Every duration is measured from the entry's creation (`created_at`), the instant its
//!   render arrived, never from when it was first requested.
//! - A tag or path invalidation at or after `created_at` applies; an older one does not
//!   (an entry rendered after a purge is not affected by it).
//! - A hard invalidation makes an entry unservable, even on error.

// TODO(helper: policy) implement.

use crate::UnixMillis;
use crate::policy::Lifetime;

/// Soft: the entry becomes stale (served while one regeneration runs).
/// Hard: the next request waits for a fresh render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgeMode {
    Soft,
    Hard,
}

/// One recorded invalidation (of a tag, a path, or everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Invalidation {
    pub at: UnixMillis,
    pub mode: PurgeMode,
}

/// The state of an entry at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it; nothing else to do.
    Fresh,
    /// Serve it now and regenerate in the background.
    Stale,
    /// Past `expire` (or soft-purged past expire): the request waits for a render. If the
    /// render fails and `servable_on_error` holds, the entry is served instead of an error.
    Expired { servable_on_error: bool },
    /// Hard-purged: never served again.
    Purged,
}

/// The state of an entry created at `created_at` with `lifetime`, at `now`, given the
/// newest invalidation that covers it (of any of its tags, its path, or everything).
pub fn freshness(
    created_at: UnixMillis,
    lifetime: &Lifetime,
    now: UnixMillis,
    invalidation: Option<Invalidation>,
) -> Freshness {
    let _ = (created_at, lifetime, now, invalidation);
    todo!("helper: policy")
}
