//! The Durable Object `IsrState`: purge records, single-flight locks and the recursion-guard
//! secret, in its SQLite storage. Its protocol is in `state`.
//!
//! Every operation is a handful of synchronous SQL statements with no `await` between
//! them, so each one is atomic: the Durable Object runs one event at a time and SQL calls
//! never yield. Each is judged at the time of the caller's clock (the platform's, plus the
//! test offset the call carries).
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
//! - The Durable Object stores decisions, it makes none: the instants renders and purges
//!   are dated at are isr-core's (`flow::dating`), the backoff after failures is its
//!   `flow::backoff` state machine, what a finished render changes (backoff, hit-for-pass
//!   mark) is what the Worker sent from `flow::settle`, and which records a fold takes is
//!   `purge::fold_rank`.
//! - After a failed render, background regenerations of that key back off; a success
//!   clears the backoff. While a key's render could not be shared moments ago, a request
//!   waiting for its answer is told to render without the lock (hit-for-pass).
//! - At most `ISR_MAX_PURGE_RECORDS` (default isr-core's `MAX_PURGE_RECORDS`) records are
//!   kept: past that, the older half is folded into one record for everything (never
//!   simply dropped), as the native purge log folds.
//! - The secret is generated once (random, 128 bits) and kept: every isolate of the
//!   deployment sees the same one.

use std::cell::Cell;

use isr_core::UnixMillis;
use isr_core::flow::backoff::{Failing, RetryPolicy};
use isr_core::flow::dating::{purge_instant, render_instant};
use isr_core::flow::settle::{BackoffChange, PassMark, is_passing};
use isr_core::freshness::PurgeMode;
use isr_core::purge::{MAX_PURGE_RECORDS, fold_rank};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State,
    durable_object,
};

use crate::clock::Clock;
use crate::settings::variable;
use crate::state::{
    CLOCK_OFFSET_HEADER, FinishRequest, LockAnswer, LockRequest, Outcome, PurgeAnswer,
    PurgeRequest, Record, RecordsAnswer, RecordsRequest, SecretAnswer, StatusAnswer, StatusRequest,
};

/// Idle flight rows older than this are pruned (they only matter while a flight's
/// stale requests are still arriving, and for the backoff, which is shorter).
const FLIGHT_ROW_RETENTION_MS: i64 = 3_600_000;
/// Prune idle flight rows once every this many lock requests.
const PRUNE_EVERY: u64 = 1_000;

/// The Durable Object. Bind it as `ISR_STATE` with a `new_sqlite_classes` migration.
#[durable_object(fetch)]
pub struct IsrState {
    sql: SqlStorage,
    lock_requests: Cell<u64>,
    /// Most purge records kept (`ISR_MAX_PURGE_RECORDS`, default [`MAX_PURGE_RECORDS`]).
    max_records: usize,
}

