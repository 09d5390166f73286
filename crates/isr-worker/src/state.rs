//! The Durable Object `IsrState`: purge records, single-flight locks and the recursion-guard
//! secret, in its SQLite storage; and [`StateClient`], the Worker's typed client for it.
//!
//! One instance serves the whole deployment (named [`INSTANCE`]). Every operation is a
//! handful of synchronous SQL statements with no `await` between them, so each one is
//! atomic: the Durable Object runs one event at a time and SQL calls never yield.
//!
//! Invariants:
//! - A purge is one row per target (`purges(name, at, hard, seq)`, named by
//!   [`isr_core::purge::Target::record_name`]), never a scan of entries. A row is only ever
//!   replaced by a newer invalidation (at equal times, hard wins).
//! - Every purge is recorded at or after the start of every render already granted
//!   (`floor`), and every render is granted a start strictly after every recorded purge:
//!   so a purge reaches exactly the renders that started before it, whatever the clocks.
//! - A flight (lock) on a key is held by one token at a time, until it is released by that
//!   token or its time runs out. A request that saw an entry older than one a finished
//!   flight stored is told so ([`LockAnswer::Superseded`]) instead of rendering again, so
//!   N concurrent stale requests cause one regeneration; so is a request without an entry
//!   when a flight stored one after it started reading the tiers.
//! - After a failed render, background regenerations of that key back off (doubling from
//!   `retry_min` to `retry_max`); a success clears the backoff.
//! - At most `ISR_MAX_PURGE_RECORDS` (default 100,000) records are kept: past that, the
//!   older half is folded into one record for everything (never simply dropped).
//! - The secret is generated once (random, 128 bits) and kept: every isolate of the
//!   deployment sees the same one.

use isr_core::freshness::PurgeMode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Method, ObjectNamespace, Request, RequestInit, Response, Result,
    SqlStorage, SqlStorageValue, State, durable_object,
};

use crate::random_hex;

/// The name of the one Durable Object instance the deployment uses.
pub(crate) const INSTANCE: &str = "isr";

/// Idle flight rows older than this are pruned (they only matter while a flight's
/// stale requests are still arriving, and for the backoff, which is shorter).
const FLIGHT_ROW_RETENTION_MS: i64 = 3_600_000;
/// Most purge records kept by default; older ones are folded (see `fold_when_over`).
const MAX_PURGE_RECORDS: u64 = 100_000;
/// Prune idle flight rows once every this many lock requests.
const PRUNE_EVERY: u64 = 1_000;

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
}

/// How a flight ended.
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

/// Release the flight of `key` held by `token`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct UnlockRequest {
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) outcome: Outcome,
    /// The granted `at`: the `created_at` of the stored entry.
    pub(crate) at: u64,
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

/// The Durable Object. Bind it as `ISR_STATE` with a `new_sqlite_classes` migration.
#[durable_object]
pub struct IsrState {
    sql: SqlStorage,
    lock_requests: std::cell::Cell<u64>,
    /// Most purge records kept (`ISR_MAX_PURGE_RECORDS`, default [`MAX_PURGE_RECORDS`]).
    max_records: u64,
}

