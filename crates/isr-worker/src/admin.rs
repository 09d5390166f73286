//! The admin API on the Worker, under `/_isr/`: the same `POST /_isr/revalidate` as the
//! native server (purges, and `"regenerate": true` in the background), the same
//! `GET /_isr/entries` listing (from KV), and `DELETE /_isr/cache`.
//!
//! Invariants:
//! - Off unless an admin token is configured (`ISR_ADMIN_TOKEN`, a Worker secret): then
//!   every path under `/_isr/` is 404 and nothing is done.
//! - Every call needs `Authorization: Bearer <token>` (or, for revalidate, `"secret"` in the
//!   body), compared in constant time; a missing or wrong token is 401 and nothing is done.
//! - Input is checked before anything happens: malformed JSON, unknown fields, empty lists,
//!   invalid paths and tags are 400 naming the field; a body over [`MAX_BODY_BYTES`] is 413.
//! - A purge is one Durable Object write (one row per target), and it is in this isolate's
//!   copy of the purge records before the answer is sent.
//! - Answers are JSON (`{"error": "..."}` for errors) and never cached.
//! - A listing page reads at most [`MAX_SCANNED_PER_PAGE`] KV entries (each a KV read, and
//!   an invocation has a limited number), then returns a cursor to go on from.

use std::rc::Rc;

use http::StatusCode;
use isr_core::UnixMillis;
use isr_core::admin::{
    ApiError, ClearAnswer, EntriesPage, EntriesQuery, EntryInfo, MAX_BODY_BYTES, RequestCounts,
    Revalidation, StatsAnswer, bearer_token, token_matches,
};
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::headers::CacheStatus;
use isr_core::purge::Target;
use serde::Serialize;
use worker::{Context, Headers, Request, Response, Result};

use crate::deployment::Deployment;
use crate::isolate::note_purge;
use crate::state::PurgeRequest;

/// Most KV entries one listing call reads (a prefix filter may skip many).
const MAX_SCANNED_PER_PAGE: usize = 500;

fn json_response(status: StatusCode, value: &impl Serialize) -> Result<Response> {
    json_bytes(
        status,
        serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::from_bytes(body)?
        .with_status(status.as_u16())
        .with_headers(headers))
}

/// Answer a request under `/_isr/`.
pub(crate) async fn handle(
    deployment: &Rc<Deployment>,
    req: &Request,
    ctx: &Context,
) -> Result<Response> {
    let answer = match &deployment.settings.config.admin_token {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "the admin API is off: set the ISR_ADMIN_TOKEN secret to turn it on",
        )),
        Some(token) => route(deployment, req, ctx, token).await,
    };
    match answer {
        Ok(response) => Ok(response),
        Err(error) => json_bytes(error.status, error.body()),
    }
}

async fn route(
    deployment: &Rc<Deployment>,
    req: &Request,
    ctx: &Context,
    token: &str,
) -> std::result::Result<Response, ApiError> {
    let url = req
        .url()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let path = isr_core::path::normalize_path(url.path())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let method = req.inner().method();
    let bearer_ok = bearer_matches(req, token);
    match (method.as_str(), path.as_str()) {
        ("POST", "/_isr/revalidate") => revalidate(deployment, req, ctx, token, bearer_ok).await,
        ("GET", "/_isr/stats") => {
            if !bearer_ok {
                return Err(ApiError::unauthorized());
            }
            ok(&stats(deployment).await)
        }
        ("GET", "/_isr/entries") => {
            if !bearer_ok {
                return Err(ApiError::unauthorized());
            }
            entries(deployment, &url).await
        }
        ("DELETE", "/_isr/cache") => {
            if !bearer_ok {
                return Err(ApiError::unauthorized());
            }
            // KV cannot be emptied at once: a hard purge of everything has the same effect
            // (nothing rendered before now is served again), in one write.
            purge(deployment, &[Target::All], PurgeMode::Hard).await?;
            ok(&ClearAnswer { cleared: true })
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such admin endpoint on the Worker (it has POST /_isr/revalidate, GET /_isr/entries, GET /_isr/stats and DELETE /_isr/cache)",
        )),
    }
}

