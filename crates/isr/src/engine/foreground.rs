//! A request that must wait for a render: read the tiers, then lead a flight or join the
//! running one ([`isr_core::flow::joiners`]), or, for a key marked hit-for-pass, render on
//! its own.
//!
//! Invariants:
//! - Per key, at most one render runs at a time in this process ([`crate::flight`]).
//! - The leader's render runs in its own task, so a client going away cannot cancel it
//!   while others wait for it.
//! - A response is shared with other requests only if it was storable: an uncacheable
//!   answer goes to the request that caused it, and every other request asks for its own.
//! - A joiner waits at most the lock timeout, then renders alone, uncached.

use std::sync::Arc;
use std::time::Duration;

use http::Response;
use http::request::Parts;
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::flow::answer::{ErrorAnswer, answer};
use isr_core::flow::joiners::{Joined, Outcome, for_joiner, joined_render};
use isr_core::flow::lookup::{Action, on_lookup};
use isr_core::flow::settle::is_passing;
use isr_core::headers::CacheStatus;
use isr_core::job::Job;
use isr_core::store::EntryStore;
use tokio::sync::oneshot;

use crate::body::Body;
use crate::engine::respond::error_response;
use crate::engine::shared::Engine;
use crate::flight::Join;
use crate::store_errors;

impl Engine {
    /// Not in memory (or not servable from it): ask the persistent tier, then render.
    pub(super) async fn lookup_and_render(
        self: Arc<Self>,
        job: Job,
        parts: Parts,
        now: UnixMillis,
    ) -> Response<Body> {
        let found = match self.shared.store.get(job.key.storage()).await {
            Ok(Some(entry)) if entry.key == job.key.raw() => Some(entry),
            Ok(_) => None,
            Err(error) => {
                store_errors::log(&error, job.key.raw(), "cache read failed; rendering");
                None
            }
        };
        let found = found.map(|entry| {
            let state = self.shared.freshness_of(&entry, now);
            (entry, state)
        });
        let key = job.key.storage();
        match on_lookup(found, || self.shared.backoff.is_backing_off(key, now)) {
            Action::Serve {
                entry,
                status,
                regenerate,
            } => {
                if regenerate {
                    let key = job.key.clone();
                    self.spawn_regeneration(&key, Some(&entry), move || job);
                }
                self.serve(&entry, status, &parts, now)
            }
            Action::Render {
                fallback,
                revalidate,
            } => {
                self.render_foreground(job, parts, fallback, revalidate)
                    .await
            }
        }
    }

    /// Lead a flight, or join the running one (or, for a key marked hit-for-pass, render
    /// on its own), and answer with its result. `revalidate`: the entry the render may
    /// revalidate with its validators (a `304` refreshes it).
    pub(super) async fn render_foreground(
        self: Arc<Self>,
        job: Job,
        parts: Parts,
        fallback: Option<Arc<Entry>>,
        revalidate: Option<Arc<Entry>>,
    ) -> Response<Body> {
        let previous = revalidate.or_else(|| fallback.clone());
        let key = job.key.storage().to_owned();
        if is_passing(self.shared.pass_marks.get(&key), self.now()) {
            let request = self.render_request(&job, Some(&parts.headers), previous.as_ref());
            let rendered = self
                .render_and_store(&job, request, previous.as_ref())
                .await;
            return self.reply(answer(rendered, fallback, &parts.method), &parts);
        }
        match self.shared.flights.join(&key) {
            Join::Started(flight) => {
                // A render of this key may have finished between this request's lookup and
                // its joining the flights: then it is in memory, and rendering is not needed.
                if let Some(entry) = self.stored_meanwhile(&job.key, fallback.as_ref()) {
                    flight.finish(Outcome::Stored(Arc::clone(&entry)));
                    return self.serve(&entry, CacheStatus::Hit, &parts, self.now());
                }
                let (sender, receiver) = oneshot::channel();
                let request = self.render_request(&job, Some(&parts.headers), previous.as_ref());
                let engine = Arc::clone(&self);
                let had = previous.clone();
                self.shared.background.spawn(async move {
                    let rendered = engine.render_once(&job, request, had.as_ref()).await;
                    flight.finish(rendered.outcome());
                    let _ = sender.send(rendered);
                });
                match receiver.await {
                    Ok(rendered) => self.reply(answer(rendered, fallback, &parts.method), &parts),
                    Err(_) => error_response(&ErrorAnswer::render_lost()),
                }
            }
            Join::Joined(waiter) => {
                self.shared.counters.coalesced();
                let limit = Duration::from_millis(self.shared.config.engine.lock_timeout_ms);
                let outcome = tokio::time::timeout(limit, waiter.outcome()).await.ok();
                // A render begun before a purge that this request came after is not its
                // answer: judged now, a result the purge reaches sends it to render alone.
                let seen = fallback.as_ref().map(|entry| entry.created_at);
                let outcome = outcome.and_then(|outcome| {
                    for_joiner(outcome, seen, |entry| {
                        self.shared.freshness_of(entry, self.now())
                    })
                });
                match joined_render(outcome, fallback, !job.matched) {
                    Joined::Serve(entry) => {
                        self.serve(&entry, CacheStatus::Miss, &parts, self.now())
                    }
                    Joined::Stale(stale) => {
                        self.serve(&stale, CacheStatus::Stale, &parts, self.now())
                    }
                    Joined::Failed(()) => error_response(&ErrorAnswer::render_failed()),
                    // Not shareable, or waited too long: ask the origin for our own answer,
                    // and store nothing.
                    Joined::Alone(fallback) => {
                        let request =
                            self.render_request(&job, Some(&parts.headers), previous.as_ref());
                        let rendered = self.render(&job, request, previous.as_ref()).await;
                        self.reply(answer(rendered, fallback, &parts.method), &parts)
                    }
                }
            }
        }
    }
}
