//! What an origin's answer grants a shared cache by its own headers: its freshness
//! lifetime (RFC 9111 §4.2.1), a heuristic one when it gives none (§4.2.2), and the age it
//! already had when it arrived (§4.2.3).
//!
//! Invariants:
//! - The freshness lifetime is `s-maxage`, else `max-age`, else `Expires` minus `Date`
//!   (minus the render's start when there is no valid `Date`); an `Expires` that does not
//!   parse means "already expired" (§5.3), never "fresh".
//! - The initial age is the upstream `Age` only: the apparent age from `Date` is not used,
//!   so an origin whose clock is behind never makes its pages stale on arrival (the same
//!   choice Varnish makes). An `Age` that is not delta-seconds counts as 0.
//! - A heuristic lifetime exists only without an explicit one, for a heuristically
//!   cacheable status (or `public`) with a valid `Last-Modified`: a tenth of the time since
//!   it (as most caches do), at most [`MAX_HEURISTIC_SECS`].
//! - Nothing here reads a clock: the render's start is passed in.

use http::{HeaderMap, StatusCode, header};

use crate::UnixMillis;
use crate::cache_control::{CacheControl, parse_delta_seconds};
use crate::headers::header_date_secs;

/// The longest heuristic freshness lifetime isr gives an answer: one day.
pub const MAX_HEURISTIC_SECS: u64 = 86_400;

/// Statuses that are heuristically cacheable (RFC 9110 §15.1); 206 is not among them here
/// because isr never stores partial content.
const HEURISTICALLY_CACHEABLE: [u16; 11] = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// The freshness the origin's headers grant, before any route is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Granted {
    /// Seconds the answer is fresh from its generation at the origin; `None`: the origin
    /// gave no explicit lifetime.
    pub lifetime: Option<u64>,
    /// Seconds the answer had already aged when it arrived (upstream `Age`).
    pub age: u64,
    /// The heuristic lifetime when there is no explicit one (see the module invariants).
    pub heuristic: Option<u64>,
}

impl Granted {
    /// What `headers` grant, read with `cc` (the shared-cache directives), for a render
    /// that started at `started`.
    pub fn from_headers(
        cc: &CacheControl,
        status: StatusCode,
        headers: &HeaderMap,
        started: UnixMillis,
    ) -> Granted {
        let lifetime = cc
            .s_maxage
            .or(cc.max_age)
            .or_else(|| expires_lifetime(headers, started));
        let heuristic_status = cc.public || HEURISTICALLY_CACHEABLE.contains(&status.as_u16());
        let heuristic = (lifetime.is_none() && heuristic_status)
            .then(|| heuristic_lifetime(headers, started))
            .flatten();
        Granted {
            lifetime,
            age: age_value(headers),
            heuristic,
        }
    }

    /// What [`Granted::remaining`] would be with the heuristic lifetime.
    pub fn heuristic_remaining(&self) -> Option<u64> {
        self.heuristic
            .map(|lifetime| lifetime.saturating_sub(self.age))
    }

    /// Seconds the answer is still fresh for once it arrives: the lifetime minus the age
    /// (`Some(0)`: stale on arrival; `None`: no explicit lifetime).
    pub fn remaining(&self) -> Option<u64> {
        self.lifetime
            .map(|lifetime| lifetime.saturating_sub(self.age))
    }
}

/// `Expires − Date` in whole seconds (`Date` absent or invalid: the render's start).
/// An invalid `Expires` (`0`, `-1`, garbage) is in the past: `Some(0)`.
fn expires_lifetime(headers: &HeaderMap, started: UnixMillis) -> Option<u64> {
    if !headers.contains_key(header::EXPIRES) {
        return None;
    }
    let Some(expires) = header_date_secs(headers, &header::EXPIRES) else {
        return Some(0);
    };
    let date = header_date_secs(headers, &header::DATE).unwrap_or(started.0 / 1000);
    Some(expires.saturating_sub(date))
}

/// A tenth of `Date − Last-Modified` (`Date` absent or invalid: the render's start), at
/// most [`MAX_HEURISTIC_SECS`]; `None` without a valid `Last-Modified`.
fn heuristic_lifetime(headers: &HeaderMap, started: UnixMillis) -> Option<u64> {
    let last_modified = header_date_secs(headers, &header::LAST_MODIFIED)?;
    let date = header_date_secs(headers, &header::DATE).unwrap_or(started.0 / 1000);
    Some((date.saturating_sub(last_modified) / 10).min(MAX_HEURISTIC_SECS))
}

