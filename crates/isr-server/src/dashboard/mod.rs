//! The dashboard at `/_isr/dashboard`: live figures, the pages in the cache with search,
//! recent purges, and purge buttons, for a person with the admin token.
//!
//! - [`recent`]: the recent purges it lists.
//! - `assets/`: its page, script and style, embedded in the binary (no CDN, nothing
//!   fetched from elsewhere; the Content-Security-Policy allows only this origin).
//!
//! Invariants:
//! - Everything is behind the admin token: without a session the page is 401 with a login
//!   form, and every data endpoint is 401. The form posts the token in the body (never a
//!   URL, so never a log line); a good one starts a session
//!   ([`isr_core::admin::session`]), a wrong one is 401 and says so.
//! - The figures and purges go through the admin API (the session stands for the token
//!   there too) and two endpoints of its own: `metrics` (the Prometheus text) and
//!   `purges`.
//! - Bad input is a clear 4xx: any query string is 400 (nothing here takes parameters), a
//!   login form with another field than `token` 400, a body over 4 KiB 413.

pub mod recent;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use isr::Isr;
use isr_core::admin::session::{END_SESSION, dashboard_request, has_session, set_session};
use isr_store::DiskStore;

use crate::observe::exporter::Telemetry;
use recent::RecentPurges;

/// The largest login form accepted.
const MAX_FORM_BYTES: usize = 4 * 1024;

const PAGE: &str = include_str!("assets/page.html");
const LOGIN: &str = include_str!("assets/login.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// Only this origin's script, style and connections; no frames, no plugins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// What the dashboard reads.
pub struct Dashboard {
    /// The admin token.
    pub token: String,
    /// The proxy's cache.
    pub isr: Isr,
    /// Its on-disk tier, if any.
    pub disk: Option<Arc<DiskStore>>,
    /// Its recorder.
    pub telemetry: Arc<Telemetry>,
    /// The purges it lists.
    pub recent: Arc<RecentPurges>,
}

/// The dashboard's routes, under `/_isr/dashboard`.
pub fn router(dashboard: Dashboard) -> Router {
    Router::new()
        .route("/_isr/dashboard", get(page))
        .route("/_isr/dashboard/", get(page))
        .route("/_isr/dashboard/app.js", get(script))
        .route("/_isr/dashboard/app.css", get(style))
        .route("/_isr/dashboard/login", post(login))
        .route("/_isr/dashboard/logout", post(logout))
        .route("/_isr/dashboard/metrics", get(metrics))
        .route("/_isr/dashboard/purges", get(purges))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(Arc::new(dashboard))
}

/// An answer no cache keeps, framed by nobody, with the policy above.
fn answer(status: StatusCode, content_type: &'static str, body: impl Into<String>) -> Response {
    let mut response = (status, body.into()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

fn login_page(status: StatusCode, message: &str) -> Response {
    answer(status, HTML, LOGIN.replace("{{message}}", message))
}

/// Nothing here takes parameters.
fn refused_query(query: Option<&str>) -> Option<Response> {
    query.map(|_| {
        answer(
            StatusCode::BAD_REQUEST,
            TEXT,
            "the dashboard takes no query parameters\n",
        )
    })
}

fn unauthorized() -> Response {
    answer(
        StatusCode::UNAUTHORIZED,
        TEXT,
        "log in at /_isr/dashboard with the admin token\n",
    )
}

async fn page(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    if has_session(&dashboard.token, &headers) {
        answer(StatusCode::OK, HTML, PAGE)
    } else {
        login_page(StatusCode::UNAUTHORIZED, "")
    }
}

async fn script(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    if !has_session(&dashboard.token, &headers) {
        return unauthorized();
    }
    answer(StatusCode::OK, "text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    answer(StatusCode::OK, "text/css; charset=utf-8", STYLE)
}

async fn login(
    State(dashboard): State<Arc<Dashboard>>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return answer(rejection.status(), TEXT, rejection.body_text()),
    };
    let mut token = None;
    for (name, value) in form_urlencoded::parse(&body) {
        if name != "token" || token.is_some() {
            return login_page(
                StatusCode::BAD_REQUEST,
                "The login form takes one field, the admin token.",
            );
        }
        token = Some(value.into_owned());
    }
    let given = token.unwrap_or_default();
    if !isr_core::admin::token_matches(&dashboard.token, &given) {
        return login_page(
            StatusCode::UNAUTHORIZED,
            "Wrong admin token: use the value of ISR_ADMIN_TOKEN.",
        );
    }
    let mut response = answer(StatusCode::SEE_OTHER, TEXT, "logged in\n");
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_static("/_isr/dashboard"),
    );
    if let Ok(cookie) = HeaderValue::try_from(set_session(&dashboard.token)) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

async fn logout() -> Response {
    let mut response = answer(StatusCode::SEE_OTHER, TEXT, "logged out\n");
    let headers = response.headers_mut();
    headers.insert(
        header::LOCATION,
        HeaderValue::from_static("/_isr/dashboard"),
    );
    headers.insert(header::SET_COOKIE, HeaderValue::from_static(END_SESSION));
    response
}

async fn metrics(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    if !dashboard_request(&dashboard.token, &headers) {
        return unauthorized();
    }
    let text = dashboard
        .telemetry
        .render(&dashboard.isr, dashboard.disk.as_deref())
        .await;
    answer(StatusCode::OK, TEXT, text)
}

async fn purges(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(refused) = refused_query(query.as_deref()) {
        return refused;
    }
    if !dashboard_request(&dashboard.token, &headers) {
        return unauthorized();
    }
    let body = serde_json::to_string(&dashboard.recent.list()).unwrap_or_else(|_| "[]".into());
    answer(StatusCode::OK, "application/json", body)
}
