//! `Cache-Control` and `CDN-Cache-Control` (RFC 9111 §5.2, RFC 9213) parsing.
//!
//! Invariants:
//! - Parsing never fails: unknown directives are ignored, a malformed delta-seconds makes
//!   that directive absent, and values above `u32::MAX` saturate.
//! - Several header lines are one list. A directive given twice keeps the most
//!   restrictive value (the smaller number).

use http::HeaderMap;

/// The header a CDN reads in preference to `Cache-Control` (RFC 9213).
const CDN_CACHE_CONTROL: &str = "cdn-cache-control";

/// Largest delta-seconds kept; anything above saturates here.
const MAX_DELTA_SECONDS: u64 = u32::MAX as u64;

/// The directives isr acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `s-maxage`: seconds a shared cache may treat the answer as fresh.
    pub s_maxage: Option<u64>,
    /// `max-age`: seconds the answer stays fresh (for shared caches too, unless `s-maxage`).
    pub max_age: Option<u64>,
    /// `stale-while-revalidate`: seconds a stale answer may still be served while it is revalidated.
    pub stale_while_revalidate: Option<u64>,
    /// A bare `stale-while-revalidate` (no value), as Next.js 13 and 14 send for ISR pages:
    /// stale answers are allowed for as long as the cache keeps the entry.
    pub stale_while_revalidate_unbounded: bool,
    /// `stale-if-error`: seconds a stale answer may still be served when revalidation fails.
    pub stale_if_error: Option<u64>,
    /// `public`: any cache may store the answer.
    pub public: bool,
    /// `private`: only the client's own cache may store the answer.
    pub private: bool,
    /// `no-store`: no cache may store the answer.
    pub no_store: bool,
    /// `no-cache`: a stored answer must be revalidated before every use.
    pub no_cache: bool,
    /// `must-revalidate`: once stale, the answer must not be served without revalidation.
    pub must_revalidate: bool,
}

impl CacheControl {
    /// Parse every value of `name` in `headers` as one directive list.
    pub fn from_headers(headers: &HeaderMap, name: &str) -> CacheControl {
        let mut cc = CacheControl::default();
        for value in headers.get_all(name) {
            for directive in split_directives(value.as_bytes()) {
                cc.apply(directive);
            }
        }
        cc
    }

    /// The policy a shared cache follows (RFC 9213): `CDN-Cache-Control` when the response
    /// has one, else `Cache-Control`. `None` when the response has neither.
    pub fn for_shared_cache(headers: &HeaderMap) -> Option<CacheControl> {
        [CDN_CACHE_CONTROL, http::header::CACHE_CONTROL.as_str()]
            .into_iter()
            .find(|name| headers.contains_key(*name))
            .map(|name| CacheControl::from_headers(headers, name))
    }

    /// Record one `name[=value]` directive.
    fn apply(&mut self, directive: &[u8]) {
        let (name, value) = split_name_value(directive);
        let name = name.to_ascii_lowercase();
        // Qualified forms (`private="Set-Cookie"`, `no-cache="..."`) are treated like the
        // bare directive: refusing to store is always the safe reading.
        match name.as_slice() {
            b"public" => self.public = true,
            b"private" => self.private = true,
            b"no-store" => self.no_store = true,
            b"no-cache" => self.no_cache = true,
            b"must-revalidate" => self.must_revalidate = true,
            b"s-maxage" => keep_smaller(&mut self.s_maxage, value),
            b"max-age" => keep_smaller(&mut self.max_age, value),
            b"stale-while-revalidate" if value.is_none() => {
                self.stale_while_revalidate_unbounded = true;
            }
            b"stale-while-revalidate" => keep_smaller(&mut self.stale_while_revalidate, value),
            b"stale-if-error" => keep_smaller(&mut self.stale_if_error, value),
            _ => {}
        }
    }
}

/// Store `value` as delta-seconds in `slot` if it parses, keeping the smaller of two.
fn keep_smaller(slot: &mut Option<u64>, value: Option<&[u8]>) {
    let Some(seconds) = value.and_then(parse_delta_seconds) else {
        return;
    };
    *slot = Some(slot.map_or(seconds, |existing| existing.min(seconds)));
}

/// `1*DIGIT`, optionally quoted, saturating at `u32::MAX`. Anything else is `None`.
fn parse_delta_seconds(raw: &[u8]) -> Option<u64> {
    let digits = unquote(raw);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0u64, |acc, digit| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
            .min(MAX_DELTA_SECONDS)
    });
    Some(value)
}

/// Strip one pair of surrounding double quotes, if present.
fn unquote(raw: &[u8]) -> &[u8] {
    match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => raw,
    }
}

/// Split a directive into its trimmed name and optional trimmed value.
fn split_name_value(directive: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut parts = directive.splitn(2, |&b| b == b'=');
    let name = parts.next().unwrap_or_default().trim_ascii();
    (name, parts.next().map(<[u8]>::trim_ascii))
}

/// Split a header value on commas that are outside quoted strings, so that
/// `no-cache="a, b"` stays one directive. Empty elements are skipped.
fn split_directives(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = value;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = end_of_element(rest);
            let (element, tail) = rest.split_at_checked(end).unwrap_or((rest, &[]));
            let element = element.trim_ascii();
            rest = tail.get(1..).unwrap_or_default();
            if !element.is_empty() {
                return Some(element);
            }
        }
    })
}

