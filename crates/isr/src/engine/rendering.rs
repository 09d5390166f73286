//! One render of a key: the request sent to the origin, the verdict on its answer
//! ([`isr_core::flow::render`]), what it changes ([`isr_core::flow::settle`]), and doing
//! it once across the nodes sharing a cluster.
//!
//! Invariants:
//! - What is rendered for a key is built from the key alone on routes isr is configured
//!   for (no client cookies or other unkeyed headers reach the origin), and carries the
//!   recursion guard.
//! - A render's entry dates from when it started ([`crate::purges::PurgeLog::date_render`]),
//!   so a purge after that instant applies to it.
//! - An answer whose body ended only with the connection ([`CloseDelimited`], marked by
//!   the origin client by [`isr_core::framing`]'s rule) is never stored: it may be cut
//!   short.
//! - A failed render stores nothing; the last good entry stays and the key backs off.
//! - With a cluster, another node's fresh entry, newer than what this node had, is taken
//!   instead of rendering ([`isr_core::flow::joiners::replaces`]).
//! - What is stored is the page as identity, with the compressed representations
//!   isr-core's `compression` asks for, made here once ([`crate::compress`]). An origin
//!   body that came compressed is decoded first (within the entry size limit); one that
//!   does not decode is passed on as sent, never stored, with a warning naming the page.
//!   A body in a coding isr does not know is opaque: stored and served as sent.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HeaderMap;
use http::response::Parts;
use http::{Request, Response};
use isr_core::build::NamedBuild;
use isr_core::coding::content_codings;
use isr_core::compression::{as_identity, attach, to_make};
use isr_core::entry::Entry;
use isr_core::flow::conditional::validators;
use isr_core::flow::joiners::replaces;
use isr_core::flow::render::{
    Judged, OriginError, Render, Unstored, judge, judge_build, judge_close_delimited,
    judge_too_large,
};
use isr_core::flow::settle::{PassMark, settle};
use isr_core::headers::{X_ISR_RENDER, remove_hop_by_hop};
use isr_core::job::Job;
use isr_core::key::CacheKey;
use isr_core::store::EntryStore;

use crate::across_nodes::{NodeLock, Once};
use crate::body::Body;
use crate::compress::{self, off_the_runtime};
use crate::engine::shared::Engine;
use crate::origin::CloseDelimited;
use crate::render::{Collected, Unreachable, fetch};
use crate::store_errors;
use crate::telemetry::RenderEnd;

/// A render's result, before anything is answered.
pub(super) type Rendered = isr_core::flow::render::Rendered<Response<Body>, Unreachable>;

impl Engine {
    /// Render `job` and store it, once across every node sharing the store. Without a
    /// cluster this is [`Engine::render_and_store`]. With one: take the cluster's lock on
    /// the key (kept alive while the render runs); while another node holds it, wait for
    /// its entry (announced, or found by polling now and then) and take that instead. A
    /// node that cannot reach the cluster, or waits past `lock_timeout`, renders itself.
    /// `had`: the entry this node already has, which another node's must be newer than.
    pub(super) async fn render_once(
        &self,
        job: &Job,
        request: Request<Body>,
        had: Option<&Arc<Entry>>,
    ) -> Rendered {
        let Some(cluster) = self.shared.cluster.as_deref() else {
            return self.render_and_store(job, request, had).await;
        };
        let lock = NodeLock {
            cluster,
            ttl_ms: self.shared.lock_ttl_ms,
            timeout: Duration::from_millis(self.shared.config.engine.lock_timeout_ms),
            clock: &*self.shared.clock,
        };
        let render = self.render_and_store(job, request, had);
        let elsewhere = || self.stored_elsewhere(job, had);
        let waiting = || self.shared.metrics.waited_on_cluster();
        match lock
            .once(job.key.storage(), elsewhere, waiting, render)
            .await
        {
            Once::Worked(rendered) => rendered,
            Once::Found(entry) => Rendered::Found(entry),
        }
    }

    /// A fresh entry for `key` in memory, newer than `had`: one a render stored after the
    /// caller looked (and found only `had`, or nothing).
    pub(super) fn stored_meanwhile(
        &self,
        key: &CacheKey,
        had: Option<&Arc<Entry>>,
    ) -> Option<Arc<Entry>> {
        let entry = self.shared.store.l1().get_sync(key.storage())?;
        self.replaces(&entry, key, had).then_some(entry)
    }

