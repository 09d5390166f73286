//! From what a lookup found to what the request does: serve the entry (a hit, or stale
//! while a regeneration runs), or render in the foreground.
//!
//! Invariants:
//! - A fresh entry is a hit and nothing else: the backoff is not even asked, so the hit
//!   path touches no shared state besides the entry.
//! - A stale entry is served at once; a background regeneration is asked for unless the
//!   key backs off after a failure.
//! - An entry past `expire` but still servable on error is served stale, without a render,
//!   while the key backs off (the origin failed it moments ago); otherwise the request
//!   renders and keeps the entry as its fallback for a failed render.
//! - An entry past its error window, a hard-purged one, or none at all: the request
//!   renders with no fallback, whatever the backoff (there is nothing else to answer).

use crate::freshness::Freshness;
use crate::headers::CacheStatus;

/// What a request does with the entry its lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer from the entry, marked `status` ([`CacheStatus::Hit`] or
    /// [`CacheStatus::Stale`]). `regenerate`: start one background regeneration of the key
    /// (unless one is running).
    Serve {
        status: CacheStatus,
        regenerate: bool,
    },
    /// Render now and answer with the result. `fallback`: the entry is the answer if the
    /// render fails.
    Render { fallback: bool },
}

/// The action for an entry in state `found` (`None`: no entry). `backing_off` says whether
/// the key is in its backoff after a failed render; it is asked only for a stale or an
/// expired-but-servable entry. A runtime whose backoff lives elsewhere (the Worker's
/// Durable Object answers it with the lock) passes `|| false` and applies
/// [`when_backing_off`] to that answer.
pub fn on_lookup(found: Option<Freshness>, backing_off: impl FnOnce() -> bool) -> Action {
    match found {
        Some(Freshness::Fresh) => Action::Serve {
            status: CacheStatus::Hit,
            regenerate: false,
        },
        Some(Freshness::Stale) => Action::Serve {
            status: CacheStatus::Stale,
            regenerate: !backing_off(),
        },
        Some(Freshness::Expired {
            servable_on_error: true,
        }) => {
            if backing_off() {
                when_backing_off(true)
            } else {
                Action::Render { fallback: true }
            }
        }
        Some(Freshness::Expired { .. } | Freshness::Purged) | None => {
            Action::Render { fallback: false }
        }
    }
}

/// What a request that was about to render does when told the key backs off: serve its
/// fallback stale if it has one, else render anyway (there is nothing else to answer).
pub fn when_backing_off(has_fallback: bool) -> Action {
    if has_fallback {
        Action::Serve {
            status: CacheStatus::Stale,
            regenerate: false,
        }
    } else {
        Action::Render { fallback: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVABLE: Freshness = Freshness::Expired {
        servable_on_error: true,
    };
    const UNSERVABLE: Freshness = Freshness::Expired {
        servable_on_error: false,
    };

    fn serve(status: CacheStatus, regenerate: bool) -> Action {
        Action::Serve { status, regenerate }
    }

    #[test]
    fn every_state_with_and_without_backoff() {
        let table = [
            (
                Some(Freshness::Fresh),
                false,
                serve(CacheStatus::Hit, false),
            ),
            (Some(Freshness::Fresh), true, serve(CacheStatus::Hit, false)),
            (
                Some(Freshness::Stale),
                false,
                serve(CacheStatus::Stale, true),
            ),
            (
                Some(Freshness::Stale),
                true,
                serve(CacheStatus::Stale, false),
            ),
            (Some(SERVABLE), false, Action::Render { fallback: true }),
            (Some(SERVABLE), true, serve(CacheStatus::Stale, false)),
            (Some(UNSERVABLE), false, Action::Render { fallback: false }),
            (Some(UNSERVABLE), true, Action::Render { fallback: false }),
            (
                Some(Freshness::Purged),
                true,
                Action::Render { fallback: false },
            ),
            (None, true, Action::Render { fallback: false }),
        ];
        for (found, backing_off, expected) in table {
            assert_eq!(
                on_lookup(found, || backing_off),
                expected,
                "{found:?}, backing off: {backing_off}"
            );
        }
    }

    #[test]
    fn a_hit_never_asks_the_backoff() {
        let action = on_lookup(Some(Freshness::Fresh), || unreachable!("asked"));
        assert_eq!(action, serve(CacheStatus::Hit, false));
        let action = on_lookup(None, || unreachable!("asked"));
        assert_eq!(action, Action::Render { fallback: false });
    }
}
