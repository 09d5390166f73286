//! The headers isr stores, forwards and answers with.
//!
//! Invariants:
//! - Hop-by-hop headers (RFC 9110 §7.6.1, and any named in `Connection`) are neither
//!   stored nor forwarded.
//! - Stored headers never include `Set-Cookie`, `Age`, `Date`, `Content-Length`,
//!   `Transfer-Encoding`, or isr's own status headers; a header value with a control
//!   character makes the response unstorable.
//! - Request headers that could steer the origin without being keyed (`X-Forwarded-Host`,
//!   `X-Original-URL`, `X-Rewrite-URL`, `X-HTTP-Method-Override`, ...) are never forwarded.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::UnixMillis;
use crate::lifetime::{Lifetime, Revalidate};

/// The cache status header isr answers with.
pub const X_ISR_CACHE: HeaderName = HeaderName::from_static("x-isr-cache");
/// Mirror of [`X_ISR_CACHE`] for tools that read Next.js's header.
pub const X_NEXTJS_CACHE: HeaderName = HeaderName::from_static("x-nextjs-cache");
/// Recursion guard: isr's own renders carry this header with a per-process secret.
pub const X_ISR_RENDER: HeaderName = HeaderName::from_static("x-isr-render");
/// Tags the origin assigns to a response (comma-separated), like `Cache-Tag`.
pub const X_ISR_TAGS: HeaderName = HeaderName::from_static("x-isr-tags");
/// Cloudflare-style tag header, also read for tags.
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");

/// Longest tag accepted, and most tags per entry (Next.js uses the same limits).
pub const MAX_TAG_LEN: usize = 256;
/// The most tags an entry keeps; more are dropped.
pub const MAX_TAGS: usize = 128;

/// How an answer relates to the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// Answered from a fresh entry.
    Hit,
    /// Answered from a stale entry while it is regenerated (or after a failed render).
    Stale,
    /// Rendered for this request and stored.
    Miss,
    /// Passed to the origin and not stored.
    Bypass,
}

impl CacheStatus {
    /// The header value's text: `HIT`, `STALE`, `MISS` or `BYPASS`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Stale => "STALE",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    /// The value for the `x-isr-cache` header.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// `Cache-Control` for answers that must not be kept anywhere (bypass).
pub const PRIVATE_NO_STORE: HeaderValue = HeaderValue::from_static("private, no-store");

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the non-standard ones proxies still see).
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Request headers that could make the origin render something other than what the key
/// describes (another host, path, method or scheme), or forge isr's recursion guard.
const UNKEYED_STEERING: [&str; 13] = [
    "x-forwarded-host",
    "x-forwarded-server",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-isr-render",
    "forwarded",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-scheme",
    "x-host",
];

/// End-to-end headers that are still never stored: per-message or per-client values
/// (recomputed on every answer), and isr's own status and tag headers (tags are stored
/// separately, see [`origin_tags`]).
const NEVER_STORED: [&str; 9] = [
    "set-cookie",
    "age",
    "date",
    "content-length",
    "x-isr-cache",
    "x-nextjs-cache",
    "x-isr-tags",
    "cache-tag",
    "x-isr-render",
];

/// `s-maxage` isr sends for `revalidate = false` (one year, as Next.js does).
const ONE_YEAR_SECS: u64 = 31_536_000;

/// Latest instant `httpdate` can format (`Fri, 31 Dec 9999 23:59:59 GMT`); it panics
/// beyond it.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// True for hop-by-hop header names (not counting those listed in `Connection`).
pub fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// Remove hop-by-hop headers, including every header named in `Connection`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Remove request headers that must never reach the origin from a client (see the
/// module invariants), including a client-sent [`X_ISR_RENDER`].
pub fn remove_unkeyed_steering(headers: &mut HeaderMap) {
    for name in UNKEYED_STEERING {
        headers.remove(name);
    }
}

/// A client's headers as they may reach the origin: without hop-by-hop headers and
/// without the headers that could steer the origin unkeyed. Only forwarding needs this,
/// so the hit path never pays for it.
pub fn forwardable(mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    remove_unkeyed_steering(&mut headers);
    headers
}

