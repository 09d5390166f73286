//! Renders: a job sent to the origin with the recursion guard, its answer judged by
//! isr-core (`flow::render`), and, for a render that held the lock or passed, what it
//! changes in the tiers as isr-core's `flow::settle` says (store it, or remove the entry it
//! replaces).
//!
//! Invariants:
//! - A failed render (5xx, 429, timeout, unreachable) is never stored; the last good entry
//!   stays.
//! - A body over the smaller of `max_entry_size` and the Workers KV value limit is never
//!   buffered whole, nor stored; nor is an entry whose encoding is over the KV limit: both
//!   are answered as too large.
//! - A render alone stores and removes nothing.

use http::StatusCode;
use http::header::HeaderMap;
use isr_core::UnixMillis;
use isr_core::flow::render::{self, judge, judge_too_large};
use isr_core::flow::settle::{Settled, settle};
use isr_core::headers::{X_ISR_RENDER, remove_hop_by_hop};
use isr_core::job::Job;
use worker::Response;

use crate::convert::{self, status_of};
use crate::deployment::Deployment;
use crate::origin::{Fetched, OriginError, Unreachable};
use crate::store::{KV_MAX_VALUE_BYTES, PutError};

/// A render's result on the Worker: the origin's answer as a response, an unreachable
/// origin described in words.
pub(crate) type Rendered = render::Rendered<Response, Unreachable>;

/// What is kept of a render.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Keep {
    /// Nothing: the answer goes to the request that asked for it (a render alone).
    Nothing,
    /// What isr-core's settle says (a render under the lock, or passing); `had_entry`: an
    /// entry is stored under the key, which an uncacheable answer removes.
    Settled { had_entry: bool },
}

/// The parts of a complete answer, to pass it on however it is judged.
struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    body: bytes::Bytes,
}

impl Answered {
    fn response(&self) -> Result<Response, Unreachable> {
        Ok(convert::response(
            self.status,
            &self.headers,
            Some(self.body.clone()),
        )?)
    }
}

impl Deployment {
    /// Ask the origin for `job` (with the `client`'s headers where isr-core keeps them).
    async fn fetch(&self, job: &Job, client: Option<&HeaderMap>) -> Result<Fetched, OriginError> {
        let mut headers = job.render_headers(client);
        let guard = self
            .guard()
            .await
            .map_err(|e| OriginError::Unreachable(Unreachable::NoGuardSecret(e)))?;
        headers.insert(X_ISR_RENDER, guard);
        let engine = &self.config().engine;
        // A body the KV value limit could never hold is not buffered either.
        let limit = engine.max_entry_bytes.min(KV_MAX_VALUE_BYTES as u64);
        let timeout = std::time::Duration::from_millis(engine.render_timeout_ms);
        let mut fetched = self
            .origin
            .render(&job.target, &headers, timeout, limit)
            .await?;
        if let Fetched::Complete { headers, .. } = &mut fetched {
            remove_hop_by_hop(headers);
        }
        Ok(fetched)
    }

    /// Render `job` (an entry dates from `at`) and keep what `keep` says. With
    /// [`Keep::Settled`], also what the render changes beyond the tiers, for the Durable
    /// Object.
    pub(crate) async fn render(
        &self,
        job: &Job,
        client: Option<&HeaderMap>,
        at: UnixMillis,
        keep: Keep,
    ) -> (Rendered, Option<Settled>) {
        let (rendered, answered) = match self.fetch(job, client).await {
            Err(error) => {
                worker::console_warn!(
                    "isr: render of {} failed: {error}; keeping the last good page",
                    job.path
                );
                (Rendered::Failed(error), None)
            }
            Ok(Fetched::TooLarge(response)) => {
                worker::console_warn!(
                    "isr: {} is larger than max_entry_size or the 25 MiB KV value limit; not stored",
                    job.path
                );
                let judged = judge_too_large(status_of(&response));
                (Rendered::from_judged(judged, || Ok(response)), None)
            }
            Ok(Fetched::Complete {
                status,
                headers,
                body,
            }) => {
                let judged = judge(job, self.config(), status, &headers, body.clone(), at);
                let answered = Answered {
                    status,
                    headers,
                    body,
                };
                let rendered = Rendered::from_judged(judged, || answered.response());
                if matches!(rendered, Rendered::FailedStatus(_)) {
                    worker::console_warn!(
                        "isr: render of {} answered {status}; keeping the last good page",
                        job.path
                    );
                }
                (rendered, Some(answered))
            }
        };
        match keep {
            Keep::Nothing => (rendered, None),
            Keep::Settled { had_entry } => {
                let (rendered, settled) = self.settle(job, rendered, answered, had_entry).await;
                (rendered, Some(settled))
            }
        }
    }

    /// Do in the tiers what isr-core's settle says of `rendered`. An entry the tiers refuse
    /// for its size is answered as too large instead (and settled as such).
    async fn settle(
        &self,
        job: &Job,
        mut rendered: Rendered,
        answered: Option<Answered>,
        had_entry: bool,
    ) -> (Rendered, Settled) {
        let now = self.now();
        let mut settled = settle(&rendered, had_entry, now);
        if settled.store
            && let Rendered::Storable(entry) = &rendered
        {
            match self.tiers.put(&job.key, entry, now).await {
                Ok(()) => {}
                Err(error @ PutError::TooLarge(_)) => {
                    worker::console_warn!("isr: {} not stored: {error}", job.path);
                    let status = entry.status;
                    let response = || match &answered {
                        Some(answered) => answered.response(),
                        None => Err(Unreachable::AnswerGone),
                    };
                    rendered = Rendered::from_judged(judge_too_large(status), response);
                    settled = settle(&rendered, had_entry, now);
                }
                // In this data centre's Cache API only: others render it themselves.
                Err(error) => worker::console_warn!("isr: {} not stored in KV: {error}", job.path),
            }
        }
        if settled.remove {
            self.tiers.remove(&job.key).await;
        }
        (rendered, settled)
    }
}
