//! A render job: one cacheable request, owned so it can outlive the request that caused
//! it (a background regeneration, a Worker's `wait_until`), and the two halves of a
//! render every runtime shares: the request sent to the origin, and how its answer
//! becomes an [`Entry`].
//!
//! Invariants:
//! - On a configured route, the render request is a function of the key alone: no
//!   client header reaches the origin, so no unkeyed input can shape a stored page.
//! - Whatever the origin sees of the headers a response may vary on and still be stored
//!   ([`KEYED_VARY`]) is exactly the key's variant and encoding class.
//! - An entry is built only from an answer [`storability`] accepts; a failure status
//!   ([`is_render_failure`]) is never turned into one.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use crate::UnixMillis;
use crate::config::Config;
use crate::entry::Entry;
use crate::headers::{self as policy_headers};
use crate::key::{CacheKey, EncodingClass, Variant};
use crate::plan::{CachePlan, KEYED_VARY, Plan, PlanError, plan};
use crate::policy::{NoStoreReason, RouteCachePolicy, storability};

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

/// Every variant a path can be cached under; the first is what browsers ask for.
pub const VARIANTS: &[(Variant, EncodingClass)] = &[
    (Variant::Html, EncodingClass::Br),
    (Variant::Html, EncodingClass::Gzip),
    (Variant::Html, EncodingClass::Identity),
    (Variant::Rsc, EncodingClass::Br),
    (Variant::Rsc, EncodingClass::Gzip),
    (Variant::Rsc, EncodingClass::Identity),
    (Variant::RscPrefetch, EncodingClass::Br),
    (Variant::RscPrefetch, EncodingClass::Gzip),
    (Variant::RscPrefetch, EncodingClass::Identity),
];

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
    /// The encoding class the render is asked for.
    pub encoding: EncodingClass,
    /// The keyed `Host`, sent to the origin when `key_host` is on.
    pub host: Option<String>,
    /// Did a configured route match?
    pub matched: bool,
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
            encoding: plan.encoding,
            host: plan.host.clone(),
            matched: plan.route.is_some(),
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
    VARIANTS
        .iter()
        .map(|&(variant, encoding)| {
            let headers = variant_request_headers(variant, encoding);
            match plan(config, &Method::GET, path, None, &headers)? {
                Plan::Cache(cache_plan) => Ok(Job::from(&cache_plan)),
                Plan::Bypass { .. } => Err(PathJobsError::NotCacheable),
            }
        })
        .collect()
}

/// Request headers that plan to `variant` and `encoding`.
pub fn variant_request_headers(variant: Variant, encoding: EncodingClass) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static(encoding.accept_encoding()),
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
    /// matched, the `client`'s forwardable headers are kept (its answer is stored only if
    /// the origin says it may be shared).
    pub fn render_headers(&self, client: Option<&HeaderMap>) -> HeaderMap {
        let mut headers = match client {
            Some(client) if !self.matched => policy_headers::forwardable(client.clone()),
            _ => HeaderMap::new(),
        };
        for name in NOT_FORWARDED_ON_RENDER {
            headers.remove(name);
        }
        // A response may vary on these and still be stored, so what the origin sees of
        // them must be a function of the key: drop them all, then send exactly the key's
        // variant and encoding class. (Forwarding a client's `Next-Url` would store one
        // client's intercepted-route payload for everyone.)
        for name in KEYED_VARY {
            headers.remove(*name);
        }
        headers.extend(variant_request_headers(self.variant, self.encoding));
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
        headers
    }

    /// The entry the origin's answer becomes, or why it may not be stored. `created_at`:
    /// when the render started. `headers` must already be without hop-by-hop headers.
    pub fn entry_from(
        &self,
        config: &Config,
        status: StatusCode,
        headers: &HeaderMap,
        body: Bytes,
        created_at: UnixMillis,
    ) -> Result<Entry, NoStoreReason> {
        let lifetime = storability(
            status,
            headers,
            self.policy.as_ref(),
            &config.defaults,
            KEYED_VARY,
        )?;
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
        let stored =
            policy_headers::entry_headers(headers, &etag, created_at, &lifetime, body.len())
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
        let headers = job.render_headers(Some(&client));
        assert!(!headers.contains_key(header::COOKIE));
        assert!(!headers.contains_key("next-url"));
        assert_eq!(headers[header::ACCEPT_ENCODING], "br");
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
}
