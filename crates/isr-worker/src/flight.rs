//! Single flight across the deployment, through the Durable Object's lock per key: take
//! it and render, pass (hit-for-pass), follow the render that holds it, or serve what a
//! finished one stored; and the regenerations that run after the answer
//! (`ctx.wait_until`): of a stale entry, or of a path the admin API names.
//!
//! What each answer of the Durable Object leads to is isr-core's: `flow::joiners` (what a
//! follower answers, which stored entry replaces a render), `flow::lookup` (backing off),
//! `flow::answer` (what the renderer answers), `flow::regenerate` (which variants).
//!
//! Invariants:
//! - Per key, at most one render runs at a time across the deployment while its lock is
//!   held; N concurrent stale requests start one regeneration, and a request that saw an
//!   entry older than a finished regeneration stored does not start another (nor does a
//!   request that found no entry because it read the tiers just before one was stored).
//! - A render's entry dates from the instant the Durable Object granted its lock (or its
//!   pass), which is after every purge recorded before it and before every purge recorded
//!   after it.
//! - Every render under the lock, or passing, tells the Durable Object how it ended (a
//!   lock it fails to release expires after the render timeout and a margin).
//! - Waiting for another's render lasts at most `lock_timeout`.

use std::rc::Rc;
use std::time::Duration;

use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::flow::answer::{ErrorAnswer, answer};
use isr_core::flow::joiners::{
    Joined, Outcome as FlightOutcome, is_flight_result, joined_render, replaces,
};
use isr_core::flow::lookup::{Action, when_backing_off};
use isr_core::flow::regenerate::{Regeneration, path_jobs, to_regenerate};
use isr_core::flow::settle::Settled;
use isr_core::freshness::Freshness;
use isr_core::headers::CacheStatus;
use isr_core::job::Job;
use worker::{Context, Delay, Response, Result};

use crate::deployment::{Deployment, Incoming, error_response};
use crate::render::{Keep, Rendered};
use crate::state::{FinishRequest, LockAnswer, LockRequest, Outcome, StatusAnswer, StatusRequest};

/// A lock outlives the render timeout by this much, so a render that times out still
/// releases its lock itself.
const LOCK_MARGIN_MS: u64 = 5_000;
/// How often a request waiting for another's render asks how it is going.
const FOLLOW_FIRST_POLL_MS: u64 = 20;
const FOLLOW_MAX_POLL_MS: u64 = 250;

/// What a request had when it asked for a render.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Seen {
    /// An entry created at this instant (stale, expired or purged).
    Entry(UnixMillis),
    /// No entry; it started reading the tiers at this instant (`None`: render regardless).
    Nothing(Option<UnixMillis>),
}

impl Seen {
    fn entry(self) -> Option<UnixMillis> {
        match self {
            Seen::Entry(created_at) => Some(created_at),
            Seen::Nothing(_) => None,
        }
    }

    fn read_at(self) -> Option<UnixMillis> {
        match self {
            Seen::Entry(_) => None,
            Seen::Nothing(read_at) => read_at,
        }
    }
}

/// Who asks for the lock of a render.
#[derive(Clone, Copy, Debug)]
enum Asker {
    /// A request waiting for its answer; `has_fallback`: it has an entry to serve while
    /// the key backs off.
    Visitor { has_fallback: bool },
    /// The background regeneration of a stale entry.
    Stale,
    /// A regeneration the admin API asked for (no backoff).
    Admin,
}

impl Deployment {
    async fn lock(&self, job: &Job, seen: Seen, asker: Asker) -> Result<LockAnswer> {
        let ttl_ms = self
            .config()
            .engine
            .render_timeout_ms
            .saturating_add(LOCK_MARGIN_MS);
        self.state
            .lock(&LockRequest {
                key: job.key.storage().to_owned(),
                ttl_ms,
                seen: seen.entry().map(|s| s.0),
                read_at: seen.read_at().map(|s| s.0),
                respect_backoff: matches!(
                    asker,
                    Asker::Stale | Asker::Visitor { has_fallback: true }
                ),
                may_pass: matches!(asker, Asker::Visitor { .. }),
            })
            .await
    }

