//! Request path and query normalisation: the same result is used for the cache key and
//! for the request forwarded to the origin, so what is rendered is what the key says.
//!
//! Invariants:
//! - Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
//!   percent-encoding is kept, with upper-case hex. `%2F` stays encoded: it is not a separator.
//! - `.` and `..` segments are resolved (RFC 3986 §5.2.4) and `//` runs collapse to `/`,
//!   after decoding, so `/a/%2e%2e/b` and `/b` are one path; `..` never climbs above `/`.
//! - A path with a control character (raw or as `%00`–`%1F`, `%7F`), or one that is not
//!   absolute, is an error (the caller answers 400).

// TODO(helper: routing) implement.

/// Why a path or query was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("request path must start with '/'")]
    NotAbsolute,
    #[error("request path contains a control character")]
    ControlCharacter,
    #[error("request path contains an invalid percent-encoding")]
    BadPercentEncoding,
    #[error("request target is longer than {0} bytes")]
    TooLong(usize),
}

/// Longest request target (path plus query) accepted.
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// Normalise a request path (without the query).
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    let _ = raw;
    todo!("helper: routing")
}

/// Which query parameters are part of the key (and forwarded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryKeys {
    /// Every parameter (used when no route matched: the key is the full URL).
    All,
    /// Only these names; others are dropped from the key and from the forwarded request.
    Only(Vec<String>),
}

/// The canonical query for keying and forwarding: the selected parameters (split on `&`
/// only), each with normalised percent-encoding, stably sorted by name; `""` if none.
pub fn canonical_query(raw: Option<&str>, keys: &QueryKeys) -> String {
    let _ = (raw, keys);
    todo!("helper: routing")
}
