//! What isr counts and how it is named: the metric names, their label values, and the
//! buckets of their histograms, shared by every runtime that exports them.
//!
//! Invariants:
//! - Every label set is bounded by the configuration, never by traffic: a request is
//!   counted under its route's pattern (or [`UNROUTED`]), never under its path, and under
//!   one of [`STATUSES`].
//! - Finding the label of a request allocates nothing for an already-normal path (most
//!   of them): the hit path pays an index lookup, not a string.
//! - Names follow Prometheus' conventions: `isr_` prefix, `_total` counters, base units
//!   (seconds, bytes).

pub mod access_log;

use crate::config::Config;
use crate::headers::CacheStatus;
use crate::path::normalized;

/// Requests answered, by `status` and `route` (counter).
pub const REQUESTS: &str = "isr_requests_total";
/// Time from a request's arrival to its answer's headers, by `status` (histogram).
pub const RESPONSE_SECONDS: &str = "isr_response_duration_seconds";
/// Renders sent to the origin, foreground and background (counter).
pub const RENDERS: &str = "isr_origin_renders_total";
/// Renders that failed, by `reason`: [`FAILED_STATUS`], [`FAILED_UNREACHABLE`],
/// [`FAILED_TIMEOUT`] (counter).
pub const RENDER_FAILURES: &str = "isr_origin_render_failures_total";
/// Time one render took, until its whole body arrived (histogram).
pub const RENDER_SECONDS: &str = "isr_origin_render_duration_seconds";
/// Renders running now (gauge).
pub const RENDERS_IN_FLIGHT: &str = "isr_origin_renders_in_flight";
/// Requests that joined another request's render of the same key in this process, and
/// renders this node waited for on another node's lock, by `scope`: [`LOCAL`] or
/// [`CLUSTER`] (counter).
pub const LOCK_WAITS: &str = "isr_lock_waits_total";
/// Renders this node needed and took from another node instead (counter).
pub const RENDERED_ELSEWHERE: &str = "isr_rendered_elsewhere_total";
/// Background regenerations, by `result`: `ok` or `failed` (counter).
pub const REGENERATIONS: &str = "isr_regenerations_total";
/// Entries held, by `tier`: [`MEMORY`], [`DISK`] (gauge).
pub const ENTRIES: &str = "isr_cache_entries";
/// Bytes held, by `tier` (gauge).
pub const BYTES: &str = "isr_cache_bytes";
/// The byte budget, by `tier` (gauge).
pub const CAPACITY_BYTES: &str = "isr_cache_capacity_bytes";
/// Entries evicted to keep within the budget, by `tier` (counter).
pub const EVICTIONS: &str = "isr_cache_evictions_total";
/// Purges recorded by this node, by `kind`: see [`purge_kind`] (counter).
pub const PURGES: &str = "isr_purges_total";
/// Purge records held (gauge).
pub const PURGE_RECORDS: &str = "isr_purge_records";
/// Time from a purge on another node to its being applied here (histogram).
pub const PURGE_VISIBLE_SECONDS: &str = "isr_purge_visible_seconds";
/// Whether the shared store (Redis) is reachable: 1 or 0 (gauge).
pub const REDIS_UP: &str = "isr_redis_up";
/// Times the connection to the shared store went down or came back (counter).
pub const REDIS_TRANSITIONS: &str = "isr_redis_connection_changes_total";
/// Errors talking to the shared store (counter).
pub const REDIS_ERRORS: &str = "isr_redis_errors_total";
/// Purge requests sent to a CDN, by `provider` and `result`: `ok`, or `failed` once every
/// attempt failed (counter).
pub const CDN_PURGES: &str = "isr_cdn_purges_total";
/// Attempts of CDN purge requests that failed and were retried, by `provider` (counter).
pub const CDN_RETRIES: &str = "isr_cdn_purge_retries_total";
/// The process's resident memory (gauge; the name Prometheus' own clients use).
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// What a metric is, for its `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
    /// A distribution in buckets.
    Histogram,
}

