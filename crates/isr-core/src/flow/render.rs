//! What a render's answer is: storable, uncacheable (passed on to the request that caused
//! it), or a failure; generic over the runtime's response type `R` (what it passes on) and
//! its error type `E` (why the origin could not be reached).
//!
//! Invariants:
//! - A failure status ([`is_render_failure`]: 5xx, 429) is a failure, never an entry and
//!   never passed on as a page to keep; so is an origin that did not answer.
//! - An answer larger than the entry size limit is never stored: it is uncacheable (or a
//!   failure, by its status), and says it was too large.
//! - An answer whose body ended only with the connection ([`crate::framing`]) is never
//!   stored: it may have been cut short.
//! - An entry is built only by [`Job::entry_from`], so only an answer the policy accepts
//!   becomes one; the policy sees the answer before hop-by-hop removal.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::UnixMillis;
use crate::config::Config;
use crate::entry::Entry;
use crate::flow::conditional;
use crate::flow::joiners::Outcome;
use crate::job::{Job, is_render_failure};
use crate::policy::{NoStoreReason, credentials_allow_storing};

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
    /// Its body ended only where the connection closed: it may be cut short.
    CloseDelimited,
    /// It names a build other than the one its key is under (`build_id_header`,
    /// [`crate::build::Builds::judge_answer`]).
    OtherBuild,
}

impl Unstored {
    /// A short token for the `detail` of `Cache-Status`.
    pub fn detail(self) -> &'static str {
        match self {
            Unstored::TooLarge => "too-large",
            Unstored::Policy(reason) => reason.detail(),
            Unstored::CloseDelimited => "close-delimited",
            Unstored::OtherBuild => "other-build",
        }
    }
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

/// What the runtime knows of the render an answer came from.
#[derive(Clone, Copy, Debug)]
pub struct Render<'a> {
    /// When the render started (see [`crate::flow::dating`]).
    pub started: UnixMillis,
    /// The entry the render revalidates (its validators were sent,
    /// [`conditional::validators`]); a `304` refreshes it ([`conditional::refreshed`]).
    pub previous: Option<&'a Entry>,
    /// The render carried the client's `Cookie` ([`credentials_allow_storing`]).
    pub credentialed: bool,
}

/// The verdict on a complete answer to `render`. `headers` are as the origin sent them,
/// hop-by-hop headers included: a header its `Connection` nominates (`Set-Cookie`,
/// `Cache-Control`, `Vary`) still counts for the privacy checks, and is left out of the
/// entry. The runtime removes hop-by-hop headers only from what it passes on, after this.
pub fn judge(
    job: &Job,
    config: &Config,
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
    render: Render<'_>,
) -> Judged {
    if is_render_failure(status) {
        return Judged::FailedStatus;
    }
    if let Err(reason) = credentials_allow_storing(job.matched, render.credentialed, headers) {
        return Judged::Uncacheable(Unstored::Policy(reason));
    }
    let created_at = render.started;
    let judged = match render
        .previous
        .filter(|_| status == StatusCode::NOT_MODIFIED)
    {
        Some(previous) => conditional::refreshed(job, config, previous, headers, created_at),
        None => job.entry_from(config, status, headers, body, created_at),
    };
    match judged {
        Ok(entry) => Judged::Storable(Arc::new(entry)),
        Err(reason) => Judged::Uncacheable(Unstored::Policy(reason)),
    }
}

/// `judged` for an answer whose build is `named` ([`crate::build::Builds::judge_answer`]):
/// one naming another build than its key's is never stored.
pub fn judge_build(judged: Judged, named: &crate::build::NamedBuild) -> Judged {
    match (judged, named) {
        (
            Judged::Storable(_),
            crate::build::NamedBuild::Switch(_) | crate::build::NamedBuild::Unstored,
        ) => Judged::Uncacheable(Unstored::OtherBuild),
        (judged, _) => judged,
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

/// The verdict on an answer whose body ended only with the connection
/// ([`crate::framing::is_close_delimited`]): whole or cut short, nobody can tell.
pub fn judge_close_delimited(status: StatusCode) -> Judged {
    if is_render_failure(status) {
        Judged::FailedStatus
    } else {
        Judged::Uncacheable(Unstored::CloseDelimited)
    }
}

/// A render's result, before anything is answered.
#[derive(Debug)]
pub enum Rendered<R, E> {
    /// A page that may be shared (the runtime stores it).
    Storable(Arc<Entry>),
    /// Another node rendered and stored it while this one waited for its lock.
    Found(Arc<Entry>),
    /// An answer that may not be shared, and why.
    Uncacheable {
        /// The origin's answer.
        response: R,
        /// Why it may not be shared.
        unstored: Unstored,
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
        let wrap: Box<dyn FnOnce(R) -> Rendered<R, E>> = match judged {
            Judged::Storable(entry) => return Rendered::Storable(entry),
            Judged::Uncacheable(unstored) => {
                Box::new(move |response| Rendered::Uncacheable { response, unstored })
            }
            Judged::FailedStatus => Box::new(Rendered::FailedStatus),
        };
        match response() {
            Ok(response) => wrap(response),
            Err(error) => Rendered::Failed(OriginError::Unreachable(error)),
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
