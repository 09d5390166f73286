//! What to do with one request, decided before any I/O: bypass the cache, or look up
//! (and render into) one key. Both runtimes call this, so keying and forwarding can never
//! differ between them.
//!
//! Invariants:
//! - The path used for the key, for route matching and for forwarding is the same
//!   normalised path; the forwarded query of a cached request is exactly the keyed query.
//! - A request that may not be cached (method, `Authorization`, a pass-through route) is a
//!   bypass; it is forwarded with its normalised path and its original query.
//! - Only validated values reach the key: a `Host` is keyed only when configured, and only
//!   if it is a plain host\[:port\].

use http::{HeaderMap, Method, header};

use crate::config::{Config, Route, RouteMode};
use crate::key::{CacheKey, EncodingClass, KeyParts, Variant};
use crate::path::{PathError, QueryKeys, canonical_query, normalize_path};
use crate::policy::{BypassReason, RouteCachePolicy, classify_request};
use crate::route::Params;

/// Request headers the key accounts for; a response may `Vary` on these and still be stored.
pub const KEYED_VARY: &[&str] = &[
    "accept-encoding",
    "rsc",
    "next-router-prefetch",
    "next-router-state-tree",
    "next-router-segment-prefetch",
    "next-url",
];

/// A request that cannot be served at all (the caller answers 400 with the message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("bad request path: {0}")]
    Path(#[from] PathError),
    #[error("bad Host header: it must be a host name or address with an optional port")]
    Host,
}

/// The decision for one request.
#[derive(Debug)]
pub enum Plan<'c> {
    /// Forward to the origin as is (normalised path, original query); never store.
    Bypass {
        reason: BypassReason,
        /// `path?query` to forward.
        target: String,
    },
    /// Look up and, on a miss, render into `key`.
    Cache(CachePlan<'c>),
}

/// A cacheable request.
#[derive(Clone, Debug)]
pub struct CachePlan<'c> {
    pub key: CacheKey,
    /// Normalised path.
    pub path: String,
    /// `path?query` to forward: the normalised path and exactly the keyed query.
    pub target: String,
    /// The matched route, if any (`None`: only the origin's headers can make it storable).
    pub route: Option<&'c Route>,
    /// The route's cache policy, if a route matched.
    pub policy: Option<&'c RouteCachePolicy>,
    /// The route's parameters (for its tag templates).
    pub params: Params,
    pub variant: Variant,
    pub encoding: EncodingClass,
    /// The validated `Host` when `key_host` is on (it is then also what the origin sees).
    pub host: Option<String>,
}

/// Decide what to do with a request.
pub fn plan<'c>(
    config: &'c Config,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Plan<'c>, PlanError> {
    let path = normalize_path(path)?;
    let matched = config.routes.at(&path);
    let route = matched.as_ref().map(|m| m.value);
    let bypass = |reason| Plan::Bypass {
        reason,
        target: join_target(&path, query.unwrap_or("")),
    };
    if let Err(reason) = classify_request(method, headers) {
        return Ok(bypass(reason));
    }
    let policy = match route.map(|r| &r.mode) {
        Some(RouteMode::PassThrough) => return Ok(bypass(BypassReason::RouteNoCache)),
        Some(RouteMode::Cache(policy)) => Some(policy),
        None => None,
    };
    let host = if config.key_host {
        Some(keyed_host(headers)?)
    } else {
        None
    };
    let query_keys = route.map_or(&QueryKeys::All, |r| &r.query);
    let query = canonical_query(query, query_keys);
    let variant = Variant::from_request(headers);
    let encoding = EncodingClass::from_request(headers);
    let key = CacheKey::new(&KeyParts {
        site: host.as_deref().unwrap_or(&config.site),
        build_id: &config.build_id,
        variant,
        encoding,
        path: &path,
        query: &query,
    });
    Ok(Plan::Cache(CachePlan {
        key,
        target: join_target(&path, &query),
        path,
        route,
        policy,
        params: matched.map(|m| m.params).unwrap_or_default(),
        variant,
        encoding,
        host,
    }))
}

impl CachePlan<'_> {
    /// Tags from the route's templates, rendered with the match's parameters. Computed on
    /// demand: only a render that is stored needs them, never a hit.
    pub fn tags(&self) -> Vec<String> {
        self.route.map_or_else(Vec::new, |route| {
            route.tags.iter().map(|t| t.render(&self.params)).collect()
        })
    }
}

fn join_target(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The request's Host, lower-cased, if it is a plain `host[:port]`.
fn keyed_host(headers: &HeaderMap) -> Result<String, PlanError> {
    let raw = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or(PlanError::Host)?;
    let valid = !raw.is_empty()
        && raw.len() <= 255
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if valid {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(PlanError::Host)
    }
}