    /// Render `job` under the lock `token` granted at `at` (`None`: passing), keep what
    /// isr-core's settle says, and tell the Durable Object how it ended.
    async fn render_settled(
        &self,
        job: &Job,
        incoming: Option<&Incoming>,
        token: Option<String>,
        at: u64,
        had_entry: bool,
    ) -> Rendered {
        let client = incoming.map(|incoming| &incoming.headers);
        let keep = Keep::Settled { had_entry };
        let (rendered, settled) = self.render(job, client, UnixMillis(at), keep).await;
        if let Some(settled) = settled {
            self.finish(job, token, at, &rendered, &settled).await;
        }
        rendered
    }

    async fn finish(
        &self,
        job: &Job,
        token: Option<String>,
        at: u64,
        rendered: &Rendered,
        settled: &Settled,
    ) {
        let engine = &self.config().engine;
        let finished = self
            .state
            .finish(&FinishRequest {
                key: job.key.storage().to_owned(),
                token,
                outcome: Outcome::of(&rendered.outcome()),
                at,
                change: settled.into(),
                retry_min_ms: engine.retry_min_ms,
                retry_max_ms: engine.retry_max_ms,
            })
            .await;
        if let Err(error) = finished {
            worker::console_warn!("isr: ending a render failed (its lock will expire): {error}");
        }
    }

    /// A request that must wait for a render: take the lock and render, pass, or follow
    /// the render that holds it.
    pub(crate) async fn foreground(
        &self,
        job: Job,
        incoming: &Incoming,
        fallback: Option<Entry>,
        seen: Seen,
    ) -> Result<Response> {
        let asker = Asker::Visitor {
            has_fallback: fallback.is_some(),
        };
        let had_entry = fallback.is_some();
        match self.lock(&job, seen, asker).await {
            Ok(LockAnswer::Granted { token, at }) => {
                let rendered = self
                    .render_settled(&job, Some(incoming), Some(token), at, had_entry)
                    .await;
                self.reply(answer(rendered, fallback, &incoming.method), incoming)
            }
            // Not shareable moments ago: others would only queue behind this render.
            Ok(LockAnswer::Pass { at }) => {
                let rendered = self
                    .render_settled(&job, Some(incoming), None, at, had_entry)
                    .await;
                self.reply(answer(rendered, fallback, &incoming.method), incoming)
            }
            Ok(LockAnswer::Held { flight }) => {
                self.follow(job, incoming, fallback, seen.entry(), flight)
                    .await
            }
            Ok(LockAnswer::Superseded) => {
                let key = job.key.raw();
                let accept = |entry: &Entry, seen, state| replaces(entry, key, seen, state);
                let stored = self.read_newer(&job, seen.entry(), accept).await;
                self.joined(&job, incoming, stored.map(FlightOutcome::Stored), fallback)
                    .await
            }
            Ok(LockAnswer::BackingOff) => match when_backing_off(fallback) {
                Action::Serve { entry, status, .. } => self.serve(&entry, status, incoming),
                Action::Render { fallback, .. } => self.alone(&job, incoming, fallback).await,
            },
            Err(error) => {
                worker::console_warn!("isr: lock failed, rendering without it: {error}");
                self.alone(&job, incoming, fallback).await
            }
        }
    }

    /// Wait (bounded by `lock_timeout`) for the render `flight` another request runs, then
    /// answer as isr-core's joiners say.
    async fn follow(
        &self,
        job: Job,
        incoming: &Incoming,
        fallback: Option<Entry>,
        seen: Option<UnixMillis>,
        flight: String,
    ) -> Result<Response> {
        let deadline = self
            .now()
            .0
            .saturating_add(self.config().engine.lock_timeout_ms);
        let mut pause = FOLLOW_FIRST_POLL_MS;
        let request = StatusRequest {
            key: job.key.storage().to_owned(),
            flight,
        };
        let outcome = loop {
            Delay::from(Duration::from_millis(pause)).await;
            pause = (pause * 2).min(FOLLOW_MAX_POLL_MS);
            match self.state.status(&request).await {
                Ok(StatusAnswer::Running) if self.now().0 < deadline => continue,
                Ok(StatusAnswer::Done { outcome }) => break Some(outcome.to_core()),
                Ok(StatusAnswer::Running | StatusAnswer::Unknown) => break None,
                Err(error) => {
                    worker::console_warn!("isr: following a render failed: {error}");
                    break None;
                }
            }
        };
        let stored = match outcome {
            // Stored: read it here, if this isolate can see it yet.
            Some(FlightOutcome::Stored(())) => self
                .read_newer(&job, seen, is_flight_result)
                .await
                .map(FlightOutcome::Stored),
            Some(FlightOutcome::Uncacheable) => Some(FlightOutcome::Uncacheable),
            Some(FlightOutcome::Failed(())) => Some(FlightOutcome::Failed(())),
            None => None,
        };
        self.joined(&job, incoming, stored, fallback).await
    }

