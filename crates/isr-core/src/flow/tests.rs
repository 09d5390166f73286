//! The flow, tested once: a runtime in miniature (one key, no I/O, a manual clock) that
//! composes the flow's decisions the way every runtime does, driven through every state
//! a request can meet. Each row says what is cached, what the origin does, and what the
//! client must get: status, cache status, body, and how many renders it cost.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::UnixMillis;
use crate::config::Config;
use crate::entry::Entry;
use crate::flow::answer::{Reply, answer};
use crate::flow::backoff::{Backoff, DEFAULT_CAPACITY, RetryPolicy};
use crate::flow::dating::render_instant;
use crate::flow::joiners::{Joined, Outcome, joined, replaces};
use crate::flow::lookup::{Action, on_lookup};
use crate::flow::render::{OriginError, Render, Rendered, judge, judge_too_large};
use crate::flow::settle::{BackoffChange, PassMark, is_passing, settle};
use crate::freshness::{Freshness, Invalidation, PurgeMode, freshness};
use crate::headers::CacheStatus;
use crate::job::Job;
use crate::plan::{Plan, plan};
use crate::purge::{PurgeState, Target};
use crate::serve::serve;

const CONFIG: &str = r#"
origin = "http://127.0.0.1:3000"

[cache]
retry_min = "1s"
retry_max = "8s"

[[route]]
path = "/p"
revalidate = 10
expire = 60
stale_if_error = 30
"#;

const START: UnixMillis = UnixMillis(1_700_000_000_000);

/// What the origin does with a render.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// A storable page with this body.
    Page(&'static str),
    /// A page that may not be stored (it sets a cookie).
    Private,
    /// A page larger than the entry limit.
    TooLarge,
    /// An error status.
    Status(u16),
    Timeout,
    Unreachable,
}

/// Where the render's lock is.
#[derive(Clone, Debug)]
enum Lock {
    /// Free: this request renders.
    Free,
    /// Another node holds it and stored this entry meanwhile.
    OtherNodeStored(Arc<Entry>),
    /// Another node holds it past the lock timeout: this node renders itself.
    OtherNodeTimedOut,
    /// Another request of this node renders; this one joins it and learns `outcome`
    /// (`None`: it waited past the lock timeout).
    Joined(Option<Outcome<Arc<Entry>>>),
}

/// What the sim answered, in the terms a client sees.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    code: u16,
    cache: CacheStatus,
    body: Option<&'static str>,
}

/// A runtime in miniature for one key.
struct Sim {
    config: Config,
    job: Job,
    now: UnixMillis,
    stored: Option<Arc<Entry>>,
    purges: PurgeState,
    last_purge: UnixMillis,
    backoff: Backoff,
    pass_mark: Option<UnixMillis>,
    renders: usize,
    regenerations: usize,
}