/// The upstream `Age` in seconds (the first value; anything not delta-seconds is 0).
fn age_value(headers: &HeaderMap) -> u64 {
    headers
        .get(header::AGE)
        .and_then(|value| {
            let first = value.as_bytes().split(|&b| b == b',').next()?;
            parse_delta_seconds(first.trim_ascii())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const STARTED: UnixMillis = UnixMillis(784_111_777_000); // Sun, 06 Nov 1994 08:49:37 GMT

    fn granted(pairs: &[(&'static str, &'static str)]) -> Granted {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        let cc = CacheControl::for_shared_cache(&headers).unwrap_or_default();
        Granted::from_headers(&cc, StatusCode::OK, &headers, STARTED)
    }

    #[test]
    fn s_maxage_then_max_age_then_expires() {
        let expires = ("expires", "Sun, 06 Nov 1994 09:49:37 GMT");
        let date = ("date", "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(granted(&[expires, date]).lifetime, Some(3600));
        let max_age = ("cache-control", "max-age=60");
        assert_eq!(granted(&[expires, date, max_age]).lifetime, Some(60));
        let both = ("cache-control", "max-age=60, s-maxage=5");
        assert_eq!(granted(&[expires, both]).lifetime, Some(5));
        assert_eq!(granted(&[("cache-control", "public")]).lifetime, None);
    }

    #[test]
    fn expires_counts_from_date_else_from_the_render() {
        let expires = ("expires", "Sun, 06 Nov 1994 08:50:37 GMT");
        assert_eq!(granted(&[expires]).lifetime, Some(60));
        let date = ("date", "Sun, 06 Nov 1994 08:50:07 GMT");
        assert_eq!(granted(&[expires, date]).lifetime, Some(30));
        assert_eq!(granted(&[expires, ("date", "junk")]).lifetime, Some(60));
    }

    #[test]
    fn an_invalid_or_past_expires_is_already_expired() {
        for value in ["0", "-1", "yesterday", ""] {
            assert_eq!(granted(&[("expires", value)]).lifetime, Some(0), "{value}");
        }
        let past = ("expires", "Sun, 06 Nov 1994 07:49:37 GMT");
        assert_eq!(granted(&[past]).lifetime, Some(0));
    }

    #[test]
    fn age_is_subtracted_and_saturates() {
        let answer = granted(&[("cache-control", "max-age=3600"), ("age", "1800")]);
        assert_eq!((answer.age, answer.remaining()), (1800, Some(1800)));
        let old = granted(&[("cache-control", "max-age=60"), ("age", "7200")]);
        assert_eq!(old.remaining(), Some(0));
        assert_eq!(granted(&[("age", "60")]).remaining(), None);
    }

    #[test]
    fn a_malformed_age_counts_as_zero() {
        for value in ["-5", "1.5", "abc", ""] {
            assert_eq!(granted(&[("age", value)]).age, 0, "{value}");
        }
        assert_eq!(granted(&[("age", "30, 60")]).age, 30);
    }

    #[test]
    fn a_heuristic_lifetime_only_without_an_explicit_one() {
        let modified = ("last-modified", "Sun, 06 Nov 1994 06:49:37 GMT"); // 2 h before
        assert_eq!(granted(&[modified]).heuristic, Some(720));
        let explicit = granted(&[modified, ("cache-control", "max-age=5")]);
        assert_eq!((explicit.lifetime, explicit.heuristic), (Some(5), None));
        let long_ago = ("last-modified", "Tue, 06 Nov 1984 08:49:37 GMT");
        assert_eq!(granted(&[long_ago]).heuristic, Some(MAX_HEURISTIC_SECS));
        assert_eq!(granted(&[("last-modified", "junk")]).heuristic, None);
        let mut headers = HeaderMap::new();
        headers.insert(
            "last-modified",
            HeaderValue::from_static("Sun, 06 Nov 1994 06:49:37 GMT"),
        );
        let cc = CacheControl::default();
        let created = Granted::from_headers(&cc, StatusCode::CREATED, &headers, STARTED);
        assert_eq!(
            created.heuristic, None,
            "201 is not heuristically cacheable"
        );
        let public = CacheControl {
            public: true,
            ..CacheControl::default()
        };
        let created = Granted::from_headers(&public, StatusCode::CREATED, &headers, STARTED);
        assert_eq!(created.heuristic, Some(720), "unless public");
    }
}
