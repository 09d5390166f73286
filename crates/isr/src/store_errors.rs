//! How a failed storage operation is logged on the request path.
//!
//! Invariant: an unreachable shared store ([`StoreError::Unavailable`]) is not logged per
//! request; the backend reports each change of its state once (see
//! `isr_store::cluster`), so an outage is two log lines, not one per request.

use isr_core::store::StoreError;

/// Log that `what` failed for `key` (`what` says what was done instead).
pub(crate) fn log(error: &StoreError, key: &str, what: &'static str) {
    match error {
        StoreError::Unavailable(_) => tracing::debug!(%error, key, "{what}"),
        StoreError::Backend(_) => tracing::warn!(%error, key, "{what}"),
    }
}