    /// Answer as one who joined a flight that ended with `outcome` (`None`: unknown).
    async fn joined(
        &self,
        job: &Job,
        incoming: &Incoming,
        outcome: Option<FlightOutcome<Entry>>,
        fallback: Option<Entry>,
    ) -> Result<Response> {
        match joined_render(outcome, fallback, !job.matched) {
            Joined::Serve(entry) => self.serve(&entry, CacheStatus::Miss, incoming),
            Joined::Stale(stale) => self.serve(&stale, CacheStatus::Stale, incoming),
            Joined::Failed(()) => error_response(&ErrorAnswer::render_failed()),
            Joined::Alone(fallback) => self.alone(job, incoming, fallback).await,
        }
    }

    /// The entry of `job` in either tier that `accept`s as newer than `seen`, judged now.
    async fn read_newer(
        &self,
        job: &Job,
        seen: Option<UnixMillis>,
        accept: impl Fn(&Entry, Option<UnixMillis>, Freshness) -> bool,
    ) -> Option<Entry> {
        let purges = self.purges().await;
        let now = self.now();
        let newer = |entry: &Entry| accept(entry, seen, self.freshness_of(&purges, entry, now));
        if let Some(entry) = self.tiers.l1_get(&job.key).await.filter(newer) {
            return Some(entry);
        }
        self.tiers.l2_get(&job.key).await.filter(newer)
    }

    /// Render without the lock and keep nothing (the lock is held elsewhere, or the
    /// Durable Object cannot be reached).
    async fn alone(
        &self,
        job: &Job,
        incoming: &Incoming,
        fallback: Option<Entry>,
    ) -> Result<Response> {
        let client = Some(&incoming.headers);
        let (rendered, _) = self.render(job, client, self.now(), Keep::Nothing).await;
        self.reply(answer(rendered, fallback, &incoming.method), incoming)
    }

    /// A stale entry (created at `seen`) was served: regenerate it after the answer, once
    /// across the deployment, unless a recent failure asks to wait.
    pub(crate) fn regenerate(self: &Rc<Self>, ctx: &Context, job: Job, seen: UnixMillis) {
        let deployment = Rc::clone(self);
        ctx.wait_until(async move {
            match deployment.lock(&job, Seen::Entry(seen), Asker::Stale).await {
                Ok(LockAnswer::Granted { token, at }) => {
                    deployment
                        .render_settled(&job, None, Some(token), at, true)
                        .await;
                }
                Ok(_) => {}
                Err(error) => worker::console_warn!("isr: regeneration lock failed: {error}"),
            }
        });
    }

    /// Regenerate `path` now, in the background (admin `"regenerate": true`): the variants
    /// isr-core's regenerate names, from what is cached here or in KV.
    pub(crate) async fn regenerate_path(
        self: &Rc<Self>,
        ctx: &Context,
        path: &str,
        if_cached: bool,
    ) -> Regeneration {
        let jobs = match path_jobs(self.config(), path) {
            Ok(jobs) => jobs,
            Err(regeneration) => return regeneration,
        };
        let mut found = Vec::with_capacity(jobs.len());
        for job in jobs {
            let here = self.tiers.l1_get(&job.key).await.is_some();
            let cached = here || self.tiers.l2_get(&job.key).await.is_some();
            found.push((job, cached.then_some(())));
        }
        let chosen = match to_regenerate(found, if_cached) {
            Ok(chosen) => chosen,
            Err(regeneration) => return regeneration,
        };
        let mut any_started = false;
        for (job, cached) in chosen {
            match self.lock(&job, Seen::Nothing(None), Asker::Admin).await {
                Ok(LockAnswer::Granted { token, at }) => {
                    any_started = true;
                    let deployment = Rc::clone(self);
                    let had_entry = cached.is_some();
                    ctx.wait_until(async move {
                        deployment
                            .render_settled(&job, None, Some(token), at, had_entry)
                            .await;
                    });
                }
                Ok(_) => {}
                Err(error) => {
                    worker::console_warn!("isr: regeneration lock failed: {error}");
                    return Regeneration::Unavailable;
                }
            }
        }
        Regeneration::of_starts(any_started)
    }
}
