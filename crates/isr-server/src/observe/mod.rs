//! Watching the proxy from outside: Prometheus metrics, health checks and the access log.
//!
//! - [`exporter`]: the proxy's own Prometheus recorder, and what is read at scrape time
//!   (tiers, engine counters, Redis, process memory).
//! - [`requests`]: counting each answer by cache status and route, and timing it.
//! - [`access`]: the access log's writer.
//! - [`observed`]: watching one engine answer until its headers are ready.
//! - [`listener`]: the metrics listener (`/metrics`, `/healthz`, `/readyz`), apart from
//!   the public one.
//!
//! Invariants: what is counted and how it is named is isr-core's
//! ([`isr_core::telemetry`]); every proxy has its own recorder (no global state, so two
//! proxies in one process never mix their figures); nothing here can fail a request.

pub mod access;
pub mod exporter;
pub mod listener;
pub mod observed;
pub mod requests;
