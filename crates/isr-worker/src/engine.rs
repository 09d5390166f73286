//! The flow of one request on Workers: plan → Cache API (L1) → KV (L2) → freshness against
//! the purge records → serve, serve stale while one background regeneration runs
//! (`ctx.wait_until`), or render with single flight through the Durable Object.
//!
//! Every decision is isr-core's ([`plan`], [`freshness`], [`Job`], [`serve`]); this module
//! only moves bytes between the tiers, the Durable Object and the origin.
//!
//! Invariants:
//! - Every entry read from either tier is judged against the purge records before it is
//!   served (the Cache API of a data centre never learns of a purge).
//! - Per key, at most one render runs at a time across the deployment while its lock is
//!   held; N concurrent stale requests start one regeneration, and a request that saw an
//!   entry older than a finished regeneration stored does not start another (nor does a
//!   request that found no entry because it read the tiers just before one was stored).
//! - A failed render (5xx, 429, timeout, unreachable) is never stored; the last good entry
//!   stays and is served stale.
//! - Every request isr sends to the origin carries the recursion guard with the deploy's
//!   secret; a request arriving with it is refused (508), never rendered.
//! - A render's entry dates from the instant the Durable Object granted its lock, which is
//!   after every purge recorded before it and before every purge recorded after it.

use std::rc::Rc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use isr_core::UnixMillis;
use isr_core::config::Config;
use isr_core::entry::Entry;
use isr_core::freshness::{Freshness, freshness};
use isr_core::headers::{
    self as policy_headers, CacheStatus, X_ISR_CACHE, X_ISR_RENDER, X_NEXTJS_CACHE,
};
use isr_core::job::{Job, PathJobsError, is_render_failure, jobs_for_path};
use isr_core::plan::{Plan, PlanError, constant_time_eq, plan};
use isr_core::policy::BypassReason;
use isr_core::purge::PurgeState;
use isr_core::serve::serve;
use worker::{Context, Delay, Request, Response, Result};

use crate::clock::Clock;
use crate::convert::{self, header_map, status_of};
use crate::isolate;
#[cfg(feature = "entry")]
use crate::origin::X_FORWARDED_HOST;
use crate::origin::{FetchError, Fetched, Origin};
use crate::settings::Settings;
use crate::state::{
    LockAnswer, LockRequest, Outcome, PassedRequest, StateClient, StatusAnswer, StatusRequest,
    UnlockRequest,
};
use crate::store::{KV_MAX_VALUE_BYTES, PutError, Tiers};

/// Set on an answer whose page was not stored because it is too large (over the configured
/// `max_entry_size`, or over the Workers KV value limit of 25 MiB).
pub(crate) const X_ISR_STORE: HeaderName = HeaderName::from_static("x-isr-store");
const TOO_LARGE: HeaderValue = HeaderValue::from_static("too-large");

/// A lock outlives the render timeout by this much, so a render that times out still
/// releases its lock itself.
const LOCK_MARGIN_MS: u64 = 5_000;
/// How often a request waiting for another's render asks how it is going.
const FOLLOW_FIRST_POLL_MS: u64 = 20;
const FOLLOW_MAX_POLL_MS: u64 = 250;

/// What the engine made of a request.
pub(crate) enum Handled {
    /// The answer.
    Answer(Response),
    /// A request for the admin API, under `/_isr/`.
    Admin,
    /// Not cacheable: forward to the origin as it is (the library returns `None` instead).
    /// (The library hands a bypass back to the app, which never reads these.)
    Bypass {
        #[cfg_attr(not(feature = "entry"), allow(dead_code))]
        target: String,
        #[cfg_attr(not(feature = "entry"), allow(dead_code))]
        draft: bool,
    },
}

