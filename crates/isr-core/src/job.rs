//! A render job: one cacheable request, owned so it can outlive the request that caused
//! it (a background regeneration, a Worker's `wait_until`), and the two halves of a
//! render every runtime shares: the request sent to the origin, and how its answer
//! becomes an [`Entry`].
//!
//! Invariants:
//! - On a configured route, the render request is a function of the key alone: no
//!   client header reaches the origin, so no unkeyed input can shape a stored page.
//! - Whatever the origin sees of the headers a response may vary on and still be stored
//!   ([`KEYED_VARY`]) is exactly the key's variant, and `Accept-Encoding: identity`: the
//!   page is stored once, as identity, and isr makes its compressed representations.
//! - An entry is built only from an answer [`storability`] accepts; a failure status
//!   ([`is_render_failure`]) is never turned into one, nor is a body still in a content
//!   coding (a runtime decodes it first, or passes it on unstored).

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::UnixMillis;
use crate::config::Config;
use crate::entry::Entry;
use crate::headers::{self as policy_headers};
use crate::key::{CacheKey, Variant};
use crate::plan::{CachePlan, KEYED_VARY, Plan, PlanError, plan_in};
use crate::policy::{NoStoreReason, RouteCachePolicy, Storable, storability};

/// Request headers never sent on a render: the cache wants a full, plain answer.
const NOT_FORWARDED_ON_RENDER: &[HeaderName] = &[
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::EXPECT,
];
const RSC: HeaderName = HeaderName::from_static("rsc");
const NEXT_ROUTER_PREFETCH: HeaderName = HeaderName::from_static("next-router-prefetch");

/// Every variant a path can be cached under; the first is what browsers ask for. Each
/// holds every content coding of its page, so one render serves every client.
pub const VARIANTS: &[Variant] = &[Variant::Html, Variant::Rsc, Variant::RscPrefetch];

/// A cacheable request, owned.
#[derive(Clone, Debug)]
pub struct Job {
    /// Where the render is stored.
    pub key: CacheKey,
    /// Normalised path.
    pub path: String,
    /// `path?query` to render: the normalised path and exactly the keyed query.
    pub target: String,
    /// The matched route's cache policy, if a route matched.
    pub policy: Option<RouteCachePolicy>,
    /// The route's tags, rendered.
    pub tags: Vec<String>,
    /// Which representation of the page (HTML, RSC payload, RSC prefetch).
    pub variant: Variant,
    /// The keyed `Host`, sent to the origin when `key_host` is on.
    pub host: Option<String>,
    /// Did a configured route match?
    pub matched: bool,
    /// The build the key is under (an answer naming another one is not stored under it).
    pub build: String,
}

impl From<&CachePlan<'_>> for Job {
    fn from(plan: &CachePlan<'_>) -> Job {
        Job {
            key: plan.key.clone(),
            path: plan.path.clone(),
            target: plan.target(),
            policy: plan.policy.cloned(),
            tags: plan.tags(),
            variant: plan.variant,
            host: plan.host.clone(),
            matched: plan.route.is_some(),
            build: plan.build.clone().into_owned(),
        }
    }
}

/// Why a path cannot be regenerated.
#[derive(Debug, thiserror::Error)]
pub enum PathJobsError {
    #[error("the path is not cacheable")]
    /// The path does not plan to a cached request.
    NotCacheable,
    #[error(transparent)]
    /// The path cannot be planned.
    Invalid(#[from] PlanError),
}

/// The jobs of every variant `path` can be cached under ([`VARIANTS`]), in that order.
pub fn jobs_for_path(config: &Config, path: &str) -> Result<Vec<Job>, PathJobsError> {
    jobs_for_path_in(config, &config.build_id, path)
}

/// [`jobs_for_path`] under `build` (the build served now).
pub fn jobs_for_path_in(
    config: &Config,
    build: &str,
    path: &str,
) -> Result<Vec<Job>, PathJobsError> {
    VARIANTS
        .iter()
        .map(|&variant| {
            let headers = variant_request_headers(variant);
            match plan_in(config, build, &Method::GET, path, None, &headers)? {
                Plan::Cache(cache_plan) => Ok(Job::from(&cache_plan)),
                Plan::Bypass { .. } => Err(PathJobsError::NotCacheable),
            }
        })
        .collect()
}

/// Request headers that plan to `variant`, asking for the identity coding (isr makes the
/// compressed representations itself, once, when the page is stored).
pub fn variant_request_headers(variant: Variant) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let one = HeaderValue::from_static("1");
    match variant {
        Variant::Html => {}
        Variant::Rsc => {
            headers.insert(RSC, one);
        }
        Variant::RscPrefetch => {
            headers.insert(RSC, one.clone());
            headers.insert(NEXT_ROUTER_PREFETCH, one);
        }
    }
    headers
}

