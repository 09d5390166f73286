//! What to do with one request, decided before any I/O: bypass the cache, or look up
//! (and render into) one key. Both runtimes call this, so keying and forwarding can never
//! differ between them.
//!
//! Invariants:
//! - The path used for the key, for route matching and for forwarding is the same
//!   normalised path; the forwarded query of a cached request is exactly the keyed query.
//! - A request that may not be cached (method, `Authorization`, a pass-through route) is a
//!   bypass; it is forwarded with its normalised path and its original query.
//! - A request carrying a session cookie (`bypass_cookies` of its route, or the top-level
//!   list) is a bypass, forwarded with its cookies.
//! - The build part of the key is the build given ([`plan_in`]: the running build), or
//!   the build a warm request names with the admin token ([`crate::build::warm_build`]).
//! - Only validated values reach the key: a `Host` is keyed only when configured, and only
//!   if it is a plain host\[:port\].

use std::borrow::Cow;

use http::{HeaderMap, Method, header};

use crate::build::warm_build;
use crate::config::{Config, Route, RouteMode};
use crate::key::{CacheKey, KeyParts, Variant};
use crate::path::{PathError, QueryKeys, canonical_query, normalize_path};
use crate::policy::{BypassReason, RouteCachePolicy, classify_request};
use crate::route::Params;
use crate::secret::constant_time_eq;
use crate::session::has_session;

/// Request headers the key accounts for; a response may `Vary` on these and still be stored.
/// `Accept-Encoding` is among them because renders always ask for identity and every
/// request is answered a representation negotiated from it ([`crate::coding`]).
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
    /// The request path is not valid.
    Path(#[from] PathError),
    #[error("bad Host header: it must be a host name or address with an optional port")]
    /// The `Host` header is not a host with an optional port.
    Host,
    #[error("{ADMIN_PREFIX} is reserved for isr's admin API")]
    /// The path is under the admin API's prefix.
    Reserved,
}

/// The path prefix reserved for isr's admin API: never cached, never sent to the origin.
pub const ADMIN_PREFIX: &str = "/_isr/";

/// Is this normalised path under [`ADMIN_PREFIX`] (or the prefix itself without its slash)?
pub fn is_admin_path(path: &str) -> bool {
    path.starts_with(ADMIN_PREFIX) || path == ADMIN_PREFIX.trim_end_matches('/')
}

/// The header and cookie that carry the draft/preview bypass token.
pub const BYPASS_HEADER: &str = "x-isr-bypass";
/// A cookie that, when present, bypasses the cache (draft and preview mode).
pub const BYPASS_COOKIE: &str = "__isr_bypass";
/// Next.js's draft-mode cookie (its value is Next's secret, so only its presence counts).
pub const NEXTJS_PREVIEW_COOKIE: &str = "__prerender_bypass";

/// The decision for one request.
#[derive(Debug)]
pub enum Plan<'c> {
    /// Forward to the origin as is (normalised path, original query); never store.
    Bypass {
        /// Why the request bypasses the cache.
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
    /// Where the answer is looked up and stored.
    pub key: CacheKey,
    /// Normalised path.
    pub path: String,
    /// The keyed query, canonical (what a render forwards; see [`CachePlan::target`]).
    pub query: String,
    /// The matched route, if any (`None`: only the origin's headers can make it storable).
    pub route: Option<&'c Route>,
    /// The route's cache policy, if a route matched.
    pub policy: Option<&'c RouteCachePolicy>,
    /// The route's parameters (for its tag templates).
    pub params: Params,
    /// Which representation of the page.
    pub variant: Variant,
    /// The validated `Host` when `key_host` is on (it is then also what the origin sees).
    pub host: Option<String>,
    /// The build the key is under.
    pub build: Cow<'c, str>,
}

/// Decide what to do with a request, keyed under the configured build id.
pub fn plan<'c>(
    config: &'c Config,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Plan<'c>, PlanError> {
    plan_in(config, &config.build_id, method, path, query, headers)
}

