//! The deployment examples stay true to the code: the Grafana dashboard charts only
//! metrics isr exports (and every one of them), and the three-replica example's isr.toml
//! is a valid configuration sharing one Redis.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use isr_core::config::Config;
use isr_core::telemetry::{DESCRIPTIONS, Kind};

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every metric name in a PromQL expression (histogram series back to their metric).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("isr_") || word.starts_with("process_"))
        .map(|word| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

#[test]
fn the_grafana_dashboard_charts_every_metric_and_only_those() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo_file("deploy/grafana/isr-dashboard.json")).expect("JSON");
    let mut charted = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expression");
            charted.extend(metric_names(expr));
        }
    }
    let exported: BTreeSet<String> = DESCRIPTIONS
        .iter()
        .map(|(name, _, _)| (*name).to_owned())
        .collect();
    let unknown: Vec<_> = charted.difference(&exported).collect();
    assert!(unknown.is_empty(), "charted but not exported: {unknown:?}");
    let uncharted: Vec<_> = exported.difference(&charted).collect();
    assert!(
        uncharted.is_empty(),
        "exported but not charted: {uncharted:?}"
    );
    for (name, kind, _) in DESCRIPTIONS {
        if *kind == Kind::Histogram {
            assert!(
                repo_file("deploy/grafana/isr-dashboard.json").contains(&format!("{name}_bucket")),
                "{name} is charted by its buckets"
            );
        }
    }
}

#[test]
fn the_three_replica_example_is_a_valid_shared_configuration() {
    let config = Config::from_toml(
        &repo_file("deploy/three-replicas/isr.toml"),
        "deploy/three-replicas/isr.toml",
    )
    .expect("a valid isr.toml");
    let redis = config.redis.as_ref().expect("the replicas share Redis");
    assert_eq!(redis.url, "redis://redis:6379/0");
    assert_eq!(config.ops.metrics_listen.as_deref(), Some("0.0.0.0:9090"));
    let compose = repo_file("deploy/three-replicas/compose.yaml");
    for replica in ["isr-1:", "isr-2:", "isr-3:"] {
        assert!(compose.contains(replica), "{replica}");
    }
    let prometheus = repo_file("deploy/prometheus/prometheus.yml");
    assert!(prometheus.contains("\"isr-1:9090\", \"isr-2:9090\", \"isr-3:9090\""));
}