/// Statuses that mean "the render failed", not "this is the page": never stored, and the
/// last good page is kept.
pub fn is_render_failure(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

impl Job {
    /// The headers of the request that renders this job, without the recursion guard
    /// (each runtime adds [`policy_headers::X_ISR_RENDER`] with its own secret). On a
    /// configured route they are built from the key alone; for a request no route
    /// matched, an allow-list of the `client`'s headers is kept
    /// ([`policy_headers::forwarded_on_render`], with `config`'s `forward_headers`); the
    /// configured site is named in `X-Forwarded-Host` when the host is not keyed.
    pub fn render_headers(&self, client: Option<&HeaderMap>, config: &Config) -> HeaderMap {
        let mut headers = match client {
            Some(client) if !self.matched => {
                policy_headers::forwarded_on_render(client, &config.forward_headers)
            }
            _ => HeaderMap::new(),
        };
        for name in NOT_FORWARDED_ON_RENDER {
            headers.remove(name);
        }
        // A response may vary on these and still be stored, so what the origin sees of
        // them must be a function of the key: drop them all, then send exactly the key's
        // variant, and identity. (Forwarding a client's `Next-Url` would store one
        // client's intercepted-route payload for everyone.)
        for name in KEYED_VARY {
            headers.remove(*name);
        }
        headers.extend(variant_request_headers(self.variant));
        if let Some(host) = self
            .host
            .as_deref()
            .and_then(|h| HeaderValue::try_from(h).ok())
        {
            headers.insert(header::HOST, host);
        }
        if self.matched {
            headers.insert(header::USER_AGENT, HeaderValue::from_static("isr"));
        }
        headers.extend(policy_headers::render_forwarding(
            self.host.as_deref(),
            &config.site,
        ));
        headers
    }

    /// Does the render of this job for `client` carry the client's credentials (its
    /// `Cookie`)? Only where no route matched: a route's render carries no client header.
    pub fn forwards_credentials(&self, client: Option<&HeaderMap>) -> bool {
        !self.matched && client.is_some_and(|client| client.contains_key(header::COOKIE))
    }

    /// The entry the origin's answer becomes, or why it may not be stored. `created_at`:
    /// when the render started. `headers` are as the origin sent them (hop-by-hop headers
    /// included, so the policy sees what `Connection` nominates; they are not stored).
    pub fn entry_from(
        &self,
        config: &Config,
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        created_at: UnixMillis,
    ) -> Result<Entry, NoStoreReason> {
        let Storable { lifetime, age } = storability(
            status,
            headers,
            self.policy.as_ref(),
            &config.defaults,
            KEYED_VARY,
            created_at,
        )?;
        // A page in codings isr knows is stored as identity: a runtime decodes it first, so
        // one still coded here did not decode and is not stored. A coding isr does not know
        // is opaque (RFC 9111 §3: a cache stores what it cannot read): stored as sent, with
        // its `Content-Encoding`, and served as sent to every client.
        if matches!(crate::coding::content_codings(headers), Ok(codings) if !codings.is_empty()) {
            return Err(NoStoreReason::Encoded);
        }
        let mut tags = self.tags.clone();
        for tag in policy_headers::origin_tags(headers) {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let etag = headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| policy_headers::body_etag(&body), str::to_owned);
        let route_lifetime = self.matched.then_some(&lifetime);
        let stored = policy_headers::entry_headers(
            headers,
            &etag,
            created_at,
            route_lifetime,
            age,
            body.len(),
        )
        .ok_or(NoStoreReason::BadHeader)?;
        Ok(Entry {
            key: self.key.raw().to_owned(),
            path: self.path.clone(),
            status,
            headers: stored,
            body,
            created_at,
            lifetime,
            tags,
            build_id: config.build_id.clone(),
            etag,
            representations: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
origin = "http://127.0.0.1:3000"

[[route]]
path = "/blog/[slug]"
revalidate = 60
tags = ["post:{slug}"]
"#;

    fn job(config: &Config, path: &str) -> Job {
        jobs_for_path(config, path).unwrap().remove(0)
    }

    #[test]
    fn a_configured_route_renders_from_the_key_alone() {
        let config = Config::from_toml(CONFIG, "isr.toml").unwrap();
        let job = job(&config, "/blog/hello");
        assert!(job.matched);
        assert_eq!(job.tags, ["post:hello"]);
        let mut client = HeaderMap::new();
        client.insert(header::COOKIE, HeaderValue::from_static("session=secret"));
        client.insert("next-url", HeaderValue::from_static("/intercepted"));
        let headers = job.render_headers(Some(&client), &config);
        assert!(!headers.contains_key(header::COOKIE));
        assert!(!headers.contains_key("next-url"));
        assert_eq!(headers[header::ACCEPT_ENCODING], "identity");
        assert_eq!(headers[header::USER_AGENT], "isr");
    }

    #[test]
    fn every_variant_of_a_path_has_its_own_key() {
        let config = Config::from_toml(CONFIG, "isr.toml").unwrap();
        let jobs = jobs_for_path(&config, "/blog/hello").unwrap();
        assert_eq!(jobs.len(), VARIANTS.len());
        let mut keys: Vec<&str> = jobs.iter().map(|job| job.key.raw()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), VARIANTS.len());
    }

    #[test]
    fn a_failure_status_is_never_an_entry_and_a_good_answer_is() {
        assert!(is_render_failure(StatusCode::BAD_GATEWAY));
        assert!(is_render_failure(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_render_failure(StatusCode::NOT_FOUND));
        let config = Config::from_toml(CONFIG, "isr.toml").unwrap();
        let job = job(&config, "/blog/hello");
        let mut headers = HeaderMap::new();
        headers.insert("x-isr-tags", HeaderValue::from_static("posts"));
        let entry = job
            .entry_from(
                &config,
                StatusCode::OK,
                &headers,
                Bytes::from_static(b"<p>hi</p>"),
                UnixMillis(5),
            )
            .unwrap();
        assert_eq!(entry.tags, ["post:hello", "posts"]);
        assert_eq!(entry.created_at, UnixMillis(5));
        let mut coded = headers.clone();
        coded.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(
            job.entry_from(&config, StatusCode::OK, &coded, Bytes::new(), UnixMillis(5))
                .unwrap_err(),
            NoStoreReason::Encoded
        );
        for opaque in ["identity", "compress", "gzip, x-unheard-of"] {
            coded.insert(header::CONTENT_ENCODING, HeaderValue::from_static(opaque));
            let entry = job
                .entry_from(&config, StatusCode::OK, &coded, Bytes::new(), UnixMillis(5))
                .unwrap();
            assert!(
                entry
                    .headers
                    .iter()
                    .any(|(name, value)| name == header::CONTENT_ENCODING && value == opaque),
                "{opaque}: a coding isr cannot read is kept, as sent"
            );
        }
        headers.insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
        assert!(
            job.entry_from(
                &config,
                StatusCode::OK,
                &headers,
                Bytes::new(),
                UnixMillis(5)
            )
            .is_err()
        );
    }

    #[test]
    fn headers_the_origin_nominates_in_connection_still_count_as_private() {
        // A proxy that removed them first would store a page that sets a cookie.
        let config = Config::from_toml(CONFIG, "isr.toml").unwrap();
        let job = job(&config, "/blog/hello");
        for (nominated, name, value) in [
            ("set-cookie", "set-cookie", "session=victim"),
            ("cache-control", "cache-control", "private"),
            ("vary", "vary", "cookie"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONNECTION, HeaderValue::from_static(nominated));
            headers.insert(name, HeaderValue::from_static(value));
            let stored = job.entry_from(
                &config,
                StatusCode::OK,
                &headers,
                Bytes::new(),
                UnixMillis(5),
            );
            assert!(stored.is_err(), "Connection: {nominated} was stored");
        }
        // Nominated headers that say nothing private are just not stored.
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("x-hop"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        let entry = job
            .entry_from(
                &config,
                StatusCode::OK,
                &headers,
                Bytes::new(),
                UnixMillis(5),
            )
            .unwrap();
        assert!(
            entry
                .headers
                .iter()
                .all(|(name, _)| name != "x-hop" && name != "connection")
        );
    }
}