/// Decide what to do with a request, keyed under `build` (the build served now).
pub fn plan_in<'c>(
    config: &'c Config,
    build: &'c str,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Plan<'c>, PlanError> {
    let path = normalize_path(path)?;
    if is_admin_path(&path) {
        return Err(PlanError::Reserved);
    }
    let matched = config.routes.at(&path);
    let route = matched.as_ref().map(|m| m.value);
    let bypass = |reason| Plan::Bypass {
        reason,
        target: join_target(&path, query.unwrap_or("")),
    };
    if let Err(reason) = classify_request(method, headers) {
        return Ok(bypass(reason));
    }
    if is_draft(config, headers) {
        return Ok(bypass(BypassReason::Draft));
    }
    let policy = match route.map(|r| &r.mode) {
        Some(RouteMode::PassThrough) => return Ok(bypass(BypassReason::RouteNoCache)),
        Some(RouteMode::Cache(policy)) => Some(policy),
        None => None,
    };
    let sessions = route
        .and_then(|r| r.bypass_cookies.as_deref())
        .unwrap_or(&config.bypass_cookies);
    if has_session(headers, sessions) {
        return Ok(bypass(BypassReason::Session));
    }
    // A warm request is rare: only it allocates its build id.
    let build = match warm_build(config.admin_token.as_deref(), headers) {
        Some(warm) => Cow::Owned(warm.to_owned()),
        None => Cow::Borrowed(build),
    };
    let host = if config.key_host {
        Some(keyed_host(headers)?)
    } else {
        None
    };
    let query_keys = route.map_or(&QueryKeys::All, |r| &r.query);
    let query = canonical_query(query, query_keys);
    let variant = Variant::from_request(headers);
    let key = CacheKey::new(&KeyParts {
        site: host.as_deref().unwrap_or(&config.site),
        build_id: &build,
        variant,
        path: &path,
        query: &query,
    });
    Ok(Plan::Cache(CachePlan {
        key,
        path,
        query,
        route,
        policy,
        params: matched.map(|m| m.params).unwrap_or_default(),
        variant,
        host,
        build,
    }))
}

impl CachePlan<'_> {
    /// `path?query` to forward: the normalised path and exactly the keyed query. Built on
    /// demand: a hit never needs it.
    pub fn target(&self) -> String {
        join_target(&self.path, &self.query)
    }

    /// Tags from the route's templates, rendered with the match's parameters. Computed on
    /// demand: only a render that is stored needs them, never a hit.
    pub fn tags(&self) -> Vec<String> {
        self.route.map_or_else(Vec::new, |route| {
            route.tags.iter().map(|t| t.render(&self.params)).collect()
        })
    }
}

/// Does the request carry the draft/preview bypass? A wrong token counts as none, and the
/// comparison takes the same time wherever the first difference is (no oracle).
fn is_draft(config: &Config, headers: &HeaderMap) -> bool {
    if config.bypass_nextjs_preview
        && cookie_values(headers, NEXTJS_PREVIEW_COOKIE)
            .next()
            .is_some()
    {
        return true;
    }
    let Some(token) = config.bypass_token.as_deref() else {
        return false;
    };
    let from_header = headers
        .get_all(BYPASS_HEADER)
        .iter()
        .any(|v| constant_time_eq(v.as_bytes(), token.as_bytes()));
    from_header
        || cookie_values(headers, BYPASS_COOKIE).any(|v| constant_time_eq(v, token.as_bytes()))
}

