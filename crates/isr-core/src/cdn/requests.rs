//! The requests one local purge becomes at each configured CDN, in the provider's
//! documented format, and when a failed one is tried again.
//!
//! - Cloudflare (`POST /zones/{zone}/purge_cache`, `Authorization: Bearer`, JSON):
//!   `{"tags": [...]}`, `{"files": ["https://site/path"]}`, `{"prefixes":
//!   ["site/path"]}`, `{"purge_everything": true}`; at most [`CLOUDFLARE_BATCH`] items a
//!   request.
//! - Fastly (`Fastly-Key`): surrogate keys with `POST /service/{id}/purge` and a
//!   `Surrogate-Key` header (at most [`FASTLY_BATCH`] keys a request), a URL with
//!   `POST /purge/{host}/{path}`, everything with `POST /service/{id}/purge_all`; a soft
//!   local purge is soft there too (`Fastly-Soft-Purge: 1`).

use http::{HeaderName, Method};

use super::settings::{CdnSettings, CloudflareSettings, FastlySettings};
use crate::freshness::PurgeMode;
use crate::purge::Target;

/// Items in one Cloudflare purge request at most (the limit of every plan).
pub const CLOUDFLARE_BATCH: usize = 30;
/// Surrogate keys in one Fastly purge request at most.
pub const FASTLY_BATCH: usize = 256;
/// Attempts of one request at most (the first and its retries).
pub const MAX_ATTEMPTS: u32 = 5;
/// The longest delay between two attempts, in milliseconds.
const MAX_DELAY_MS: u64 = 60_000;

/// One HTTP request to a CDN's API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdnRequest {
    /// `cloudflare` or `fastly`, for logs and metrics.
    pub provider: &'static str,
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// The headers (credentials included).
    pub headers: Vec<(HeaderName, String)>,
    /// The JSON body, if any.
    pub body: Option<String>,
}

/// The requests that carry a purge of `targets` (`mode`) to every configured CDN.
pub fn forward(settings: &CdnSettings, targets: &[Target], mode: PurgeMode) -> Vec<CdnRequest> {
    let mut requests = Vec::new();
    if let Some(cloudflare) = &settings.cloudflare {
        requests.extend(cloudflare_requests(
            cloudflare,
            settings.site_url.as_deref(),
            targets,
        ));
    }
    if let Some(fastly) = &settings.fastly {
        requests.extend(fastly_requests(
            fastly,
            settings.site_url.as_deref(),
            targets,
            mode,
        ));
    }
    requests
}

/// Should a request that got `status` (`None`: no answer at all) be tried again? Network
/// failures, 429 and 5xx are passing; any other refusal (a bad token, a bad zone) will
/// not get better.
pub fn should_retry(status: Option<u16>) -> bool {
    status.is_none_or(|status| status == 429 || status >= 500)
}

/// How long to wait before attempt `attempt` (2 for the first retry), in milliseconds:
/// `retry_min_ms` doubled after each failure, at most a minute.
pub fn retry_delay(attempt: u32, retry_min_ms: u64) -> u64 {
    let doublings = attempt.saturating_sub(2).min(20);
    retry_min_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_DELAY_MS)
}

/// `https://www.example.com` → `www.example.com`.
fn host_of(site_url: &str) -> &str {
    site_url
        .split_once("://")
        .map_or(site_url, |(_, rest)| rest)
        .trim_end_matches('/')
}