    /// Does `entry` make a render of `key` unnecessary for a request that had `had`?
    fn replaces(&self, entry: &Entry, key: &CacheKey, had: Option<&Arc<Entry>>) -> bool {
        let state = self.shared.freshness_of(entry, self.now());
        replaces(entry, key.raw(), had.map(|had| had.created_at), state)
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

    /// Render, then do what the result changes: store it, or remember the failure or that
    /// the key is not cacheable. `had`: the entry stored under the key, which an
    /// uncacheable answer replaces and a `304` refreshes.
    pub(super) async fn render_and_store(
        &self,
        job: &Job,
        request: Request<Body>,
        had: Option<&Arc<Entry>>,
    ) -> Rendered {
        let rendered = self.render(job, request, had).await;
        let key = job.key.storage();
        let now = self.now();
        let settled = settle(&rendered, had.is_some(), now);
        self.shared.backoff.apply(settled.backoff, key, now);
        match settled.pass_mark {
            PassMark::Clear => {
                self.shared.pass_marks.remove(key);
            }
            PassMark::Set(until) => self.shared.pass_marks.insert(key.to_owned(), until),
            PassMark::Keep => {}
        }
        if settled.store
            && let Rendered::Storable(entry) = &rendered
            && let Err(error) = self.shared.store.put(key, Arc::clone(entry)).await
        {
            store_errors::log(&error, job.key.raw(), "could not store a render");
        }
        if settled.remove
            && let Err(error) = self.shared.store.remove(key).await
        {
            store_errors::log(&error, job.key.raw(), "could not remove an entry");
        }
        match &rendered {
            Rendered::FailedStatus(response) => tracing::warn!(
                status = response.status().as_u16(),
                path = job.path,
                "render failed; keeping the last good page"
            ),
            Rendered::Failed(error) => {
                tracing::warn!(%error, path = job.path, "render failed; keeping the last good page");
            }
            Rendered::Storable(_) | Rendered::Found(_) | Rendered::Uncacheable { .. } => {}
        }
        rendered
    }

    /// Ask the origin for `job` and judge the answer (a `304` refreshes `previous`, whose
    /// validators [`Engine::render_request`] sent). Stores nothing.
    pub(super) async fn render(
        &self,
        job: &Job,
        request: Request<Body>,
        previous: Option<&Arc<Entry>>,
    ) -> Rendered {
        self.shared.counters.render_started();
        let timer = self.shared.metrics.render_started();
        let rendered = self.render_timed(job, request, previous).await;
        let end = match &rendered {
            Rendered::FailedStatus(_) => RenderEnd::FailedStatus,
            Rendered::Failed(OriginError::Timeout(_)) => RenderEnd::TimedOut,
            Rendered::Failed(OriginError::Unreachable(_)) => RenderEnd::Unreachable,
            Rendered::Storable(_) | Rendered::Found(_) | Rendered::Uncacheable { .. } => {
                RenderEnd::Answered
            }
        };
        timer.ended(&end);
        rendered
    }

    /// [`Engine::render`] itself, timed by it.
    async fn render_timed(
        &self,
        job: &Job,
        request: Request<Body>,
        previous: Option<&Arc<Entry>>,
    ) -> Rendered {
        // Entries date from when their render started: a purge after that instant
        // applies to them, even if the render arrives after the purge.
        let started_at = self.shared.purges.date_render(&*self.shared.clock).await;
        let credentialed = request.headers().contains_key(http::header::COOKIE);
        let engine = &self.shared.config.engine;
        let timeout = Duration::from_millis(engine.render_timeout_ms);
        match fetch(&*self.renderer, request, timeout, engine.max_entry_bytes).await {
            Err(error) => Rendered::Failed(error),
            Ok(Collected::TooLarge(mut parts, body)) => {
                remove_hop_by_hop(&mut parts.headers);
                let judged = judge_too_large(parts.status);
                Rendered::from_judged(judged, || Ok(Response::from_parts(parts, body)))
            }
            Ok(Collected::Complete(mut parts, body))
                if parts.extensions.get::<CloseDelimited>().is_some() =>
            {
                remove_hop_by_hop(&mut parts.headers);
                tracing::debug!(
                    path = job.path,
                    "not storing: the body ended with the connection, it may be cut short"
                );
                let judged = judge_close_delimited(parts.status);
                Rendered::from_judged(judged, || Ok(Response::from_parts(parts, Body::full(body))))
            }
            Ok(Collected::Complete(mut parts, body)) => {
                // Judged as the origin sent it: what its `Connection` nominates is still
                // there for the privacy checks, and removed only from what is passed on.
                let body = self.as_identity(job, &mut parts.headers, body).await;
                let config = &self.shared.config;
                let judged = judge(
                    job,
                    config,
                    parts.status,
                    &parts.headers,
                    body.clone(),
                    Render {
                        started: started_at,
                        previous: previous.map(|entry| &**entry),
                        credentialed,
                    },
                );
                let judged = self.judge_build(job, judged, &parts.headers).await;
                remove_hop_by_hop(&mut parts.headers);
                if let Judged::Uncacheable(Unstored::Policy(reason)) = &judged {
                    tracing::debug!(%reason, path = job.path, "not storing");
                    let is_html = parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
                    let told = &self.shared.told_unstored_html;
                    if is_html && !told.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::info!(
                            %reason,
                            hint = reason.hint().unwrap_or(""),
                            path = job.path,
                            "an HTML page was not stored (logged once; the answer's \
                             Cache-Status says why for every request)"
                        );
                    }
                }
                let judged = match judged {
                    Judged::Storable(entry) => {
                        Judged::Storable(self.compressed(job, entry, &parts).await)
                    }
                    other => other,
                };
                Rendered::from_judged(judged, || Ok(Response::from_parts(parts, Body::full(body))))
            }
        }
    }

