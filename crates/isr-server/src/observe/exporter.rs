//! The proxy's Prometheus recorder, and the values read only when scraped.
//!
//! Invariants:
//! - One recorder per proxy, never the global one: the engine's and the listener's handles
//!   are registered with it ([`Telemetry::register`]), so figures of two proxies in one
//!   process never mix, and a library user's own recorder is left alone.
//! - What the stores, the engine's counters, Redis and the process already count is read
//!   at scrape time and set on handles, so the hit path pays nothing for it.
//! - Every metric has its `# HELP` and `# TYPE`, and histograms isr-core's buckets, so
//!   `promtool check metrics` accepts the text.
//! - Memory stays bounded whether or not anything scrapes: histogram samples are folded
//!   into their buckets every [`UPKEEP_EVERY`] ([`Telemetry::keep_up`]), not only when
//!   scraped.

use isr::Isr;
use isr_core::telemetry::{self as names, DESCRIPTIONS, Kind};
use isr_store::DiskStore;
use metrics::{Counter, Gauge, Recorder, counter, gauge};
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// How often recorded histogram samples are folded into their buckets.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder and the handles set at scrape time.
pub struct Telemetry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    scraped: Scraped,
}

/// Handles whose values are read when scraped.
struct Scraped {
    renders: Counter,
    local_waits: Counter,
    rendered_elsewhere: Counter,
    regenerations_ok: Counter,
    regenerations_failed: Counter,
    memory_entries: Gauge,
    memory_bytes: Gauge,
    memory_capacity: Gauge,
    disk_entries: Gauge,
    disk_bytes: Gauge,
    disk_capacity: Gauge,
    disk_evictions: Counter,
    memory_evictions: Counter,
    purge_records: Gauge,
    redis_up: Gauge,
    redis_transitions: Counter,
    redis_errors: Counter,
    resident_memory: Gauge,
}

impl Telemetry {
    /// A recorder with every metric described and isr-core's histogram buckets.
    pub fn new() -> Result<Telemetry, BuildError> {
        let buckets = [
            (names::RESPONSE_SECONDS, names::RESPONSE_BUCKETS),
            (names::RENDER_SECONDS, names::RENDER_BUCKETS),
            (names::PURGE_VISIBLE_SECONDS, names::PURGE_BUCKETS),
        ];
        let mut builder = PrometheusBuilder::new();
        for (name, values) in buckets {
            builder = builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), values)?;
        }
        let recorder = builder.build_recorder();
        for (name, kind, help) in DESCRIPTIONS {
            let (name, help) = ((*name).into(), (*help).into());
            match kind {
                Kind::Counter => recorder.describe_counter(name, None, help),
                Kind::Gauge => recorder.describe_gauge(name, None, help),
                Kind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let scraped = metrics::with_local_recorder(&recorder, Scraped::register);
        Ok(Telemetry {
            handle: recorder.handle(),
            recorder,
            scraped,
        })
    }

    /// Fold recorded samples into their buckets every [`UPKEEP_EVERY`], for as long as
    /// `telemetry` is held elsewhere (the proxy).
    pub fn keep_up(telemetry: &std::sync::Arc<Telemetry>) {
        let held = std::sync::Arc::downgrade(telemetry);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(telemetry) = held.upgrade() else {
                    return;
                };
                telemetry.handle.run_upkeep();
            }
        });
    }

    /// Run `register` with this recorder current: the handles it registers record here.
    pub fn register<T>(&self, register: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, register)
    }

    /// The Prometheus text for `isr` (and its on-disk tier, if any), read now.
    pub async fn render(&self, isr: &Isr, disk: Option<&DiskStore>) -> String {
        self.scraped.read(isr, disk).await;
        self.handle.render()
    }
}

impl Scraped {
    fn register() -> Scraped {
        let tier = |name: &'static str, tier: &'static str| gauge!(name, "tier" => tier);
        Scraped {
            renders: counter!(names::RENDERS),
            local_waits: counter!(names::LOCK_WAITS, "scope" => names::LOCAL),
            rendered_elsewhere: counter!(names::RENDERED_ELSEWHERE),
            regenerations_ok: counter!(names::REGENERATIONS, "result" => "ok"),
            regenerations_failed: counter!(names::REGENERATIONS, "result" => "failed"),
            memory_entries: tier(names::ENTRIES, names::MEMORY),
            memory_bytes: tier(names::BYTES, names::MEMORY),
            memory_capacity: tier(names::CAPACITY_BYTES, names::MEMORY),
            disk_entries: tier(names::ENTRIES, names::DISK),
            disk_bytes: tier(names::BYTES, names::DISK),
            disk_capacity: tier(names::CAPACITY_BYTES, names::DISK),
            disk_evictions: counter!(names::EVICTIONS, "tier" => names::DISK),
            memory_evictions: counter!(names::EVICTIONS, "tier" => names::MEMORY),
            purge_records: gauge!(names::PURGE_RECORDS),
            redis_up: gauge!(names::REDIS_UP),
            redis_transitions: counter!(names::REDIS_TRANSITIONS),
            redis_errors: counter!(names::REDIS_ERRORS),
            resident_memory: gauge!(names::RESIDENT_MEMORY),
        }
    }

    async fn read(&self, isr: &Isr, disk: Option<&DiskStore>) {
        let stats = isr.stats();
        self.renders.absolute(stats.renders);
        self.local_waits.absolute(stats.coalesced);
        self.rendered_elsewhere.absolute(stats.rendered_elsewhere);
        self.regenerations_ok.absolute(stats.regenerations_ok);
        self.regenerations_failed
            .absolute(stats.regenerations_failed);
        let memory = isr.memory();
        self.memory_entries.set(memory.entries as f64);
        self.memory_bytes.set(memory.bytes as f64);
        self.memory_capacity.set(memory.capacity as f64);
        self.memory_evictions.absolute(memory.evicted);
        if let Some(disk) = disk
            && let Ok(stats) = disk.stats().await
        {
            self.disk_entries.set(stats.entries as f64);
            self.disk_bytes.set(stats.stored_bytes as f64);
            if let Some(max) = stats.max_bytes {
                self.disk_capacity.set(max as f64);
            }
            self.disk_evictions.absolute(stats.evicted);
        }
        self.purge_records.set(isr.purge_records() as f64);
        if let Some(cluster) = isr.cluster() {
            self.redis_up.set(if cluster.up { 1.0 } else { 0.0 });
            self.redis_transitions.absolute(cluster.transitions);
            self.redis_errors.absolute(cluster.errors);
        }
        if let Some(bytes) = resident_memory() {
            self.resident_memory.set(bytes as f64);
        }
    }
}

/// This process's resident memory, from `/proc/self/status` (Linux); `None` elsewhere.
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}
