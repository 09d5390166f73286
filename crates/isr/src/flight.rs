//! Single flight: at most one render per key at a time in this process, and the retry
//! backoff of keys whose render failed (isr-core's state machine, behind a lock).
//!
//! Invariants:
//! - While a key has a flight, nobody starts another render of it here: later requests
//!   join the flight and are told its outcome.
//! - A flight always ends with an outcome, even if the task running it is dropped
//!   (then the outcome is [`Ending::abandoned`]), so no joiner waits forever.
//! - No lock here is ever held across an await.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::flow::backoff::{self, RetryPolicy};
use isr_core::flow::joiners::Outcome;
use isr_core::flow::settle::BackoffChange;
use tokio::sync::watch;

/// What joiners of a flight learn when it ends: a page render's [`FlightOutcome`], or the
/// data cache's outcome.
pub(crate) trait Ending: Clone + Send + Sync + 'static {
    /// The outcome of a flight whose task was dropped before it finished.
    fn abandoned() -> Self;
}

/// What joiners of a page render learn when it ends (see [`isr_core::flow::joiners`]).
pub(crate) type FlightOutcome = Outcome<Arc<Entry>>;

impl Ending for FlightOutcome {
    fn abandoned() -> FlightOutcome {
        Outcome::Failed(())
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
pub(crate) enum Join<O: Ending = FlightOutcome> {
    /// Nobody was rendering it: the caller must render and then [`Flight::finish`].
    Started(Flight<O>),
    /// Somebody is: wait on this for the outcome.
    Joined(Waiter<O>),
}

/// The right (and duty) to finish one key's flight.
#[derive(Debug)]
pub(crate) struct Flight<O: Ending = FlightOutcome> {
    key: String,
    flights: Arc<Flights<O>>,
    outcome: Option<watch::Sender<Option<O>>>,
}

/// A joiner's view of a running flight.
pub(crate) struct Waiter<O = FlightOutcome>(Slot<O>);

impl<O: Ending> Flights<O> {
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

impl<O: Ending> Flight<O> {
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

impl<O: Ending> Drop for Flight<O> {
    fn drop(&mut self) {
        self.end(O::abandoned());
    }
}

impl<O: Ending> Waiter<O> {
    /// The flight's outcome, once it ends.
    pub(crate) async fn outcome(mut self) -> O {
        match self.0.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or_else(O::abandoned),
            Err(_) => O::abandoned(),
        }
    }
}

/// The backoff of every failing key ([`backoff::Backoff`], bounded), shared.
#[derive(Debug)]
pub(crate) struct Backoff(Mutex<backoff::Backoff>);

impl Backoff {
    pub(crate) fn new(min_ms: u64, max_ms: u64) -> Backoff {
        let policy = RetryPolicy::new(min_ms, max_ms);
        Backoff(Mutex::new(backoff::Backoff::new(
            policy,
            backoff::DEFAULT_CAPACITY,
        )))
    }

    /// Is `key` held back at `now`?
    pub(crate) fn is_backing_off(&self, key: &str, now: UnixMillis) -> bool {
        self.lock().is_backing_off(key, now)
    }

    /// Apply what a finished render changes to `key`'s backoff, at `now`.
    pub(crate) fn apply(&self, change: BackoffChange, key: &str, now: UnixMillis) {
        match change {
            BackoffChange::Clear => self.lock().succeeded(key),
            BackoffChange::Fail => self.lock().failed(key, now),
            BackoffChange::Keep => {}
        }
    }

    fn lock(&self) -> MutexGuard<'_, backoff::Backoff> {
        // Every operation leaves the state consistent, so a poisoned lock is still usable.
        self.0
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
        flight.finish(Outcome::Uncacheable);
        assert!(matches!(waiter.outcome().await, Outcome::Uncacheable));
        assert!(
            matches!(flights.join("k"), Join::Started(_)),
            "a finished flight is gone"
        );
    }

    /// Issue 17 item 7: the per-key failure state is bounded. 30,000 distinct keys failing
    /// (each one a 500 from the origin) leave at most `DEFAULT_CAPACITY` keys held, as the
    /// engine builds its backoff; keys still backing off are the last forgotten.
    #[test]
    fn the_backoff_of_failing_keys_is_bounded_however_many_fail() {
        let backoff = Backoff::new(1_000, 60_000);
        for i in 0..30_000u64 {
            let now = UnixMillis(i);
            let key = format!("v1|site|build|html|identity|/missing/{i}");
            backoff.apply(BackoffChange::Fail, &key, now);
            assert!(backoff.lock().len() <= backoff::DEFAULT_CAPACITY);
        }
        assert!(backoff.is_backing_off(
            "v1|site|build|html|identity|/missing/29999",
            UnixMillis(29_999)
        ));
        let flights: Arc<Flights> = Arc::new(Flights::default());
        for i in 0..1_000 {
            let Join::Started(flight) = flights.join(&format!("k{i}")) else {
                panic!("a new key starts a flight");
            };
            flight.finish(Outcome::Failed(()));
        }
        let running = flights
            .running
            .lock()
            .map(|running| running.len())
            .unwrap_or(1);
        assert_eq!(running, 0, "no flight outlives its render");
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
        assert!(matches!(waiter.outcome().await, Outcome::Failed(())));
    }
}
