//! The protocol of the Durable Object `IsrState` (see `object`), and [`StateClient`], the
//! Worker's typed client for it: one JSON request and answer per operation.
//!
//! One instance serves the whole deployment (named [`INSTANCE`]).
//!
//! Invariant: every call carries the caller's clock offset ([`CLOCK_OFFSET_HEADER`], 0
//! except under a test clock), so the Durable Object judges time as the Worker does. The
//! Durable Object is reachable only through its binding: no client request reaches it.

use isr_core::flow::joiners;
use isr_core::flow::settle::{BackoffChange, PassMark, Settled};
use isr_core::freshness::PurgeMode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Headers, Method, ObjectNamespace, Request, RequestInit, Result};

use crate::clock::Clock;

/// The name of the one Durable Object instance the deployment uses.
pub(crate) const INSTANCE: &str = "isr";

/// The request header carrying the caller's clock offset (ms) to the Durable Object.
pub(crate) const CLOCK_OFFSET_HEADER: &str = "x-isr-clock-offset";

/// Take the flight of `key` for `ttl_ms`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LockRequest {
    pub(crate) key: String,
    pub(crate) ttl_ms: u64,
    /// `created_at` of the entry the caller has (stale, expired or purged), if any.
    pub(crate) seen: Option<u64>,
    /// When the caller, having no entry, started reading the tiers (its clock, ms): a
    /// flight that stored an entry since then is one it just missed.
    pub(crate) read_at: Option<u64>,
    /// A background regeneration: refused while the key backs off after a failure.
    pub(crate) respect_backoff: bool,
    /// A request waiting for its answer: told to render without the lock while the key's
    /// last render was not shareable (hit-for-pass), instead of queueing behind others.
    pub(crate) may_pass: bool,
}

/// The answer to a [`LockRequest`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum LockAnswer {
    /// Render now; the entry dates from `at` (ms), which every later purge reaches.
    Granted { token: String, at: u64 },
    /// Another render of the key is running; follow it with [`StatusRequest`].
    Held { flight: String },
    /// A flight stored an entry newer than the one the caller saw: read it.
    Superseded,
    /// The last render of the key failed moments ago: serve what there is.
    BackingOff,
    /// The key's last render was not shareable moments ago: render without the lock
    /// (hit-for-pass), and report how it went with a [`FinishRequest`] without a token;
    /// an entry dates from `at` (ms).
    Pass { at: u64 },
}

/// How a flight ended, as its followers learn it: [`joiners::Outcome`] on the wire (the
/// entry itself is read from the tiers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// An entry was stored (KV, and the Cache API of the data centre that rendered).
    Stored,
    /// The origin answered, but not with something that may be shared.
    Uncacheable,
    /// The origin failed (5xx, 429, timeout, unreachable).
    Failed,
}

impl Outcome {
    /// The wire form of a render's outcome.
    pub(crate) fn of<E, F>(outcome: &joiners::Outcome<E, F>) -> Outcome {
        match outcome {
            joiners::Outcome::Stored(_) => Outcome::Stored,
            joiners::Outcome::Uncacheable => Outcome::Uncacheable,
            joiners::Outcome::Failed(_) => Outcome::Failed,
        }
    }

    /// The outcome a follower acts on.
    pub(crate) fn to_core(self) -> joiners::Outcome<()> {
        match self {
            Outcome::Stored => joiners::Outcome::Stored(()),
            Outcome::Uncacheable => joiners::Outcome::Uncacheable,
            Outcome::Failed => joiners::Outcome::Failed(()),
        }
    }
}

/// What a finished render changes in its key's row: isr-core's [`Settled`], as far as the
/// Durable Object keeps it (storing and removing entries is the Worker's).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RowChange {
    pub(crate) backoff: BackoffChange,
    pub(crate) pass_mark: PassMark,
}

impl From<&Settled> for RowChange {
    fn from(settled: &Settled) -> RowChange {
        RowChange {
            backoff: settled.backoff,
            pass_mark: settled.pass_mark,
        }
    }
}

/// A render of `key` finished: under the flight `token` (released), or without the lock
/// (`None`: a [`LockAnswer::Pass`], which no one follows).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FinishRequest {
    pub(crate) key: String,
    pub(crate) token: Option<String>,
    pub(crate) outcome: Outcome,
    /// The granted `at`: the `created_at` of the stored entry.
    pub(crate) at: u64,
    pub(crate) change: RowChange,
    pub(crate) retry_min_ms: u64,
    pub(crate) retry_max_ms: u64,
}

/// How is the flight `flight` of `key` doing?
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StatusRequest {
    pub(crate) key: String,
    pub(crate) flight: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum StatusAnswer {
    Running,
    Done {
        outcome: Outcome,
    },
    /// Not running and not the last flight: it expired, or another one replaced it.
    Unknown,
}

/// Record an invalidation of every named target.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PurgeRequest {
    pub(crate) names: Vec<String>,
    pub(crate) mode: PurgeMode,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PurgeAnswer {
    /// The instant the purge is recorded at (ms).
    pub(crate) at: u64,
}

/// Purge records changed after sequence number `since`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RecordsRequest {
    pub(crate) since: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RecordsAnswer {
    /// The newest sequence number; pass it as `since` next time.
    pub(crate) seq: u64,
    /// `true`: these are all the records (the caller must forget what it had).
    pub(crate) full: bool,
    pub(crate) records: Vec<Record>,
}

/// One purge record.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) name: String,
    pub(crate) at: u64,
    pub(crate) mode: PurgeMode,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SecretAnswer {
    pub(crate) secret: String,
}

/// The Worker's client for the one `IsrState` instance.
pub(crate) struct StateClient {
    namespace: ObjectNamespace,
    clock: Clock,
}

impl StateClient {
    pub(crate) fn new(namespace: ObjectNamespace, clock: Clock) -> StateClient {
        StateClient { namespace, clock }
    }

    async fn call<Q: Serialize, A: DeserializeOwned>(&self, op: &str, request: &Q) -> Result<A> {
        let stub = self.namespace.get_by_name(INSTANCE)?;
        let body =
            serde_json::to_string(request).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let headers = Headers::new();
        headers.set(CLOCK_OFFSET_HEADER, &self.clock.offset_ms().to_string())?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(wasm_bindgen::JsValue::from_str(&body)));
        let request = Request::new_with_init(&format!("https://isr-state/{op}"), &init)?;
        let mut response = stub.fetch_with_request(request).await?;
        if response.status_code() != 200 {
            let message = response.text().await.unwrap_or_default();
            return Err(worker::Error::RustError(message));
        }
        response.json().await
    }

    pub(crate) async fn lock(&self, request: &LockRequest) -> Result<LockAnswer> {
        self.call("lock", request).await
    }

    pub(crate) async fn finish(&self, request: &FinishRequest) -> Result<bool> {
        self.call("finish", request).await
    }

    pub(crate) async fn status(&self, request: &StatusRequest) -> Result<StatusAnswer> {
        self.call("status", request).await
    }

    pub(crate) async fn purge(&self, request: &PurgeRequest) -> Result<PurgeAnswer> {
        self.call("purge", request).await
    }

    pub(crate) async fn records(&self, since: u64) -> Result<RecordsAnswer> {
        self.call("records", &RecordsRequest { since }).await
    }

    pub(crate) async fn secret(&self) -> Result<String> {
        let answer: SecretAnswer = self.call("secret", &()).await?;
        Ok(answer.secret)
    }
}
