//! What a render's answer is: storable, uncacheable (passed on to the request that caused
//! it), or a failure; generic over the runtime's response type `R` (what it passes on) and
//! its error type `E` (why the origin could not be reached).
//!
//! Invariants:
//! - A failure status ([`is_render_failure`]: 5xx, 429) is a failure, never an entry and
//!   never passed on as a page to keep; so is an origin that did not answer.
//! - An answer larger than the entry size limit is never stored: it is uncacheable (or a
//!   failure, by its status), and says it was too large.
//! - An entry is built only by [`Job::entry_from`], so only an answer the policy accepts
//!   becomes one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::UnixMillis;
use crate::config::Config;
use crate::entry::Entry;
use crate::flow::joiners::Outcome;
use crate::job::{Job, is_render_failure};
use crate::policy::NoStoreReason;

/// Why a render (or a forwarded request) has no answer from the origin. `E`: the
/// runtime's description of an unreachable origin.
#[derive(Debug, thiserror::Error)]
pub enum OriginError<E> {
    #[error("the origin did not answer within {0:?}")]
    /// The origin did not answer within this time.
    Timeout(Duration),
    #[error("the origin could not be reached: {0}")]
    /// The origin could not be reached.
    Unreachable(E),
}

/// Why an answer the origin gave is passed on instead of stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unstored {
    /// Its body is larger than the entry size limit.
    TooLarge,
    /// The policy does not allow storing it.
    Policy(NoStoreReason),
}

/// The verdict on a render's answer, before the runtime builds anything from it.
#[derive(Debug)]
pub enum Judged {
    /// Store it, and answer from it.
    Storable(Arc<Entry>),
    /// Pass it on to the request that caused it; store nothing.
    Uncacheable(Unstored),
    /// The origin answered with a failure status: keep the last good page.
    FailedStatus,
}

/// The verdict on a complete answer. `headers` must be without hop-by-hop headers;
/// `created_at`: when the render started (see [`crate::flow::dating`]).
pub fn judge(
    job: &Job,
    config: &Config,
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
    created_at: UnixMillis,
) -> Judged {
    if is_render_failure(status) {
        return Judged::FailedStatus;
    }
    match job.entry_from(config, status, headers, body, created_at) {
        Ok(entry) => Judged::Storable(Arc::new(entry)),
        Err(reason) => Judged::Uncacheable(Unstored::Policy(reason)),
    }
}

/// The verdict on an answer whose body is larger than may be stored.
pub fn judge_too_large(status: StatusCode) -> Judged {
    if is_render_failure(status) {
        Judged::FailedStatus
    } else {
        Judged::Uncacheable(Unstored::TooLarge)
    }
}

/// A render's result, before anything is answered.
#[derive(Debug)]
pub enum Rendered<R, E> {
    /// A page that may be shared (the runtime stores it).
    Storable(Arc<Entry>),
    /// Another node rendered and stored it while this one waited for its lock.
    Found(Arc<Entry>),
    /// An answer that may not be shared; `too_large`: because of its size.
    Uncacheable {
        /// The origin's answer.
        response: R,
        /// Whether it may not be shared only because of its size.
        too_large: bool,
    },
    /// The origin answered with a failure status.
    FailedStatus(R),
    /// The origin did not answer.
    Failed(OriginError<E>),
}

impl<R, E> Rendered<R, E> {
    /// The result of a verdict. `response` builds what is passed on (called only when
    /// something is); if it cannot be built, the render counts as failed.
    pub fn from_judged(judged: Judged, response: impl FnOnce() -> Result<R, E>) -> Self {
        let passed = |wrap: fn(R) -> Rendered<R, E>| match response() {
            Ok(response) => wrap(response),
            Err(error) => Rendered::Failed(OriginError::Unreachable(error)),
        };
        match judged {
            Judged::Storable(entry) => Rendered::Storable(entry),
            Judged::Uncacheable(Unstored::TooLarge) => passed(|response| Rendered::Uncacheable {
                response,
                too_large: true,
            }),
            Judged::Uncacheable(Unstored::Policy(_)) => passed(|response| Rendered::Uncacheable {
                response,
                too_large: false,
            }),
            Judged::FailedStatus => passed(Rendered::FailedStatus),
        }
    }

    /// Did the render fail (failure status, or no answer)?
    pub fn is_failure(&self) -> bool {
        matches!(self, Rendered::FailedStatus(_) | Rendered::Failed(_))
    }

    /// How the flight ends for those who joined it: the entry, if it may be shared.
    pub fn outcome(&self) -> Outcome<Arc<Entry>> {
        match self {
            Rendered::Storable(entry) | Rendered::Found(entry) => {
                Outcome::Stored(Arc::clone(entry))
            }
            Rendered::Uncacheable { .. } => Outcome::Uncacheable,
            Rendered::FailedStatus(_) | Rendered::Failed(_) => Outcome::Failed(()),
        }
    }
}
