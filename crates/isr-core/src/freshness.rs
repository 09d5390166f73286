//! Fresh, stale, expired or purged: the state of an entry at a given instant.
//!
//! Invariants:
//! - Every duration is measured from the entry's creation (`created_at`), the instant its
//!   render arrived, never from when it was first requested.
//! - A tag or path invalidation at or after `created_at` applies; an older one does not
//!   (an entry rendered after a purge is not affected by it).
//! - A hard invalidation makes an entry unservable, even on error.

use crate::UnixMillis;
use crate::lifetime::{Lifetime, Revalidate};

/// Soft: the entry becomes stale (served while one regeneration runs).
/// Hard: the next request waits for a fresh render.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurgeMode {
    /// Entries become stale: served while one regeneration runs.
    Soft,
    /// Entries are gone: the next request renders.
    Hard,
}

/// One recorded invalidation (of a tag, a path, or everything).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Invalidation {
    /// When the purge happened.
    pub at: UnixMillis,
    /// Soft or hard.
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
    Expired {
        /// Whether the entry may still answer when the render fails.
        servable_on_error: bool,
    },
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
    // An invalidation recorded before the render cannot have seen this entry.
    let applicable = invalidation.filter(|inv| inv.at >= created_at);
    let by_age = freshness_by_age(now.millis_since(created_at), lifetime);
    match applicable.map(|inv| inv.mode) {
        Some(PurgeMode::Hard) => Freshness::Purged,
        Some(PurgeMode::Soft) if by_age == Freshness::Fresh => Freshness::Stale,
        _ => by_age,
    }
}

/// The state from age alone. Ages are compared in milliseconds, so an entry is stale from
/// the exact instant its revalidate time is reached.
fn freshness_by_age(age_ms: u64, lifetime: &Lifetime) -> Freshness {
    let is_fresh = match lifetime.revalidate {
        Revalidate::Never => true,
        Revalidate::After(secs) => age_ms < secs_to_ms(secs),
    };
    if is_fresh {
        return Freshness::Fresh;
    }
    let (Some(expire), Some(servable_for)) = (lifetime.expire, lifetime.servable_for_secs()) else {
        return Freshness::Stale;
    };
    if age_ms < secs_to_ms(expire) {
        return Freshness::Stale;
    }
    Freshness::Expired {
        servable_on_error: age_ms < secs_to_ms(servable_for),
    }
}

