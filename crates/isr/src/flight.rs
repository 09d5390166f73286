//! Single flight: at most one render per key at a time in this process, and the retry
//! backoff of keys whose regeneration failed.
//!
//! Invariants:
//! - While a key has a flight, nobody starts another render of it here: later requests
//!   join the flight and are told its outcome.
//! - A flight always ends with an outcome, even if the task running it is dropped
//!   (then the outcome is [`Outcome::abandoned`]), so no joiner waits forever.
//! - The map's lock is never held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use isr_core::UnixMillis;
use isr_core::entry::Entry;
use tokio::sync::watch;

/// What joiners of a flight learn when it ends: the engine's [`FlightOutcome`], or the
/// data cache's own outcome type.
pub(crate) trait Outcome: Clone + Send + Sync + 'static {
    /// The outcome of a flight whose task was dropped before it finished.
    fn abandoned() -> Self;
}

/// What joiners of a page render learn when it ends.
#[derive(Clone, Debug)]
pub(crate) enum FlightOutcome {
    /// The render was stored: serve this entry.
    Stored(Arc<Entry>),
    /// The origin answered with something that may not be shared: go to the origin yourself.
    Uncacheable,
    /// The render failed (5xx, timeout, connection error).
    Failed,
}

impl Outcome for FlightOutcome {
    fn abandoned() -> FlightOutcome {
        FlightOutcome::Failed
    }
}

type Slot<O> = watch::Receiver<Option<O>>;

/// The renders (or fetches) in progress, by storage key.
#[derive(Debug)]
pub(crate) struct Flights<O = FlightOutcome> {
    running: Mutex<HashMap<String, Slot<O>>>,
}

impl<O> Default for Flights<O> {
    fn default() -> Self {
        Flights {
            running: Mutex::default(),
        }
    }
}

/// The result of asking to render a key.
pub(crate) enum Join<O: Outcome = FlightOutcome> {
    /// Nobody was rendering it: the caller must render and then [`Flight::finish`].
    Started(Flight<O>),
    /// Somebody is: wait on this for the outcome.
    Joined(Waiter<O>),
}

/// The right (and duty) to finish one key's flight.
#[derive(Debug)]
pub(crate) struct Flight<O: Outcome = FlightOutcome> {
    key: String,
    flights: Arc<Flights<O>>,
    outcome: Option<watch::Sender<Option<O>>>,
}

/// A joiner's view of a running flight.
pub(crate) struct Waiter<O = FlightOutcome>(Slot<O>);

impl<O: Outcome> Flights<O> {
    /// Start a flight for `key`, or join the one running.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join<O> {
        let mut running = self.lock();
        if let Some(slot) = running.get(key) {
            return Join::Joined(Waiter(slot.clone()));
        }
        let (sender, receiver) = watch::channel(None);
        running.insert(key.to_owned(), receiver);
        Join::Started(Flight {
            key: key.to_owned(),
            flights: Arc::clone(self),
            outcome: Some(sender),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot<O>>> {
        // A panic elsewhere while holding this lock leaves the map consistent (each
        // operation is one insert or remove), so a poisoned lock is still usable.
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<O: Outcome> Flight<O> {
    /// End the flight: later requests start a new one, joiners get `outcome`.
    pub(crate) fn finish(mut self, outcome: O) {
        self.end(outcome);
    }

    /// A view of this flight's outcome, for the task that started it.
    pub(crate) fn waiter(&self) -> Waiter<O> {
        let receiver = match &self.outcome {
            Some(sender) => sender.subscribe(),
            // Unreachable (the sender is taken only when the flight ends, by value).
            None => watch::channel(Some(O::abandoned())).1,
        };
        Waiter(receiver)
    }

    fn end(&mut self, outcome: O) {
        if let Some(sender) = self.outcome.take() {
            self.flights.lock().remove(&self.key);
            sender.send_replace(Some(outcome));
        }
    }
}

impl<O: Outcome> Drop for Flight<O> {
    fn drop(&mut self) {
        self.end(O::abandoned());
    }
}

impl<O: Outcome> Waiter<O> {
    /// The flight's outcome, once it ends.
    pub(crate) async fn outcome(mut self) -> O {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or_else(O::abandoned),
            Err(_) => O::abandoned(),
        }
    }
}

/// Per key, when a failed regeneration may be tried again: the wait doubles with each
/// consecutive failure, from `min_ms` up to `max_ms`, and is cleared by a success.
#[derive(Debug)]
pub(crate) struct Backoff {
    min_ms: u64,
    max_ms: u64,
    failing: Mutex<HashMap<String, (u32, UnixMillis)>>,
}

impl Backoff {
    pub(crate) fn new(min_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            min_ms,
            max_ms: max_ms.max(min_ms),
            failing: Mutex::default(),
        }
    }

    /// May `key` be rendered again at `now`?
    pub(crate) fn may_retry(&self, key: &str, now: UnixMillis) -> bool {
        self.lock()
            .get(key)
            .is_none_or(|&(_, retry_at)| now >= retry_at)
    }

    pub(crate) fn failed(&self, key: &str, now: UnixMillis) {
        let mut failing = self.lock();
        let failures = failing.get(key).map_or(0, |&(n, _)| n).saturating_add(1);
        let wait = self
            .min_ms
            .saturating_mul(1u64 << failures.saturating_sub(1).min(32))
            .min(self.max_ms);
        failing.insert(
            key.to_owned(),
            (failures, UnixMillis(now.0.saturating_add(wait))),
        );
    }

    pub(crate) fn succeeded(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (u32, UnixMillis)>> {
        self.failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_flight_per_key_and_joiners_get_its_outcome() {
        let flights: Arc<Flights> = Arc::new(Flights::default());
        let Join::Started(flight) = flights.join("k") else {
            panic!("first join must start the flight");
        };
        let Join::Joined(waiter) = flights.join("k") else {
            panic!("second join must join the running flight");
        };
        assert!(matches!(flights.join("other"), Join::Started(_)));
        flight.finish(FlightOutcome::Uncacheable);
        assert!(matches!(waiter.outcome().await, FlightOutcome::Uncacheable));
        assert!(
            matches!(flights.join("k"), Join::Started(_)),
            "a finished flight is gone"
        );
    }

    #[tokio::test]
    async fn a_dropped_flight_ends_as_failed() {
        let flights: Arc<Flights> = Arc::new(Flights::default());
        let Join::Started(flight) = flights.join("k") else {
            panic!("first join must start the flight");
        };
        let Join::Joined(waiter) = flights.join("k") else {
            panic!("second join must join");
        };
        drop(flight);
        assert!(matches!(waiter.outcome().await, FlightOutcome::Failed));
    }

    #[test]
    fn backoff_doubles_up_to_the_max_and_resets_on_success() {
        let backoff = Backoff::new(1_000, 5_000);
        let t0 = UnixMillis(10_000);
        assert!(backoff.may_retry("k", t0));
        backoff.failed("k", t0);
        assert!(!backoff.may_retry("k", UnixMillis(10_999)));
        assert!(backoff.may_retry("k", UnixMillis(11_000)));
        backoff.failed("k", UnixMillis(11_000));
        assert!(!backoff.may_retry("k", UnixMillis(12_999)));
        assert!(backoff.may_retry("k", UnixMillis(13_000)));
        for _ in 0..10 {
            backoff.failed("k", t0);
        }
        assert!(backoff.may_retry("k", UnixMillis(15_000)), "capped at max");
        backoff.succeeded("k");
        assert!(backoff.may_retry("k", t0));
    }
}