type Response = (StatusCode, &'static str);

impl Sim {
    fn new() -> Sim {
        let config = Config::from_toml(CONFIG, "isr.toml").unwrap();
        let Ok(Plan::Cache(cache_plan)) = plan(&config, &Method::GET, "/p", None, &html()) else {
            panic!("/p is cacheable");
        };
        let job = Job::from(&cache_plan);
        let engine = &config.engine;
        let backoff = Backoff::new(
            RetryPolicy::new(engine.retry_min_ms, engine.retry_max_ms),
            DEFAULT_CAPACITY,
        );
        Sim {
            config,
            job,
            now: START,
            stored: None,
            purges: PurgeState::default(),
            last_purge: UnixMillis(0),
            backoff,
            pass_mark: None,
            renders: 0,
            regenerations: 0,
        }
    }

    /// A sim whose key holds a page rendered `age_secs` ago with body `"old"`.
    fn cached(age_secs: u64) -> Sim {
        let mut sim = Sim::new();
        sim.request(Method::GET, html(), Origin::Page("old"), Lock::Free);
        sim.renders = 0;
        sim.now = sim.now.add_secs(age_secs);
        sim
    }

    fn advance_secs(&mut self, secs: u64) {
        self.now = self.now.add_secs(secs);
    }

    fn purge(&mut self, mode: PurgeMode) {
        let at = self.now;
        self.purges
            .record(&Target::Path("/p".into()), Invalidation { at, mode });
        self.last_purge = at;
    }

    fn state_of(&self, entry: &Entry) -> Freshness {
        let invalidation = self.purges.newest_for(&entry.key, &entry.path, &entry.tags);
        freshness(entry.created_at, &entry.lifetime, self.now, invalidation)
    }

    /// One request, through every decision a runtime takes.
    fn request(&mut self, method: Method, headers: HeaderMap, origin: Origin, lock: Lock) -> Seen {
        let key = self.job.key.storage().to_owned();
        let found = self
            .stored
            .clone()
            .map(|entry| (Arc::clone(&entry), self.state_of(&entry)));
        let now = self.now;
        let action = on_lookup(found, || self.backoff.is_backing_off(&key, now));
        let fallback = match action {
            Action::Serve {
                entry,
                status,
                regenerate,
            } => {
                let seen = self.serve(&entry, status, &method, &headers);
                if regenerate {
                    self.regenerations += 1;
                    let rendered = self.render(origin);
                    self.settle(&rendered);
                }
                return seen;
            }
            Action::Render { fallback, .. } => fallback,
        };
        let rendered = if is_passing(self.pass_mark, self.now) {
            let rendered = self.render(origin);
            self.settle(&rendered);
            rendered
        } else {
            match lock {
                Lock::Free | Lock::OtherNodeTimedOut => {
                    let rendered = self.render(origin);
                    self.settle(&rendered);
                    rendered
                }
                Lock::OtherNodeStored(entry) => {
                    let seen = self.stored.as_ref().map(|e| e.created_at);
                    let state = self.state_of(&entry);
                    assert!(replaces(&entry, self.job.key.raw(), seen, state));
                    self.stored = Some(Arc::clone(&entry));
                    let rendered = Rendered::Found(entry);
                    self.settle(&rendered);
                    rendered
                }
                Lock::Joined(outcome) => match joined(outcome, fallback) {
                    Joined::Serve(entry) => {
                        return self.serve(&entry, CacheStatus::Miss, &method, &headers);
                    }
                    Joined::Stale(stale) => {
                        return self.serve(&stale, CacheStatus::Stale, &method, &headers);
                    }
                    Joined::Failed(()) => {
                        let error = crate::flow::answer::ErrorAnswer::render_failed();
                        return self.error(&error);
                    }
                    Joined::Alone(fallback) => {
                        // Alone and uncached: nothing is settled.
                        let rendered = self.render(origin);
                        return self.reply(answer(rendered, fallback, &method), &method, &headers);
                    }
                },
            }
        };
        self.reply(answer(rendered, fallback, &method), &method, &headers)
    }

    fn render(&mut self, origin: Origin) -> Rendered<Response, &'static str> {
        self.renders += 1;
        let created_at = render_instant(self.now, self.last_purge);
        let page = |body: &'static str| (StatusCode::OK, body);
        let judged = match origin {
            Origin::Page(body) => judge(
                &self.job,
                &self.config,
                StatusCode::OK,
                &HeaderMap::new(),
                Bytes::from_static(body.as_bytes()),
                fresh(created_at),
            ),
            Origin::Private => {
                let mut headers = HeaderMap::new();
                headers.insert(header::SET_COOKIE, HeaderValue::from_static("s=1"));
                let body = Bytes::from_static(b"private");
                judge(
                    &self.job,
                    &self.config,
                    StatusCode::OK,
                    &headers,
                    body,
                    fresh(created_at),
                )
            }
            Origin::TooLarge => judge_too_large(StatusCode::OK),
            Origin::Status(code) => {
                let status = StatusCode::from_u16(code).unwrap();
                let judged = judge(
                    &self.job,
                    &self.config,
                    status,
                    &HeaderMap::new(),
                    Bytes::new(),
                    fresh(created_at),
                );
                return Rendered::from_judged(judged, || Ok((status, "origin error")));
            }
            Origin::Timeout => {
                let timeout = std::time::Duration::from_secs(10);
                return Rendered::Failed(OriginError::Timeout(timeout));
            }
            Origin::Unreachable => return Rendered::Failed(OriginError::Unreachable("refused")),
        };
        let body = match origin {
            Origin::TooLarge => "large",
            Origin::Private => "private",
            _ => "",
        };
        Rendered::from_judged(judged, || Ok(page(body)))
    }

    fn settle(&mut self, rendered: &Rendered<Response, &'static str>) {
        let key = self.job.key.storage().to_owned();
        let settled = settle(rendered, self.stored.is_some(), self.now);
        if settled.store
            && let Rendered::Storable(entry) = rendered
        {
            self.stored = Some(Arc::clone(entry));
        }
        if settled.remove {
            self.stored = None;
        }
        match settled.backoff {
            BackoffChange::Clear => self.backoff.succeeded(&key),
            BackoffChange::Fail => self.backoff.failed(&key, self.now),
            BackoffChange::Keep => {}
        }
        match settled.pass_mark {
            PassMark::Clear => self.pass_mark = None,
            PassMark::Set(until) => self.pass_mark = Some(until),
            PassMark::Keep => {}
        }
    }

    fn reply(
        &self,
        reply: Reply<Response, Arc<Entry>>,
        method: &Method,
        headers: &HeaderMap,
    ) -> Seen {
        match reply {
            Reply::Entry { entry, status } => self.serve(&entry, status, method, headers),
            Reply::Fallback(stale) => self.serve(&stale, CacheStatus::Stale, method, headers),
            Reply::Pass {
                response: (code, body),
                status,
                keeps_body,
                ..
            } => Seen {
                code: code.as_u16(),
                cache: status,
                body: keeps_body.then_some(body),
            },
            Reply::Error(error) => self.error(&error),
        }
    }

    fn serve(
        &self,
        entry: &Entry,
        status: CacheStatus,
        method: &Method,
        headers: &HeaderMap,
    ) -> Seen {
        let served = serve(entry, status, method, headers, self.now);
        let body = served.body.map(|body| match &body[..] {
            b"old" => "old",
            b"new" => "new",
            b"" => "",
            other => panic!("unexpected body {other:?}"),
        });
        Seen {
            code: served.status.as_u16(),
            cache: status,
            body,
        }
    }

    fn error(&self, error: &crate::flow::answer::ErrorAnswer) -> Seen {
        let headers = error.headers();
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers["x-isr-cache"], error.cache_status.as_str());
        Seen {
            code: error.code.as_u16(),
            cache: error.cache_status,
            body: Some("error"),
        }
    }
}

