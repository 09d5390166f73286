//! The engine's metrics that only the engine can see (render times and failures, renders
//! in flight, waits on other nodes, purges), as `metrics` handles registered once.
//!
//! Invariants:
//! - Handles are registered when the engine is built, with the recorder current then
//!   (the global one, or the one `metrics::with_local_recorder` sets): recording is an
//!   atomic operation on a handle, never a lookup by name, so it costs the hit path
//!   nothing and a render a few atomics. Without a recorder every handle is a no-op.
//! - Names and labels are isr-core's ([`isr_core::telemetry`]).

use std::time::Instant;

use isr_core::purge::Target;
use isr_core::telemetry as names;
use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

/// The engine's handles.
pub(crate) struct EngineMetrics {
    in_flight: Gauge,
    render_seconds: Histogram,
    failed_status: Counter,
    failed_unreachable: Counter,
    failed_timeout: Counter,
    cluster_waits: Counter,
    purges: [Counter; 5],
    purge_visible: Histogram,
}

/// How one render ended, for [`EngineMetrics`].
pub(crate) enum RenderEnd {
    /// The origin answered with a status that is not a failure.
    Answered,
    /// The origin answered with a failing status (5xx, 429).
    FailedStatus,
    /// The origin could not be reached.
    Unreachable,
    /// The origin did not answer in time.
    TimedOut,
}

/// A render being timed; counted in flight until dropped (so a cancelled render is not
/// counted in flight forever).
pub(crate) struct RenderTimer<'m> {
    metrics: &'m EngineMetrics,
    started: Instant,
}

impl EngineMetrics {
    /// Register every handle with the current recorder.
    pub(crate) fn register() -> EngineMetrics {
        let purge = |target: &Target| counter!(names::PURGES, "kind" => names::purge_kind(target));
        let failed = |reason: &'static str| counter!(names::RENDER_FAILURES, "reason" => reason);
        EngineMetrics {
            in_flight: gauge!(names::RENDERS_IN_FLIGHT),
            render_seconds: histogram!(names::RENDER_SECONDS),
            failed_status: failed(names::FAILED_STATUS),
            failed_unreachable: failed(names::FAILED_UNREACHABLE),
            failed_timeout: failed(names::FAILED_TIMEOUT),
            cluster_waits: counter!(names::LOCK_WAITS, "scope" => names::CLUSTER),
            purges: [
                purge(&Target::Tag(String::new())),
                purge(&Target::Path(String::new())),
                purge(&Target::Prefix(String::new())),
                purge(&Target::Key(String::new())),
                purge(&Target::All),
            ],
            purge_visible: histogram!(names::PURGE_VISIBLE_SECONDS),
        }
    }

    /// A render starts now.
    pub(crate) fn render_started(&self) -> RenderTimer<'_> {
        self.in_flight.increment(1.0);
        RenderTimer {
            metrics: self,
            started: Instant::now(),
        }
    }

    /// This node waits for another node's render.
    pub(crate) fn waited_on_cluster(&self) {
        self.cluster_waits.increment(1);
    }

    /// Purges of `targets` were recorded here.
    pub(crate) fn purged(&self, targets: &[Target]) {
        for target in targets {
            let slot = match target {
                Target::Tag(_) => 0,
                Target::Path(_) => 1,
                Target::Prefix(_) => 2,
                Target::Key(_) => 3,
                Target::All => 4,
            };
            if let Some(counter) = self.purges.get(slot) {
                counter.increment(1);
            }
        }
    }

    /// A purge made on another node `delay_ms` ago is applied here now.
    pub(crate) fn purge_arrived(&self, delay_ms: u64) {
        self.purge_visible.record(delay_ms as f64 / 1000.0);
    }
}

impl RenderTimer<'_> {
    /// The render ended as `end`.
    pub(crate) fn ended(self, end: &RenderEnd) {
        let metrics = self.metrics;
        metrics
            .render_seconds
            .record(self.started.elapsed().as_secs_f64());
        match end {
            RenderEnd::Answered => {}
            RenderEnd::FailedStatus => metrics.failed_status.increment(1),
            RenderEnd::Unreachable => metrics.failed_unreachable.increment(1),
            RenderEnd::TimedOut => metrics.failed_timeout.increment(1),
        }
    }
}

impl Drop for RenderTimer<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.decrement(1.0);
    }
}