/// Every metric: its name, kind and `# HELP` text.
pub const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (
        REQUESTS,
        Kind::Counter,
        "Requests answered, by cache status and route pattern.",
    ),
    (
        RESPONSE_SECONDS,
        Kind::Histogram,
        "Time from a request's arrival to its answer's headers, by cache status.",
    ),
    (RENDERS, Kind::Counter, "Renders sent to the origin."),
    (
        RENDER_FAILURES,
        Kind::Counter,
        "Renders that failed, by reason.",
    ),
    (RENDER_SECONDS, Kind::Histogram, "Time one render took."),
    (RENDERS_IN_FLIGHT, Kind::Gauge, "Renders running now."),
    (
        LOCK_WAITS,
        Kind::Counter,
        "Waits for another render of the same key, in this process or on another node.",
    ),
    (
        RENDERED_ELSEWHERE,
        Kind::Counter,
        "Renders taken from another node instead of rendering.",
    ),
    (
        REGENERATIONS,
        Kind::Counter,
        "Background regenerations, by result.",
    ),
    (ENTRIES, Kind::Gauge, "Entries held, by tier."),
    (BYTES, Kind::Gauge, "Bytes held, by tier."),
    (CAPACITY_BYTES, Kind::Gauge, "Byte budget, by tier."),
    (
        EVICTIONS,
        Kind::Counter,
        "Entries evicted to keep within the budget, by tier.",
    ),
    (
        PURGES,
        Kind::Counter,
        "Purges recorded by this node, by kind.",
    ),
    (PURGE_RECORDS, Kind::Gauge, "Purge records held."),
    (
        PURGE_VISIBLE_SECONDS,
        Kind::Histogram,
        "Time from a purge announced by a node to its being applied here.",
    ),
    (
        REDIS_UP,
        Kind::Gauge,
        "Whether the shared store is reachable (1) or not (0).",
    ),
    (
        REDIS_TRANSITIONS,
        Kind::Counter,
        "Times the connection to the shared store went down or came back.",
    ),
    (
        REDIS_ERRORS,
        Kind::Counter,
        "Errors talking to the shared store.",
    ),
    (
        CDN_PURGES,
        Kind::Counter,
        "Purge requests sent to a CDN, by provider and result.",
    ),
    (
        CDN_RETRIES,
        Kind::Counter,
        "Failed attempts of CDN purge requests that were retried, by provider.",
    ),
    (
        RESIDENT_MEMORY,
        Kind::Gauge,
        "Resident memory size in bytes.",
    ),
];

/// `reason` of a render that got a failing status (5xx, 429).
pub const FAILED_STATUS: &str = "status";
/// `reason` of a render whose origin could not be reached.
pub const FAILED_UNREACHABLE: &str = "unreachable";
/// `reason` of a render that took longer than `render_timeout`.
pub const FAILED_TIMEOUT: &str = "timeout";
/// `scope` of a wait in this process.
pub const LOCAL: &str = "local";
/// `scope` of a wait on another node.
pub const CLUSTER: &str = "cluster";
/// `tier` of the memory store.
pub const MEMORY: &str = "memory";
/// `tier` of the on-disk store.
pub const DISK: &str = "disk";
/// `route` of a request no configured route matched.
pub const UNROUTED: &str = "(none)";
/// `status` of an answer isr made itself (a refused request, a loop): neither served
/// from the cache nor passed on from the origin.
pub const ERROR: &str = "ERROR";

/// Every `status` label, in [`status_slot`] order.
pub const STATUSES: [&str; 5] = ["HIT", "STALE", "MISS", "BYPASS", ERROR];

/// Buckets of the answer-time histogram, in seconds: hits take tens of microseconds,
/// renders up to the render timeout.
pub const RESPONSE_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets of the render-time histogram, in seconds.
pub const RENDER_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets of the purge-visibility histogram, in seconds.
pub const PURGE_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// The position of a cache status (or of an answer without one) in [`STATUSES`].
pub fn status_slot(status: Option<CacheStatus>) -> usize {
    match status {
        Some(CacheStatus::Hit) => 0,
        Some(CacheStatus::Stale) => 1,
        Some(CacheStatus::Miss) => 2,
        Some(CacheStatus::Bypass) => 3,
        None => 4,
    }
}