fn cloudflare_requests(
    cloudflare: &CloudflareSettings,
    site_url: Option<&str>,
    targets: &[Target],
) -> Vec<CdnRequest> {
    let request = |body: serde_json::Value| CdnRequest {
        provider: "cloudflare",
        method: Method::POST,
        url: format!("{}/zones/{}/purge_cache", cloudflare.api, cloudflare.zone),
        headers: vec![
            (
                http::header::AUTHORIZATION,
                format!("Bearer {}", cloudflare.token),
            ),
            (http::header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        body: Some(body.to_string()),
    };
    if targets.iter().any(|target| matches!(target, Target::All)) {
        return vec![request(serde_json::json!({ "purge_everything": true }))];
    }
    let site = site_url.map(|url| url.trim_end_matches('/'));
    let mut tags = Vec::new();
    let mut files = Vec::new();
    let mut prefixes = Vec::new();
    for target in targets {
        match target {
            Target::Tag(tag) => tags.push(tag.clone()),
            Target::Path(path) => {
                if let Some(site) = site {
                    files.push(format!("{site}{path}"));
                }
            }
            Target::Prefix(prefix) => {
                if let Some(site) = site {
                    prefixes.push(format!("{}{prefix}", host_of(site)));
                }
            }
            Target::Key(_) | Target::All => {}
        }
    }
    let mut requests = Vec::new();
    for (field, items) in [("tags", tags), ("files", files), ("prefixes", prefixes)] {
        for batch in items.chunks(CLOUDFLARE_BATCH) {
            requests.push(request(serde_json::json!({ field: batch })));
        }
    }
    requests
}

fn fastly_requests(
    fastly: &FastlySettings,
    site_url: Option<&str>,
    targets: &[Target],
    mode: PurgeMode,
) -> Vec<CdnRequest> {
    let mut headers = vec![(HeaderName::from_static("fastly-key"), fastly.token.clone())];
    if mode == PurgeMode::Soft {
        headers.push((HeaderName::from_static("fastly-soft-purge"), "1".to_owned()));
    }
    let request = |url: String, extra: Option<(HeaderName, String)>| {
        let mut headers = headers.clone();
        headers.extend(extra);
        CdnRequest {
            provider: "fastly",
            method: Method::POST,
            url,
            headers,
            body: None,
        }
    };
    let service = format!("{}/service/{}", fastly.api, fastly.service);
    if targets.iter().any(|target| matches!(target, Target::All)) {
        // Fastly has no soft purge of everything: say so with the header left out.
        let mut all = request(format!("{service}/purge_all"), None);
        all.headers
            .retain(|(name, _)| name.as_str() != "fastly-soft-purge");
        return vec![all];
    }
    let keys: Vec<&str> = targets
        .iter()
        .filter_map(|target| match target {
            Target::Tag(tag) if !tag.contains(' ') => Some(tag.as_str()),
            _ => None,
        })
        .collect();
    let mut requests: Vec<CdnRequest> = keys
        .chunks(FASTLY_BATCH)
        .map(|batch| {
            let keys = (HeaderName::from_static("surrogate-key"), batch.join(" "));
            request(format!("{service}/purge"), Some(keys))
        })
        .collect();
    if let Some(site) = site_url {
        let host = host_of(site);
        for target in targets {
            if let Target::Path(path) = target {
                requests.push(request(format!("{}/purge/{host}{path}", fastly.api), None));
            }
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cdn::settings::{CLOUDFLARE_API, FASTLY_API};

    fn settings() -> CdnSettings {
        CdnSettings {
            site_url: Some("https://www.example.com".into()),
            cloudflare: Some(CloudflareSettings {
                zone: "zone1".into(),
                token: "cf-token".into(),
                api: CLOUDFLARE_API.into(),
            }),
            fastly: Some(FastlySettings {
                service: "svc1".into(),
                token: "fastly-token".into(),
                api: FASTLY_API.into(),
            }),
            ..CdnSettings::default()
        }
    }

    fn body(request: &CdnRequest) -> serde_json::Value {
        serde_json::from_str(request.body.as_deref().unwrap_or("null")).expect("json")
    }

    fn header<'r>(request: &'r CdnRequest, name: &str) -> Option<&'r str> {
        request
            .headers
            .iter()
            .find(|(header, _)| header.as_str() == name)
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn each_target_becomes_the_providers_own_request() {
        let targets = [
            Target::Tag("blog".into()),
            Target::Path("/a".into()),
            Target::Prefix("/docs".into()),
            Target::Key("v1|site|/a".into()),
        ];
        let requests = forward(&settings(), &targets, PurgeMode::Soft);
        let cloudflare: Vec<_> = requests
            .iter()
            .filter(|r| r.provider == "cloudflare")
            .collect();
        assert_eq!(
            cloudflare.len(),
            3,
            "tags, files, prefixes; the key is skipped"
        );
        for request in &cloudflare {
            assert_eq!(
                request.url,
                "https://api.cloudflare.com/client/v4/zones/zone1/purge_cache"
            );
            assert_eq!(header(request, "authorization"), Some("Bearer cf-token"));
            assert_eq!(header(request, "content-type"), Some("application/json"));
        }
        assert_eq!(body(cloudflare[0]), serde_json::json!({"tags": ["blog"]}));
        assert_eq!(
            body(cloudflare[1]),
            serde_json::json!({"files": ["https://www.example.com/a"]})
        );
        assert_eq!(
            body(cloudflare[2]),
            serde_json::json!({"prefixes": ["www.example.com/docs"]})
        );

        let fastly: Vec<_> = requests.iter().filter(|r| r.provider == "fastly").collect();
        assert_eq!(fastly.len(), 2, "the key and the prefix are skipped");
        assert_eq!(fastly[0].url, "https://api.fastly.com/service/svc1/purge");
        assert_eq!(header(fastly[0], "surrogate-key"), Some("blog"));
        assert_eq!(header(fastly[0], "fastly-key"), Some("fastly-token"));
        assert_eq!(header(fastly[0], "fastly-soft-purge"), Some("1"));
        assert_eq!(
            fastly[1].url,
            "https://api.fastly.com/purge/www.example.com/a"
        );
        assert!(
            fastly
                .iter()
                .all(|r| r.body.is_none() && r.method == Method::POST)
        );
    }

    #[test]
    fn everything_is_one_request_each_and_hard_purges_are_hard() {
        let requests = forward(
            &settings(),
            &[Target::Tag("x".into()), Target::All],
            PurgeMode::Soft,
        );
        assert_eq!(requests.len(), 2);
        assert_eq!(
            body(&requests[0]),
            serde_json::json!({"purge_everything": true})
        );
        assert_eq!(
            requests[1].url,
            "https://api.fastly.com/service/svc1/purge_all"
        );
        assert_eq!(header(&requests[1], "fastly-soft-purge"), None);
        let hard = forward(&settings(), &[Target::Tag("x".into())], PurgeMode::Hard);
        assert_eq!(header(&hard[1], "fastly-soft-purge"), None);
    }

    #[test]
    fn lists_are_batched_within_the_providers_limits() {
        let targets: Vec<Target> = (0..300).map(|n| Target::Tag(format!("t{n}"))).collect();
        let requests = forward(&settings(), &targets, PurgeMode::Hard);
        let cloudflare = requests
            .iter()
            .filter(|r| r.provider == "cloudflare")
            .count();
        assert_eq!(cloudflare, 10);
        let fastly: Vec<_> = requests.iter().filter(|r| r.provider == "fastly").collect();
        assert_eq!(fastly.len(), 2);
        assert_eq!(
            header(fastly[0], "surrogate-key").map(|k| k.split(' ').count()),
            Some(256)
        );
    }

    #[test]
    fn a_hostile_tag_cannot_change_a_request() {
        let tag = Target::Tag("a\",\"purge_everything\":true,\"x\":\"".into());
        let requests = forward(&settings(), &[tag], PurgeMode::Soft);
        let sent = body(&requests[0]);
        assert_eq!(sent.as_object().map(|o| o.len()), Some(1), "{sent}");
        assert_eq!(sent["tags"][0], "a\",\"purge_everything\":true,\"x\":\"");
    }

    #[test]
    fn without_a_site_url_paths_are_not_forwarded() {
        let mut settings = settings();
        settings.site_url = None;
        let requests = forward(&settings, &[Target::Path("/a".into())], PurgeMode::Soft);
        assert!(requests.is_empty(), "{requests:?}");
    }

    #[test]
    fn retries_are_for_passing_failures_with_a_doubling_delay() {
        assert!(should_retry(None));
        assert!(should_retry(Some(503)));
        assert!(should_retry(Some(429)));
        assert!(!should_retry(Some(200)));
        assert!(!should_retry(Some(403)), "a bad token stays bad");
        assert_eq!(retry_delay(2, 1000), 1000);
        assert_eq!(retry_delay(3, 1000), 2000);
        assert_eq!(retry_delay(5, 1000), 8000);
        assert_eq!(retry_delay(40, 1000), 60_000);
        assert_eq!(retry_delay(40, u64::MAX), 60_000);
    }
}
