//! The admin API: purge, regenerate, list, inspect and switch builds, under [`ADMIN_PREFIX`] (`/_isr/`).
//!
//! Invariants:
//! - Every endpoint needs the bearer token (`Authorization: Bearer …`), compared in
//!   constant time, or the dashboard's session cookie with its header
//!   ([`isr_core::admin::session`]); `POST /_isr/revalidate` also accepts it as `"secret"` in the body (the
//!   shape CMS webhooks already post). A missing or wrong token is 401, and nothing is done.
//! - Input is checked before anything happens: malformed JSON, unknown fields, empty lists,
//!   over-long or invalid paths and tags are 400 with a message naming the field; a body
//!   over [`MAX_BODY_BYTES`] is 413 (over [`MAX_DATA_BODY_BYTES`] for `PUT /_isr/data`). A
//!   rejected request changes nothing.
//! - `/_isr/data` and `/_isr/tags` are an app's shared cache and its pages' tags
//!   ([`isr_core::admin::data`], served by [`crate::app_data`]).
//! - Answers are JSON and never cached (`Cache-Control: no-store`); every request and answer
//!   is a type of [`isr_core::admin`], the contract the command line and the Worker share.
//!
//! [`ADMIN_PREFIX`]: isr_core::plan::ADMIN_PREFIX

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use isr_core::admin::data::{
    DataPut, DataQuery, MAX_DATA_BODY_BYTES, PageTagsAnswer, TagsAnswer, TagsRequest,
    tags_query_path,
};
use isr_core::admin::session::dashboard_request;
use isr_core::admin::{
    ApiError as AdminError, BuildSwitchRequest, ClearAnswer, ClusterStats, EntriesPage,
    EntriesQuery, Evictions, RegenerationCounts, RequestCounts, Revalidation, StatsAnswer,
    TierBytes, TierCounts, bearer_token, token_matches,
};
use isr_store::DiskStore;
use serde::Serialize;

use crate::BuildSwitchError;
use crate::app_data::TagIndexError;
use crate::handle::Isr;

pub use isr_core::admin::{MAX_BODY_BYTES, MAX_ITEMS, MAX_PAGE};

struct AdminState {
    isr: Isr,
    token: String,
    disk: Option<Arc<DiskStore>>,
}

/// The admin API over `isr`, guarded by `token`. `disk` (the on-disk tier, if any) adds
/// its size to the stats.
pub fn router(isr: Isr, token: impl Into<String>, disk: Option<Arc<DiskStore>>) -> Router {
    let state = Arc::new(AdminState {
        isr,
        token: token.into(),
        disk,
    });
    Router::new()
        .route("/_isr/revalidate", post(revalidate))
        .route("/_isr/entries", get(entries))
        .route("/_isr/stats", get(stats))
        .route("/_isr/cache", delete(clear))
        .route(
            "/_isr/data",
            get(data_get)
                .put(data_put)
                .delete(data_remove)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_DATA_BODY_BYTES)),
        )
        .route("/_isr/tags", get(page_tags).post(tags))
        .route("/_isr/build", get(show_build).post(switch_build))
        .fallback(|| async {
            ApiError::from(AdminError::new(
                StatusCode::NOT_FOUND,
                "no such admin endpoint",
            ))
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// An admin API error as an axum answer (see [`AdminError`]).
#[derive(Debug)]
pub struct ApiError(AdminError);

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> ApiError {
        ApiError(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.0.status, self.0.body()).into_response();
        set_json_headers(&mut response);
        response
    }
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    set_json_headers(&mut response);
    response
}

fn set_json_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

impl AdminState {
    /// The bearer token, or the dashboard's session ([`dashboard_request`]).
    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .is_some_and(|token| token_matches(&self.token, token))
            || dashboard_request(&self.token, headers)
    }

    fn require_bearer(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.bearer_ok(headers) {
            Ok(())
        } else {
            Err(AdminError::unauthorized().into())
        }
    }
}

/// `POST /_isr/revalidate` (see [`RevalidateRequest`]).
async fn revalidate(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bearer_ok = state.bearer_ok(&headers);
    let body =
        body.map_err(|rejection| AdminError::new(rejection.status(), rejection.body_text()))?;
    let revalidation = Revalidation::authorize(&body, bearer_ok, &state.token)?;
    state
        .isr
        .purge(&revalidation.targets(), revalidation.mode)
        .await
        .map_err(|e| {
            AdminError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("purge failed: {e}"),
            )
        })?;
    let mut answer = revalidation.answer();
    for path in revalidation.paths_to_regenerate() {
        let regeneration = state.isr.regenerate(path, revalidation.if_cached).await;
        answer.report(path, regeneration.skipped());
    }
    Ok(json_response(StatusCode::OK, &answer))
}

/// `GET /_isr/entries?prefix=/blog&cursor=…&limit=100`.
async fn entries(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let listing = EntriesQuery::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .and_then(EntriesQuery::check)
        .map_err(AdminError::bad_request)?;
    let page = state
        .isr
        .entries(&listing.prefix, listing.after.as_deref(), listing.limit)
        .await
        .map_err(|e| {
            AdminError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("listing failed: {e}"),
            )
        })?;
    let page = EntriesPage::new(page.entries, page.next_cursor.as_deref());
    Ok(json_response(StatusCode::OK, &page))
}