fn html() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("br"));
    headers
}

fn seen(code: u16, cache: CacheStatus, body: Option<&'static str>) -> Seen {
    Seen { code, cache, body }
}

/// One state, one request, one expected answer.
struct Row {
    name: &'static str,
    setup: fn() -> Sim,
    method: Method,
    headers: fn() -> HeaderMap,
    origin: Origin,
    lock: Lock,
    expect: Seen,
    /// Renders the request caused (foreground and background).
    renders: usize,
    /// What is stored afterwards (`None`: nothing).
    stored: Option<&'static str>,
}

fn failing_sim(age_secs: u64, failed_secs_ago: u64) -> Sim {
    let mut sim = Sim::cached(age_secs - failed_secs_ago);
    let key = sim.job.key.storage().to_owned();
    sim.backoff.failed(&key, sim.now);
    sim.advance_secs(failed_secs_ago);
    sim
}

fn rows() -> Vec<Row> {
    use CacheStatus::{Bypass, Hit, Miss, Stale};
    let row = |name, setup: fn() -> Sim, origin, expect, renders, stored| Row {
        name,
        setup,
        method: Method::GET,
        headers: html,
        origin,
        lock: Lock::Free,
        expect,
        renders,
        stored,
    };
    let new = Some("new");
    let old = Some("old");
    vec![
        row(
            "missing: rendered and stored",
            Sim::new,
            Origin::Page("new"),
            seen(200, Miss, new),
            1,
            new,
        ),
        row(
            "fresh: a hit, no render",
            || Sim::cached(5),
            Origin::Page("new"),
            seen(200, Hit, old),
            0,
            old,
        ),
        row(
            "stale: served, regenerated behind",
            || Sim::cached(10),
            Origin::Page("new"),
            seen(200, Stale, old),
            1,
            new,
        ),
        row(
            "stale, regeneration fails: kept",
            || Sim::cached(20),
            Origin::Status(500),
            seen(200, Stale, old),
            1,
            old,
        ),
        row(
            "expired, servable: renders",
            || Sim::cached(60),
            Origin::Page("new"),
            seen(200, Miss, new),
            1,
            new,
        ),
        row(
            "expired, servable, render fails: stale",
            || Sim::cached(60),
            Origin::Status(503),
            seen(200, Stale, old),
            1,
            old,
        ),
        row(
            "expired, servable, timeout: stale",
            || Sim::cached(70),
            Origin::Timeout,
            seen(200, Stale, old),
            1,
            old,
        ),
        row(
            "expired past the window, fails: the error",
            || Sim::cached(90),
            Origin::Status(502),
            seen(502, Miss, Some("origin error")),
            1,
            old,
        ),
        row(
            "expired past the window, unreachable: 502",
            || Sim::cached(95),
            Origin::Unreachable,
            seen(502, Miss, Some("error")),
            1,
            old,
        ),
        row(
            "missing, timeout: 504",
            Sim::new,
            Origin::Timeout,
            seen(504, Miss, Some("error")),
            1,
            None,
        ),
        row(
            "missing, 429: passed on, not stored",
            Sim::new,
            Origin::Status(429),
            seen(429, Miss, Some("origin error")),
            1,
            None,
        ),
        row(
            "missing, 404 is a page, stored",
            Sim::new,
            Origin::Status(404),
            seen(404, Miss, Some("")),
            1,
            Some(""),
        ),
        row(
            "failing, backoff active: stale, no render",
            || failing_sim(65, 0),
            Origin::Page("new"),
            seen(200, Stale, old),
            0,
            old,
        ),
        row(
            "failing, backoff passed: renders",
            || failing_sim(65, 1),
            Origin::Page("new"),
            seen(200, Miss, new),
            1,
            new,
        ),
        row(
            "stale, backoff active: no regeneration",
            || failing_sim(20, 0),
            Origin::Page("new"),
            seen(200, Stale, old),
            0,
            old,
        ),
        row(
            "soft-purged fresh entry: stale, regenerated",
            || {
                let mut s = Sim::cached(1);
                s.purge(PurgeMode::Soft);
                s
            },
            Origin::Page("new"),
            seen(200, Stale, old),
            1,
            new,
        ),
        row(
            "hard-purged: renders, no fallback",
            || {
                let mut s = Sim::cached(1);
                s.purge(PurgeMode::Hard);
                s
            },
            Origin::Status(500),
            seen(500, Miss, Some("origin error")),
            1,
            old,
        ),
        row(
            "purged in the render's millisecond: the render is fresh",
            || {
                let mut s = Sim::cached(1);
                s.purge(PurgeMode::Hard);
                s
            },
            Origin::Page("new"),
            seen(200, Miss, new),
            1,
            new,
        ),
        row(
            "uncacheable: passed on, entry removed",
            || Sim::cached(60),
            Origin::Private,
            seen(200, Bypass, Some("private")),
            1,
            None,
        ),
        row(
            "too large: passed on, not stored",
            Sim::new,
            Origin::TooLarge,
            seen(200, Bypass, Some("large")),
            1,
            None,
        ),
        Row {
            name: "HEAD hit: no body",
            method: Method::HEAD,
            ..row(
                "",
                || Sim::cached(1),
                Origin::Page("new"),
                seen(200, Hit, None),
                0,
                old,
            )
        },
        Row {
            name: "HEAD pass: no body",
            method: Method::HEAD,
            ..row(
                "",
                Sim::new,
                Origin::Private,
                seen(200, Bypass, None),
                1,
                None,
            )
        },
        Row {
            name: "conditional on a fresh entry: 304",
            headers: if_none_match,
            ..row(
                "",
                || Sim::cached(1),
                Origin::Page("new"),
                seen(304, Hit, None),
                0,
                old,
            )
        },
        Row {
            name: "conditional on a stale entry: 304, regenerated",
            headers: if_none_match,
            ..row(
                "",
                || Sim::cached(15),
                Origin::Page("new"),
                seen(304, Stale, None),
                1,
                new,
            )
        },
        Row {
            name: "locked elsewhere, its entry found",
            lock: Lock::OtherNodeStored(other_node_entry()),
            ..row(
                "",
                || Sim::cached(60),
                Origin::Page("unused"),
                seen(200, Miss, new),
                0,
                new,
            )
        },
        Row {
            name: "locked elsewhere past the timeout: renders itself",
            lock: Lock::OtherNodeTimedOut,
            ..row(
                "",
                || Sim::cached(60),
                Origin::Page("new"),
                seen(200, Miss, new),
                1,
                new,
            )
        },
        Row {
            name: "joined, stored: its entry",
            lock: Lock::Joined(Some(Outcome::Stored(other_node_entry()))),
            ..row(
                "",
                Sim::new,
                Origin::Page("unused"),
                seen(200, Miss, new),
                0,
                None,
            )
        },
        Row {
            name: "joined, failed, fallback: stale",
            lock: Lock::Joined(Some(Outcome::Failed(()))),
            ..row(
                "",
                || Sim::cached(61),
                Origin::Page("unused"),
                seen(200, Stale, old),
                0,
                old,
            )
        },
        Row {
            name: "joined, failed, nothing: 502",
            lock: Lock::Joined(Some(Outcome::Failed(()))),
            ..row(
                "",
                Sim::new,
                Origin::Page("unused"),
                seen(502, Miss, Some("error")),
                0,
                None,
            )
        },
        Row {
            name: "joined, uncacheable: renders alone, stores nothing",
            lock: Lock::Joined(Some(Outcome::Uncacheable)),
            ..row(
                "",
                Sim::new,
                Origin::Page("new"),
                seen(200, Miss, new),
                1,
                None,
            )
        },
        Row {
            name: "joined, timed out, render fails: fallback",
            lock: Lock::Joined(None),
            ..row(
                "",
                || Sim::cached(61),
                Origin::Unreachable,
                seen(200, Stale, old),
                1,
                old,
            )
        },
    ]
}