/// The response headers to store, or `None` if a value has a control character.
pub fn storable_headers(headers: &HeaderMap) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let connection_listed = connection_listed(headers);
    let is_stored = |name: &HeaderName| {
        !is_hop_by_hop(name)
            && !NEVER_STORED.contains(&name.as_str())
            && !connection_listed.contains(name)
    };
    let mut stored = Vec::with_capacity(headers.len());
    for (name, value) in headers.iter().filter(|(name, _)| is_stored(name)) {
        if has_control_char(value.as_bytes()) {
            return None;
        }
        stored.push((name.clone(), value.clone()));
    }
    Some(stored)
}

/// Header names listed in every `Connection` value (invalid names skipped).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter_map(|name| HeaderName::from_bytes(name).ok())
        .collect()
}

/// True for a byte that must never appear in a stored header value: any control
/// character except horizontal tab (CR/LF would allow response splitting on replay).
///
/// `http` already refuses these in a `HeaderValue` built through its checked
/// constructors; this guards values that reached us some other way.
pub(crate) fn has_control_char(value: &[u8]) -> bool {
    value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

/// Tags the origin assigned in `x-isr-tags` and `cache-tag` (comma-separated, trimmed,
/// empty and over-long ones dropped, duplicates removed, at most [`MAX_TAGS`]).
pub fn origin_tags(headers: &HeaderMap) -> Vec<String> {
    let candidates = [X_ISR_TAGS, CACHE_TAG]
        .into_iter()
        .flat_map(|name| headers.get_all(name).iter())
        // A value that is not UTF-8 cannot name a tag isr could later be asked to purge.
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|tag| is_acceptable_tag(tag));
    let mut tags: Vec<String> = Vec::new();
    for tag in candidates {
        if tags.len() == MAX_TAGS {
            break;
        }
        if !tags.iter().any(|kept| kept == tag) {
            tags.push(tag.to_owned());
        }
    }
    tags
}

fn is_acceptable_tag(tag: &str) -> bool {
    !tag.is_empty() && tag.len() <= MAX_TAG_LEN && !tag.chars().any(char::is_control)
}

/// The `Cache-Control` isr sends downstream for a cached entry, computed the way Next.js
/// does: `s-maxage=R, stale-while-revalidate=E-R`; `s-maxage=R` when E ≤ R or there is no
/// stale window; `s-maxage=31536000` for `revalidate = false`.
pub fn downstream_cache_control(lifetime: &Lifetime) -> HeaderValue {
    let value = match (lifetime.revalidate, lifetime.expire) {
        (Revalidate::Never, _) => format!("s-maxage={ONE_YEAR_SECS}"),
        (Revalidate::After(r), Some(e)) if e > r => {
            format!("s-maxage={r}, stale-while-revalidate={}", e - r)
        }
        (Revalidate::After(r), _) => format!("s-maxage={r}"),
    };
    // Only digits, letters and ", =-": always a valid value. The fallback is the safe
    // answer should that ever change.
    HeaderValue::try_from(value).unwrap_or(PRIVATE_NO_STORE)
}

/// True when the request's `If-None-Match` matches `etag` (weak comparison, `*`, lists),
/// or, without `If-None-Match`, its `If-Modified-Since` is at or after `last_modified`.
pub fn is_not_modified(request: &HeaderMap, etag: &str, last_modified: UnixMillis) -> bool {
    // RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    if request.contains_key(header::IF_NONE_MATCH) {
        return if_none_match_matches(request, etag);
    }
    request
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_unix_secs)
        .is_some_and(|since| since >= last_modified.0 / 1000)
}

/// Weak comparison (RFC 9110 §8.8.3.2) of `etag` against every listed entity-tag.
fn if_none_match_matches(request: &HeaderMap, etag: &str) -> bool {
    let ours = opaque_tag(etag.trim());
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .flat_map(|value| EntityTags::new(value.as_bytes()))
        .any(|theirs| match theirs {
            ListedTag::Any => true,
            ListedTag::Opaque(tag) => tag == ours.as_bytes(),
        })
}

/// An entity-tag without its weakness indicator: `W/"x"` and `"x"` both give `"x"`.
fn opaque_tag(etag: &str) -> &str {
    etag.strip_prefix("W/").unwrap_or(etag)
}

/// One element of an `If-None-Match` list.
#[derive(Debug, PartialEq, Eq)]
enum ListedTag<'a> {
    /// `*`
    Any,
    /// The quoted opaque-tag, quotes included, weakness indicator dropped.
    Opaque(&'a [u8]),
}

/// Iterator over the entity-tags of one `If-None-Match` value. Entity-tags may contain
/// commas inside their quotes, so the list is scanned rather than split; a malformed
/// element is skipped up to the next comma.
struct EntityTags<'a> {
    rest: &'a [u8],
}