/// `GET /_isr/stats`.
async fn stats(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let counters = state.isr.stats();
    let memory = state.isr.memory();
    let disk = match &state.disk {
        Some(disk) => disk.stats().await.ok(),
        None => None,
    };
    let answer = StatsAnswer {
        entries: TierCounts {
            memory: Some(memory.entries as u64),
            disk: disk.as_ref().map(|d| d.entries),
        },
        bytes: TierBytes {
            memory: Some(memory.bytes),
            memory_capacity: Some(memory.capacity),
            disk: disk.as_ref().map(|d| d.stored_bytes),
            disk_capacity: disk.as_ref().and_then(|d| d.max_bytes),
            disk_file: disk.as_ref().map(|d| d.file_bytes),
        },
        evicted: Evictions {
            disk: disk.as_ref().map(|d| d.evicted),
        },
        requests: RequestCounts {
            hit: counters.hits,
            stale: counters.stale,
            miss: counters.misses,
            bypass: counters.bypasses,
        },
        renders: counters.renders,
        rendered_elsewhere: counters.rendered_elsewhere,
        coalesced: counters.coalesced,
        regenerations: RegenerationCounts {
            ok: counters.regenerations_ok,
            failed: counters.regenerations_failed,
        },
        purge_records: state.isr.purge_records() as u64,
        cluster: state.isr.cluster().map(|cluster| ClusterStats {
            backend: cluster.backend.to_owned(),
            address: cluster.address,
            up: cluster.up,
            errors: cluster.errors,
            transitions: cluster.transitions,
            events_received: cluster.events_received,
        }),
    };
    Ok(json_response(StatusCode::OK, &answer))
}

/// `GET /_isr/build`.
async fn show_build(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    Ok(json_response(StatusCode::OK, &state.isr.build()))
}

/// `POST /_isr/build` (see [`BuildSwitchRequest`]).
async fn switch_build(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let body =
        body.map_err(|rejection| AdminError::new(rejection.status(), rejection.body_text()))?;
    let request = BuildSwitchRequest::parse(&body)?;
    let switched = state
        .isr
        .switch_build(&request.id)
        .await
        .map_err(|e| match e {
            BuildSwitchError::Invalid(error) => AdminError::bad_request(format!("id: {error}")),
            BuildSwitchError::Cluster(_) => {
                AdminError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        })?;
    let mut answer = state.isr.build();
    answer.switched = switched;
    Ok(json_response(StatusCode::OK, &answer))
}

/// `DELETE /_isr/cache`.
async fn clear(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    state.isr.clear().await.map_err(|e| {
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("clear failed: {e}"),
        )
    })?;
    Ok(json_response(
        StatusCode::OK,
        &ClearAnswer { cleared: true },
    ))
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> ApiError {
    AdminError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what}: {error}")).into()
}

fn data_query(query: Option<String>) -> Result<DataQuery, ApiError> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    DataQuery::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(|e| AdminError::bad_request(e).into())
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| AdminError::new(rejection.status(), rejection.body_text()).into())
}

/// `GET /_isr/data?key=…&tag=…` (see [`isr_core::admin::data`]): 404 when there is no
/// servable value.
async fn data_get(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let query = data_query(query)?;
    match state.isr.data_get(&query.key, &query.tags).await {
        Ok(Some(answer)) => Ok(json_response(StatusCode::OK, &answer)),
        Ok(None) => Err(AdminError::new(StatusCode::NOT_FOUND, "no value under this key").into()),
        Err(error) => Err(unavailable("data read failed", error)),
    }
}

/// `PUT /_isr/data` with a [`DataPut`] body.
async fn data_put(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let put = DataPut::parse(&body_bytes(body)?).map_err(AdminError::bad_request)?;
    let stored = state
        .isr
        .data_put(put)
        .await
        .map_err(|e| unavailable("data write failed", e))?;
    Ok(json_response(StatusCode::OK, &stored))
}

/// `DELETE /_isr/data?key=…`.
async fn data_remove(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let query = data_query(query)?;
    let removed = state
        .isr
        .data_remove(&query.key)
        .await
        .map_err(|e| unavailable("data removal failed", e))?;
    Ok(json_response(StatusCode::OK, &removed))
}

/// `POST /_isr/tags` with a [`TagsRequest`] body.
async fn tags(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let page = TagsRequest::parse(&body_bytes(body)?).map_err(AdminError::bad_request)?;
    let added = state.isr.attach_tags(&page).await.map_err(|e| match e {
        TagIndexError::Busy(_) => unavailable("tags not recorded", e),
        TagIndexError::Store(e) => unavailable("tags not recorded", e),
    })?;
    Ok(json_response(
        StatusCode::OK,
        &TagsAnswer {
            path: page.path,
            added,
        },
    ))
}

/// `GET /_isr/tags?path=…`: the tags last learned for a path.
async fn page_tags(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    state.require_bearer(&headers)?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let path = tags_query_path(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(AdminError::bad_request)?;
    let tags = state
        .isr
        .page_tags(&path)
        .await
        .map_err(|e| unavailable("tags read failed", e))?;
    Ok(json_response(
        StatusCode::OK,
        &PageTagsAnswer { path, tags },
    ))
}