/// The cache status an `x-isr-cache` header value names, if any.
pub fn parse_status(value: &[u8]) -> Option<CacheStatus> {
    match value {
        b"HIT" => Some(CacheStatus::Hit),
        b"STALE" => Some(CacheStatus::Stale),
        b"MISS" => Some(CacheStatus::Miss),
        b"BYPASS" => Some(CacheStatus::Bypass),
        _ => None,
    }
}

/// The `kind` label of a purge target.
pub fn purge_kind(target: &crate::purge::Target) -> &'static str {
    use crate::purge::Target;
    match target {
        Target::Tag(_) => "tag",
        Target::Path(_) => "path",
        Target::Prefix(_) => "prefix",
        Target::Key(_) => "key",
        Target::All => "all",
    }
}

/// A short hash of `key`, for the access log: 16 hex digits, alike on every node.
pub fn key_hash(key: &crate::key::CacheKey) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.raw().as_bytes()))
}

/// The `route` labels of a configuration: each route's pattern, in order, then
/// [`UNROUTED`]. A request's label is `labels[route_slot(..)]`.
pub fn route_labels(config: &Config) -> Vec<String> {
    config
        .routes
        .patterns()
        .map(|pattern| pattern.as_str().to_owned())
        .chain(std::iter::once(UNROUTED.to_owned()))
        .collect()
}

/// The position in [`route_labels`] of the label a request for `raw_path` (as received)
/// is counted under: its route's, or [`UNROUTED`]'s (also for a path that is not valid).
pub fn route_slot(config: &Config, raw_path: &str) -> usize {
    let unrouted = config.routes.len();
    normalized(raw_path)
        .ok()
        .and_then(|path| config.routes.position_at(&path))
        .unwrap_or(unrouted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml(toml, "isr.toml").expect("valid")
    }

    #[test]
    fn requests_are_labelled_by_their_routes_pattern_never_their_path() {
        let config = config(
            "[[route]]\npath = \"/blog/[slug]\"\n[[route]]\npath = \"/blog/about\"\n\
             [[route]]\npath = \"/docs/[...rest]\"\n",
        );
        let labels = route_labels(&config);
        assert_eq!(
            labels,
            ["/blog/[slug]", "/blog/about", "/docs/[...rest]", UNROUTED]
        );
        let label = |path: &str| labels.get(route_slot(&config, path)).map(String::as_str);
        assert_eq!(label("/blog/hello"), Some("/blog/[slug]"));
        assert_eq!(
            label("/blog/about"),
            Some("/blog/about"),
            "the more specific"
        );
        assert_eq!(
            label("/blog/%61bout"),
            Some("/blog/about"),
            "normalised first"
        );
        assert_eq!(label("/docs/a/b/c"), Some("/docs/[...rest]"));
        assert_eq!(label("/elsewhere"), Some(UNROUTED));
        assert_eq!(label("no-slash"), Some(UNROUTED));
        assert_eq!(label("/%zz"), Some(UNROUTED));
    }

    #[test]
    fn every_status_has_its_slot_and_label() {
        for status in [
            CacheStatus::Hit,
            CacheStatus::Stale,
            CacheStatus::Miss,
            CacheStatus::Bypass,
        ] {
            let slot = status_slot(Some(status));
            assert_eq!(STATUSES.get(slot), Some(&status.as_str()));
            assert_eq!(parse_status(status.as_str().as_bytes()), Some(status));
        }
        assert_eq!(STATUSES.get(status_slot(None)), Some(&ERROR));
        assert_eq!(parse_status(b"hit"), None);
    }

    #[test]
    fn every_metric_is_described_once_with_a_conventional_name() {
        let mut names: Vec<&str> = DESCRIPTIONS.iter().map(|(name, _, _)| *name).collect();
        for (name, kind, help) in DESCRIPTIONS {
            assert!(!help.is_empty());
            assert_eq!(name.ends_with("_total"), *kind == Kind::Counter, "{name}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DESCRIPTIONS.len());
    }

    #[test]
    fn buckets_rise() {
        for buckets in [RESPONSE_BUCKETS, RENDER_BUCKETS, PURGE_BUCKETS] {
            assert!(buckets.windows(2).all(|pair| pair[0] < pair[1]));
        }
    }
}