    /// `judged` once the build the answer names (`build_id_header`) is accounted for: an
    /// answer naming a new build switches every node to it, and one naming another build
    /// than its key's is not stored.
    async fn judge_build(&self, job: &Job, judged: Judged, headers: &HeaderMap) -> Judged {
        let Some(name) = self.shared.config.build_id_header.as_deref() else {
            return judged;
        };
        let named = headers.get(name).and_then(|value| value.to_str().ok());
        let verdict = self.shared.builds.judge_answer(&job.build, named);
        if let NamedBuild::Switch(to) = &verdict {
            if let Err(error) = self.shared.switch_build(to).await {
                tracing::warn!(%error, build = to, "could not switch to the build an answer names");
            }
        } else if verdict == NamedBuild::Unstored {
            tracing::debug!(
                path = job.path,
                named,
                keyed = job.build,
                "not storing an answer of another build"
            );
        }
        judge_build(judged, &verdict)
    }

    /// The origin's body as identity, with `headers` made to say so: decoded if the origin
    /// compressed it (within the entry size limit). A body in a coding isr does not know,
    /// or that does not decode, is handed back as sent, with its headers: it is then
    /// passed on and never stored (isr-core refuses to store a coded body).
    async fn as_identity(&self, job: &Job, headers: &mut HeaderMap, body: Bytes) -> Bytes {
        let codings = match content_codings(headers) {
            Ok(codings) if codings.is_empty() => return body,
            Ok(codings) => codings,
            // A coding isr does not know is opaque: the page is stored and served as sent.
            Err(unknown) => {
                tracing::debug!(error = %unknown, path = job.path, "origin body kept as sent");
                return body;
            }
        };
        let limit = self.shared.config.engine.max_entry_bytes;
        let coded = body.clone();
        let decoded = off_the_runtime(move || compress::decode(&codings, coded, limit)).await;
        match decoded.unwrap_or(Err(compress::DecodeError::Lost)) {
            Ok(identity) => {
                as_identity(headers);
                identity
            }
            Err(error) => {
                tracing::warn!(%error, path = job.path, "origin body passed on as sent, not stored");
                body
            }
        }
    }

    /// `entry` with the compressed representations its page gains from, made once here
    /// (off the runtime's threads). A lost compression task leaves identity alone.
    async fn compressed(&self, job: &Job, entry: Arc<Entry>, parts: &Parts) -> Arc<Entry> {
        let plan = to_make(
            parts.status,
            &parts.headers,
            entry.body.len(),
            &self.shared.config.compression,
        );
        if plan.is_empty() {
            return entry;
        }
        let identity = entry.body.clone();
        let path = job.path.clone();
        let made = off_the_runtime(move || compress::compress(&identity, &plan, &path)).await;
        let mut entry = Arc::unwrap_or_clone(entry);
        attach(&mut entry, made.unwrap_or_default());
        Arc::new(entry)
    }

    /// The request a render sends. On configured routes it is built from the key alone;
    /// for a request no route matched, the client's own headers are forwarded (the answer
    /// is stored only if the origin says it may be shared). With a `previous` entry, it
    /// asks with that entry's validators ([`validators`]).
    pub(super) fn render_request(
        &self,
        job: &Job,
        client: Option<&HeaderMap>,
        previous: Option<&Arc<Entry>>,
    ) -> Request<Body> {
        let mut headers = job.render_headers(client, &self.shared.config);
        if let Some(previous) = previous {
            headers.extend(validators(previous));
        }
        headers.insert(X_ISR_RENDER, self.shared.secret.clone());
        let mut request = Request::new(Body::empty());
        *request.headers_mut() = headers;
        *request.uri_mut() = job
            .target
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        request
    }
}
