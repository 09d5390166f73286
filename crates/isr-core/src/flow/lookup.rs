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

/// What a request does with the entry `T` its lookup found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<T> {
    /// Answer from `entry`, marked `status` ([`CacheStatus::Hit`] or
    /// [`CacheStatus::Stale`]). `regenerate`: start one background regeneration of the key
    /// (unless one is running).
    Serve {
        /// The entry to answer from.
        entry: T,
        /// What the cache did.
        status: CacheStatus,
        /// Whether to start a background regeneration.
        regenerate: bool,
    },
    /// Render now and answer with the result; `fallback` is the answer if the render fails.
    Render {
        /// The entry to answer with if the render fails.
        fallback: Option<T>,
    },
}

/// The action for the entry a lookup `found`, with its state (`None`: no entry).
/// `backing_off` says whether the key is in its backoff after a failed render; it is
/// asked only for a stale or an expired-but-servable entry. A runtime whose backoff lives
/// elsewhere (the Worker's Durable Object answers it with the lock) passes `|| false` and
/// applies [`when_backing_off`] to that answer.
pub fn on_lookup<T>(
    found: Option<(T, Freshness)>,
    backing_off: impl FnOnce() -> bool,
) -> Action<T> {
    let Some((entry, state)) = found else {
        return Action::Render { fallback: None };
    };
    match state {
        Freshness::Fresh => Action::Serve {
            entry,
            status: CacheStatus::Hit,
            regenerate: false,
        },
        Freshness::Stale => Action::Serve {
            entry,
            status: CacheStatus::Stale,
            regenerate: !backing_off(),
        },
        Freshness::Expired {
            servable_on_error: true,
        } => {
            if backing_off() {
                when_backing_off(Some(entry))
            } else {
                Action::Render {
                    fallback: Some(entry),
                }
            }
        }
        Freshness::Expired { .. } | Freshness::Purged => Action::Render { fallback: None },
    }
}

/// What a request that was about to render does when told the key backs off: serve its
/// `fallback` stale if it has one, else render anyway (there is nothing else to answer).
pub fn when_backing_off<T>(fallback: Option<T>) -> Action<T> {
    match fallback {
        Some(entry) => Action::Serve {
            entry,
            status: CacheStatus::Stale,
            regenerate: false,
        },
        None => Action::Render { fallback: None },
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

    fn serve(status: CacheStatus, regenerate: bool) -> Action<&'static str> {
        Action::Serve {
            entry: "e",
            status,
            regenerate,
        }
    }

    const RENDER: Action<&str> = Action::Render { fallback: None };
    const RENDER_WITH_FALLBACK: Action<&str> = Action::Render {
        fallback: Some("e"),
    };

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
            (Some(SERVABLE), false, RENDER_WITH_FALLBACK),
            (Some(SERVABLE), true, serve(CacheStatus::Stale, false)),
            (Some(UNSERVABLE), false, RENDER),
            (Some(UNSERVABLE), true, RENDER),
            (Some(Freshness::Purged), true, RENDER),
            (None, true, RENDER),
        ];
        for (state, backing_off, expected) in table {
            let found = state.map(|state| ("e", state));
            assert_eq!(
                on_lookup(found, || backing_off),
                expected,
                "{state:?}, backing off: {backing_off}"
            );
        }
        assert_eq!(
            when_backing_off(Some("e")),
            serve(CacheStatus::Stale, false)
        );
        assert_eq!(when_backing_off::<&str>(None), RENDER);
    }

    #[test]
    fn a_hit_never_asks_the_backoff() {
        let action = on_lookup(Some(("e", Freshness::Fresh)), || unreachable!("asked"));
        assert_eq!(action, serve(CacheStatus::Hit, false));
        let action = on_lookup::<&str>(None, || unreachable!("asked"));
        assert_eq!(action, RENDER);
    }
}
