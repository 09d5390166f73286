//! The `[cdn]` table of `isr.toml`.
//!
//! ```toml
//! [cdn]
//! tags_header = "Cache-Tag"            # or "Surrogate-Key": each answer's tags, downstream
//! site_url = "https://www.example.com" # what paths are purged under (Cloudflare files/prefixes)
//! cloudflare_zone = "023e105f4ecef8ad9ca31a8372d0c353"
//! cloudflare_token = "..."             # an API token with Zone.Cache Purge
//! fastly_service = "SU1Z0isxPaozGVKXdv0eY"
//! fastly_token = "..."
//! retry_min = "1s"                     # the first retry's delay; doubled after each failure
//! ```
//!
//! Invariant: tokens are never printed by `Debug`.

use crate::config::ValueError;

/// Which header carries an answer's tags downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagsHeader {
    /// `Cache-Tag: a,b` (Cloudflare).
    CacheTag,
    /// `Surrogate-Key: a b` (Fastly, Varnish, Akamai's Edge-Cache-Tag readers).
    SurrogateKey,
}

impl TagsHeader {
    /// Parse `Cache-Tag` or `Surrogate-Key` (any case).
    pub fn parse(text: &str) -> Result<TagsHeader, ValueError> {
        match text.to_ascii_lowercase().as_str() {
            "cache-tag" => Ok(TagsHeader::CacheTag),
            "surrogate-key" => Ok(TagsHeader::SurrogateKey),
            _ => Err(ValueError::NotOneOf {
                text: text.to_owned(),
                expected: "\"Cache-Tag\" or \"Surrogate-Key\"",
            }),
        }
    }

    /// The header's name.
    pub fn name(self) -> http::HeaderName {
        match self {
            TagsHeader::CacheTag => http::HeaderName::from_static("cache-tag"),
            TagsHeader::SurrogateKey => http::HeaderName::from_static("surrogate-key"),
        }
    }

    /// The header's value for `tags` (`None` without tags): comma-separated for
    /// `Cache-Tag`, space-separated for `Surrogate-Key`, as each provider reads them.
    /// A tag that cannot be in the list (it holds the separator) is left out.
    pub fn value(self, tags: &[String]) -> Option<http::HeaderValue> {
        let separator = match self {
            TagsHeader::CacheTag => ",",
            TagsHeader::SurrogateKey => " ",
        };
        let listed: Vec<&str> = tags
            .iter()
            .map(String::as_str)
            .filter(|tag| !tag.contains(separator) && !tag.contains([',', ' ']))
            .collect();
        if listed.is_empty() {
            return None;
        }
        http::HeaderValue::from_str(&listed.join(separator)).ok()
    }
}

/// Cloudflare: purges go to `{api}/zones/{zone}/purge_cache`.
#[derive(Clone, PartialEq, Eq)]
pub struct CloudflareSettings {
    /// The zone id.
    pub zone: String,
    /// An API token allowed to purge the zone's cache.
    pub token: String,
    /// The API's base URL (tests point it at a stand-in).
    pub api: String,
}

/// Fastly: purges go to `{api}/service/{service}/purge…`.
#[derive(Clone, PartialEq, Eq)]
pub struct FastlySettings {
    /// The service id.
    pub service: String,
    /// An API token allowed to purge the service.
    pub token: String,
    /// The API's base URL (tests point it at a stand-in).
    pub api: String,
}

/// The `[cdn]` table.
#[derive(Clone, PartialEq, Eq)]
pub struct CdnSettings {
    /// Emit each answer's tags downstream in this header; `None`: not emitted.
    pub tags_header: Option<TagsHeader>,
    /// The public URL of the site, without a trailing slash: a purged path `/a` is
    /// `{site_url}/a` at the CDN.
    pub site_url: Option<String>,
    /// Forward purges to Cloudflare.
    pub cloudflare: Option<CloudflareSettings>,
    /// Forward purges to Fastly.
    pub fastly: Option<FastlySettings>,
    /// The delay before the first retry, in milliseconds; doubled after each failure.
    pub retry_min_ms: u64,
}

/// Cloudflare's API.
pub const CLOUDFLARE_API: &str = "https://api.cloudflare.com/client/v4";
/// Fastly's API.
pub const FASTLY_API: &str = "https://api.fastly.com";

impl Default for CdnSettings {
    fn default() -> Self {
        CdnSettings {
            tags_header: None,
            site_url: None,
            cloudflare: None,
            fastly: None,
            retry_min_ms: 1000,
        }
    }
}

impl CdnSettings {
    /// Is any purge forwarded?
    pub fn forwards(&self) -> bool {
        self.cloudflare.is_some() || self.fastly.is_some()
    }

    /// Put `tags` (a served entry's) in the answer's `headers`, when a tag header is
    /// configured: every runtime marks its answers from the cache with this.
    pub fn mark_tags(&self, headers: &mut http::HeaderMap, tags: &[String]) {
        if let Some(tags_header) = self.tags_header
            && let Some(value) = tags_header.value(tags)
        {
            headers.insert(tags_header.name(), value);
        }
    }
}

impl std::fmt::Debug for CdnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdnSettings")
            .field("tags_header", &self.tags_header)
            .field("site_url", &self.site_url)
            .field(
                "cloudflare",
                &self.cloudflare.as_ref().map(|c| (&c.zone, &c.api, "***")),
            )
            .field(
                "fastly",
                &self.fastly.as_ref().map(|f| (&f.service, &f.api, "***")),
            )
            .field("retry_min_ms", &self.retry_min_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_listed_as_each_provider_reads_them() {
        let tags = vec!["blog".to_owned(), "post:1".to_owned(), "a b".to_owned()];
        let cache_tag = TagsHeader::CacheTag.value(&tags).expect("tags");
        assert_eq!(cache_tag, "blog,post:1");
        let surrogate = TagsHeader::SurrogateKey.value(&tags).expect("tags");
        assert_eq!(surrogate, "blog post:1");
        assert_eq!(TagsHeader::CacheTag.value(&[]), None);
        assert_eq!(
            TagsHeader::parse("cache-tag").ok(),
            Some(TagsHeader::CacheTag)
        );
        assert_eq!(
            TagsHeader::parse("Surrogate-Key").ok(),
            Some(TagsHeader::SurrogateKey)
        );
        assert!(TagsHeader::parse("X-Tags").is_err());
    }

    #[test]
    fn tokens_are_never_printed() {
        let settings = CdnSettings {
            cloudflare: Some(CloudflareSettings {
                zone: "z".into(),
                token: "cf-secret".into(),
                api: CLOUDFLARE_API.into(),
            }),
            fastly: Some(FastlySettings {
                service: "s".into(),
                token: "fastly-secret".into(),
                api: FASTLY_API.into(),
            }),
            ..CdnSettings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
