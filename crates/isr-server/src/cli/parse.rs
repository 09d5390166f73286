//! The value parsers of the command line's flags (what clap calls on each value), their
//! error, and [`Secret`].
//!
//! Invariants:
//! - A serve setting is checked by the same function that checks it in the config file
//!   ([`isr_core::config`]), so a value is accepted on the command line exactly when it
//!   would be accepted in `isr.toml`.
//! - A secret is never checked here (clap would quote a refused value in its error): it is
//!   wrapped as it is, and checked when the configuration is loaded.

use isr_core::config::{
    OriginProblem, ValueError, check_concurrency, check_threads, parse_bytes, parse_duration_ms,
    parse_origin, require_positive,
};
use isr_core::purge::{Target, TargetError};

/// Why a flag's value is refused; clap prints it after the flag and the value.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FlagValueError {
    /// Refused by the config file's own check.
    #[error(transparent)]
    Setting(#[from] ValueError),
    /// A count that is not a number.
    #[error("{0:?} is not a whole number")]
    NotAWholeNumber(String),
    /// A count that must be at least 1.
    #[error("{0:?} must be at least 1")]
    Zero(String),
    /// `--url` is not a URL isr could be at.
    #[error("invalid URL {text:?}: {problem}")]
    ServerUrl {
        /// The value given.
        text: String,
        /// What is wrong with it.
        problem: OriginProblem,
    },
    /// `--url` is https, which isr itself does not serve.
    #[error("invalid URL {0:?}: https is not supported here; use isr's own http address")]
    HttpsServerUrl(String),
    /// A page path that does not start with `/`.
    #[error("{0:?} is not a path: it must start with '/'")]
    NotAPath(String),
    /// A page path with whitespace or control characters.
    #[error("{0:?} contains whitespace or control characters")]
    Whitespace(String),
    /// A page that is neither a path nor an http(s) URL.
    #[error("{0:?} is neither a path (starting with '/') nor an http(s) URL")]
    NeitherPathNorUrl(String),
    /// A cache key the server would refuse.
    #[error(transparent)]
    CacheKey(#[from] TargetError),
}

/// A secret from the command line or the environment; its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Wraps without checking: clap would quote a refused value in its error.
pub(crate) fn secret(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret(s.to_owned()))
}

pub(crate) fn parse_positive_bytes(s: &str) -> Result<u64, FlagValueError> {
    parse_bytes(s)
        .and_then(require_positive)
        .map_err(FlagValueError::from)
}

pub(crate) fn parse_positive_duration_ms(s: &str) -> Result<u64, FlagValueError> {
    parse_duration_ms(s)
        .and_then(require_positive)
        .map_err(FlagValueError::from)
}

pub(crate) fn parse_concurrency(s: &str) -> Result<usize, FlagValueError> {
    Ok(check_concurrency(parse_whole_number(s)?)?)
}

pub(crate) fn parse_threads(s: &str) -> Result<usize, FlagValueError> {
    Ok(check_threads(parse_whole_number(s)?)?)
}

/// A count of at least 1 (`--max-connections`).
pub(crate) fn parse_positive_count(s: &str) -> Result<usize, FlagValueError> {
    let count = usize::try_from(parse_whole_number(s)?)
        .map_err(|_| FlagValueError::NotAWholeNumber(s.to_owned()))?;
    if count == 0 {
        return Err(FlagValueError::Zero(s.to_owned()));
    }
    Ok(count)
}

fn parse_whole_number(s: &str) -> Result<u64, FlagValueError> {
    s.trim()
        .parse()
        .map_err(|_| FlagValueError::NotAWholeNumber(s.to_owned()))
}

/// The running isr's base URL: http only (isr itself serves http; the admin client is built
/// without CA certificates), with no path or query.
pub(crate) fn parse_server_url(s: &str) -> Result<String, FlagValueError> {
    let url = parse_origin(s).map_err(|error| match error {
        ValueError::Origin { text, problem } => FlagValueError::ServerUrl { text, problem },
        other => FlagValueError::Setting(other),
    })?;
    if url.starts_with("https://") {
        return Err(FlagValueError::HttpsServerUrl(s.to_owned()));
    }
    Ok(url)
}

/// A path on the site, like `/blog/hello?page=2`.
pub(crate) fn parse_page_path(s: &str) -> Result<String, FlagValueError> {
    if !s.starts_with('/') {
        return Err(FlagValueError::NotAPath(s.to_owned()));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FlagValueError::Whitespace(s.to_owned()));
    }
    Ok(s.to_owned())
}

/// A path, or a full http(s) URL whose path and query are used.
pub(crate) fn parse_page_or_url(s: &str) -> Result<String, FlagValueError> {
    if s.starts_with('/') {
        return parse_page_path(s);
    }
    url_to_path(s).ok_or_else(|| FlagValueError::NeitherPathNorUrl(s.to_owned()))
}

/// A raw cache key, as `isr entries --json` lists it; checked as the server checks it.
pub(crate) fn parse_cache_key(s: &str) -> Result<String, FlagValueError> {
    Target::key(s)?;
    Ok(s.to_owned())
}

/// `http(s)://host/path?query#fragment` → `/path?query`; `None` if `s` is not such a URL.
pub(crate) fn url_to_path(s: &str) -> Option<String> {
    let without_fragment = s.split('#').next().unwrap_or(s);
    let uri: http::Uri = without_fragment.parse().ok()?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    Some(if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_paths() {
        assert_eq!(url_to_path("https://example.com").as_deref(), Some("/"));
        assert_eq!(
            url_to_path("https://example.com/a/b?x=1&y=2#top").as_deref(),
            Some("/a/b?x=1&y=2")
        );
        assert_eq!(url_to_path("http://h:8080/").as_deref(), Some("/"));
        assert_eq!(url_to_path("ftp://h/a"), None);
        assert_eq!(url_to_path("/a"), None);
        assert_eq!(url_to_path("not a url"), None);
    }

    #[test]
    fn cache_keys_are_checked_as_the_server_checks_them() {
        assert_eq!(
            parse_cache_key("v1|site|/a").unwrap(),
            "v1|site|/a".to_owned()
        );
        for bad in ["", "a\u{7}b"] {
            assert!(parse_cache_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn server_urls_are_http_only() {
        assert_eq!(
            parse_server_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        let error = parse_server_url("https://x").unwrap_err().to_string();
        assert!(error.contains("https is not supported"), "{error}");
        let error = parse_server_url("http://x/app").unwrap_err().to_string();
        assert!(error.starts_with("invalid URL"), "{error}");
    }
}