impl DurableObject for IsrState {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for statement in SCHEMA {
            if let Err(error) = sql.exec(statement, None) {
                worker::console_error!("isr: creating the state tables failed: {error}");
            }
        }
        let max_records = crate::settings::variable(&env, "ISR_MAX_PURGE_RECORDS")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(MAX_PURGE_RECORDS);
        IsrState {
            sql,
            lock_requests: std::cell::Cell::new(0),
            max_records,
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let body = req.bytes().await?;
        let answer = match path.as_str() {
            "/lock" => parse(&body).and_then(|r| self.lock(&r)).and_then(json),
            "/unlock" => parse(&body).and_then(|r| self.unlock(&r)).and_then(json),
            "/status" => parse(&body).and_then(|r| self.status(&r)).and_then(json),
            "/purge" => parse(&body).and_then(|r| self.purge(&r)).and_then(json),
            "/records" => parse(&body).and_then(|r| self.records(&r)).and_then(json),
            "/secret" => self.secret().and_then(json),
            _ => return Response::error("isr state: no such operation", 404),
        };
        answer.or_else(|error| Response::error(format!("isr state: {error}"), 500))
    }
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS purges (name TEXT PRIMARY KEY, at INTEGER NOT NULL, \
     hard INTEGER NOT NULL, seq INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS purges_by_seq ON purges (seq)",
    "CREATE TABLE IF NOT EXISTS flights (key TEXT PRIMARY KEY, token TEXT, \
     until INTEGER NOT NULL DEFAULT 0, last_token TEXT, last_outcome TEXT, \
     stored_at INTEGER NOT NULL DEFAULT 0, finished_at INTEGER NOT NULL DEFAULT 0, \
     failures INTEGER NOT NULL DEFAULT 0, retry_at INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn json<T: Serialize>(value: T) -> Result<Response> {
    Response::from_json(&value)
}

/// Milliseconds since the epoch, as SQLite stores them.
fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

fn int(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

fn text(value: &str) -> SqlStorageValue {
    SqlStorageValue::String(value.to_owned())
}

fn as_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[derive(Deserialize)]
struct FlightRow {
    token: Option<String>,
    until: i64,
    last_token: Option<String>,
    last_outcome: Option<String>,
    stored_at: i64,
    finished_at: i64,
    failures: i64,
    retry_at: i64,
}

#[derive(Deserialize)]
struct RecordRow {
    name: String,
    at: i64,
    hard: i64,
}

#[derive(Deserialize)]
struct CountRow {
    n: i64,
}

#[derive(Deserialize)]
struct AtRow {
    at: i64,
    hard: i64,
}

#[derive(Deserialize)]
struct ValueRow {
    value: String,
}

impl IsrState {
    fn meta(&self, name: &str) -> Result<Option<String>> {
        let rows: Vec<ValueRow> = self
            .sql
            .exec("SELECT value FROM meta WHERE name = ?", vec![text(name)])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|row| row.value))
    }

    fn meta_u64(&self, name: &str) -> Result<u64> {
        Ok(self
            .meta(name)?
            .and_then(|v| v.parse().ok())
            .unwrap_or_default())
    }

    fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        self.sql.exec(
            "INSERT INTO meta (name, value) VALUES (?, ?) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            vec![text(name), text(value)],
        )?;
        Ok(())
    }

    fn flight(&self, key: &str) -> Result<Option<FlightRow>> {
        let rows: Vec<FlightRow> = self
            .sql
            .exec(
                "SELECT token, until, last_token, last_outcome, stored_at, finished_at, failures, \
                 retry_at \
                 FROM flights WHERE key = ?",
                vec![text(key)],
            )?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    fn lock(&self, request: &LockRequest) -> Result<LockAnswer> {
        let now = now_ms();
        self.prune_now_and_then(now)?;
        if let Some(row) = self.flight(&request.key)? {
            if let Some(token) = row.token.filter(|_| row.until > now) {
                return Ok(LockAnswer::Held { flight: token });
            }
            let newer_than_seen = request
                .seen
                .is_some_and(|seen| as_u64(row.stored_at) > seen);
            let stored_since_read = row.last_outcome.as_deref() == Some("stored")
                && request
                    .read_at
                    .is_some_and(|read_at| as_u64(row.finished_at) >= read_at);
            if newer_than_seen || stored_since_read {
                return Ok(LockAnswer::Superseded);
            }
            if request.respect_backoff && row.retry_at > now {
                return Ok(LockAnswer::BackingOff);
            }
        }
        // Strictly after every recorded purge, and a floor for every later one.
        let at = as_u64(now).max(self.meta_u64("last_purge")?.saturating_add(1));
        if at > self.meta_u64("floor")? {
            self.set_meta("floor", &at.to_string())?;
        }
        let token = random_hex();
        let until = now.saturating_add(i64::try_from(request.ttl_ms).unwrap_or(i64::MAX));
        self.sql.exec(
            "INSERT INTO flights (key, token, until) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET token = excluded.token, until = excluded.until",
            vec![
                text(&request.key),
                text(&token),
                SqlStorageValue::Integer(until),
            ],
        )?;
        Ok(LockAnswer::Granted { token, at })
    }

    fn unlock(&self, request: &UnlockRequest) -> Result<bool> {
        let Some(row) = self.flight(&request.key)? else {
            return Ok(false);
        };
        if row.token.as_deref() != Some(request.token.as_str()) {
            return Ok(false);
        }
        let now = now_ms();
        let (failures, retry_at) = match request.outcome {
            Outcome::Failed => {
                let failures = row.failures.saturating_add(1);
                let shift = u32::try_from(failures - 1).unwrap_or(u32::MAX).min(20);
                let wait = request
                    .retry_min_ms
                    .saturating_mul(1u64 << shift)
                    .min(request.retry_max_ms);
                let wait = i64::try_from(wait).unwrap_or(i64::MAX);
                (failures, now.saturating_add(wait))
            }
            Outcome::Stored | Outcome::Uncacheable => (0, 0),
        };
        let (stored_at, finished_at) = match request.outcome {
            Outcome::Stored => (i64::try_from(request.at).unwrap_or(i64::MAX), now),
            _ => (row.stored_at, row.finished_at),
        };
        let outcome = match request.outcome {
            Outcome::Stored => "stored",
            Outcome::Uncacheable => "uncacheable",
            Outcome::Failed => "failed",
        };
        self.sql.exec(
            "UPDATE flights SET token = NULL, until = 0, last_token = ?, last_outcome = ?, \
             stored_at = ?, finished_at = ?, failures = ?, retry_at = ? WHERE key = ?",
            vec![
                text(&request.token),
                text(outcome),
                SqlStorageValue::Integer(stored_at),
                SqlStorageValue::Integer(finished_at),
                SqlStorageValue::Integer(failures),
                SqlStorageValue::Integer(retry_at),
                text(&request.key),
            ],
        )?;
        Ok(true)
    }

    fn status(&self, request: &StatusRequest) -> Result<StatusAnswer> {
        let Some(row) = self.flight(&request.key)? else {
            return Ok(StatusAnswer::Unknown);
        };
        if row.token.as_deref() == Some(request.flight.as_str()) && row.until > now_ms() {
            return Ok(StatusAnswer::Running);
        }
        if row.last_token.as_deref() != Some(request.flight.as_str()) {
            return Ok(StatusAnswer::Unknown);
        }
        let outcome = match row.last_outcome.as_deref() {
            Some("stored") => Outcome::Stored,
            Some("failed") => Outcome::Failed,
            _ => Outcome::Uncacheable,
        };
        Ok(StatusAnswer::Done { outcome })
    }

    fn purge(&self, request: &PurgeRequest) -> Result<PurgeAnswer> {
        let at = as_u64(now_ms()).max(self.meta_u64("floor")?);
        let seq = self.meta_u64("seq")?.saturating_add(1);
        let hard = i64::from(request.mode == PurgeMode::Hard);
        for name in &request.names {
            self.record(name, at, hard, seq)?;
        }
        self.fold_when_over(seq)?;
        self.set_meta("seq", &seq.to_string())?;
        if at > self.meta_u64("last_purge")? {
            self.set_meta("last_purge", &at.to_string())?;
        }
        Ok(PurgeAnswer { at })
    }

    /// Record one invalidation, unless a newer one is held (at equal times, hard wins).
    fn record(&self, name: &str, at: u64, hard: i64, seq: u64) -> Result<()> {
        self.sql.exec(
            "INSERT INTO purges (name, at, hard, seq) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET at = excluded.at, hard = excluded.hard, \
             seq = excluded.seq WHERE excluded.at > purges.at \
             OR (excluded.at = purges.at AND excluded.hard >= purges.hard)",
            vec![
                text(name),
                int(at),
                SqlStorageValue::Integer(hard),
                int(seq),
            ],
        )?;
        Ok(())
    }

    /// Keep at most `max_records`: when over, the older half (every record up to and
    /// including the median instant) is folded into one record for everything at that
    /// instant, hard if any of them was, as the native server's purge log does. Folding
    /// can only make an old page stale (or purged), never revive one; isolates holding the
    /// forgotten records keep answering the same, since the fold is newer than all of them.
    fn fold_when_over(&self, seq: u64) -> Result<()> {
        let count: Vec<CountRow> = self
            .sql
            .exec("SELECT COUNT(*) AS n FROM purges", None)?
            .to_array()?;
        let count = count.first().map_or(0, |row| as_u64(row.n));
        if count <= self.max_records {
            return Ok(());
        }
        let cutoff: Vec<AtRow> = self
            .sql
            .exec(
                "SELECT at, hard FROM purges ORDER BY at LIMIT 1 OFFSET ?",
                vec![int(count / 2)],
            )?
            .to_array()?;
        let Some(cutoff) = cutoff.first().map(|row| row.at) else {
            return Ok(());
        };
        let folded: Vec<AtRow> = self
            .sql
            .exec(
                "SELECT MAX(at) AS at, MAX(hard) AS hard FROM purges WHERE at <= ?",
                vec![SqlStorageValue::Integer(cutoff)],
            )?
            .to_array()?;
        let hard = folded.first().map_or(0, |row| row.hard);
        self.sql.exec(
            "DELETE FROM purges WHERE at <= ?",
            vec![SqlStorageValue::Integer(cutoff)],
        )?;
        self.record("*", as_u64(cutoff), hard, seq)
    }

    fn records(&self, request: &RecordsRequest) -> Result<RecordsAnswer> {
        let seq = self.meta_u64("seq")?;
        // A caller ahead of us has records of a state that no longer exists: start over.
        let full = request.since > seq || request.since == 0;
        let since = if full { 0 } else { request.since };
        let rows: Vec<RecordRow> = self
            .sql
            .exec(
                "SELECT name, at, hard FROM purges WHERE seq > ?",
                vec![int(since)],
            )?
            .to_array()?;
        let records = rows
            .into_iter()
            .map(|row| Record {
                name: row.name,
                at: as_u64(row.at),
                mode: if row.hard != 0 {
                    PurgeMode::Hard
                } else {
                    PurgeMode::Soft
                },
            })
            .collect();
        Ok(RecordsAnswer { seq, full, records })
    }

    fn secret(&self) -> Result<SecretAnswer> {
        if let Some(secret) = self.meta("secret")? {
            return Ok(SecretAnswer { secret });
        }
        let secret = random_hex();
        self.set_meta("secret", &secret)?;
        Ok(SecretAnswer { secret })
    }

    fn prune_now_and_then(&self, now: i64) -> Result<()> {
        let count = self.lock_requests.get().wrapping_add(1);
        self.lock_requests.set(count);
        if count.is_multiple_of(PRUNE_EVERY) {
            let before = now.saturating_sub(FLIGHT_ROW_RETENTION_MS);
            self.sql.exec(
                "DELETE FROM flights WHERE token IS NULL AND retry_at < ? AND stored_at < ?",
                vec![
                    SqlStorageValue::Integer(before),
                    SqlStorageValue::Integer(before),
                ],
            )?;
        }
        Ok(())
    }
}

/// The Worker's client for the one [`IsrState`] instance.
pub(crate) struct StateClient {
    namespace: ObjectNamespace,
}

impl StateClient {
    pub(crate) fn new(namespace: ObjectNamespace) -> StateClient {
        StateClient { namespace }
    }

    async fn call<Q: Serialize, A: DeserializeOwned>(&self, op: &str, request: &Q) -> Result<A> {
        let stub = self.namespace.get_by_name(INSTANCE)?;
        let body =
            serde_json::to_string(request).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
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

    pub(crate) async fn unlock(&self, request: &UnlockRequest) -> Result<bool> {
        self.call("unlock", request).await
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