fn secs_to_ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATED: UnixMillis = UnixMillis(1_000_000);

    /// Fresh 10 s, stale until 60 s, servable on error until 90 s.
    fn lifetime() -> Lifetime {
        Lifetime {
            revalidate: Revalidate::After(10),
            expire: Some(60),
            stale_if_error: 30,
        }
    }

    fn at_secs(secs: u64) -> UnixMillis {
        CREATED.add_secs(secs)
    }

    fn at_ms(ms: u64) -> UnixMillis {
        UnixMillis(CREATED.0 + ms)
    }

    fn state(now: UnixMillis) -> Freshness {
        freshness(CREATED, &lifetime(), now, None)
    }

    fn inv(at: UnixMillis, mode: PurgeMode) -> Option<Invalidation> {
        Some(Invalidation { at, mode })
    }

    #[test]
    fn fresh_before_revalidate() {
        assert_eq!(state(CREATED), Freshness::Fresh);
        assert_eq!(state(at_ms(9_999)), Freshness::Fresh);
    }

    #[test]
    fn exactly_at_revalidate_is_stale() {
        assert_eq!(state(at_secs(10)), Freshness::Stale);
    }

    #[test]
    fn stale_until_just_before_expire() {
        assert_eq!(state(at_ms(59_999)), Freshness::Stale);
    }

    #[test]
    fn exactly_at_expire_is_expired_but_servable_on_error() {
        assert_eq!(
            state(at_secs(60)),
            Freshness::Expired {
                servable_on_error: true
            }
        );
        assert_eq!(
            state(at_ms(89_999)),
            Freshness::Expired {
                servable_on_error: true
            }
        );
    }

    #[test]
    fn past_stale_if_error_is_not_servable() {
        assert_eq!(
            state(at_secs(90)),
            Freshness::Expired {
                servable_on_error: false
            }
        );
    }

    #[test]
    fn zero_stale_if_error_is_never_servable_after_expire() {
        let lifetime = Lifetime {
            stale_if_error: 0,
            ..lifetime()
        };
        assert_eq!(
            freshness(CREATED, &lifetime, at_secs(60), None),
            Freshness::Expired {
                servable_on_error: false
            }
        );
    }

    #[test]
    fn created_in_the_future_counts_as_age_zero() {
        assert_eq!(state(UnixMillis(0)), Freshness::Fresh);
    }

    #[test]
    fn never_revalidate_is_always_fresh() {
        let lifetime = Lifetime {
            revalidate: Revalidate::Never,
            expire: None,
            stale_if_error: 0,
        };
        assert_eq!(
            freshness(CREATED, &lifetime, UnixMillis(u64::MAX), None),
            Freshness::Fresh
        );
    }

    #[test]
    fn no_expire_stays_stale_forever() {
        let lifetime = Lifetime {
            expire: None,
            ..lifetime()
        };
        assert_eq!(
            freshness(CREATED, &lifetime, UnixMillis(u64::MAX), None),
            Freshness::Stale
        );
    }

    #[test]
    fn huge_durations_saturate_without_panicking() {
        let lifetime = Lifetime {
            revalidate: Revalidate::After(u64::MAX),
            expire: Some(u64::MAX),
            stale_if_error: u64::MAX,
        };
        assert_eq!(
            freshness(UnixMillis(0), &lifetime, UnixMillis(u64::MAX), None),
            Freshness::Expired {
                servable_on_error: false
            }
        );
        assert_eq!(
            freshness(CREATED, &lifetime, at_secs(1_000_000), None),
            Freshness::Fresh
        );
    }

    #[test]
    fn hard_invalidation_after_creation_purges() {
        let hard = inv(at_secs(1), PurgeMode::Hard);
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(2), hard),
            Freshness::Purged
        );
        // Even past expire, inside the stale-if-error window.
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(70), hard),
            Freshness::Purged
        );
    }

    #[test]
    fn hard_invalidation_at_creation_instant_purges() {
        let hard = inv(CREATED, PurgeMode::Hard);
        assert_eq!(
            freshness(CREATED, &lifetime(), CREATED, hard),
            Freshness::Purged
        );
    }

    #[test]
    fn hard_invalidation_before_creation_is_ignored() {
        let hard = inv(UnixMillis(CREATED.0 - 1), PurgeMode::Hard);
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(1), hard),
            Freshness::Fresh
        );
    }

    #[test]
    fn soft_invalidation_after_creation_makes_fresh_stale() {
        let soft = inv(at_secs(1), PurgeMode::Soft);
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(2), soft),
            Freshness::Stale
        );
    }

    #[test]
    fn soft_invalidation_leaves_stale_and_expired_alone() {
        let soft = inv(at_secs(1), PurgeMode::Soft);
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(20), soft),
            Freshness::Stale
        );
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(95), soft),
            Freshness::Expired {
                servable_on_error: false
            }
        );
    }

    #[test]
    fn soft_invalidation_before_creation_is_ignored() {
        let soft = inv(UnixMillis(CREATED.0 - 1), PurgeMode::Soft);
        assert_eq!(
            freshness(CREATED, &lifetime(), at_secs(2), soft),
            Freshness::Fresh
        );
    }

    #[test]
    fn soft_invalidation_makes_a_never_revalidate_entry_stale() {
        let lifetime = Lifetime {
            revalidate: Revalidate::Never,
            expire: None,
            stale_if_error: 0,
        };
        let soft = inv(at_secs(1), PurgeMode::Soft);
        assert_eq!(
            freshness(CREATED, &lifetime, at_secs(2), soft),
            Freshness::Stale
        );
    }
}