/// One request's view of the deployment: settings, clock, tiers, Durable Object, origin.
pub(crate) struct Engine {
    pub(crate) settings: Rc<Settings>,
    pub(crate) clock: Clock,
    pub(crate) tiers: Tiers,
    pub(crate) state: StateClient,
    pub(crate) origin: Origin,
}

/// A render's result, before anything is answered.
enum Rendered {
    /// A page that may be shared; `stored` says whether the tiers took it.
    Storable { entry: Entry, stored: bool },
    /// An answer that may not be shared (`too_large`: because of its size).
    Uncacheable { response: Response, too_large: bool },
    /// The origin answered with a failure status.
    FailedStatus(Response),
    /// The origin did not answer.
    FailedFetch(FetchError),
}

impl Rendered {
    fn outcome(&self) -> Outcome {
        match self {
            Rendered::Storable { stored: true, .. } => Outcome::Stored,
            Rendered::Storable { stored: false, .. } | Rendered::Uncacheable { .. } => {
                Outcome::Uncacheable
            }
            Rendered::FailedStatus(_) | Rendered::FailedFetch(_) => Outcome::Failed,
        }
    }
}

/// What a request had when it asked for a render.
#[derive(Clone, Copy, Debug)]
enum Seen {
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

/// What became of a request to regenerate a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Regeneration {
    /// Started, or already running.
    Started,
    /// `if_cached` was asked and the path is not cached.
    NotCached,
    /// The path is not cacheable (a route with `revalidate = 0`).
    NotCacheable,
    /// The path is not a valid request path.
    Invalid,
    /// The Durable Object could not be reached.
    Unavailable,
}

impl Regeneration {
    /// Why a path was skipped (`None`: it was not).
    pub(crate) fn skipped_because(self) -> Option<&'static str> {
        match self {
            Regeneration::Started => None,
            Regeneration::NotCached => Some("not cached"),
            Regeneration::NotCacheable => Some("not cacheable"),
            Regeneration::Invalid => Some("invalid path"),
            Regeneration::Unavailable => Some("state unavailable"),
        }
    }
}

/// The client request's parts the engine needs.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
}

impl Engine {
    /// The current time.
    pub(crate) fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    fn config(&self) -> &Config {
        &self.settings.config
    }

    fn render_timeout(&self) -> Duration {
        Duration::from_millis(self.config().engine.render_timeout_ms)
    }

    /// Answer `req` (or say it bypasses the cache).
    pub(crate) async fn handle(self: &Rc<Self>, req: &Request, ctx: &Context) -> Result<Handled> {
        let Ok(method) = Method::from_bytes(req.inner().method().as_bytes()) else {
            return error_response(
                StatusCode::BAD_REQUEST,
                CacheStatus::Bypass,
                "isr: bad method",
            )
            .map(Handled::Answer);
        };
        let url = req.url()?;
        let incoming = Incoming {
            method,
            headers: header_map(req.headers()),
        };
        if let Some(guard) = incoming.headers.get(X_ISR_RENDER) {
            let secret = isolate::render_secret(&self.settings, &self.state).await?;
            if constant_time_eq(guard.as_bytes(), secret.as_bytes()) {
                return error_response(
                    StatusCode::LOOP_DETECTED,
                    CacheStatus::Bypass,
                    "isr: this request is one of isr's own renders coming back to it; \
                     the origin must not point at this Worker",
                )
                .map(Handled::Answer);
            }
        }
        let planned = plan(
            self.config(),
            &incoming.method,
            url.path(),
            url.query(),
            &incoming.headers,
        );
        match planned {
            Err(PlanError::Reserved) => Ok(Handled::Admin),
            Err(error) => error_response(
                StatusCode::BAD_REQUEST,
                CacheStatus::Bypass,
                &format!("isr: {error}"),
            )
            .map(Handled::Answer),
            Ok(Plan::Bypass { target, reason }) => Ok(Handled::Bypass {
                target,
                draft: reason == BypassReason::Draft,
            }),
            Ok(Plan::Cache(cache_plan)) => {
                let job = Job::from(&cache_plan);
                let response = self.cached(job, &incoming, ctx).await?;
                Ok(Handled::Answer(response))
            }
        }
    }

