//! The engine: for each request, answer from the cache, serve stale while one background
//! regeneration runs, or render through the origin with single flight.
//!
//! Invariants:
//! - The hit path (fresh or stale in memory) is synchronous: one L1 lookup, no await, no
//!   lock held; the body is shared, not copied.
//! - Per key, at most one render runs at a time in this process (see [`crate::flight`]).
//! - A failed render (5xx, 429, timeout, unreachable origin) is never stored; the last good
//!   entry stays, and the key is not rendered again before its backoff has passed.
//! - A response is shared with other requests only if it was storable: an uncacheable
//!   answer goes to the request that caused it, and every other request asks for its own.
//! - Every request isr sends to the origin carries the recursion guard with this
//!   process's secret; a request that arrives carrying it is refused (508), never rendered.
//! - What is rendered for a key is built from the key alone on routes isr is configured
//!   for (no client cookies or other unkeyed headers reach the origin).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use isr_core::UnixMillis;
use isr_core::config::Config;
use isr_core::config::RedisSettings;
use isr_core::entry::Entry;
use isr_core::freshness::{Freshness, PurgeMode, freshness};
use isr_core::headers::{
    self as policy_headers, CacheStatus, X_ISR_CACHE, X_ISR_RENDER, X_NEXTJS_CACHE,
};
use isr_core::job::{Job, PathJobsError, is_render_failure, jobs_for_path};
use isr_core::key::CacheKey;
use isr_core::plan::{Plan, PlanError, constant_time_eq, plan};
use isr_core::policy::BypassReason;
use isr_core::purge::Target;
use isr_core::store::{EntryStore, PurgeStore, StoreError};
use isr_store::{Cluster, MemoryStore, TieredStore};
use tokio::sync::{Semaphore, oneshot};

use crate::across_nodes::{NodeLock, Once};
use crate::body::{Body, BoxError};
use crate::clock::Clock;
use crate::flight::{Backoff, FlightOutcome, Flights, Join};
use crate::follow::Follower;
use crate::purges::PurgeLog;
use crate::render::{Collected, RenderError, Renderer, fetch};
use crate::stats::{Counters, Stats};
use crate::store_errors;

