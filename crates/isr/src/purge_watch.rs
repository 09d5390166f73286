//! Telling others of the purges this node records: the dashboard's list of recent purges,
//! a CDN in front that must purge too.
//!
//! Invariants:
//! - An observer is told after the purge is recorded (so it is already visible here), once
//!   per purge, with the instant it was recorded at.
//! - Telling is synchronous and must not block: an observer with slow work to do (an
//!   HTTP call) hands it to a task of its own, so it can never delay or fail the purge.

use std::sync::{Arc, PoisonError, RwLock};

use isr_core::UnixMillis;
use isr_core::freshness::PurgeMode;
use isr_core::purge::Target;

/// Told of every purge this node records.
pub trait PurgeObserver: Send + Sync + 'static {
    /// `targets` were purged (`mode`) at `at`.
    fn purged(&self, targets: &[Target], mode: PurgeMode, at: UnixMillis);
}

/// The observers of one engine.
#[derive(Default)]
pub(crate) struct PurgeObservers {
    observers: RwLock<Vec<Arc<dyn PurgeObserver>>>,
}

impl PurgeObservers {
    /// Tell `observer` of every purge from now on.
    pub(crate) fn add(&self, observer: Arc<dyn PurgeObserver>) {
        self.observers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(observer);
    }

    /// Tell every observer of a purge.
    pub(crate) fn tell(&self, targets: &[Target], mode: PurgeMode, at: UnixMillis) {
        let observers = self
            .observers
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for observer in observers.iter() {
            observer.purged(targets, mode, at);
        }
    }
}
