//! What this isolate has answered and rendered since it started, for `GET /_isr/stats`.
//!
//! Invariants:
//! - Counting is a few `Cell` updates in the isolate's memory: no storage write and no
//!   Durable Object call on any request.
//! - The figures are this isolate's alone (a deployment runs many isolates, each with its
//!   own), and say so in the answer; their names and statuses are isr-core's, as on the
//!   native server.

use std::cell::Cell;

use isr_core::headers::CacheStatus;
use isr_core::telemetry::{STATUSES, parse_status, status_slot};

#[derive(Default)]
struct Counters {
    answers: [Cell<u64>; STATUSES.len()],
    renders: Cell<u64>,
}

thread_local! {
    static COUNTERS: Counters = Counters::default();
}

/// What was counted so far.
pub(crate) struct Counted {
    /// Answers by `x-isr-cache`, in [`STATUSES`] order.
    pub(crate) answers: [u64; STATUSES.len()],
    /// Renders sent to the origin.
    pub(crate) renders: u64,
}

impl Counted {
    /// Answers with `status`.
    pub(crate) fn answered(&self, status: CacheStatus) -> u64 {
        self.answers
            .get(status_slot(Some(status)))
            .copied()
            .unwrap_or(0)
    }
}

/// One answer, by its `x-isr-cache` value (`None`: it has none).
pub(crate) fn answered(cache: Option<&str>) {
    let slot = status_slot(cache.and_then(|value| parse_status(value.as_bytes())));
    COUNTERS.with(|counters| {
        if let Some(count) = counters.answers.get(slot) {
            count.set(count.get().saturating_add(1));
        }
    });
}

/// One render sent to the origin.
pub(crate) fn rendered() {
    COUNTERS.with(|counters| {
        counters
            .renders
            .set(counters.renders.get().saturating_add(1))
    });
}

/// The counts now.
pub(crate) fn counted() -> Counted {
    COUNTERS.with(|counters| Counted {
        answers: std::array::from_fn(|slot| counters.answers.get(slot).map_or(0, Cell::get)),
        renders: counters.renders.get(),
    })
}
