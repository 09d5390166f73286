//! Background regenerations: of a stale entry a request was just answered with, and of a
//! path on request (the admin API), each variant once.
//!
//! Invariants:
//! - Per key, a regeneration starts only if no render of it is running here; at most
//!   `regenerate_concurrency` run at once.
//! - A regeneration whose key was rendered meanwhile (newer and fresh in memory) is not
//!   started.
//! - The job is built only when a regeneration starts: every stale answer asks, but only
//!   the first starts one.

use std::sync::Arc;

use isr_core::entry::Entry;
use isr_core::flow::joiners::Outcome;
use isr_core::flow::regenerate::{Regeneration, path_jobs_in, to_regenerate};
use isr_core::flow::render::Rendered;
use isr_core::job::Job;
use isr_core::key::CacheKey;
use isr_core::store::EntryStore;

use crate::engine::shared::Engine;
use crate::flight::Join;

impl Engine {
    /// Start a background regeneration of `key` unless one is running (the caller has
    /// checked the backoff where it applies). `true` if one was started.
    pub(super) fn spawn_regeneration(
        self: &Arc<Self>,
        key: &CacheKey,
        had: Option<&Arc<Entry>>,
        job: impl FnOnce() -> Job,
    ) -> bool {
        let Join::Started(flight) = self.shared.flights.join(key.storage()) else {
            return false;
        };
        // The regeneration that made `had` stale may have finished since it was read.
        if had.is_some()
            && let Some(entry) = self.stored_meanwhile(key, had)
        {
            flight.finish(Outcome::Stored(entry));
            return false;
        }
        let job = job();
        let had = had.cloned();
        let engine = Arc::clone(self);
        self.shared.background.spawn(async move {
            let permits = Arc::clone(&engine.shared.regenerations);
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let request = engine.render_request(&job, None, had.as_ref());
            let rendered = engine.render_once(&job, request, had.as_ref()).await;
            match rendered {
                Rendered::Storable(_) => engine.shared.counters.regenerated(true),
                Rendered::Failed(_) | Rendered::FailedStatus(_) | Rendered::Uncacheable { .. } => {
                    engine.shared.counters.regenerated(false);
                }
                // Another node's render: counted as `rendered_elsewhere`.
                Rendered::Found(_) => {}
            }
            flight.finish(rendered.outcome());
        });
        true
    }

    /// Regenerate `path` now, in the background: every variant of it that is cached (HTML
    /// and RSC, each holding every coding). If none is, the HTML variant browsers ask for, unless
    /// `if_cached`.
    pub(crate) async fn regenerate_path(
        self: &Arc<Self>,
        path: &str,
        if_cached: bool,
    ) -> Regeneration {
        let build = self.shared.builds.current();
        let jobs = match path_jobs_in(&self.shared.config, &build, path) {
            Ok(jobs) => jobs,
            Err(skipped) => return skipped,
        };
        let mut found = Vec::with_capacity(jobs.len());
        for job in jobs {
            let entry = match self.shared.store.get(job.key.storage()).await {
                Ok(Some(entry)) if entry.key == job.key.raw() => Some(entry),
                _ => None,
            };
            found.push((job, entry));
        }
        let chosen = match to_regenerate(found, if_cached) {
            Ok(chosen) => chosen,
            Err(skipped) => return skipped,
        };
        let mut started = false;
        for (job, had) in chosen {
            let key = job.key.clone();
            started |= self.spawn_regeneration(&key, had.as_ref(), move || job);
        }
        Regeneration::of_starts(started)
    }
}
