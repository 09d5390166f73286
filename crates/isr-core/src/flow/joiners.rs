//! Single flight, as decisions: how a render's end is told to the requests that waited for
//! it, what each of them answers, and when an entry someone else stored makes a render
//! unnecessary.
//!
//! Invariants:
//! - Only a storable render is shared: a joiner of an uncacheable render asks the origin
//!   for its own answer (an uncacheable answer belongs to the request that caused it).
//! - A joiner of a failed render answers with its own fallback if it has one, else with
//!   the failure; it never renders again (the origin just failed this key). Except where
//!   the render carried its leader's own headers (no route matched): there a joiner
//!   without a fallback renders its own request, as the failure may be the leader's.
//! - A joiner that waited past the lock timeout, or learnt nothing (the render's state is
//!   gone), renders alone, uncached: waiting costs at most the timeout, never an answer.
//! - A joiner serves the flight's stored result only while it is a flight result for it
//!   ([`for_joiner`]): a render begun before a hard purge never answers a request that
//!   came after the purge; that request renders on its own.
//! - An entry found instead of rendering replaces what the request had only if it is the
//!   same key, strictly newer than the entry the request saw, and fresh (for a render that
//!   has not started) or servable (for the render a joiner followed).

use crate::UnixMillis;
use crate::entry::Entry;
use crate::freshness::Freshness;

/// How a flight (one render, or one data fetch) ended, as its joiners learn it. `E`: what
/// a stored result is to the runtime (the entry itself, or `()` where joiners read it from
/// a tier); `F`: what a failure carries (`()`, or the data cache's error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<E, F = ()> {
    /// The result was stored: serve it.
    Stored(E),
    /// The origin answered with something that may not be shared.
    Uncacheable,
    /// The origin failed (failure status, timeout, unreachable), or the flight was lost.
    Failed(F),
}

/// What a request that joined a flight answers. `T`: its fallback entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Joined<E, F, T> {
    /// The flight's result, marked [`crate::headers::CacheStatus::Miss`].
    Serve(E),
    /// Its own fallback, marked [`crate::headers::CacheStatus::Stale`]: the render failed.
    Stale(T),
    /// The failure: the render failed and there is no fallback (a 502,
    /// `ErrorAnswer::render_failed`, or the data cache's error).
    Failed(F),
    /// Render alone, store nothing, and answer that (with the fallback, on failure).
    Alone(Option<T>),
}

/// What a joiner answers for the flight's `outcome` (`None`: it waited past the lock
/// timeout, or the flight's state is unknown), holding `fallback`.
pub fn joined<E, F, T>(outcome: Option<Outcome<E, F>>, fallback: Option<T>) -> Joined<E, F, T> {
    match outcome {
        Some(Outcome::Stored(result)) => Joined::Serve(result),
        Some(Outcome::Failed(failure)) => match fallback {
            Some(stale) => Joined::Stale(stale),
            None => Joined::Failed(failure),
        },
        Some(Outcome::Uncacheable) | None => Joined::Alone(fallback),
    }
}

/// What a joiner of a page render answers: as [`joined`], except that when the render
/// carried its leader's own client headers (`per_client`: a request no route matched,
/// [`crate::job::Job::matched`] false), a joiner without a fallback does not share its
/// failure, which the leader's headers may have caused: it renders alone, its own request.
pub fn joined_render<E, F, T>(
    outcome: Option<Outcome<E, F>>,
    fallback: Option<T>,
    per_client: bool,
) -> Joined<E, F, T> {
    match outcome {
        Some(Outcome::Failed(_)) if per_client && fallback.is_none() => Joined::Alone(None),
        outcome => joined(outcome, fallback),
    }
}

/// The `outcome` a joiner that saw an entry created at `seen` may act on, its stored
/// result judged now (`state`, purges included): a stored result that is no longer a
/// flight result for it ([`is_flight_result`]: purged or expired since its render began)
/// is as if the flight were unknown (`None`: the joiner renders alone).
pub fn for_joiner<F>(
    outcome: Outcome<std::sync::Arc<Entry>, F>,
    seen: Option<UnixMillis>,
    state: impl FnOnce(&Entry) -> Freshness,
) -> Option<Outcome<std::sync::Arc<Entry>, F>> {
    match outcome {
        Outcome::Stored(entry) => {
            let state = state(&entry);
            is_flight_result(&entry, seen, state).then_some(Outcome::Stored(entry))
        }
        other => Some(other),
    }
}

