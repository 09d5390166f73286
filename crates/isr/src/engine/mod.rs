//! The engine: for each request, answer from the cache, serve stale while one background
//! regeneration runs, or render through the origin with single flight. Every decision is
//! isr-core's ([`isr_core::flow`]); this module does the I/O around them.
//!
//! - [`shared`]: the state every service of a layer shares, and the engine.
//! - [`bypass`]: requests that may not be cached.
//! - [`foreground`]: requests that wait for a render (flights, joiners, hit-for-pass).
//! - [`regenerate`]: background regenerations (stale entries, admin requests).
//! - [`rendering`]: one render: the request, the verdict, storing, across nodes.
//! - [`respond`]: the flow's answers as `Response<Body>`.
//!
//! Invariants:
//! - Every request is keyed under the build served when it arrives
//!   ([`crate::builds`]); a render whose answer names another build is not stored.
//! - The hit path (fresh, or stale, in memory) is synchronous: one L1 lookup, no await,
//!   no lock held, no allocation; the body is shared, not copied.
//! - Per key, at most one render runs at a time in this process (see [`crate::flight`]).
//! - A failed render (5xx, 429, timeout, unreachable origin) is never stored; the last good
//!   entry stays, and the key is not rendered again before its backoff has passed.
//! - Every request isr sends to the origin carries the recursion guard with this
//!   process's secret; a request that arrives carrying it is refused (508), never rendered.

mod bypass;
mod foreground;
mod regenerate;
mod rendering;
mod respond;
mod shared;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use isr_core::flow::answer::ErrorAnswer;
use isr_core::flow::guard::{is_own_render, loop_detected};
use isr_core::flow::lookup::{Action, on_lookup};
use isr_core::job::Job;
use isr_core::plan::{Plan, plan_in};

use crate::body::{Body, BoxError};
use crate::engine::respond::error_response;
pub(crate) use crate::engine::shared::{Engine, Shared};

/// What `Engine::call` returns: an answer now, or work to await.
pub(crate) enum Answer {
    Ready(Response<Body>),
    Pending(crate::render::BoxFuture<Response<Body>>),
}

impl Engine {
    /// Answer one request. Hits are answered without awaiting anything.
    pub(crate) fn call<B>(self: &Arc<Self>, request: Request<B>) -> Answer
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        if is_own_render(&parts.headers, self.shared.secret.as_bytes()) {
            return Answer::Ready(error_response(&loop_detected("this isr instance")));
        }
        let now = self.now();
        let config = &self.shared.config;
        let build = self.shared.builds.current();
        let planned = plan_in(
            config,
            &build,
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
        );
        let cache_plan = match planned {
            Err(error) => return Answer::Ready(error_response(&ErrorAnswer::plan(&error))),
            Ok(Plan::Bypass { target, reason }) => {
                let engine = Arc::clone(self);
                let body = Body::stream(body);
                let draft = reason.is_private();
                return Answer::Pending(Box::pin(engine.bypass(parts, body, target, draft)));
            }
            Ok(Plan::Cache(cache_plan)) => cache_plan,
        };
        let key = &cache_plan.key;
        let l1 = self.shared.store.l1().get_sync(key.storage());
        let Some(entry) = l1.filter(|entry| entry.key == key.raw()) else {
            let job = Job::from(&cache_plan);
            let engine = Arc::clone(self);
            return Answer::Pending(Box::pin(engine.lookup_and_render(job, parts, now)));
        };
        let state = self.shared.freshness_of(&entry, now);
        let backing_off = || self.shared.backoff.is_backing_off(key.storage(), now);
        match on_lookup(Some((entry, state)), backing_off) {
            Action::Serve {
                entry,
                status,
                regenerate,
            } => {
                if regenerate {
                    self.spawn_regeneration(key, Some(&entry), || Job::from(&cache_plan));
                }
                Answer::Ready(self.serve(&entry, status, &parts, now))
            }
            // In memory, but not servable now: the same entry is what the tiers hold.
            Action::Render {
                fallback,
                revalidate,
            } => {
                let job = Job::from(&cache_plan);
                let engine = Arc::clone(self);
                let render = engine.render_foreground(job, parts, fallback, revalidate);
                Answer::Pending(Box::pin(render))
            }
        }
    }
}