impl DurableObject for IsrState {
    fn new(state: State, env: Env) -> Self {
        let max_records = variable(&env, "ISR_MAX_PURGE_RECORDS")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(MAX_PURGE_RECORDS);
        let object = IsrState {
            sql: state.storage().sql(),
            lock_requests: Cell::new(0),
            max_records,
        };
        object.prepare_tables();
        object
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        let offset = req
            .headers()
            .get(CLOCK_OFFSET_HEADER)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = req.bytes().await?;
        // Read after the body: no await between this and the operation's statements.
        let now = Clock::ahead_by(offset).now();
        let answer = match path.as_str() {
            "/lock" => parse(&body).and_then(|r| self.lock(&r, now)).and_then(json),
            "/finish" => parse(&body)
                .and_then(|r| self.finish(&r, now))
                .and_then(json),
            "/status" => parse(&body)
                .and_then(|r| self.status(&r, now))
                .and_then(json),
            "/purge" => parse(&body)
                .and_then(|r| self.purge(&r, now))
                .and_then(json),
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

/// Added to `flights` after its first release (tables created before lack it).
const ADD_PASS_UNTIL: &str = "ALTER TABLE flights ADD COLUMN pass_until INTEGER NOT NULL DEFAULT 0";

/// 32 random hex digits (128 bits from the platform's CSPRNG).
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    if let Err(error) = getrandom::getrandom(&mut bytes) {
        worker::console_error!("isr: no random numbers: {error}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| worker::Error::RustError(e.to_string()))
}

fn json<T: Serialize>(value: T) -> Result<Response> {
    Response::from_json(&value)
}

fn int(value: u64) -> SqlStorageValue {
    SqlStorageValue::Integer(i64::try_from(value).unwrap_or(i64::MAX))
}

fn instant(value: i64) -> UnixMillis {
    UnixMillis(as_u64(value))
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
    pass_until: i64,
}

impl FlightRow {
    /// The key's backoff, if it failed last.
    fn failing(&self) -> Option<Failing> {
        (self.failures > 0).then(|| Failing {
            failures: u32::try_from(self.failures).unwrap_or(u32::MAX),
            retry_at: instant(self.retry_at),
        })
    }

    /// The flight's token while it runs at `now` (until its time runs out).
    fn running(&self, now: UnixMillis) -> Option<&str> {
        self.token.as_deref().filter(|_| instant(self.until) > now)
    }
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
    fn prepare_tables(&self) {
        for statement in SCHEMA {
            if let Err(error) = self.sql.exec(statement, None) {
                worker::console_error!("isr: creating the state tables failed: {error}");
            }
        }
        let has_pass_until = self
            .sql
            .exec("SELECT pass_until FROM flights LIMIT 0", None)
            .is_ok();
        if !has_pass_until && let Err(error) = self.sql.exec(ADD_PASS_UNTIL, None) {
            worker::console_error!("isr: adding flights.pass_until failed: {error}");
        }
    }

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
                 retry_at, pass_until \
                 FROM flights WHERE key = ?",
                vec![text(key)],
            )?
            .to_array()?;
        Ok(rows.into_iter().next())
    }

    /// The start of a render granted at `now` (isr-core's dating), raising the floor that
    /// every later purge is dated at or after.
    fn date_render(&self, now: UnixMillis) -> Result<u64> {
        let at = render_instant(now, UnixMillis(self.meta_u64("last_purge")?)).0;
        if at > self.meta_u64("floor")? {
            self.set_meta("floor", &at.to_string())?;
        }
        Ok(at)
    }

    fn lock(&self, request: &LockRequest, now: UnixMillis) -> Result<LockAnswer> {
        self.prune_now_and_then(now)?;
        if let Some(row) = self.flight(&request.key)? {
            let backing_off = row.failing().is_some_and(|f| f.holds_back(now));
            if request.respect_backoff && backing_off {
                return Ok(LockAnswer::BackingOff);
            }
            if request.may_pass && is_passing(Some(instant(row.pass_until)), now) {
                return Ok(LockAnswer::Pass {
                    at: self.date_render(now)?,
                });
            }
            if let Some(token) = row.running(now) {
                return Ok(LockAnswer::Held {
                    flight: token.to_owned(),
                });
            }
            // A hint only: the Worker judges the entry it then reads (isr-core's joiners).
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
        }
        let at = self.date_render(now)?;
        let token = random_hex();
        let until = now.0.saturating_add(request.ttl_ms);
        self.sql.exec(
            "INSERT INTO flights (key, token, until) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET token = excluded.token, until = excluded.until",
            vec![text(&request.key), text(&token), int(until)],
        )?;
        Ok(LockAnswer::Granted { token, at })
    }

    /// A render finished: release its flight (if it held one, and still does) and keep
    /// what it changes. A pass (no token) changes the backoff, the newest store and the
    /// pass mark, but no flight: no one follows it.
    fn finish(&self, request: &FinishRequest, now: UnixMillis) -> Result<bool> {
        let Some(row) = self.flight(&request.key)? else {
            return Ok(false);
        };
        if request.token.is_some() && row.token != request.token {
            return Ok(false);
        }
        let policy = RetryPolicy::new(request.retry_min_ms, request.retry_max_ms);
        let (failures, retry_at) = match request.change.backoff {
            BackoffChange::Clear => (0, UnixMillis(0)),
            BackoffChange::Fail => {
                let failing = Failing::after_failure(row.failing(), now, &policy);
                (i64::from(failing.failures), failing.retry_at)
            }
            BackoffChange::Keep => (row.failures, instant(row.retry_at)),
        };
        let pass_until = match request.change.pass_mark {
            PassMark::Clear => UnixMillis(0),
            PassMark::Set(until) => until,
            PassMark::Keep => instant(row.pass_until),
        };
        let stored = request.outcome == Outcome::Stored;
        let stored_at = if stored {
            row.stored_at
                .max(i64::try_from(request.at).unwrap_or(i64::MAX))
        } else {
            row.stored_at
        };
        self.sql.exec(
            "UPDATE flights SET stored_at = ?, failures = ?, retry_at = ?, pass_until = ? \
             WHERE key = ?",
            vec![
                SqlStorageValue::Integer(stored_at),
                SqlStorageValue::Integer(failures),
                int(retry_at.0),
                int(pass_until.0),
                text(&request.key),
            ],
        )?;
        let Some(token) = &request.token else {
            return Ok(true);
        };
        let outcome = match request.outcome {
            Outcome::Stored => "stored",
            Outcome::Uncacheable => "uncacheable",
            Outcome::Failed => "failed",
        };
        let finished_at = if stored {
            int(now.0)
        } else {
            SqlStorageValue::Integer(row.finished_at)
        };
        self.sql.exec(
            "UPDATE flights SET token = NULL, until = 0, last_token = ?, last_outcome = ?, \
             finished_at = ? WHERE key = ?",
            vec![text(token), text(outcome), finished_at, text(&request.key)],
        )?;
        Ok(true)
    }

    fn status(&self, request: &StatusRequest, now: UnixMillis) -> Result<StatusAnswer> {
        let Some(row) = self.flight(&request.key)? else {
            return Ok(StatusAnswer::Unknown);
        };
        if row.running(now) == Some(request.flight.as_str()) {
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

    fn purge(&self, request: &PurgeRequest, now: UnixMillis) -> Result<PurgeAnswer> {
        let at = purge_instant(now, UnixMillis(self.meta_u64("floor")?)).0;
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

    /// Keep at most `max_records`: when over, the named records up to and including the
    /// one of isr-core's [`fold_rank`] (the median instant) are folded into one record for
    /// everything at that instant, hard if any of them was, as the native purge log's
    /// `PurgeState::bound` does. Folding can only make an old page stale (or purged),
    /// never revive one; isolates holding the forgotten records keep answering the same,
    /// since the fold is newer than all of them.
    fn fold_when_over(&self, seq: u64) -> Result<()> {
        let count = |sql: &str| -> Result<usize> {
            let rows: Vec<CountRow> = self.sql.exec(sql, None)?.to_array()?;
            Ok(rows
                .first()
                .map_or(0, |row| usize::try_from(row.n).unwrap_or(0)))
        };
        if count("SELECT COUNT(*) AS n FROM purges")? <= self.max_records {
            return Ok(());
        }
        let named = count("SELECT COUNT(*) AS n FROM purges WHERE name != '*'")?;
        let Some(rank) = fold_rank(named) else {
            return Ok(());
        };
        let cutoff: Vec<AtRow> = self
            .sql
            .exec(
                "SELECT at, hard FROM purges WHERE name != '*' ORDER BY at LIMIT 1 OFFSET ?",
                vec![int(u64::try_from(rank).unwrap_or(u64::MAX))],
            )?
            .to_array()?;
        let Some(cutoff) = cutoff.first().map(|row| row.at) else {
            return Ok(());
        };
        let folded: Vec<AtRow> = self
            .sql
            .exec(
                "SELECT MAX(at) AS at, MAX(hard) AS hard FROM purges \
                 WHERE name != '*' AND at <= ?",
                vec![SqlStorageValue::Integer(cutoff)],
            )?
            .to_array()?;
        let hard = folded.first().map_or(0, |row| row.hard);
        self.sql.exec(
            "DELETE FROM purges WHERE name != '*' AND at <= ?",
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

    fn prune_now_and_then(&self, now: UnixMillis) -> Result<()> {
        let count = self.lock_requests.get().wrapping_add(1);
        self.lock_requests.set(count);
        if count.is_multiple_of(PRUNE_EVERY) {
            let now = i64::try_from(now.0).unwrap_or(i64::MAX);
            let before = now.saturating_sub(FLIGHT_ROW_RETENTION_MS);
            self.sql.exec(
                "DELETE FROM flights WHERE token IS NULL AND retry_at < ? AND stored_at < ? \
                 AND pass_until < ?",
                vec![
                    SqlStorageValue::Integer(before),
                    SqlStorageValue::Integer(before),
                    SqlStorageValue::Integer(before),
                ],
            )?;
        }
        Ok(())
    }
}
