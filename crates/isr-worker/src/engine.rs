//! The flow of one request on Workers: recursion guard → plan → Cache API (L1) → KV (L2)
//! → freshness against the purge records → serve, serve stale while one background
//! regeneration runs (`ctx.wait_until`), or render with single flight through the Durable
//! Object (`flight`); or forward a request that may not be cached.
//!
//! Every decision is isr-core's: [`plan`], `flow::guard`, `flow::lookup` (what the entry
//! found means), `flow::bypass` (what is forwarded, and how its answer is finished); this
//! module only reads the tiers and moves bytes.
//!
//! Invariants:
//! - Every entry read from either tier is judged against the purge records before it is
//!   served (the Cache API of a data centre never learns of a purge).
//! - Every request isr sends to the origin carries the recursion guard with the deploy's
//!   secret; a request arriving with it is refused (508), never rendered.
//! - A fresh entry in L1 is served without reading KV; anything else reads KV, which may
//!   hold a newer render from another data centre.

use std::rc::Rc;

use http::{Method, StatusCode};
use isr_core::flow::answer::ErrorAnswer;
use isr_core::flow::guard::{is_own_render, loop_detected};
use isr_core::flow::lookup::{Action, on_lookup};
use isr_core::freshness::Freshness;
use isr_core::headers::{CacheStatus, X_ISR_RENDER};
use isr_core::job::Job;
use isr_core::plan::{Plan, PlanError, plan};
use worker::{Context, Request, Response, Result};

use crate::convert::header_map;
use crate::deployment::{Deployment, Incoming, error_response};
use crate::flight::Seen;

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

impl Deployment {
    /// Answer `req` (or say it is for the admin API, or bypasses the cache).
    pub(crate) async fn handle(self: &Rc<Self>, req: &Request, ctx: &Context) -> Result<Handled> {
        let Ok(method) = Method::from_bytes(req.inner().method().as_bytes()) else {
            let refusal = ErrorAnswer::new(
                StatusCode::BAD_REQUEST,
                CacheStatus::Bypass,
                "isr: bad method",
            );
            return error_response(&refusal).map(Handled::Answer);
        };
        let url = req.url()?;
        let incoming = Incoming {
            method,
            headers: header_map(req.headers()),
        };
        // Only a request carrying a guard costs the secret's look-up.
        if incoming.headers.contains_key(X_ISR_RENDER)
            && is_own_render(&incoming.headers, self.guard().await?.as_bytes())
        {
            return error_response(&loop_detected("this Worker")).map(Handled::Answer);
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
            Err(error) => error_response(&ErrorAnswer::plan(&error)).map(Handled::Answer),
            Ok(Plan::Bypass { target, reason }) => Ok(Handled::Bypass {
                target,
                draft: reason.is_private(),
            }),
            Ok(Plan::Cache(cache_plan)) => {
                let job = Job::from(&cache_plan);
                let response = self.cached(job, &incoming, ctx).await?;
                Ok(Handled::Answer(response))
            }
        }
    }

    /// A cacheable request: L1, then L2, then what isr-core's lookup says.
    async fn cached(
        self: &Rc<Self>,
        job: Job,
        incoming: &Incoming,
        ctx: &Context,
    ) -> Result<Response> {
        let purges = self.purges().await;
        let now = self.now();
        let judged = |entry| {
            let state = self.freshness_of(&purges, &entry, now);
            (entry, state)
        };
        let l1 = self.tiers.l1_get(&job.key).await.map(judged);
        let (found, from_l2) = match l1 {
            Some((entry, Freshness::Fresh)) => (Some((entry, Freshness::Fresh)), false),
            l1 => {
                // L1 is missing, stale or unservable: KV may hold a newer render (made in
                // another data centre, whose Cache API this one never sees).
                let l2 = self.tiers.l2_get(&job.key).await;
                match (l1, l2) {
                    (Some((l1, _)), Some(l2)) if l2.created_at > l1.created_at => {
                        (Some(judged(l2)), true)
                    }
                    (Some(l1), _) => (Some(l1), false),
                    (None, l2) => (l2.map(judged), true),
                }
            }
        };
        let seen = match &found {
            Some((entry, _)) => Seen::Entry(entry.created_at),
            None => Seen::Nothing(Some(now)),
        };
        // A servable entry from KV replaces this data centre's copy.
        if from_l2 && let Some((entry, Freshness::Fresh | Freshness::Stale)) = &found {
            let deployment = Rc::clone(self);
            let key = job.key.clone();
            let copy = entry.clone();
            ctx.wait_until(async move { deployment.tiers.refill_l1(&key, &copy, now).await });
        }
        match on_lookup(found, || false) {
            Action::Serve {
                entry,
                status,
                regenerate,
            } => {
                if regenerate {
                    self.regenerate(ctx, job, entry.created_at);
                }
                self.serve(&entry, status, incoming)
            }
            // The Durable Object answers for the backoff when the lock is asked for.
            Action::Render { fallback, .. } => self.foreground(job, incoming, fallback, seen).await,
        }
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
        use std::time::Duration;

        use isr_core::flow::answer::keeps_body;
        use isr_core::flow::bypass::{finish_answer, forward_headers};

        use crate::convert::{self, status_of};

        let headers = forward_headers(
            header_map(req.headers()),
            self.config().key_host,
            self.guard().await?,
        );
        let timeout = Duration::from_millis(self.config().engine.render_timeout_ms);
        let response = match self.origin.forward(req, target, &headers, timeout).await {
            Ok(response) => response,
            Err(error) => {
                return error_response(&ErrorAnswer::origin(&error, CacheStatus::Bypass));
            }
        };
        let mut headers = header_map(response.headers());
        finish_answer(&mut headers, status_of(&response), draft);
        let method = Method::from_bytes(req.inner().method().as_bytes());
        if method.is_ok_and(|method| !keeps_body(&method)) {
            return convert::response(status_of(&response), &headers, None);
        }
        Ok(convert::with_headers(response, &headers))
    }
}