    /// The purge records, as fresh as configured.
    pub(crate) async fn purges(&self) -> Rc<PurgeState> {
        isolate::purge_state(&self.state, self.settings.purge_cache_ms, self.now().0).await
    }

    pub(crate) fn freshness_of(
        &self,
        purges: &PurgeState,
        entry: &Entry,
        at: UnixMillis,
    ) -> Freshness {
        let invalidation = purges.newest_for(&entry.key, &entry.path, &entry.tags);
        freshness(entry.created_at, &entry.lifetime, at, invalidation)
    }

    /// A cacheable request: L1, then L2, then render.
    async fn cached(
        self: &Rc<Self>,
        job: Job,
        incoming: &Incoming,
        ctx: &Context,
    ) -> Result<Response> {
        let purges = self.purges().await;
        let now = self.now();
        let read_at = Seen::Nothing(Some(now));
        let l1 = self.tiers.l1_get(&job.key).await;
        if let Some(entry) = &l1
            && self.freshness_of(&purges, entry, now) == Freshness::Fresh
        {
            return self.serve(entry, CacheStatus::Hit, incoming, now);
        }
        // L1 is missing, stale or unservable: KV may hold a newer render (made in another
        // data centre, whose Cache API this one never sees).
        let l2 = self.tiers.l2_get(&job.key).await;
        let (entry, from_l2) = match (l1, l2) {
            (Some(l1), Some(l2)) if l2.created_at > l1.created_at => (Some(l2), true),
            (Some(l1), _) => (Some(l1), false),
            (None, l2) => (l2, true),
        };
        let Some(entry) = entry else {
            return self.foreground(job, incoming, None, read_at).await;
        };
        let state = self.freshness_of(&purges, &entry, now);
        // A newer entry from KV replaces this data centre's copy.
        if from_l2 && matches!(state, Freshness::Fresh | Freshness::Stale) {
            let engine = Rc::clone(self);
            let key = job.key.clone();
            let copy = entry.clone();
            ctx.wait_until(async move { engine.tiers.refill_l1(&key, &copy, now).await });
        }
        match state {
            Freshness::Fresh => self.serve(&entry, CacheStatus::Hit, incoming, now),
            Freshness::Stale => {
                self.regenerate(ctx, job, entry.created_at);
                self.serve(&entry, CacheStatus::Stale, incoming, now)
            }
            Freshness::Expired {
                servable_on_error: true,
            } => {
                let seen = entry.created_at;
                self.foreground(job, incoming, Some(entry), Seen::Entry(seen))
                    .await
            }
            Freshness::Expired { .. } | Freshness::Purged => {
                let seen = entry.created_at;
                self.foreground(job, incoming, None, Seen::Entry(seen))
                    .await
            }
        }
    }

    /// A stale entry was served: regenerate it after the answer, once across the
    /// deployment, unless a recent failure asks to wait.
    fn regenerate(self: &Rc<Self>, ctx: &Context, job: Job, seen: UnixMillis) {
        let engine = Rc::clone(self);
        ctx.wait_until(async move {
            match engine.lock(&job, Seen::Entry(seen), Asker::Stale).await {
                Ok(LockAnswer::Granted { token, at }) => {
                    engine.render_locked(job, token, at).await;
                }
                Ok(_) => {}
                Err(error) => worker::console_warn!("isr: regeneration lock failed: {error}"),
            }
        });
    }

    /// Render `job` under the lock `token` granted at `at`, store it, release the lock.
    async fn render_locked(&self, job: Job, token: String, at: u64) {
        let rendered = self.render(&job, None, UnixMillis(at)).await;
        self.unlock(&job, token, at, &rendered).await;
    }