fn if_none_match() -> HeaderMap {
    let mut headers = html();
    let etag = crate::headers::body_etag(b"old");
    headers.insert(header::IF_NONE_MATCH, HeaderValue::try_from(etag).unwrap());
    headers
}

/// A fresh `"new"` page another node (or request) rendered just now, for [`Lock`] rows.
fn other_node_entry() -> Arc<Entry> {
    let mut sim = Sim::new();
    sim.now = START.add_secs(60);
    sim.request(Method::GET, html(), Origin::Page("new"), Lock::Free);
    sim.stored.unwrap()
}

/// A render with no previous entry and no client credentials, started at `started`.
fn fresh(started: UnixMillis) -> Render<'static> {
    Render {
        started,
        previous: None,
        credentialed: false,
    }
}

#[test]
fn every_state_answers_as_the_flow_says() {
    for row in rows() {
        let mut sim = (row.setup)();
        let before = sim.renders;
        let got = sim.request(row.method, (row.headers)(), row.origin, row.lock);
        assert_eq!(got, row.expect, "{}", row.name);
        assert_eq!(sim.renders - before, row.renders, "renders: {}", row.name);
        let stored = sim.stored.as_ref().map(|entry| match &entry.body[..] {
            b"old" => "old",
            b"new" => "new",
            b"" => "",
            _ => "other",
        });
        assert_eq!(stored, row.stored, "stored: {}", row.name);
    }
}

