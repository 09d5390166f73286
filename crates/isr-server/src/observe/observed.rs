//! An engine answer being watched: when its headers are ready, it is counted
//! ([`RequestMetrics`]) and, with the access log on, logged.
//!
//! Invariant: with the access log off, watching a request allocates nothing and reads
//! one clock twice; the request's route is found without copying its path.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, Response, Version, header};
use isr::{Body, Clock};
use isr_core::UnixMillis;
use isr_core::config::Config;
use isr_core::plan::{Plan, plan};
use isr_core::telemetry::access_log::AccessRecord;
use isr_core::telemetry::{self as names, STATUSES, key_hash, route_labels, route_slot};

use super::access::AccessLog;
use super::requests::RequestMetrics;

/// What every watched request of one proxy shares.
pub struct Watch {
    metrics: RequestMetrics,
    access: Option<AccessLog>,
    routes: Vec<String>,
    clock: Arc<dyn Clock>,
}

/// What the access line of one request needs from the request itself.
struct Arrival {
    time: UnixMillis,
    client: String,
    method: String,
    target: String,
    protocol: &'static str,
    referer: Option<String>,
    user_agent: Option<String>,
    key_hash: Option<String>,
}

/// One request being watched, before its answer is known.
pub struct Watching {
    watch: Arc<Watch>,
    started: Instant,
    route: usize,
    arrival: Option<Box<Arrival>>,
}

/// The engine's answer to one request, counted (and logged) when ready.
pub struct Observed<F> {
    future: F,
    watching: Watching,
}

impl Watching {
    /// Watch `future`, the answer to the request.
    pub fn answered_by<F>(self, future: F) -> Observed<F> {
        Observed {
            future,
            watching: self,
        }
    }
}

impl Watch {
    /// Watching for `config`, with `metrics` registered for it and the access log, if on.
    pub fn new(
        config: &Config,
        metrics: RequestMetrics,
        access: Option<AccessLog>,
        clock: Arc<dyn Clock>,
    ) -> Watch {
        Watch {
            metrics,
            access,
            routes: route_labels(config),
            clock,
        }
    }

    /// Start watching `request`, from `peer`; `config` is the proxy's.
    pub fn observe<B>(
        self: &Arc<Self>,
        config: &Config,
        request: &Request<B>,
        peer: SocketAddr,
    ) -> Watching {
        let started = Instant::now();
        let route = route_slot(config, request.uri().path());
        let arrival = self
            .access
            .as_ref()
            .map(|_| Box::new(self.arrival(config, request, peer)));
        Watching {
            watch: Arc::clone(self),
            started,
            route,
            arrival,
        }
    }

    fn arrival<B>(&self, config: &Config, request: &Request<B>, peer: SocketAddr) -> Arrival {
        let uri = request.uri();
        let headers = request.headers();
        let planned = plan(config, request.method(), uri.path(), uri.query(), headers);
        let key_hash = match planned {
            Ok(Plan::Cache(cache_plan)) => Some(key_hash(&cache_plan.key)),
            Ok(Plan::Bypass { .. }) | Err(_) => None,
        };
        let header = |name: header::HeaderName| {
            headers
                .get(name)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        };
        Arrival {
            time: self.clock.now(),
            client: peer.ip().to_string(),
            method: request.method().as_str().to_owned(),
            target: uri.path_and_query().map_or_else(
                || uri.path().to_owned(),
                |target| target.as_str().to_owned(),
            ),
            protocol: protocol(request.version()),
            referer: header(header::REFERER),
            user_agent: header(header::USER_AGENT),
            key_hash,
        }
    }

    fn log(
        &self,
        arrival: &Arrival,
        route: usize,
        status: usize,
        response: &Response<Body>,
        took: Duration,
    ) {
        let Some(access) = &self.access else { return };
        let cache = STATUSES.get(status).copied().unwrap_or(names::ERROR);
        let code = response.status().as_u16();
        let from_origin = matches!(cache, "MISS" | "BYPASS");
        access.write(&AccessRecord {
            time: arrival.time,
            client: &arrival.client,
            method: &arrival.method,
            target: &arrival.target,
            protocol: arrival.protocol,
            status: code,
            bytes: content_length(response.headers()),
            cache,
            route: self
                .routes
                .get(route)
                .map_or(names::UNROUTED, String::as_str),
            key_hash: arrival.key_hash.as_deref(),
            origin_status: from_origin.then_some(code),
            duration_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            referer: arrival.referer.as_deref(),
            user_agent: arrival.user_agent.as_deref(),
        });
    }
}

impl<F, E> Future for Observed<F>
where
    F: Future<Output = Result<Response<Body>, E>> + Unpin,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let answered = Pin::new(&mut this.future).poll(cx);
        if let Poll::Ready(Ok(response)) = &answered {
            let watching = &mut this.watching;
            let took = watching.started.elapsed();
            let watch = &watching.watch;
            let status = watch
                .metrics
                .answered(watching.route, response.headers(), took);
            if let Some(arrival) = watching.arrival.take() {
                watch.log(&arrival, watching.route, status, response, took);
            }
        }
        answered
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}
