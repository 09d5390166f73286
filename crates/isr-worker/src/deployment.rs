//! What every step of a request works with: the deployment's settings, the clock, the
//! tiers, the Durable Object and the origin, and the helpers the steps share (the time,
//! the purge records, an entry's state, turning isr-core's answers into responses).
//!
//! The steps are `impl Deployment` blocks of their own files, each using only the ones
//! below it: `engine` (the flow of one request) → `flight` (single flight through the
//! Durable Object) → `render` (the origin, and what a render changes) → this file.
//!
//! Invariants:
//! - Every answer is built from isr-core's parts ([`serve`], [`Reply`], [`ErrorAnswer`]);
//!   this file only converts them.
//! - Every entry read is judged against the purge records before it is served (the Cache
//!   API of a data centre never learns of a purge).

use std::rc::Rc;

use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use isr_core::UnixMillis;
use isr_core::config::Config;
use isr_core::entry::Entry;
use isr_core::flow::answer::{ErrorAnswer, Reply, mark};
use isr_core::freshness::{Freshness, freshness};
use isr_core::headers::CacheStatus;
use isr_core::purge::PurgeState;
use isr_core::serve::serve;
use worker::{Response, Result};

use crate::clock::Clock;
use crate::convert::{self, header_map, status_of};
use crate::isolate;
use crate::origin::Origin;
use crate::settings::Settings;
use crate::state::StateClient;
use crate::store::Tiers;

/// Set on an answer whose page was not stored because it is too large (over the configured
/// `max_entry_size`, or over the Workers KV value limit of 25 MiB).
pub(crate) const X_ISR_STORE: HeaderName = HeaderName::from_static("x-isr-store");
const TOO_LARGE: HeaderValue = HeaderValue::from_static("too-large");

/// One request's view of the deployment.
pub(crate) struct Deployment {
    pub(crate) settings: Rc<Settings>,
    pub(crate) clock: Clock,
    pub(crate) tiers: Tiers,
    pub(crate) state: StateClient,
    pub(crate) origin: Origin,
}

/// The client request's parts the steps need.
pub(crate) struct Incoming {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
}

impl Deployment {
    /// The current time.
    pub(crate) fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    pub(crate) fn config(&self) -> &Config {
        &self.settings.config
    }

    /// The purge records, as fresh as configured.
    pub(crate) async fn purges(&self) -> Rc<PurgeState> {
        isolate::purge_state(&self.state, self.settings.purge_cache_ms, self.now().0).await
    }

    /// The state of `entry` at `at`, purges included.
    pub(crate) fn freshness_of(
        &self,
        purges: &PurgeState,
        entry: &Entry,
        at: UnixMillis,
    ) -> Freshness {
        let invalidation = purges.newest_for(&entry.key, &entry.path, &entry.tags);
        freshness(entry.created_at, &entry.lifetime, at, invalidation)
    }

    /// The recursion-guard secret every request to the origin carries.
    pub(crate) async fn guard(&self) -> Result<HeaderValue> {
        let secret = isolate::render_secret(&self.settings, &self.state).await?;
        HeaderValue::try_from(secret).map_err(|_| {
            worker::Error::RustError("the recursion-guard secret is not a header value".into())
        })
    }

    /// Answer from a cached entry: full, `HEAD`, or `304`.
    pub(crate) fn serve(
        &self,
        entry: &Entry,
        status: CacheStatus,
        incoming: &Incoming,
    ) -> Result<Response> {
        let mut served = serve(
            entry,
            status,
            &incoming.method,
            &incoming.headers,
            self.now(),
        );
        // For a CDN in front (another zone's, or a purge by tag in this one).
        let cdn = &self.config().ops.cdn;
        cdn.mark_tags(&mut served.headers, &entry.tags);
        convert::response(served.status, &served.headers, served.body)
    }

    /// The response for isr-core's reply to a request whose render is over.
    pub(crate) fn reply(
        &self,
        reply: Reply<Response, Entry>,
        incoming: &Incoming,
    ) -> Result<Response> {
        match reply {
            Reply::Entry { entry, status } => self.serve(&entry, status, incoming),
            Reply::Fallback(stale) => self.serve(&stale, CacheStatus::Stale, incoming),
            Reply::Pass {
                response,
                status,
                keeps_body,
                too_large,
                detail,
            } => {
                let mut headers = header_map(response.headers());
                mark(&mut headers, status, Some(status_of(&response)), detail);
                if too_large {
                    headers.insert(X_ISR_STORE, TOO_LARGE);
                }
                if keeps_body {
                    Ok(convert::with_headers(response, &headers))
                } else {
                    convert::response(status_of(&response), &headers, None)
                }
            }
            Reply::Error(error) => error_response(&error),
        }
    }
}

/// The response for one of isr-core's error answers.
pub(crate) fn error_response(error: &ErrorAnswer) -> Result<Response> {
    convert::response(error.code, &error.headers(), Some(error.body()))
}