impl<'a> EntityTags<'a> {
    fn new(value: &'a [u8]) -> Self {
        EntityTags { rest: value }
    }

    /// Everything up to (not including) the next comma.
    fn current_element(&self) -> &'a [u8] {
        let end = self.next_comma().unwrap_or(self.rest.len());
        self.rest.get(..end).unwrap_or(self.rest)
    }

    /// Drop everything up to and including the next comma.
    fn skip_element(&mut self) {
        self.rest = match self.next_comma() {
            Some(comma) => self.rest.get(comma + 1..).unwrap_or_default(),
            None => &[],
        };
    }

    fn next_comma(&self) -> Option<usize> {
        self.rest.iter().position(|&b| b == b',')
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = ListedTag<'a>;

    fn next(&mut self) -> Option<ListedTag<'a>> {
        loop {
            self.rest = self.rest.trim_ascii_start();
            let rest = self.rest;
            match rest {
                [] => return None,
                [b',', tail @ ..] => self.rest = tail,
                [b'*', ..] => {
                    let is_bare_star = self.current_element().trim_ascii() == b"*";
                    self.skip_element();
                    if is_bare_star {
                        return Some(ListedTag::Any);
                    }
                }
                _ => {
                    let quoted = rest.strip_prefix(b"W/").unwrap_or(rest);
                    let closing = match quoted {
                        [b'"', inner @ ..] => inner.iter().position(|&b| b == b'"'),
                        _ => None,
                    };
                    match closing {
                        Some(end) => {
                            // `end` indexes the inner slice: the tag spans end + 2 bytes.
                            let (tag, tail) = quoted.split_at(end + 2);
                            self.rest = tail;
                            self.skip_element();
                            return Some(ListedTag::Opaque(tag));
                        }
                        None => self.skip_element(),
                    }
                }
            }
        }
    }
}

/// Seconds since the epoch of an HTTP date, or `None` if it does not parse.
fn parse_unix_secs(value: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(value).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(t: UnixMillis) -> HeaderValue {
    let secs = (t.0 / 1000).min(MAX_HTTP_DATE_SECS);
    // Built from the epoch, never from a clock: fine on wasm32-unknown-unknown too.
    let time = UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH);
    HeaderValue::try_from(httpdate::fmt_http_date(time))
        .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

/// A strong ETag computed from a body: `"` + 16 hex digits of xxh3-64 + `"`.
pub fn body_etag(body: &[u8]) -> String {
    format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(body))
}