/// The values of every cookie named `name` in the request's `Cookie` headers.
pub(crate) fn cookie_values<'h>(
    headers: &'h HeaderMap,
    name: &'h str,
) -> impl Iterator<Item = &'h [u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii();
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let key = parts.next()?;
            let value = parts.next()?;
            (key.trim_ascii() == name.as_bytes()).then(|| value.trim_ascii())
        })
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

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn config(token: Option<&str>, preview: bool) -> Config {
        Config {
            bypass_token: token.map(str::to_owned),
            bypass_nextjs_preview: preview,
            ..Config::default()
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn is_bypass(config: &Config, pairs: &[(&'static str, &'static str)]) -> bool {
        matches!(
            plan(config, &Method::GET, "/p", None, &headers(pairs)),
            Ok(Plan::Bypass {
                reason: BypassReason::Draft,
                ..
            })
        )
    }

    #[test]
    fn the_right_bypass_token_in_a_header_or_cookie_bypasses() {
        let config = config(Some("s3cret-token-123456"), false);
        assert!(is_bypass(
            &config,
            &[("x-isr-bypass", "s3cret-token-123456")]
        ));
        assert!(is_bypass(
            &config,
            &[("cookie", "a=1; __isr_bypass=s3cret-token-123456; b=2")]
        ));
    }

    #[test]
    fn a_wrong_or_missing_token_is_no_token() {
        let config = config(Some("s3cret-token-123456"), false);
        assert!(!is_bypass(
            &config,
            &[("x-isr-bypass", "s3cret-token-12345")]
        ));
        assert!(!is_bypass(&config, &[("cookie", "__isr_bypass=nope")]));
        assert!(!is_bypass(&config, &[]));
        assert!(!is_bypass(&Config::default(), &[("x-isr-bypass", "")]));
    }

    #[test]
    fn the_nextjs_preview_cookie_bypasses_only_when_configured() {
        let pairs = [("cookie", "__prerender_bypass=abc")];
        assert!(!is_bypass(&config(None, false), &pairs));
        assert!(is_bypass(&config(None, true), &pairs));
    }

    #[test]
    fn the_admin_prefix_is_reserved_however_it_is_spelled() {
        for path in [
            "/_isr/stats",
            "/%5Fisr/stats",
            "/x/../_isr/revalidate",
            "/_isr",
        ] {
            assert!(
                matches!(
                    plan(
                        &Config::default(),
                        &Method::GET,
                        path,
                        None,
                        &HeaderMap::new()
                    ),
                    Err(PlanError::Reserved)
                ),
                "{path}"
            );
        }
        assert!(
            plan(
                &Config::default(),
                &Method::GET,
                "/_isrx",
                None,
                &HeaderMap::new()
            )
            .is_ok()
        );
    }

    #[test]
    fn keys_are_under_the_running_build_or_a_warm_requests() {
        let config = Config {
            admin_token: Some("admin-token-0123456789".into()),
            ..Config::default()
        };
        let key_of = |pairs: &[(&'static str, &'static str)]| match plan_in(
            &config,
            "b1",
            &Method::GET,
            "/p",
            None,
            &headers(pairs),
        ) {
            Ok(Plan::Cache(plan)) => (plan.build.into_owned(), plan.key.raw().to_owned()),
            other => panic!("{other:?}"),
        };
        let (build, key) = key_of(&[]);
        assert_eq!(build, "b1");
        assert!(key.contains("|2:b1|"), "{key}");
        let warm = [
            ("x-isr-warm-build", "b2"),
            ("x-isr-warm-token", "admin-token-0123456789"),
        ];
        let (build, key) = key_of(&warm);
        assert_eq!(build, "b2");
        assert!(key.contains("|2:b2|"), "{key}");
        let wrong = [("x-isr-warm-build", "b2"), ("x-isr-warm-token", "nope")];
        assert_eq!(key_of(&wrong).0, "b1");
    }

    #[test]
    fn a_session_cookie_bypasses_where_its_route_says() {
        let mut config = Config::from_toml(
            "bypass_cookies = [\"session\"]\n\
             [[route]]\npath = \"/[[...all]]\"\nrevalidate = 60\n\
             [[route]]\npath = \"/open/[x]\"\nrevalidate = 60\nbypass_cookies = []\n\
             [[route]]\npath = \"/own/[x]\"\nrevalidate = 60\nbypass_cookies = [\"sb-*\"]\n",
            "t.toml",
        )
        .unwrap();
        config.admin_token = None;
        let reason = |path: &str, cookie: &'static str| match plan(
            &config,
            &Method::GET,
            path,
            None,
            &headers(&[("cookie", cookie)]),
        ) {
            Ok(Plan::Bypass { reason, .. }) => Some(reason),
            Ok(Plan::Cache(_)) => None,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(reason("/", "session=1"), Some(BypassReason::Session));
        assert_eq!(
            reason("/a/b", "x=1; session=1"),
            Some(BypassReason::Session)
        );
        assert_eq!(reason("/a/b", "x=1"), None);
        assert_eq!(reason("/open/1", "session=1"), None);
        assert_eq!(reason("/own/1", "session=1"), None);
        assert_eq!(reason("/own/1", "sb-token=1"), Some(BypassReason::Session));
        assert!(BypassReason::Session.is_private() && BypassReason::Draft.is_private());
        assert!(!BypassReason::Method.is_private());
    }
}
