//! Sessions: the cookies that mean "this visitor is logged in" (`bypass_cookies`, at the
//! top of `isr.toml` and per route). A request carrying one bypasses the cache, cookies
//! and all, so a broad route (a catch-all) keeps private pages working; a request
//! carrying none is cached, and on a configured route its render carries no cookie at
//! all ([`crate::job`]), so no session ever reaches a stored page.
//!
//! Invariants:
//! - A pattern is a cookie name (`session`), or a name prefix ending in `*` (`sb-*`);
//!   anything that is not a valid cookie name is refused ([`CookiePattern::parse`]).
//! - Only a cookie's name counts, never its value: an empty `session=` still bypasses
//!   (the origin decides what it means).

use http::{HeaderMap, header};

/// One entry of `bypass_cookies`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookiePattern {
    name: String,
    prefix: bool,
}

/// Why a `bypass_cookies` entry is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a cookie name, or a name prefix ending in `*` (letters, digits and \
     !#$%&'+-.^_`|~)"
)]
pub struct CookiePatternError(pub String);

impl CookiePattern {
    /// `name`, or `prefix*`.
    pub fn parse(text: &str) -> Result<CookiePattern, CookiePatternError> {
        let (name, prefix) = match text.strip_suffix('*') {
            Some(name) => (name, true),
            None => (text, false),
        };
        // RFC 6265 cookie-name: an RFC 7230 token.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(CookiePatternError(text.to_owned()));
        }
        Ok(CookiePattern {
            name: name.to_owned(),
            prefix,
        })
    }

    /// Does a cookie called `name` match?
    pub fn matches(&self, name: &[u8]) -> bool {
        if self.prefix {
            name.starts_with(self.name.as_bytes())
        } else {
            name == self.name.as_bytes()
        }
    }
}

impl std::fmt::Display for CookiePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if self.prefix {
            f.write_str("*")?;
        }
        Ok(())
    }
}

/// Does the request carry a cookie one of `patterns` names?
pub fn has_session(headers: &HeaderMap, patterns: &[CookiePattern]) -> bool {
    if patterns.is_empty() {
        return false;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| pair.trim_ascii().split(|&b| b == b'=').next())
        .map(<[u8]>::trim_ascii)
        .any(|name| patterns.iter().any(|pattern| pattern.matches(name)))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn patterns() {
        let session = CookiePattern::parse("session").unwrap();
        let supabase = CookiePattern::parse("sb-*").unwrap();
        assert!(session.matches(b"session") && !session.matches(b"session2"));
        assert!(supabase.matches(b"sb-auth-token") && !supabase.matches(b"sb"));
        assert_eq!(supabase.to_string(), "sb-*");
        for bad in ["", "*", "a b", "a=b", "a;b", "caf\u{e9}", "a*b*"] {
            assert!(CookiePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn requests() {
        let patterns = [
            CookiePattern::parse("session").unwrap(),
            CookiePattern::parse("sb-*").unwrap(),
        ];
        let with = |cookie: &'static str| {
            let mut headers = HeaderMap::new();
            headers.append(header::COOKIE, HeaderValue::from_static(cookie));
            has_session(&headers, &patterns)
        };
        assert!(with("theme=dark; session=abc"));
        assert!(with("session="));
        assert!(with("sb-x-auth=1"));
        assert!(!with("theme=dark; my-session=1; xsession=2"));
        assert!(!with("theme=session"));
        assert!(!has_session(&HeaderMap::new(), &patterns));
    }
}