/// The headers an entry is answered with, computed once when it is stored so a hit only
/// adds `Age` and the cache status: the storable origin headers, with isr's `ETag`, a
/// `Last-Modified` (the render time, unless the origin sent one), the `Content-Length` of
/// the stored body and the downstream `Cache-Control`. `None` if an origin header value
/// has a control character.
pub fn entry_headers(
    origin: &HeaderMap,
    etag: &str,
    created_at: UnixMillis,
    lifetime: &Lifetime,
    body_len: usize,
) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut headers: Vec<(HeaderName, HeaderValue)> = storable_headers(origin)?
        .into_iter()
        .filter(|(name, _)| *name != http::header::ETAG && *name != http::header::CACHE_CONTROL)
        .collect();
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.push((http::header::ETAG, etag));
    }
    if !origin.contains_key(http::header::LAST_MODIFIED) {
        headers.push((http::header::LAST_MODIFIED, http_date(created_at)));
    }
    headers.push((http::header::CONTENT_LENGTH, HeaderValue::from(body_len)));
    headers.push((
        http::header::CACHE_CONTROL,
        downstream_cache_control(lifetime),
    ));
    Some(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        headers.keys().map(HeaderName::as_str).collect()
    }

    fn lifetime(revalidate: Revalidate, expire: Option<u64>) -> Lifetime {
        Lifetime {
            revalidate,
            expire,
            stale_if_error: 0,
        }
    }

    // --- hop-by-hop ---

    #[test]
    fn recognises_every_hop_by_hop_header() {
        for name in HOP_BY_HOP {
            assert!(is_hop_by_hop(&HeaderName::from_static(name)), "{name}");
        }
        assert!(!is_hop_by_hop(&header::CONTENT_TYPE));
        assert!(!is_hop_by_hop(&header::CACHE_CONTROL));
    }

    #[test]
    fn removes_hop_by_hop_and_connection_listed_headers() {
        let mut headers = map(&[
            ("connection", "close, X-Secret , keep-alive"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authenticate", "Basic"),
            ("proxy-authorization", "Basic abc"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-secret", "1"),
            ("x-other", "2"),
            ("content-type", "text/html"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["content-type"]);
    }

    #[test]
    fn invalid_connection_tokens_are_ignored() {
        let mut headers = map(&[("connection", "bad name, ,"), ("etag", "\"a\"")]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["etag"]);
    }

    // --- unkeyed steering ---

    #[test]
    fn removes_every_unkeyed_steering_header() {
        let mut headers = HeaderMap::new();
        for name in UNKEYED_STEERING {
            headers.insert(name, HeaderValue::from_static("x"));
        }
        headers.insert("accept", HeaderValue::from_static("text/html"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        remove_unkeyed_steering(&mut headers);
        // Removal may reorder a `HeaderMap`; only the set of names matters.
        let mut left = names(&headers);
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-forwarded-for"]);
    }

    #[test]
    fn removes_a_client_sent_render_guard() {
        let mut headers = map(&[("x-isr-render", "forged")]);
        remove_unkeyed_steering(&mut headers);
        assert!(!headers.contains_key(X_ISR_RENDER));
    }

    // --- storable headers ---

    #[test]
    fn storable_headers_drop_per_message_and_own_headers() {
        let headers = map(&[
            ("content-type", "text/html"),
            ("set-cookie", "a=1"),
            ("age", "3"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("content-length", "12"),
            ("transfer-encoding", "chunked"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("x-isr-cache", "HIT"),
            ("x-nextjs-cache", "HIT"),
            ("x-isr-tags", "a"),
            ("cache-tag", "b"),
            ("x-isr-render", "secret"),
            ("etag", "\"abc\""),
            ("vary", "accept-encoding"),
            ("vary", "accept-language"),
        ]);
        let stored = storable_headers(&headers).expect("storable");
        let stored: Vec<(&str, &[u8])> = stored
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            stored,
            [
                ("content-type", &b"text/html"[..]),
                ("etag", b"\"abc\""),
                ("vary", b"accept-encoding"),
                ("vary", b"accept-language"),
            ]
        );
    }

    #[test]
    fn storable_headers_keep_tabs_and_obs_text() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tab", HeaderValue::from_static("a\tb"));
        headers.insert(
            "x-obs",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is valid"),
        );
        assert_eq!(storable_headers(&headers).map(|v| v.len()), Some(2));
    }

    #[test]
    fn control_characters_are_detected() {
        for bad in [
            &b"a\rb"[..],
            b"a\nb",
            b"a\r\nSet-Cookie: x",
            b"\0",
            b"\x1b[0m",
            b"\x7f",
        ] {
            assert!(has_control_char(bad), "{bad:?}");
        }
        assert!(!has_control_char(b"text/html;\tcharset=utf-8"));
        assert!(!has_control_char(b"caf\xe9"));
    }

    #[test]
    fn cr_lf_values_never_become_header_values() {
        // `http` refuses them at construction, so a stored header cannot carry them; the
        // `has_control_char` check is the second line of defence.
        assert!(HeaderValue::from_bytes(b"a\r\nSet-Cookie: x=1").is_err());
        assert!(HeaderValue::from_bytes(b"a\0b").is_err());
    }

    // --- tags ---

    #[test]
    fn tags_come_from_both_headers_trimmed_and_deduplicated() {
        let headers = map(&[
            ("x-isr-tags", " blog , post:1,,blog"),
            ("x-isr-tags", "home"),
            ("cache-tag", "post:1, footer ,"),
        ]);
        assert_eq!(origin_tags(&headers), ["blog", "post:1", "home", "footer"]);
    }

    #[test]
    fn no_tag_headers_means_no_tags() {
        assert!(origin_tags(&map(&[("content-type", "text/html")])).is_empty());
    }

    #[test]
    fn over_long_tags_are_dropped() {
        let exact = "a".repeat(MAX_TAG_LEN);
        let too_long = "b".repeat(MAX_TAG_LEN + 1);
        let mut headers = HeaderMap::new();
        let value = format!("{too_long},{exact},ok");
        headers.insert(X_ISR_TAGS, HeaderValue::try_from(value).expect("valid"));
        assert_eq!(origin_tags(&headers), [exact.as_str(), "ok"]);
    }

    #[test]
    fn tags_with_control_characters_are_dropped() {
        assert!(is_acceptable_tag("fine"));
        assert!(!is_acceptable_tag("bad\ttag"));
        assert!(!is_acceptable_tag("bad\u{7f}"));
        assert!(!is_acceptable_tag(""));
        let headers = map(&[("x-isr-tags", "a\tb, c")]);
        assert_eq!(origin_tags(&headers), ["c"]);
    }

    #[test]
    fn non_utf8_tag_values_are_skipped() {
        let mut headers = HeaderMap::new();
        headers.append(
            X_ISR_TAGS,
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is valid"),
        );
        headers.append(X_ISR_TAGS, HeaderValue::from_static("ok"));
        assert_eq!(origin_tags(&headers), ["ok"]);
    }

    #[test]
    fn at_most_max_tags_are_kept() {
        let value = (0..MAX_TAGS + 10)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut headers = HeaderMap::new();
        headers.insert(CACHE_TAG, HeaderValue::try_from(value).expect("valid"));
        let tags = origin_tags(&headers);
        assert_eq!(tags.len(), MAX_TAGS);
        assert_eq!(tags.first().map(String::as_str), Some("t0"));
        assert_eq!(tags.last(), Some(&format!("t{}", MAX_TAGS - 1)));
    }

    // --- downstream Cache-Control ---

    #[test]
    fn downstream_with_stale_window() {
        let value = downstream_cache_control(&lifetime(Revalidate::After(10), Some(60)));
        assert_eq!(value, "s-maxage=10, stale-while-revalidate=50");
    }

    #[test]
    fn downstream_without_stale_window() {
        for expire in [None, Some(10), Some(5)] {
            let value = downstream_cache_control(&lifetime(Revalidate::After(10), expire));
            assert_eq!(value, "s-maxage=10", "{expire:?}");
        }
    }

    #[test]
    fn downstream_for_revalidate_false() {
        for expire in [None, Some(100)] {
            let value = downstream_cache_control(&lifetime(Revalidate::Never, expire));
            assert_eq!(value, "s-maxage=31536000");
        }
    }

    // --- conditional requests ---

    const ETAG: &str = "\"abc\"";
    const LAST_MODIFIED: UnixMillis = UnixMillis(784_111_777_500); // 1994-11-06T08:49:37.5Z

    fn not_modified(pairs: &[(&'static str, &'static str)]) -> bool {
        is_not_modified(&map(pairs), ETAG, LAST_MODIFIED)
    }

    #[test]
    fn no_conditional_headers_is_modified() {
        assert!(!not_modified(&[]));
    }

    #[test]
    fn if_none_match_exact() {
        assert!(not_modified(&[("if-none-match", "\"abc\"")]));
        assert!(!not_modified(&[("if-none-match", "\"abd\"")]));
    }

    #[test]
    fn if_none_match_weak_comparison_on_both_sides() {
        assert!(not_modified(&[("if-none-match", "W/\"abc\"")]));
        assert!(is_not_modified(
            &map(&[("if-none-match", "\"abc\"")]),
            "W/\"abc\"",
            LAST_MODIFIED
        ));
        assert!(is_not_modified(
            &map(&[("if-none-match", "W/\"abc\"")]),
            "W/\"abc\"",
            LAST_MODIFIED
        ));
    }

    #[test]
    fn if_none_match_lists_and_star() {
        assert!(not_modified(&[(
            "if-none-match",
            "\"x\", W/\"y\" ,\"abc\""
        )]));
        assert!(not_modified(&[
            ("if-none-match", "\"x\""),
            ("if-none-match", "\"abc\"")
        ]));
        assert!(not_modified(&[("if-none-match", "*")]));
        assert!(!not_modified(&[("if-none-match", "*x")]));
        assert!(!not_modified(&[("if-none-match", "\"x\", \"y\"")]));
    }

    #[test]
    fn if_none_match_tags_may_contain_commas() {
        assert!(is_not_modified(
            &map(&[("if-none-match", "\"a,b\"")]),
            "\"a,b\"",
            LAST_MODIFIED
        ));
        assert!(!is_not_modified(
            &map(&[("if-none-match", "\"a,b\"")]),
            "\"a\"",
            LAST_MODIFIED
        ));
    }

    #[test]
    fn if_none_match_needs_quotes() {
        assert!(!not_modified(&[("if-none-match", "abc")]));
        assert!(!not_modified(&[("if-none-match", "\"abc")]));
        assert!(!not_modified(&[("if-none-match", "W/abc")]));
        assert!(not_modified(&[("if-none-match", "junk, \"abc\"")]));
    }

    #[test]
    fn if_none_match_overrides_if_modified_since() {
        assert!(!not_modified(&[
            ("if-none-match", "\"other\""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]));
        assert!(!not_modified(&[
            ("if-none-match", ""),
            ("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]));
    }

    #[test]
    fn if_modified_since_at_second_precision() {
        // Same second as last_modified (the 500 ms are below HTTP-date precision).
        assert!(not_modified(&[(
            "if-modified-since",
            "Sun, 06 Nov 1994 08:49:37 GMT"
        )]));
        assert!(not_modified(&[(
            "if-modified-since",
            "Sun, 06 Nov 1994 08:49:38 GMT"
        )]));
        assert!(!not_modified(&[(
            "if-modified-since",
            "Sun, 06 Nov 1994 08:49:36 GMT"
        )]));
    }

    #[test]
    fn if_modified_since_accepts_obsolete_formats() {
        assert!(not_modified(&[(
            "if-modified-since",
            "Sunday, 06-Nov-94 08:49:37 GMT"
        )]));
        assert!(not_modified(&[(
            "if-modified-since",
            "Sun Nov  6 08:49:37 1994"
        )]));
    }

    #[test]
    fn unparsable_if_modified_since_is_modified() {
        assert!(!not_modified(&[("if-modified-since", "yesterday")]));
        assert!(!not_modified(&[("if-modified-since", "")]));
    }

    // --- dates and etags ---

    #[test]
    fn http_date_formats_imf_fixdate() {
        assert_eq!(http_date(LAST_MODIFIED), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UnixMillis(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn http_date_clamps_instead_of_panicking() {
        assert_eq!(
            http_date(UnixMillis(u64::MAX)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }

    #[test]
    fn http_date_round_trips_through_if_modified_since() {
        let date = http_date(LAST_MODIFIED);
        let mut request = HeaderMap::new();
        request.insert(header::IF_MODIFIED_SINCE, date);
        assert!(is_not_modified(&request, ETAG, LAST_MODIFIED));
    }

    #[test]
    fn body_etag_is_quoted_lowercase_hex_of_xxh3() {
        let etag = body_etag(b"hello");
        let expected = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(b"hello"));
        assert_eq!(etag, expected);
        assert_eq!(etag.len(), 18);
        let hex = &etag[1..17];
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_ne!(body_etag(b"hello"), body_etag(b"hellp"));
        // xxh3-64 of the empty input is a published constant.
        assert_eq!(body_etag(b""), "\"2d06800538d394c2\"");
    }

    #[test]
    fn cache_status_strings() {
        assert_eq!(CacheStatus::Hit.header_value(), "HIT");
        assert_eq!(CacheStatus::Stale.as_str(), "STALE");
        assert_eq!(CacheStatus::Miss.as_str(), "MISS");
        assert_eq!(CacheStatus::Bypass.as_str(), "BYPASS");
    }

    #[test]
    fn entry_headers_carry_what_a_hit_needs_and_replace_the_origin_validators() {
        let mut origin = HeaderMap::new();
        origin.insert("content-type", HeaderValue::from_static("text/html"));
        origin.insert("etag", HeaderValue::from_static("\"origin\""));
        origin.insert("cache-control", HeaderValue::from_static("s-maxage=1"));
        origin.insert("set-cookie", HeaderValue::from_static("a=b"));
        let lifetime = Lifetime {
            revalidate: crate::lifetime::Revalidate::After(10),
            expire: Some(60),
            stale_if_error: 0,
        };
        let headers = entry_headers(&origin, "\"isr\"", UnixMillis(0), &lifetime, 42).unwrap();
        let get = |name: &str| {
            let values: Vec<_> = headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect();
            values
        };
        assert_eq!(get("etag"), vec![HeaderValue::from_static("\"isr\"")]);
        assert_eq!(
            get("cache-control"),
            vec![HeaderValue::from_static(
                "s-maxage=10, stale-while-revalidate=50"
            )]
        );
        assert_eq!(get("content-length"), vec![HeaderValue::from(42)]);
        assert_eq!(get("last-modified"), vec![http_date(UnixMillis(0))]);
        assert_eq!(
            get("content-type"),
            vec![HeaderValue::from_static("text/html")]
        );
        assert!(get("set-cookie").is_empty());
    }
}