/// Index of the first comma outside a quoted string (or the length when there is none).
fn end_of_element(value: &[u8]) -> usize {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &b) in value.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => return i,
            _ => {}
        }
    }
    value.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn parse(value: &'static str) -> CacheControl {
        CacheControl::from_headers(&headers(&[("cache-control", value)]), "cache-control")
    }

    #[test]
    fn parses_every_known_directive() {
        let cc = parse(
            "public, private, no-store, no-cache, must-revalidate, s-maxage=1, max-age=2, \
             stale-while-revalidate=3, stale-if-error=4",
        );
        assert_eq!(
            cc,
            CacheControl {
                s_maxage: Some(1),
                max_age: Some(2),
                stale_while_revalidate: Some(3),
                stale_if_error: Some(4),
                public: true,
                private: true,
                no_store: true,
                no_cache: true,
                must_revalidate: true,
                stale_while_revalidate_unbounded: false,
            }
        );
    }

    #[test]
    fn missing_header_is_empty() {
        let cc = CacheControl::from_headers(&HeaderMap::new(), "cache-control");
        assert_eq!(cc, CacheControl::default());
    }

    #[test]
    fn directive_names_are_case_insensitive() {
        let cc = parse("PUBLIC, Max-Age=60, S-MAXAGE=30, No-Store");
        assert!(cc.public && cc.no_store);
        assert_eq!((cc.max_age, cc.s_maxage), (Some(60), Some(30)));
    }

    #[test]
    fn values_may_be_quoted_and_spaced() {
        let cc = parse(r#"max-age="60" , s-maxage = 5"#);
        assert_eq!((cc.max_age, cc.s_maxage), (Some(60), Some(5)));
    }

    #[test]
    fn unknown_directives_are_ignored() {
        let cc = parse("immutable, foo=bar, max-age=60, x-ext=\"a,b\"");
        assert_eq!(cc.max_age, Some(60));
        assert!(!cc.public && !cc.private && !cc.no_store);
    }

    #[test]
    fn malformed_numbers_make_the_directive_absent() {
        for value in [
            "max-age=",
            "max-age",
            "max-age=-1",
            "max-age=1.5",
            "max-age=abc",
            "max-age=\"\"",
            "max-age=1 2",
            "max-age=+5",
        ] {
            let cc =
                CacheControl::from_headers(&headers(&[("cache-control", value)]), "cache-control");
            assert_eq!(cc.max_age, None, "{value}");
        }
    }

    #[test]
    fn malformed_duplicate_does_not_hide_a_valid_one() {
        assert_eq!(parse("max-age=abc, max-age=30").max_age, Some(30));
    }

    #[test]
    fn numbers_saturate_at_u32_max() {
        let cc = parse("max-age=4294967296, s-maxage=99999999999999999999999999");
        assert_eq!(cc.max_age, Some(u64::from(u32::MAX)));
        assert_eq!(cc.s_maxage, Some(u64::from(u32::MAX)));
        assert_eq!(parse("max-age=4294967295").max_age, Some(4_294_967_295));
    }

    #[test]
    fn duplicate_directive_keeps_the_smaller_number() {
        assert_eq!(parse("max-age=60, max-age=10").max_age, Some(10));
        assert_eq!(parse("s-maxage=10, s-maxage=60").s_maxage, Some(10));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let map = headers(&[
            ("cache-control", "public"),
            ("cache-control", "max-age=60"),
            ("cache-control", "max-age=30, no-cache"),
        ]);
        let cc = CacheControl::from_headers(&map, "cache-control");
        assert!(cc.public && cc.no_cache);
        assert_eq!(cc.max_age, Some(30));
    }

    #[test]
    fn quoted_commas_do_not_split_directives() {
        let cc = parse(r#"no-cache="set-cookie, x-foo", max-age=5"#);
        assert!(cc.no_cache);
        assert_eq!(cc.max_age, Some(5));
        assert!(!cc.public);
    }

    #[test]
    fn empty_elements_are_skipped() {
        let cc = parse(" , ,public,, max-age=1 ,");
        assert!(cc.public);
        assert_eq!(cc.max_age, Some(1));
    }

    #[test]
    fn unterminated_quote_does_not_panic() {
        let cc = parse("max-age=\"5, public");
        assert_eq!(cc.max_age, None);
    }

    #[test]
    fn cdn_cache_control_wins_over_cache_control() {
        let map = headers(&[
            ("cache-control", "private, no-store"),
            ("cdn-cache-control", "max-age=120"),
        ]);
        let cc = CacheControl::for_shared_cache(&map).expect("present");
        assert_eq!(cc.max_age, Some(120));
        assert!(!cc.private && !cc.no_store);
    }

    #[test]
    fn shared_cache_falls_back_to_cache_control() {
        let map = headers(&[("cache-control", "s-maxage=10")]);
        let cc = CacheControl::for_shared_cache(&map).expect("present");
        assert_eq!(cc.s_maxage, Some(10));
    }

    #[test]
    fn shared_cache_is_none_without_either_header() {
        let map = headers(&[("content-type", "text/html")]);
        assert_eq!(CacheControl::for_shared_cache(&map), None);
    }

    #[test]
    fn bare_stale_while_revalidate_is_unbounded() {
        let cc = parse("s-maxage=60, stale-while-revalidate");
        assert_eq!(cc.s_maxage, Some(60));
        assert_eq!(cc.stale_while_revalidate, None);
        assert!(cc.stale_while_revalidate_unbounded);
    }
}
