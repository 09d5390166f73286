//! The `Cache-Status` header (RFC 9211) every answer carries, next to `x-isr-cache`.
//!
//! Invariants:
//! - One list member, named `isr`, whatever the answer: served from the cache it has `hit`
//!   and a `ttl` (negative once stale, RFC 9211 §2.5); otherwise `fwd` says why the origin
//!   was asked (`uri-miss`, `stale`, `bypass`), `fwd-status` what it answered, `stored`
//!   whether the answer was kept, and `detail` why it was not.
//! - Only tokens and integers isr chooses are written: the value is always valid.

use http::{HeaderName, HeaderValue, StatusCode};

/// The header's name.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// Why the origin was asked (the `fwd` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forward {
    /// Nothing was stored for the request.
    UriMiss,
    /// What was stored could not be used without the origin.
    Stale,
    /// The request may not be answered from the cache.
    Bypass,
}

impl Forward {
    fn token(self) -> &'static str {
        match self {
            Forward::UriMiss => "uri-miss",
            Forward::Stale => "stale",
            Forward::Bypass => "bypass",
        }
    }
}

/// `isr; hit; ttl=N`: answered from the cache, fresh for `ttl` more seconds (negative:
/// stale for that long).
pub fn hit(ttl: i64) -> HeaderValue {
    HeaderValue::try_from(format!("isr; hit; ttl={ttl}")).unwrap_or(HeaderValue::from_static("isr"))
}

/// `isr; fwd=...; fwd-status=...; stored; ttl=...` or with `detail=...` when not stored.
/// `fwd_status`: the origin's status (none when it did not answer); `stored_ttl`: the
/// stored answer's freshness, when it was stored; `detail`: a token saying why not.
pub fn forwarded(
    fwd: Forward,
    fwd_status: Option<StatusCode>,
    stored_ttl: Option<i64>,
    detail: Option<&str>,
) -> HeaderValue {
    let mut value = format!("isr; fwd={}", fwd.token());
    if let Some(status) = fwd_status {
        value.push_str(&format!("; fwd-status={}", status.as_u16()));
    }
    match stored_ttl {
        Some(ttl) => value.push_str(&format!("; stored; ttl={ttl}")),
        None => {
            if let Some(detail) = detail.filter(|detail| is_token(detail)) {
                value.push_str("; detail=");
                value.push_str(detail);
            }
        }
    }
    HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("isr"))
}

/// An sf-token isr may write: letters, digits and `-`, starting with a letter.
fn is_token(detail: &str) -> bool {
    detail.starts_with(|c: char| c.is_ascii_alphabetic())
        && detail
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_carry_their_ttl() {
        assert_eq!(hit(42), "isr; hit; ttl=42");
        assert_eq!(hit(-5), "isr; hit; ttl=-5");
    }

    #[test]
    fn forwarded_answers_say_why_what_and_whether_stored() {
        let ok = Some(StatusCode::OK);
        assert_eq!(
            forwarded(Forward::UriMiss, ok, Some(60), None),
            "isr; fwd=uri-miss; fwd-status=200; stored; ttl=60"
        );
        assert_eq!(
            forwarded(Forward::Stale, ok, None, Some("set-cookie")),
            "isr; fwd=stale; fwd-status=200; detail=set-cookie"
        );
        assert_eq!(
            forwarded(Forward::Bypass, None, None, None),
            "isr; fwd=bypass"
        );
        // Anything but a token isr chose is left out rather than written.
        assert_eq!(
            forwarded(Forward::Bypass, ok, None, Some("a b\"")),
            "isr; fwd=bypass; fwd-status=200"
        );
    }
}
