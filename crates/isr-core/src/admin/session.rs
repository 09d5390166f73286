//! The dashboard's session: after a person logs in with the admin token, the browser holds
//! a cookie that stands for it, so the token never appears in a URL, a log or a page.
//!
//! Invariants:
//! - The cookie holds a value derived from the token (a keyed BLAKE3 derivation), never
//!   the token itself; it is `HttpOnly` (no script reads it), `SameSite=Strict` (no other
//!   site's page sends it) and scoped to `/_isr/`. Changing the token ends every session.
//! - A request authenticated by the cookie alone must also carry [`DASHBOARD_HEADER`] to
//!   change or read anything through the admin API: a cross-site form cannot set a header,
//!   and a cross-site script cannot without a preflight isr never grants.
//! - Values are compared in constant time.

use http::HeaderMap;

use crate::plan::cookie_values;
use crate::secret::constant_time_eq;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "isr_dashboard";
/// The header the dashboard's own requests carry (any value).
pub const DASHBOARD_HEADER: &str = "x-isr-dashboard";
/// How long a session lasts, in seconds (12 hours).
pub const SESSION_SECS: u64 = 12 * 3600;

/// The cookie value standing for `token`: 64 hex digits.
pub fn session_value(token: &str) -> String {
    let derived = blake3::derive_key("isr 2026 dashboard session v1", token.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in derived {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// The `Set-Cookie` value that starts a session for `token`.
pub fn set_session(token: &str) -> String {
    format!(
        "{SESSION_COOKIE}={}; Path=/_isr/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECS}",
        session_value(token)
    )
}

/// The `Set-Cookie` value that ends a session.
pub const END_SESSION: &str = "isr_dashboard=; Path=/_isr/; HttpOnly; SameSite=Strict; Max-Age=0";

/// Does `headers` carry the session cookie for `token`? (Enough to be shown the
/// dashboard page, which changes nothing.)
pub fn has_session(token: &str, headers: &HeaderMap) -> bool {
    if token.is_empty() {
        return false;
    }
    let expected = session_value(token);
    cookie_values(headers, SESSION_COOKIE).any(|value| constant_time_eq(value, expected.as_bytes()))
}

/// Is `headers` a dashboard request with the session for `token`: the cookie and
/// [`DASHBOARD_HEADER`]? (What the admin API accepts instead of the bearer token.)
pub fn dashboard_request(token: &str, headers: &HeaderMap) -> bool {
    headers.contains_key(DASHBOARD_HEADER) && has_session(token, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, value.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn the_cookie_stands_for_the_token_without_holding_it() {
        let value = session_value(TOKEN);
        assert_eq!(value.len(), 64);
        assert!(!value.contains(TOKEN));
        assert_ne!(value, session_value("another-token-0123456"));
        let set = set_session(TOKEN);
        assert!(set.starts_with(&format!("isr_dashboard={value};")));
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/_isr/", "Max-Age="] {
            assert!(set.contains(attribute), "{set}");
        }
    }

    #[test]
    fn a_session_needs_the_right_cookie_and_for_the_api_the_header() {
        let cookie = format!("theme=dark; {SESSION_COOKIE}={}", session_value(TOKEN));
        let with_cookie = headers(&[("cookie", &cookie)]);
        assert!(has_session(TOKEN, &with_cookie));
        assert!(
            !dashboard_request(TOKEN, &with_cookie),
            "no header: a forged form"
        );
        let both = headers(&[("cookie", &cookie), (DASHBOARD_HEADER, "1")]);
        assert!(dashboard_request(TOKEN, &both));
        let wrong = headers(&[("cookie", "isr_dashboard=00"), (DASHBOARD_HEADER, "1")]);
        assert!(!dashboard_request(TOKEN, &wrong));
        let raw_token = format!("{SESSION_COOKIE}={TOKEN}");
        assert!(!has_session(TOKEN, &headers(&[("cookie", &raw_token)])));
        assert!(!has_session("", &both), "an empty token matches nothing");
    }
}