/// How long a key whose render was uncacheable skips single flight: its next requests go
/// to the origin directly instead of queueing behind each other.
const PASS_MARK: Duration = Duration::from_secs(30);

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// State shared by every service a layer builds: the stores, the flights, the counters.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) store: Arc<TieredStore>,
    /// Every purge, durable and mirrored for the hit path.
    purges: PurgeLog,
    pub(crate) clock: Arc<dyn Clock>,
    flights: Arc<Flights>,
    backoff: Backoff,
    pass_marks: quick_cache::sync::Cache<String, UnixMillis>,
    regenerations: Arc<Semaphore>,
    secret: HeaderValue,
    counters: Counters,
    /// The nodes this one shares its store with, if any.
    pub(crate) cluster: Option<Arc<dyn Cluster>>,
    lock_ttl_ms: u64,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        store: Arc<TieredStore>,
        purge_store: Arc<dyn PurgeStore>,
        cluster: Option<Arc<dyn Cluster>>,
        clock: Arc<dyn Clock>,
    ) -> Shared {
        let lock_ttl_ms = config
            .redis
            .as_ref()
            .map_or(RedisSettings::default().lock_ttl_ms, |redis| {
                redis.lock_ttl_ms
            });
        let engine = &config.engine;
        // No entry with the default lifetime outlives this: older purge records may be
        // folded (see `PurgeLog`).
        let retention = config.defaults.expire.map(|expire| {
            Duration::from_secs(expire.saturating_add(config.defaults.stale_if_error))
        });
        Shared {
            backoff: Backoff::new(engine.retry_min_ms, engine.retry_max_ms),
            regenerations: Arc::new(Semaphore::new(engine.regenerate_concurrency.max(1))),
            config: Arc::new(config),
            store,
            purges: PurgeLog::new(purge_store, retention),
            clock,
            flights: Arc::default(),
            pass_marks: quick_cache::sync::Cache::new(10_000),
            secret: render_secret(),
            counters: Counters::default(),
            cluster,
            lock_ttl_ms,
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Load the recorded purges into memory (at start: a restart forgets no purge).
    pub(crate) async fn restore_purges(&self) -> Result<usize, StoreError> {
        self.purges.restore().await
    }

    /// Number of purge records held.
    pub(crate) fn purge_records(&self) -> usize {
        self.purges.len()
    }

    /// Invalidate `targets` now (see [`PurgeLog::record`]).
    pub(crate) async fn purge(
        &self,
        targets: &[Target],
        mode: PurgeMode,
    ) -> Result<(), StoreError> {
        self.purges.record(targets, mode, &*self.clock).await
    }

    /// The state of `entry` at `now`, purges included.
    fn freshness_of(&self, entry: &Entry, now: UnixMillis) -> Freshness {
        let invalidation = self.purges.newest_for(&entry.key, &entry.path, &entry.tags);
        freshness(entry.created_at, &entry.lifetime, now, invalidation)
    }
}

impl Follower for Shared {
    fn purge_log(&self) -> &PurgeLog {
        &self.purges
    }

    fn memory(&self) -> Option<&MemoryStore> {
        Some(self.store.l1())
    }

    fn node_id(&self) -> u64 {
        self.cluster.as_ref().map_or(0, |cluster| cluster.node_id())
    }
}

/// A random per-process secret for the recursion guard.
fn render_secret() -> HeaderValue {
    let secret: u128 = rand::random();
    HeaderValue::try_from(format!("{secret:032x}")).unwrap_or(HeaderValue::from_static("isr"))
}

/// The engine over one renderer (the wrapped service).
pub(crate) struct Engine {
    shared: Arc<Shared>,
    renderer: Arc<dyn Renderer>,
}

/// A render's result, before anything is stored.
enum Rendered {
    Storable(Arc<Entry>),
    /// Another node rendered and stored it while this one waited (already in L1).
    Found(Arc<Entry>),
    Uncacheable(Response<Body>),
    Failed(Failure),
}

enum Failure {
    /// The origin answered with an error status.
    Status(Response<Body>),
    /// The origin did not answer.
    Error(RenderError),
}

impl Rendered {
    fn for_joiners(&self) -> FlightOutcome {
        match self {
            Rendered::Storable(entry) | Rendered::Found(entry) => {
                FlightOutcome::Stored(Arc::clone(entry))
            }
            Rendered::Uncacheable(_) => FlightOutcome::Uncacheable,
            Rendered::Failed(_) => FlightOutcome::Failed,
        }
    }
}

/// What became of a request to regenerate a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regeneration {
    /// A background regeneration started.
    Started,
    /// One was already running; it will do.
    AlreadyRunning,
    /// `if_cached` was asked and the path is not cached.
    NotCached,
    /// The path is not cacheable (method, route with `revalidate = 0`, ...).
    NotCacheable,
    /// The path is not a valid request path.
    Invalid(String),
}

/// What `Engine::call` returns: an answer now, or work to await.
pub(crate) enum Answer {
    Ready(Response<Body>),
    Pending(crate::render::BoxFuture<Response<Body>>),
}

impl Engine {
    pub(crate) fn new(shared: Arc<Shared>, renderer: Arc<dyn Renderer>) -> Engine {
        Engine { shared, renderer }
    }

    fn now(&self) -> UnixMillis {
        self.shared.clock.now()
    }

