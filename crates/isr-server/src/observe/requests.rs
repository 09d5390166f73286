//! Counting and timing every answer of the public listener by cache status and route.
//!
//! Invariant: recording one answer is two atomic updates on handles registered at start,
//! indexed by the route's position and the status' slot: no lock, no allocation, no
//! lookup by name on the hit path. Label sets are bounded by the configuration.

use std::time::Duration;

use http::HeaderMap;
use isr_core::config::Config;
use isr_core::headers::X_ISR_CACHE;
use isr_core::telemetry::{self as names, STATUSES, parse_status, status_slot};
use metrics::{Counter, Histogram, counter, histogram};

/// The request counters (per route, per status) and answer-time histograms (per status).
pub struct RequestMetrics {
    counts: Vec<[Counter; STATUSES.len()]>,
    durations: [Histogram; STATUSES.len()],
}

impl RequestMetrics {
    /// Register the handles for `config`'s routes with the current recorder.
    pub fn register(config: &Config) -> RequestMetrics {
        let counts = names::route_labels(config)
            .into_iter()
            .map(|route| {
                STATUSES.map(|status| {
                    counter!(names::REQUESTS, "status" => status, "route" => route.clone())
                })
            })
            .collect();
        RequestMetrics {
            counts,
            durations: STATUSES
                .map(|status| histogram!(names::RESPONSE_SECONDS, "status" => status)),
        }
    }

    /// Count one answer with `headers`, for a request under route slot `route`, answered
    /// after `took`. Returns the status slot it was counted under.
    pub fn answered(&self, route: usize, headers: &HeaderMap, took: Duration) -> usize {
        let status = status_slot(
            headers
                .get(X_ISR_CACHE)
                .and_then(|value| parse_status(value.as_bytes())),
        );
        if let Some(counter) = self
            .counts
            .get(route)
            .and_then(|statuses| statuses.get(status))
        {
            counter.increment(1);
        }
        if let Some(histogram) = self.durations.get(status) {
            histogram.record(took.as_secs_f64());
        }
        status
    }
}