    /// Regenerate `path` now, in the background (admin `"regenerate": true`): every variant
    /// of it cached here or in KV or, if none is, the HTML variant browsers ask for (unless
    /// `if_cached`).
    pub(crate) async fn regenerate_path(
        self: &Rc<Self>,
        ctx: &Context,
        path: &str,
        if_cached: bool,
    ) -> Regeneration {
        let jobs = match jobs_for_path(self.config(), path) {
            Ok(jobs) => jobs,
            Err(PathJobsError::NotCacheable) => return Regeneration::NotCacheable,
            Err(PathJobsError::Invalid(_)) => return Regeneration::Invalid,
        };
        let mut cached = Vec::new();
        for job in &jobs {
            let here = self.tiers.l1_get(&job.key).await.is_some();
            if here || self.tiers.l2_get(&job.key).await.is_some() {
                cached.push(job.clone());
            }
        }
        if cached.is_empty() {
            if if_cached {
                return Regeneration::NotCached;
            }
            cached.extend(jobs.into_iter().take(1));
        }
        for job in cached {
            match self.lock(&job, Seen::Nothing(None), Asker::Admin).await {
                Ok(LockAnswer::Granted { token, at }) => {
                    let engine = Rc::clone(self);
                    ctx.wait_until(async move { engine.render_locked(job, token, at).await });
                }
                Ok(_) => {}
                Err(error) => {
                    worker::console_warn!("isr: regeneration lock failed: {error}");
                    return Regeneration::Unavailable;
                }
            }
        }
        Regeneration::Started
    }

