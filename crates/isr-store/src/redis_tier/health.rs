//! The state of the connection to Redis, as the last operations found it.
//!
//! Invariant: a change of state (reachable ↔ unreachable) is logged once, when it happens;
//! a failing operation while the state is already "down" only counts.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::cluster::ClusterStatus;

#[derive(Debug)]
pub(crate) struct Health {
    address: String,
    up: AtomicBool,
    errors: AtomicU64,
    transitions: AtomicU64,
    events_received: AtomicU64,
}

impl Health {
    /// `address`: where Redis is, credentials hidden. Starts "up" until an operation fails.
    pub(crate) fn new(address: String) -> Health {
        Health {
            address,
            up: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            events_received: AtomicU64::new(0),
        }
    }

    pub(crate) fn succeeded(&self) {
        if !self.up.swap(true, Ordering::SeqCst) {
            self.transitions.fetch_add(1, Ordering::Relaxed);
            tracing::info!(redis = %self.address, "redis is reachable again; the cluster is whole");
        }
    }

    pub(crate) fn failed(&self, why: &dyn std::fmt::Display) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::SeqCst) {
            self.transitions.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                redis = %self.address,
                error = %why,
                "redis is unavailable; answering from memory and the origin (no cross-node dedup) until it is back"
            );
        }
    }

    pub(crate) fn heard(&self) {
        self.events_received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn status(&self) -> ClusterStatus {
        ClusterStatus {
            backend: "redis",
            address: self.address.clone(),
            up: self.up.load(Ordering::SeqCst),
            errors: self.errors.load(Ordering::Relaxed),
            transitions: self.transitions.load(Ordering::Relaxed),
            events_received: self.events_received.load(Ordering::Relaxed),
        }
    }
}