/// Does `candidate` (found under the key whose raw form is `key`) make a render
/// unnecessary for a request that saw an entry created at `seen` (`None`: it saw none)?
/// `state`: the candidate's freshness now. True for the same key, newer than what was
/// seen, and fresh: a render stored it after the request looked.
pub fn replaces(candidate: &Entry, key: &str, seen: Option<UnixMillis>, state: Freshness) -> bool {
    candidate.key == key && is_newer(candidate, seen) && state == Freshness::Fresh
}

/// Is `candidate` the result of the flight a joiner followed, for a joiner that saw an
/// entry created at `seen`? True if newer than what was seen and servable (fresh or stale:
/// a short-lived entry may be stale by the time the joiner reads it).
pub fn is_flight_result(candidate: &Entry, seen: Option<UnixMillis>, state: Freshness) -> bool {
    is_newer(candidate, seen) && matches!(state, Freshness::Fresh | Freshness::Stale)
}

fn is_newer(candidate: &Entry, seen: Option<UnixMillis>) -> bool {
    seen.is_none_or(|seen| candidate.created_at > seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_purged_since_its_render_began_is_not_served_to_a_joiner() {
        let entry = std::sync::Arc::new(Entry {
            key: "k".to_owned(),
            path: "/p".to_owned(),
            status: http::StatusCode::OK,
            headers: Vec::new(),
            body: bytes::Bytes::new(),
            created_at: UnixMillis(10),
            lifetime: crate::lifetime::Lifetime {
                revalidate: crate::policy::Revalidate::After(60),
                expire: None,
                stale_if_error: 0,
            },
            tags: Vec::new(),
            build_id: String::new(),
            etag: String::new(),
            representations: Vec::new(),
        });
        let stored = || Outcome::<_, ()>::Stored(std::sync::Arc::clone(&entry));
        let fresh = for_joiner(stored(), None, |_| Freshness::Fresh);
        assert!(matches!(fresh, Some(Outcome::Stored(_))));
        let stale = for_joiner(stored(), None, |_| Freshness::Stale);
        assert!(
            matches!(stale, Some(Outcome::Stored(_))),
            "a short life ran out"
        );
        for gone in [
            Freshness::Purged,
            Freshness::Expired {
                servable_on_error: true,
            },
        ] {
            assert_eq!(for_joiner(stored(), None, |_| gone), None, "{gone:?}");
        }
        assert_eq!(
            for_joiner(stored(), Some(UnixMillis(10)), |_| Freshness::Fresh),
            None,
            "not newer than what the joiner saw"
        );
        assert_eq!(
            for_joiner(
                Outcome::<std::sync::Arc<Entry>, ()>::Failed(()),
                None,
                |_| Freshness::Fresh
            ),
            Some(Outcome::Failed(()))
        );
    }

    type Answer = Joined<&'static str, &'static str, &'static str>;
    type Case = (
        Option<Outcome<&'static str, &'static str>>,
        Option<&'static str>,
        Answer,
    );

    #[test]
    fn every_outcome_with_and_without_a_fallback() {
        let table: [Case; 8] = [
            (Some(Outcome::Stored("new")), None, Joined::Serve("new")),
            (
                Some(Outcome::Stored("new")),
                Some("old"),
                Joined::Serve("new"),
            ),
            (Some(Outcome::Failed("502")), None, Joined::Failed("502")),
            (
                Some(Outcome::Failed("502")),
                Some("old"),
                Joined::Stale("old"),
            ),
            (Some(Outcome::Uncacheable), None, Joined::Alone(None)),
            (
                Some(Outcome::Uncacheable),
                Some("old"),
                Joined::Alone(Some("old")),
            ),
            (None, None, Joined::Alone(None)),
            (None, Some("old"), Joined::Alone(Some("old"))),
        ];
        for (outcome, fallback, expected) in table {
            assert_eq!(joined(outcome.clone(), fallback), expected, "{outcome:?}");
        }
    }

    #[test]
    fn a_joiner_does_not_share_a_failure_its_leaders_headers_may_have_caused() {
        let failed = || Some(Outcome::<&str, ()>::Failed(()));
        assert_eq!(
            joined_render(failed(), None::<&str>, true),
            Joined::Alone(None)
        );
        assert_eq!(
            joined_render(failed(), None::<&str>, false),
            Joined::Failed(())
        );
        assert_eq!(
            joined_render(failed(), Some("old"), true),
            Joined::Stale("old")
        );
        let stored = Some(Outcome::<&str, ()>::Stored("new"));
        assert_eq!(
            joined_render(stored, None::<&str>, true),
            Joined::Serve("new")
        );
    }
}