    async fn lock(&self, job: &Job, seen: Seen, asker: Asker) -> Result<LockAnswer> {
        self.state
            .lock(&LockRequest {
                key: job.key.storage().to_owned(),
                ttl_ms: self
                    .config()
                    .engine
                    .render_timeout_ms
                    .saturating_add(LOCK_MARGIN_MS),
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

    async fn unlock(&self, job: &Job, token: String, at: u64, rendered: &Rendered) {
        let engine = &self.config().engine;
        let released = self
            .state
            .unlock(&UnlockRequest {
                key: job.key.storage().to_owned(),
                token,
                outcome: rendered.outcome(),
                at,
                retry_min_ms: engine.retry_min_ms,
                retry_max_ms: engine.retry_max_ms,
            })
            .await;
        if let Err(error) = released {
            worker::console_warn!("isr: unlock failed (the lock will expire): {error}");
        }
    }

    /// Tell the Durable Object how a render without the lock went.
    async fn passed(&self, job: &Job, at: u64, rendered: &Rendered) {
        let engine = &self.config().engine;
        let reported = self
            .state
            .passed(&PassedRequest {
                key: job.key.storage().to_owned(),
                outcome: rendered.outcome(),
                at,
                retry_min_ms: engine.retry_min_ms,
                retry_max_ms: engine.retry_max_ms,
            })
            .await;
        if let Err(error) = reported {
            worker::console_warn!("isr: reporting a pass failed: {error}");
        }
    }

    /// A request that must wait for a render: take the lock and render, or follow the
    /// render that holds it.
    async fn foreground(
        &self,
        job: Job,
        incoming: &Incoming,
        fallback: Option<Entry>,
        seen: Seen,
    ) -> Result<Response> {
        let asker = Asker::Visitor {
            has_fallback: fallback.is_some(),
        };
        match self.lock(&job, seen, asker).await {
            Ok(LockAnswer::Granted { token, at }) => {
                let rendered = self
                    .render(&job, Some(&incoming.headers), UnixMillis(at))
                    .await;
                self.unlock(&job, token, at, &rendered).await;
                self.answer(rendered, incoming, fallback)
            }
            Ok(LockAnswer::Pass { at }) => {
                // Not shareable moments ago: others would only queue behind this render.
                let rendered = self
                    .render(&job, Some(&incoming.headers), UnixMillis(at))
                    .await;
                self.passed(&job, at, &rendered).await;
                self.answer(rendered, incoming, fallback)
            }
            Ok(LockAnswer::Held { flight }) => {
                self.follow(job, incoming, fallback, seen.entry(), flight)
                    .await
            }
            Ok(LockAnswer::Superseded) => match self.read_newer(&job, seen.entry()).await {
                Some(entry) => self.serve(&entry, CacheStatus::Miss, incoming, self.now()),
                None => self.render_alone(&job, incoming, fallback).await,
            },
            Ok(LockAnswer::BackingOff) => match &fallback {
                Some(stale) => self.serve(stale, CacheStatus::Stale, incoming, self.now()),
                None => self.render_alone(&job, incoming, None).await,
            },
            Err(error) => {
                worker::console_warn!("isr: lock failed, rendering without it: {error}");
                self.render_alone(&job, incoming, fallback).await
            }
        }
    }

    /// Wait (bounded by `lock_timeout`) for the render `flight` another request runs, then
    /// answer with its entry; or render alone, uncached.
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
        loop {
            Delay::from(Duration::from_millis(pause)).await;
            pause = (pause * 2).min(FOLLOW_MAX_POLL_MS);
            match self.state.status(&request).await {
                Ok(StatusAnswer::Running) if self.now().0 < deadline => continue,
                Ok(StatusAnswer::Done {
                    outcome: Outcome::Stored,
                }) => {
                    if let Some(entry) = self.read_newer(&job, seen).await {
                        return self.serve(&entry, CacheStatus::Miss, incoming, self.now());
                    }
                }
                Ok(StatusAnswer::Done {
                    outcome: Outcome::Failed,
                }) => {
                    return match &fallback {
                        Some(stale) => self.serve(stale, CacheStatus::Stale, incoming, self.now()),
                        None => error_response(
                            StatusCode::BAD_GATEWAY,
                            CacheStatus::Miss,
                            "isr: the origin failed to render this page",
                        ),
                    };
                }
                Ok(_) => {}
                Err(error) => worker::console_warn!("isr: following a render failed: {error}"),
            }
            // Not shareable, not found, or waited too long: ask the origin for our own answer.
            return self.render_alone(&job, incoming, fallback).await;
        }
    }

    /// The entry a finished render stored, if this isolate can see it and it is servable.
    async fn read_newer(&self, job: &Job, seen: Option<UnixMillis>) -> Option<Entry> {
        let purges = self.purges().await;
        let now = self.now();
        let newer = |entry: &Entry| {
            seen.is_none_or(|seen| entry.created_at > seen)
                && matches!(
                    self.freshness_of(&purges, entry, now),
                    Freshness::Fresh | Freshness::Stale
                )
        };
        if let Some(entry) = self.tiers.l1_get(&job.key).await.filter(newer) {
            return Some(entry);
        }
        self.tiers.l2_get(&job.key).await.filter(newer)
    }

    /// Render without the lock and without storing (the lock is held elsewhere, or the
    /// Durable Object cannot be reached).
    async fn render_alone(
        &self,
        job: &Job,
        incoming: &Incoming,
        fallback: Option<Entry>,
    ) -> Result<Response> {
        let rendered = self.fetch(job, Some(&incoming.headers)).await;
        let rendered = match rendered {
            Ok(Fetched::Complete {
                status,
                headers,
                body,
            }) => {
                let response = convert::response(status, &headers, Some(body))?;
                if is_render_failure(status) {
                    Rendered::FailedStatus(response)
                } else {
                    Rendered::Uncacheable {
                        response,
                        too_large: false,
                    }
                }
            }
            Ok(Fetched::TooLarge(response)) => self.too_large(response),
            Err(error) => Rendered::FailedFetch(error),
        };
        self.answer(rendered, incoming, fallback)
    }

    fn too_large(&self, response: Response) -> Rendered {
        if is_render_failure(status_of(&response)) {
            Rendered::FailedStatus(response)
        } else {
            Rendered::Uncacheable {
                response,
                too_large: true,
            }
        }
    }

    /// Ask the origin for `job`.
    async fn fetch(
        &self,
        job: &Job,
        client: Option<&HeaderMap>,
    ) -> std::result::Result<Fetched, FetchError> {
        let mut headers = job.render_headers(client);
        let secret = isolate::render_secret(&self.settings, &self.state)
            .await
            .map_err(|e| FetchError::Unreachable(format!("no recursion-guard secret: {e}")))?;
        let secret = HeaderValue::try_from(secret).map_err(|_| {
            FetchError::Unreachable("the recursion-guard secret is not a header value".to_owned())
        })?;
        headers.insert(X_ISR_RENDER, secret);
        let mut fetched = self
            .origin
            .render(
                &job.target,
                &headers,
                self.render_timeout(),
                // A body the KV value limit could never hold is not buffered either.
                self.config()
                    .engine
                    .max_entry_bytes
                    .min(KV_MAX_VALUE_BYTES as u64),
            )
            .await?;
        if let Fetched::Complete { headers, .. } = &mut fetched {
            policy_headers::remove_hop_by_hop(headers);
        }
        Ok(fetched)
    }

    /// Render `job` (holding its lock), and store what may be stored. The entry dates from
    /// `at`.
    async fn render(&self, job: &Job, client: Option<&HeaderMap>, at: UnixMillis) -> Rendered {
        let fetched = match self.fetch(job, client).await {
            Ok(fetched) => fetched,
            Err(error) => {
                worker::console_warn!(
                    "isr: render of {} failed: {error}; keeping the last good page",
                    job.path
                );
                return Rendered::FailedFetch(error);
            }
        };
        let (status, headers, body) = match fetched {
            Fetched::TooLarge(response) => {
                worker::console_warn!(
                    "isr: {} is larger than max_entry_size or the 25 MiB KV value limit; not stored",
                    job.path
                );
                return self.too_large(response);
            }
            Fetched::Complete {
                status,
                headers,
                body,
            } => (status, headers, body),
        };
        let response = |body| convert::response(status, &headers, Some(body));
        if is_render_failure(status) {
            worker::console_warn!(
                "isr: render of {} answered {status}; keeping the last good page",
                job.path
            );
            return match response(body) {
                Ok(response) => Rendered::FailedStatus(response),
                Err(error) => Rendered::FailedFetch(FetchError::Unreachable(error.to_string())),
            };
        }
        let entry = match job.entry_from(self.config(), status, &headers, body.clone(), at) {
            Ok(entry) => entry,
            Err(_) => {
                return match response(body) {
                    Ok(response) => Rendered::Uncacheable {
                        response,
                        too_large: false,
                    },
                    Err(error) => Rendered::FailedFetch(FetchError::Unreachable(error.to_string())),
                };
            }
        };
        match self.tiers.put(&job.key, &entry, self.now()).await {
            Ok(()) => Rendered::Storable {
                entry,
                stored: true,
            },
            Err(error @ PutError::TooLarge(_)) => {
                worker::console_warn!("isr: {} not stored: {error}", job.path);
                match response(body) {
                    Ok(response) => Rendered::Uncacheable {
                        response,
                        too_large: true,
                    },
                    Err(error) => Rendered::FailedFetch(FetchError::Unreachable(error.to_string())),
                }
            }
            Err(error) => {
                // In this data centre's Cache API only: others render it themselves.
                worker::console_warn!("isr: {} not stored in KV: {error}", job.path);
                Rendered::Storable {
                    entry,
                    stored: false,
                }
            }
        }
    }

    /// Answer the request that rendered (or rendered alone) with the result.
    fn answer(
        &self,
        rendered: Rendered,
        incoming: &Incoming,
        fallback: Option<Entry>,
    ) -> Result<Response> {
        let now = self.now();
        let failed = matches!(
            rendered,
            Rendered::FailedStatus(_) | Rendered::FailedFetch(_)
        );
        if let (true, Some(stale)) = (failed, &fallback) {
            return self.serve(stale, CacheStatus::Stale, incoming, now);
        }
        let (response, status, too_large) = match rendered {
            Rendered::Storable { entry, .. } => {
                return self.serve(&entry, CacheStatus::Miss, incoming, now);
            }
            Rendered::Uncacheable {
                response,
                too_large,
            } => (response, CacheStatus::Bypass, too_large),
            Rendered::FailedStatus(response) => (response, CacheStatus::Miss, false),
            Rendered::FailedFetch(error) => {
                let code = match error {
                    FetchError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                    FetchError::Unreachable(_) => StatusCode::BAD_GATEWAY,
                };
                return error_response(code, CacheStatus::Miss, &format!("isr: {error}"));
            }
        };
        let mut headers = header_map(response.headers());
        mark(&mut headers, status);
        if too_large {
            headers.insert(X_ISR_STORE, TOO_LARGE);
        }
        let response = convert::with_headers(response, &headers);
        if incoming.method == Method::HEAD {
            return convert::response(status_of(&response), &headers, None);
        }
        Ok(response)
    }

    /// Answer from a cached entry: full, `HEAD`, or `304`.
    fn serve(
        &self,
        entry: &Entry,
        status: CacheStatus,
        incoming: &Incoming,
        now: UnixMillis,
    ) -> Result<Response> {
        let served = serve(entry, status, &incoming.method, &incoming.headers, now);
        convert::response(served.status, &served.headers, served.body)
    }

    /// Forward a request that may not be cached, body and all; store nothing. (The isr
    /// Worker only: the library hands these back to the app.)
    #[cfg(feature = "entry")]
    pub(crate) async fn bypass(
        &self,
        req: &Request,
        target: &str,
        draft: bool,
    ) -> Result<Response> {
        let mut headers = policy_headers::forwardable(header_map(req.headers()));
        if !self.config().key_host
            && let Some(host) = headers.remove(header::HOST)
        {
            headers.insert(X_FORWARDED_HOST, host);
        }
        let secret = isolate::render_secret(&self.settings, &self.state).await?;
        if let Ok(secret) = HeaderValue::try_from(secret) {
            headers.insert(X_ISR_RENDER, secret);
        }
        let response = match self
            .origin
            .forward(req, target, &headers, self.render_timeout())
            .await
        {
            Ok(response) => response,
            Err(error) => {
                let code = match error {
                    FetchError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
                    FetchError::Unreachable(_) => StatusCode::BAD_GATEWAY,
                };
                return error_response(code, CacheStatus::Bypass, &format!("isr: {error}"));
            }
        };
        let mut headers = header_map(response.headers());
        policy_headers::remove_hop_by_hop(&mut headers);
        mark(&mut headers, CacheStatus::Bypass);
        if draft {
            // A draft answer must not be kept by any cache downstream either.
            headers.insert(header::CACHE_CONTROL, policy_headers::PRIVATE_NO_STORE);
        }
        if req.inner().method() == "HEAD" {
            return convert::response(status_of(&response), &headers, None);
        }
        Ok(convert::with_headers(response, &headers))
    }
}

fn mark(headers: &mut HeaderMap, status: CacheStatus) {
    headers.insert(X_ISR_CACHE, status.header_value());
    headers.insert(X_NEXTJS_CACHE, status.header_value());
}

/// A plain-text answer no cache may keep.
pub(crate) fn error_response(
    code: StatusCode,
    status: CacheStatus,
    message: &str,
) -> Result<Response> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    mark(&mut headers, status);
    let body = bytes::Bytes::from(format!("{message}\n"));
    convert::response(code, &headers, Some(body))
}