/// `GET /_isr/stats`: this isolate's counts (see [`crate::counters`]) in the native
/// server's shape; the tiers' sizes are not known here (KV and the Cache API do not say).
async fn stats(deployment: &Rc<Deployment>) -> StatsAnswer {
    let counted = crate::counters::counted();
    let purges = deployment.purges().await;
    StatsAnswer {
        requests: RequestCounts {
            hit: counted.answered(CacheStatus::Hit),
            stale: counted.answered(CacheStatus::Stale),
            miss: counted.answered(CacheStatus::Miss),
            bypass: counted.answered(CacheStatus::Bypass),
        },
        renders: counted.renders,
        purge_records: purges.len() as u64,
        ..StatsAnswer::default()
    }
}

fn ok(value: &impl Serialize) -> std::result::Result<Response, ApiError> {
    json_response(StatusCode::OK, value)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

fn bearer_matches(req: &Request, token: &str) -> bool {
    req.headers()
        .get("authorization")
        .ok()
        .flatten()
        .as_deref()
        .and_then(bearer_token)
        .is_some_and(|given| token_matches(token, given))
}

async fn revalidate(
    deployment: &Rc<Deployment>,
    req: &Request,
    ctx: &Context,
    token: &str,
    bearer_ok: bool,
) -> std::result::Result<Response, ApiError> {
    let body = read_body(req).await?;
    let revalidation = Revalidation::authorize(&body, bearer_ok, token)?;
    purge(deployment, &revalidation.targets(), revalidation.mode).await?;
    let mut answer = revalidation.answer();
    for path in revalidation.paths_to_regenerate() {
        let regeneration = deployment
            .regenerate_path(ctx, path, revalidation.if_cached)
            .await;
        answer.report(path, regeneration.skipped());
    }
    ok(&answer)
}

/// `GET /_isr/entries?prefix=/blog&cursor=…&limit=100`: the entries in KV whose path starts
/// with the prefix, in key order, each judged against the purge records.
async fn entries(
    deployment: &Deployment,
    url: &worker::Url,
) -> std::result::Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let listing = EntriesQuery::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .and_then(EntriesQuery::check)
        .map_err(ApiError::bad_request)?;
    let purges = deployment.purges().await;
    let now = deployment.now();
    let mut entries = Vec::new();
    let mut cursor = listing.after;
    let mut scanned = 0;
    loop {
        // Never more keys than the page still wants: a page ends where a KV page ends.
        let wanted = (listing.limit - entries.len()) as u64;
        let (names, next) = deployment
            .tiers
            .l2_keys(cursor.take(), wanted)
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("listing failed: Workers KV: {e}"),
                )
            })?;
        scanned += names.len();
        for name in names {
            if let Some(entry) = deployment.tiers.l2_get_stored(&name).await
                && entry.path.starts_with(&listing.prefix)
            {
                let freshness = deployment.freshness_of(&purges, &entry, now);
                entries.push(EntryInfo::describe(&entry, freshness, now));
            }
        }
        cursor = next;
        if cursor.is_none() || entries.len() == listing.limit || scanned >= MAX_SCANNED_PER_PAGE {
            break;
        }
    }
    ok(&EntriesPage::new(entries, cursor.as_deref()))
}

/// Record the purge in the Durable Object, then in this isolate's copy.
async fn purge(
    deployment: &Deployment,
    targets: &[Target],
    mode: PurgeMode,
) -> std::result::Result<(), ApiError> {
    let names = targets.iter().map(Target::record_name).collect();
    let answer = deployment
        .state
        .purge(&PurgeRequest { names, mode })
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("purge failed: {e}"),
            )
        })?;
    note_purge(
        targets,
        Invalidation {
            at: UnixMillis(answer.at),
            mode,
        },
    );
    Ok(())
}

/// The request body, at most [`MAX_BODY_BYTES`].
async fn read_body(req: &Request) -> std::result::Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut copy = req
        .clone()
        .map_err(|e| ApiError::bad_request(format!("the body cannot be read: {e}")))?;
    let body = copy
        .bytes()
        .await
        .map_err(|e| ApiError::bad_request(format!("the body cannot be read: {e}")))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    Ok(body)
}
