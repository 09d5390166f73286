//! `GET /_isr/stats`: what a running isr holds and what it did since it started.
//!
//! Invariants:
//! - A runtime fills what it has and leaves the rest absent (`null`), never a made-up zero:
//!   a node without the on-disk store has no `disk` figures, one that shares no store has
//!   no `cluster`, and a runtime without a memory tier it can count (the Worker, whose
//!   Cache API is per data centre) has no `memory` figures.
//! - Counters count since the process (or, on the Worker, the isolate) started.

use serde::{Deserialize, Serialize};

/// The answer of `GET /_isr/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsAnswer {
    /// Entries held, per tier.
    pub entries: TierCounts,
    /// Bytes held, and the budgets, per tier.
    pub bytes: TierBytes,
    /// Entries evicted for a tier's budget.
    pub evicted: Evictions,
    /// Answers given, by `x-isr-cache`.
    pub requests: RequestCounts,
    /// Renders started (foreground and background).
    pub renders: u64,
    /// Renders this node needed and took from another node sharing its store.
    pub rendered_elsewhere: u64,
    /// Requests that waited for another request's render of the same key.
    pub coalesced: u64,
    /// Background regenerations, by outcome.
    pub regenerations: RegenerationCounts,
    /// Purge records held (bounded).
    pub purge_records: u64,
    /// The store shared with other nodes, when there is one.
    pub cluster: Option<ClusterStats>,
}

/// Entries per tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TierCounts {
    /// In the memory tier.
    pub memory: Option<u64>,
    /// In the on-disk store.
    pub disk: Option<u64>,
}

/// Bytes per tier, with their budgets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TierBytes {
    /// Held in the memory tier (entries and their keys).
    pub memory: Option<u64>,
    /// The memory tier's budget.
    pub memory_capacity: Option<u64>,
    /// Bytes of the stored entries, what the disk budget bounds.
    pub disk: Option<u64>,
    /// The disk budget; `None` also when unbounded.
    pub disk_capacity: Option<u64>,
    /// The database file, free pages included.
    pub disk_file: Option<u64>,
}

/// Entries evicted for a budget, per tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evictions {
    /// From the on-disk store, since it was opened.
    pub disk: Option<u64>,
}

/// Answers, by what the cache did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestCounts {
    /// Fresh, from the cache.
    pub hit: u64,
    /// Stale, from the cache, while one regeneration ran.
    pub stale: u64,
    /// Rendered for the request (or for one it waited on).
    pub miss: u64,
    /// Not cacheable: passed to the origin.
    pub bypass: u64,
}

/// Background regenerations, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RegenerationCounts {
    /// Rendered and stored.
    pub ok: u64,
    /// Failed (the old entry kept).
    pub failed: u64,
}

/// The state of the store a node shares with others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClusterStats {
    /// What the backend is (`redis`).
    pub backend: String,
    /// Where, with any credentials hidden.
    pub address: String,
    /// Did the last operation succeed?
    pub up: bool,
    /// Operations that failed since start.
    pub errors: u64,
    /// Times the state changed (up to down or back) since start.
    pub transitions: u64,
    /// Announcements this node heard.
    pub events_received: u64,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn what_a_runtime_lacks_is_null_and_reads_back_absent() {
        let answer = StatsAnswer {
            entries: TierCounts {
                memory: Some(3),
                disk: None,
            },
            requests: RequestCounts {
                hit: 6,
                ..RequestCounts::default()
            },
            purge_records: 7,
            ..StatsAnswer::default()
        };
        let sent = serde_json::to_value(&answer).unwrap();
        assert_eq!(sent["entries"], json!({ "memory": 3, "disk": null }));
        assert_eq!(sent["cluster"], json!(null));
        assert_eq!(sent["requests"]["hit"], 6);
        assert_eq!(serde_json::from_value::<StatsAnswer>(sent).unwrap(), answer);
        // Missing fields read as absent or zero; unknown ones are ignored.
        let read: StatsAnswer =
            serde_json::from_str(r#"{"renders":4,"new_field":1,"bytes":{"memory":2}}"#).unwrap();
        assert_eq!((read.renders, read.bytes.memory), (4, Some(2)));
        assert_eq!(read.entries, TierCounts::default());
    }
}