    /// Answer one request. Hits are answered without awaiting anything.
    pub(crate) fn call<B>(self: &Arc<Self>, request: Request<B>) -> Answer
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        if self.is_own_render(&parts.headers) {
            return Answer::Ready(error_response(
                StatusCode::LOOP_DETECTED,
                CacheStatus::Bypass,
                "isr: this request is one of isr's own renders coming back to it; \
                 the origin must not point at this isr instance",
            ));
        }
        let now = self.now();
        let config = &self.shared.config;
        let planned = plan(
            config,
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
        );
        let cache_plan = match planned {
            Err(error) => {
                let code = match error {
                    PlanError::Reserved => StatusCode::NOT_FOUND,
                    PlanError::Path(_) | PlanError::Host => StatusCode::BAD_REQUEST,
                };
                let message = format!("isr: {error}");
                return Answer::Ready(error_response(code, CacheStatus::Bypass, message));
            }
            Ok(Plan::Bypass { target, reason }) => {
                let engine = Arc::clone(self);
                let body = Body::stream(body);
                let draft = reason == BypassReason::Draft;
                return Answer::Pending(Box::pin(engine.bypass(parts, body, target, draft)));
            }
            Ok(Plan::Cache(cache_plan)) => cache_plan,
        };
        let l1 = self.shared.store.l1().get_sync(cache_plan.key.storage());
        if let Some(entry) = l1.filter(|e| e.key == cache_plan.key.raw()) {
            match self.shared.freshness_of(&entry, now) {
                Freshness::Fresh => {
                    return Answer::Ready(self.serve(&entry, CacheStatus::Hit, &parts, now));
                }
                Freshness::Stale => {
                    self.regenerate(&cache_plan.key, &entry, || Job::from(&cache_plan));
                    return Answer::Ready(self.serve(&entry, CacheStatus::Stale, &parts, now));
                }
                Freshness::Expired { .. } | Freshness::Purged => {}
            }
        }
        let job = Job::from(&cache_plan);
        let engine = Arc::clone(self);
        Answer::Pending(Box::pin(engine.lookup_and_render(job, parts, now)))
    }

    fn is_own_render(&self, headers: &HeaderMap) -> bool {
        headers
            .get(X_ISR_RENDER)
            .is_some_and(|value| constant_time_eq(value.as_bytes(), self.shared.secret.as_bytes()))
    }

    /// Not in memory (or not servable from it): ask the persistent tier, then render.
    async fn lookup_and_render(
        self: Arc<Self>,
        job: Job,
        parts: Parts,
        now: UnixMillis,
    ) -> Response<Body> {
        let mut fallback = None;
        match self.shared.store.get(job.key.storage()).await {
            Ok(Some(entry)) if entry.key == job.key.raw() => {
                match self.shared.freshness_of(&entry, now) {
                    Freshness::Fresh => return self.serve(&entry, CacheStatus::Hit, &parts, now),
                    Freshness::Stale => {
                        let key = job.key.clone();
                        self.regenerate(&key, &entry, move || job);
                        return self.serve(&entry, CacheStatus::Stale, &parts, now);
                    }
                    Freshness::Expired {
                        servable_on_error: true,
                    } => fallback = Some(entry),
                    Freshness::Expired { .. } | Freshness::Purged => {}
                }
            }
            Ok(_) => {}
            Err(error) => store_errors::log(&error, job.key.raw(), "cache read failed; rendering"),
        }
        if let Some(stale) = &fallback
            && !self.shared.backoff.may_retry(job.key.storage(), now)
        {
            // The origin failed this key moments ago: serve what we have until the
            // backoff passes instead of sending every request to a failing origin.
            return self.serve(stale, CacheStatus::Stale, &parts, now);
        }
        self.render_foreground(job, parts, fallback).await
    }

    /// A request that must wait for a render: lead a flight, or join the running one.
    async fn render_foreground(
        self: Arc<Self>,
        job: Job,
        parts: Parts,
        fallback: Option<Arc<Entry>>,
    ) -> Response<Body> {
        let key = job.key.storage().to_owned();
        let now = self.now();
        let passing = self
            .shared
            .pass_marks
            .get(&key)
            .is_some_and(|until| until > now);
        if passing {
            let request = self.render_request(&job, Some(&parts.headers));
            let rendered = self
                .render_and_store(&job, request, fallback.is_some())
                .await;
            return self.answer(rendered, &parts, fallback.as_ref());
        }
        match self.shared.flights.join(&key) {
            Join::Started(flight) => {
                // A render of this key may have finished between this request's lookup and
                // its joining the flights: then it is in memory, and rendering is not needed.
                if let Some(entry) = self.stored_meanwhile(&job.key, fallback.as_ref()) {
                    flight.finish(FlightOutcome::Stored(Arc::clone(&entry)));
                    return self.serve(&entry, CacheStatus::Hit, &parts, self.now());
                }
                // The render runs in its own task so that a client going away cannot cancel
                // it while others are waiting for it.
                let (sender, receiver) = oneshot::channel();
                let request = self.render_request(&job, Some(&parts.headers));
                let engine = Arc::clone(&self);
                let task_job = job.clone();
                let had = fallback.clone();
                tokio::spawn(async move {
                    let rendered = engine.render_once(&task_job, request, had.as_ref()).await;
                    flight.finish(rendered.for_joiners());
                    let _ = sender.send(rendered);
                });
                match receiver.await {
                    Ok(rendered) => self.answer(rendered, &parts, fallback.as_ref()),
                    Err(_) => error_response(
                        StatusCode::BAD_GATEWAY,
                        CacheStatus::Miss,
                        "isr: the render ended without an answer",
                    ),
                }
            }
            Join::Joined(waiter) => {
                self.shared.counters.coalesced();
                let limit = Duration::from_millis(self.shared.config.engine.lock_timeout_ms);
                match tokio::time::timeout(limit, waiter.outcome()).await {
                    Ok(FlightOutcome::Stored(entry)) => {
                        self.serve(&entry, CacheStatus::Miss, &parts, self.now())
                    }
                    Ok(FlightOutcome::Failed) => match &fallback {
                        Some(stale) => self.serve(stale, CacheStatus::Stale, &parts, self.now()),
                        None => error_response(
                            StatusCode::BAD_GATEWAY,
                            CacheStatus::Miss,
                            "isr: the origin failed to render this page",
                        ),
                    },
                    // Not shareable, or waited too long: ask the origin for our own answer,
                    // and store nothing.
                    Ok(FlightOutcome::Uncacheable) | Err(_) => {
                        let request = self.render_request(&job, Some(&parts.headers));
                        let rendered = self.render(&job, request).await;
                        self.answer(rendered, &parts, fallback.as_ref())
                    }
                }
            }
        }
    }

    /// A stale entry was served: regenerate it in the background, once, unless a recent
    /// failure asks to wait.
    fn regenerate(self: &Arc<Self>, key: &CacheKey, stale: &Arc<Entry>, job: impl FnOnce() -> Job) {
        self.spawn_regeneration(key, Some(stale), job, true);
    }

    /// Start a background regeneration of `key` unless one is running (or, with
    /// `respect_backoff`, a recent failure asks to wait). `true` if one was started.
    /// The job is built only then: every stale answer asks, but only the first starts one.
    fn spawn_regeneration(
        self: &Arc<Self>,
        key: &CacheKey,
        had: Option<&Arc<Entry>>,
        job: impl FnOnce() -> Job,
        respect_backoff: bool,
    ) -> bool {
        let now = self.now();
        if respect_backoff && !self.shared.backoff.may_retry(key.storage(), now) {
            return false;
        }
        let Join::Started(flight) = self.shared.flights.join(key.storage()) else {
            return false;
        };
        // The regeneration that made `had` stale may have finished since it was read.
        if had.is_some()
            && let Some(entry) = self.stored_meanwhile(key, had)
        {
            flight.finish(FlightOutcome::Stored(entry));
            return false;
        }
        let job = job();
        let had = had.cloned();
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let permits = Arc::clone(&engine.shared.regenerations);
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let request = engine.render_request(&job, None);
            let rendered = engine.render_once(&job, request, had.as_ref()).await;
            match rendered {
                Rendered::Storable(_) => engine.shared.counters.regenerated(true),
                Rendered::Failed(_) | Rendered::Uncacheable(_) => {
                    engine.shared.counters.regenerated(false);
                }
                // Another node's render: counted as `rendered_elsewhere`.
                Rendered::Found(_) => {}
            }
            flight.finish(rendered.for_joiners());
        });
        true
    }

    /// Regenerate `path` now, in the background: every variant of it that is cached (HTML
    /// and RSC, each encoding class). If none is, the HTML variant browsers ask for, unless
    /// `if_cached`.
    pub(crate) async fn regenerate_path(
        self: &Arc<Self>,
        path: &str,
        if_cached: bool,
    ) -> Regeneration {
        let jobs = match jobs_for_path(&self.shared.config, path) {
            Ok(jobs) => jobs,
            Err(PathJobsError::NotCacheable) => return Regeneration::NotCacheable,
            Err(PathJobsError::Invalid(error)) => return Regeneration::Invalid(error.to_string()),
        };
        let mut cached = Vec::new();
        for job in &jobs {
            let entry = self.shared.store.get(job.key.storage()).await;
            if let Ok(Some(entry)) = entry
                && entry.key == job.key.raw()
            {
                cached.push((job.clone(), Some(entry)));
            }
        }
        if cached.is_empty() {
            if if_cached {
                return Regeneration::NotCached;
            }
            cached.extend(jobs.into_iter().take(1).map(|job| (job, None)));
        }
        let mut started = false;
        for (job, had) in cached {
            let key = job.key.clone();
            started |= self.spawn_regeneration(&key, had.as_ref(), move || job, false);
        }
        if started {
            Regeneration::Started
        } else {
            Regeneration::AlreadyRunning
        }
    }

    /// The state of an entry now (for listings).
    pub(crate) fn state_of(&self, entry: &Entry) -> Freshness {
        self.shared.freshness_of(entry, self.now())
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Render `job` and store it, once across every node sharing the store. Without a
    /// cluster this is [`Engine::render_and_store`]. With one: take the cluster's lock on
    /// the key (kept alive while the render runs); while another node holds it, wait for
    /// its entry (announced, or found by polling now and then) and take that instead. A
    /// node that cannot reach the cluster, or waits past `lock_timeout`, renders itself.
    /// `had`: the entry this node already has, which another node's must be newer than.
    async fn render_once(
        &self,
        job: &Job,
        request: Request<Body>,
        had: Option<&Arc<Entry>>,
    ) -> Rendered {
        let Some(cluster) = self.shared.cluster.as_deref() else {
            return self.render_and_store(job, request, had.is_some()).await;
        };
        let lock = NodeLock {
            cluster,
            ttl_ms: self.shared.lock_ttl_ms,
            timeout: Duration::from_millis(self.shared.config.engine.lock_timeout_ms),
            clock: &*self.shared.clock,
        };
        let render = self.render_and_store(job, request, had.is_some());
        let elsewhere = || self.stored_elsewhere(job, had);
        match lock.once(job.key.storage(), elsewhere, || {}, render).await {
            Once::Worked(rendered) => rendered,
            Once::Found(entry) => Rendered::Found(entry),
        }
    }

    /// A fresh entry for `key` in memory, newer than `had`: one a render stored after the
    /// caller looked (and found only `had`, or nothing).
    fn stored_meanwhile(&self, key: &CacheKey, had: Option<&Arc<Entry>>) -> Option<Arc<Entry>> {
        let entry = self.shared.store.l1().get_sync(key.storage())?;
        self.replaces(&entry, key, had).then_some(entry)
    }

    /// Is `entry` a fresh entry for `key`, newer than `had`: one that makes a render of
    /// `key` unnecessary?
    fn replaces(&self, entry: &Entry, key: &CacheKey, had: Option<&Arc<Entry>>) -> bool {
        entry.key == key.raw()
            && had.is_none_or(|had| entry.created_at > had.created_at)
            && self.shared.freshness_of(entry, self.now()) == Freshness::Fresh
    }

    /// A servable entry for `job` that another node stored in the shared tier, newer than
    /// `had`; put in this node's memory tier.
    async fn stored_elsewhere(&self, job: &Job, had: Option<&Arc<Entry>>) -> Option<Arc<Entry>> {
        let key = job.key.storage();
        let entry = self.shared.store.l2().get(key).await.ok()??;
        self.replaces(&entry, &job.key, had).then(|| {
            self.shared.counters.rendered_elsewhere();
            self.shared.store.l1().insert_sync(key, Arc::clone(&entry));
            entry
        })
    }

    /// Render, then act on the result: store it, or remember the failure or that the key
    /// is not cacheable. `had_entry`: an entry exists that an uncacheable answer replaces.
    async fn render_and_store(
        &self,
        job: &Job,
        request: Request<Body>,
        had_entry: bool,
    ) -> Rendered {
        let rendered = self.render(job, request).await;
        let key = job.key.storage();
        match &rendered {
            Rendered::Storable(entry) => {
                self.shared.backoff.succeeded(key);
                self.shared.pass_marks.remove(key);
                if let Err(error) = self.shared.store.put(key, Arc::clone(entry)).await {
                    store_errors::log(&error, job.key.raw(), "could not store a render");
                }
            }
            Rendered::Uncacheable(_) => {
                self.shared.backoff.succeeded(key);
                let until = self.now().plus(PASS_MARK);
                self.shared.pass_marks.insert(key.to_owned(), until);
                if had_entry && let Err(error) = self.shared.store.remove(key).await {
                    store_errors::log(&error, job.key.raw(), "could not remove an entry");
                }
            }
            Rendered::Found(_) => {}
            Rendered::Failed(failure) => {
                self.shared.backoff.failed(key, self.now());
                match failure {
                    Failure::Status(response) => tracing::warn!(
                        status = response.status().as_u16(),
                        path = job.path,
                        "render failed; keeping the last good page"
                    ),
                    Failure::Error(error) => {
                        tracing::warn!(%error, path = job.path, "render failed; keeping the last good page")
                    }
                }
            }
        }
        rendered
    }

    /// Ask the origin for `job` and judge the answer. Stores nothing.
    async fn render(&self, job: &Job, request: Request<Body>) -> Rendered {
        self.shared.counters.render_started();
        // Entries date from when their render started: a purge after that instant
        // applies to them, even if the render arrives after the purge.
        let started_at = self.shared.purges.date_render(&*self.shared.clock).await;
        let engine = &self.shared.config.engine;
        let timeout = Duration::from_millis(engine.render_timeout_ms);
        match fetch(&*self.renderer, request, timeout, engine.max_entry_bytes).await {
            Err(error) => Rendered::Failed(Failure::Error(error)),
            Ok(Collected::TooLarge(mut parts, body)) => {
                policy_headers::remove_hop_by_hop(&mut parts.headers);
                let response = Response::from_parts(parts, body);
                if is_render_failure(response.status()) {
                    Rendered::Failed(Failure::Status(response))
                } else {
                    Rendered::Uncacheable(response)
                }
            }
            Ok(Collected::Complete(mut parts, body)) => {
                policy_headers::remove_hop_by_hop(&mut parts.headers);
                if is_render_failure(parts.status) {
                    return Rendered::Failed(Failure::Status(Response::from_parts(
                        parts,
                        Body::full(body),
                    )));
                }
                match job.entry_from(
                    &self.shared.config,
                    parts.status,
                    &parts.headers,
                    body.clone(),
                    started_at,
                ) {
                    Ok(entry) => Rendered::Storable(Arc::new(entry)),
                    Err(reason) => {
                        tracing::debug!(%reason, path = job.path, "not storing");
                        Rendered::Uncacheable(Response::from_parts(parts, Body::full(body)))
                    }
                }
            }
        }
    }

    /// The request a render sends. On configured routes it is built from the key alone;
    /// for a request no route matched, the client's own headers are forwarded (the answer
    /// is stored only if the origin says it may be shared).
    fn render_request(&self, job: &Job, client: Option<&HeaderMap>) -> Request<Body> {
        let mut headers = job.render_headers(client);
        headers.insert(X_ISR_RENDER, self.shared.secret.clone());
        let mut request = Request::new(Body::empty());
        *request.headers_mut() = headers;
        *request.uri_mut() = job
            .target
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        request
    }

    /// Forward a request that may not be cached, body and all; store nothing.
    async fn bypass(
        self: Arc<Self>,
        mut parts: Parts,
        body: Body,
        target: String,
        draft: bool,
    ) -> Response<Body> {
        let method_is_head = parts.method == Method::HEAD;
        parts.headers = policy_headers::forwardable(parts.headers);
        let mut request = Request::from_parts(parts, body);
        match target.parse() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    CacheStatus::Bypass,
                    "isr: the request target cannot be forwarded",
                );
            }
        }
        let headers = request.headers_mut();
        if !self.shared.config.key_host
            && let Some(host) = headers.remove(header::HOST)
        {
            headers.insert(X_FORWARDED_HOST, host);
        }
        headers.insert(X_ISR_RENDER, self.shared.secret.clone());
        let timeout = Duration::from_millis(self.shared.config.engine.render_timeout_ms);
        let answer = tokio::time::timeout(timeout, self.renderer.call(request)).await;
        let mut response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                return unreachable_response(&RenderError::Unreachable(error), CacheStatus::Bypass);
            }
            Err(_) => {
                return unreachable_response(&RenderError::Timeout(timeout), CacheStatus::Bypass);
            }
        };
        policy_headers::remove_hop_by_hop(response.headers_mut());
        if method_is_head {
            *response.body_mut() = Body::empty();
        }
        self.mark(&mut response, CacheStatus::Bypass);
        if draft {
            // A draft answer must not be kept by any cache downstream either.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, policy_headers::PRIVATE_NO_STORE);
        }
        response
    }

    /// Answer the request that started (or re-did) a render with its result.
    fn answer(
        &self,
        rendered: Rendered,
        parts: &Parts,
        fallback: Option<&Arc<Entry>>,
    ) -> Response<Body> {
        let now = self.now();
        if let (Rendered::Failed(_), Some(stale)) = (&rendered, fallback) {
            return self.serve(stale, CacheStatus::Stale, parts, now);
        }
        let mut response = match rendered {
            Rendered::Storable(entry) | Rendered::Found(entry) => {
                return self.serve(&entry, CacheStatus::Miss, parts, now);
            }
            Rendered::Uncacheable(mut response) => {
                self.mark(&mut response, CacheStatus::Bypass);
                response
            }
            Rendered::Failed(Failure::Status(mut response)) => {
                self.mark(&mut response, CacheStatus::Miss);
                response
            }
            Rendered::Failed(Failure::Error(error)) => {
                return unreachable_response(&error, CacheStatus::Miss);
            }
        };
        if parts.method == Method::HEAD {
            *response.body_mut() = Body::empty();
        }
        response
    }

    fn mark(&self, response: &mut Response<Body>, status: CacheStatus) {
        self.shared.counters.answered(status);
        let headers = response.headers_mut();
        headers.insert(X_ISR_CACHE, status.header_value());
        headers.insert(X_NEXTJS_CACHE, status.header_value());
    }

    /// Answer from a cached entry: full, `HEAD`, or `304 Not Modified`.
    fn serve(
        &self,
        entry: &Entry,
        status: CacheStatus,
        request: &Parts,
        now: UnixMillis,
    ) -> Response<Body> {
        self.shared.counters.answered(status);
        let served = isr_core::serve::serve(entry, status, &request.method, &request.headers, now);
        let mut response = Response::new(served.body.map_or_else(Body::empty, Body::full));
        *response.status_mut() = served.status;
        *response.headers_mut() = served.headers;
        response
    }
}

fn unreachable_response(error: &RenderError, status: CacheStatus) -> Response<Body> {
    let code = match error {
        RenderError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        RenderError::Unreachable(_) => StatusCode::BAD_GATEWAY,
    };
    error_response(code, status, format!("isr: {error}"))
}

/// A plain-text error answer that no cache may keep.
pub(crate) fn error_response(
    code: StatusCode,
    status: CacheStatus,
    message: impl Into<String>,
) -> Response<Body> {
    let mut message = message.into();
    message.push('\n');
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = code;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_ISR_CACHE, status.header_value());
    headers.insert(X_NEXTJS_CACHE, status.header_value());
    response
}