#[test]
fn an_uncacheable_key_passes_until_its_mark_ends_and_failures_back_off_doubling() {
    let mut sim = Sim::new();
    let private = sim.request(Method::GET, html(), Origin::Private, Lock::Free);
    assert_eq!(private.cache, CacheStatus::Bypass);
    // Marked: the next request renders on its own, even with a flight running.
    let joiner = Lock::Joined(Some(Outcome::Uncacheable));
    let seen = sim.request(Method::GET, html(), Origin::Page("new"), joiner.clone());
    assert_eq!(seen, self::seen(200, CacheStatus::Miss, Some("new")));
    assert_eq!(sim.pass_mark, None, "a storable render clears the mark");

    // Failures: 1 s, then 2 s, then 4 s of backoff on an expired, servable entry.
    let mut sim = Sim::cached(60);
    let key = sim.job.key.storage().to_owned();
    for wait in [1, 2, 4] {
        let failed = sim.request(Method::GET, html(), Origin::Status(500), Lock::Free);
        assert_eq!(failed.cache, CacheStatus::Stale);
        let renders = sim.renders;
        sim.advance_secs(wait - 1);
        assert!(sim.backoff.is_backing_off(&key, sim.now));
        sim.request(Method::GET, html(), Origin::Status(500), Lock::Free);
        assert_eq!(sim.renders, renders, "no render within the backoff");
        sim.advance_secs(1);
        assert!(!sim.backoff.is_backing_off(&key, sim.now));
    }
    let recovered = sim.request(Method::GET, html(), Origin::Page("new"), Lock::Free);
    assert_eq!(recovered.cache, CacheStatus::Miss);
    assert!(sim.backoff.is_empty());
}
