//! Answering from a cached entry: the status, headers and body every runtime sends.
//!
//! Invariants:
//! - Only the `age` (the stored upstream age plus the time since the entry's creation,
//!   RFC 9111 §4.2.3), the cache status and (for a compressed representation) its
//!   length, validator and `Content-Encoding` are set per answer; every other header was
//!   computed when the entry was stored ([`crate::headers::entry_headers`]), so a hit
//!   formats nothing else.
//! - The representation sent is the one [`negotiate_accept_encoding`] picks from the
//!   request's `Accept-Encoding`; a client that accepts no coding isr holds gets identity.
//! - A conditional request that the chosen representation satisfies (its `ETag`, or the
//!   entry's stored `Last-Modified`) gets `304` with no body; `HEAD` gets the headers of
//!   the full answer it asked for, and no body.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::UnixMillis;
use crate::cache_status::{self, CACHE_STATUS, Forward};
use crate::coding::negotiate_accept_encoding;
use crate::entry::Entry;
use crate::headers::{
    CacheStatus, X_ISR_CACHE, X_NEXTJS_CACHE, header_date_millis, is_not_modified, stored_age_value,
};
use crate::lifetime::Revalidate;

/// An answer from the cache, ready to send.
#[derive(Debug)]
pub struct Served {
    /// The status code.
    pub status: StatusCode,
    /// The headers, with isr's own.
    pub headers: HeaderMap,
    /// `None` for `HEAD` and `304`; otherwise the entry's body, shared.
    pub body: Option<Bytes>,
}

/// Answer `method` with `request_headers` from `entry` at `now`, marked `cache_status`.
pub fn serve(
    entry: &Entry,
    cache_status_of: CacheStatus,
    method: &Method,
    request_headers: &HeaderMap,
    now: UnixMillis,
) -> Served {
    let mut headers = HeaderMap::with_capacity(entry.headers.len() + 3);
    let mut upstream_age = 0;
    for (name, value) in &entry.headers {
        if *name == header::AGE {
            upstream_age = stored_age_value(value);
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    let age = upstream_age.saturating_add(now.secs_since(entry.created_at));
    headers.insert(header::AGE, HeaderValue::from(age));
    headers.insert(CACHE_STATUS, cache_status(entry, cache_status_of, now));
    headers.insert(X_ISR_CACHE, cache_status_of.header_value());
    headers.insert(X_NEXTJS_CACHE, cache_status_of.header_value());
    // An entry held as identity only (most of them small or not text) reads no header.
    let chosen = if entry.representations.is_empty() {
        None
    } else {
        let offered = entry.representations.iter().map(|r| r.coding);
        negotiate_accept_encoding(request_headers, offered)
            .and_then(|coding| entry.representation(coding))
    };
    let (body, etag) = match chosen {
        None => (&entry.body, entry.etag.as_str()),
        Some(representation) => {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(representation.coding.as_str()),
            );
            headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(representation.body.len()),
            );
            match HeaderValue::from_str(&representation.etag) {
                Ok(value) => headers.insert(header::ETAG, value),
                Err(_) => headers.remove(header::ETAG),
            };
            (&representation.body, representation.etag.as_str())
        }
    };
    let not_modified = entry.status == StatusCode::OK
        && is_not_modified(request_headers, etag, last_modified(entry));
    if not_modified {
        headers.remove(header::CONTENT_LENGTH);
        return Served {
            status: StatusCode::NOT_MODIFIED,
            headers,
            body: None,
        };
    }
    Served {
        status: entry.status,
        headers,
        body: (*method != Method::HEAD).then(|| body.clone()),
    }
}

/// `Cache-Status` for an answer from `entry` marked `status`: a hit (fresh or stale, with
/// its `ttl`), or, for the request whose render stored it, `fwd=uri-miss` and `stored`.
fn cache_status(entry: &Entry, status: CacheStatus, now: UnixMillis) -> HeaderValue {
    let ttl = match entry.lifetime.revalidate {
        Revalidate::After(secs) => {
            let fresh_for = i64::try_from(secs).unwrap_or(i64::MAX);
            let resident = i64::try_from(now.secs_since(entry.created_at)).unwrap_or(i64::MAX);
            fresh_for.saturating_sub(resident)
        }
        Revalidate::Never => i64::from(u32::MAX),
    };
    match status {
        CacheStatus::Miss => {
            cache_status::forwarded(Forward::UriMiss, Some(entry.status), Some(ttl), None)
        }
        _ => cache_status::hit(ttl),
    }
}

/// The instant an entry's representation last changed: its stored `Last-Modified` (the
/// origin's, or the render's start when the origin sent none), to the second.
fn last_modified(entry: &Entry) -> UnixMillis {
    entry
        .headers
        .iter()
        .find(|(name, _)| *name == header::LAST_MODIFIED)
        .and_then(|(_, value)| header_date_millis(value))
        .unwrap_or(entry.created_at)
}

#[cfg(test)]
mod tests {
    use http::HeaderName;

    use super::*;
    use crate::coding::Coding;
    use crate::entry::Representation;
    use crate::lifetime::{Lifetime, Revalidate};

    fn entry() -> Entry {
        Entry {
            key: "k".to_owned(),
            path: "/".to_owned(),
            status: StatusCode::OK,
            headers: vec![(
                HeaderName::from_static("content-length"),
                HeaderValue::from_static("5"),
            )],
            body: Bytes::from_static(b"hello"),
            created_at: UnixMillis(10_000),
            lifetime: Lifetime {
                revalidate: Revalidate::After(60),
                expire: None,
                stale_if_error: 0,
            },
            tags: Vec::new(),
            build_id: String::new(),
            etag: "\"e\"".to_owned(),
            representations: Vec::new(),
        }
    }

    #[test]
    fn a_full_answer_has_the_age_the_status_and_the_body() {
        let served = serve(
            &entry(),
            CacheStatus::Stale,
            &Method::GET,
            &HeaderMap::new(),
            UnixMillis(13_500),
        );
        assert_eq!(served.status, StatusCode::OK);
        assert_eq!(served.headers[header::AGE], "3");
        assert_eq!(served.headers[X_ISR_CACHE], "STALE");
        assert_eq!(served.headers[CACHE_STATUS], "isr; hit; ttl=57");
        assert_eq!(served.body.as_deref(), Some(&b"hello"[..]));
    }

    #[test]
    fn head_has_no_body_and_a_matching_etag_is_304() {
        let now = UnixMillis(10_000);
        let head = serve(
            &entry(),
            CacheStatus::Hit,
            &Method::HEAD,
            &HeaderMap::new(),
            now,
        );
        assert_eq!(head.body, None);
        assert_eq!(head.headers[header::CONTENT_LENGTH], "5");
        let mut conditional = HeaderMap::new();
        conditional.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"e\""));
        let not_modified = serve(&entry(), CacheStatus::Hit, &Method::GET, &conditional, now);
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
        assert_eq!(not_modified.body, None);
        assert!(!not_modified.headers.contains_key(header::CONTENT_LENGTH));
    }

    fn compressed() -> Entry {
        let mut page = entry();
        page.headers
            .push((header::VARY, HeaderValue::from_static("accept-encoding")));
        page.headers
            .push((header::ETAG, HeaderValue::from_static("\"e\"")));
        page.representations = vec![
            Representation {
                coding: Coding::Gzip,
                etag: "\"e-gzip\"".to_owned(),
                body: Bytes::from_static(b"gz"),
            },
            Representation {
                coding: Coding::Br,
                etag: "\"e-br\"".to_owned(),
                body: Bytes::from_static(b"b"),
            },
        ];
        page
    }

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn each_client_gets_the_representation_it_accepts_with_its_length_and_validator() {
        let now = UnixMillis(10_000);
        let page = compressed();
        /// Request headers, and the `Content-Encoding`, length, validator and body sent.
        type Case<'a> = (
            &'a [(&'a str, &'a str)],
            Option<&'a str>,
            &'a str,
            &'a str,
            &'a [u8],
        );
        let table: [Case<'_>; 4] = [
            (
                &[("accept-encoding", "gzip, deflate, br, zstd")],
                Some("br"),
                "1",
                "\"e-br\"",
                b"b",
            ),
            (
                &[("accept-encoding", "gzip")],
                Some("gzip"),
                "2",
                "\"e-gzip\"",
                b"gz",
            ),
            (&[("accept-encoding", "zstd")], None, "5", "\"e\"", b"hello"),
            (&[], None, "5", "\"e\"", b"hello"),
        ];
        for (pairs, coding, length, etag, body) in table {
            let served = serve(&page, CacheStatus::Hit, &Method::GET, &request(pairs), now);
            let label = format!("{pairs:?}");
            assert_eq!(
                served
                    .headers
                    .get(header::CONTENT_ENCODING)
                    .map(|v| v.to_str().unwrap()),
                coding,
                "{label}"
            );
            assert_eq!(served.headers[header::CONTENT_LENGTH], length, "{label}");
            assert_eq!(served.headers[header::ETAG], etag, "{label}");
            assert_eq!(served.headers[header::VARY], "accept-encoding", "{label}");
            assert_eq!(served.body.as_deref(), Some(body), "{label}");
            let head = serve(&page, CacheStatus::Hit, &Method::HEAD, &request(pairs), now);
            assert_eq!(head.headers[header::CONTENT_LENGTH], length, "HEAD {label}");
            assert_eq!(head.body, None);
        }
    }

    #[test]
    fn if_none_match_matches_the_representation_sent_only() {
        let now = UnixMillis(10_000);
        let page = compressed();
        let conditional = |etag, accept| {
            serve(
                &page,
                CacheStatus::Hit,
                &Method::GET,
                &request(&[("if-none-match", etag), ("accept-encoding", accept)]),
                now,
            )
            .status
        };
        assert_eq!(conditional("\"e-br\"", "br"), StatusCode::NOT_MODIFIED);
        assert_eq!(conditional("\"e-br\"", "gzip"), StatusCode::OK);
        assert_eq!(conditional("\"e\"", "br"), StatusCode::OK);
        assert_eq!(conditional("\"e\"", "identity"), StatusCode::NOT_MODIFIED);
        assert_eq!(conditional("\"e-gzip\"", "gzip"), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn the_age_adds_the_upstream_age_to_the_time_since_creation() {
        let mut aged = entry();
        aged.headers
            .push((header::AGE, HeaderValue::from_static("100")));
        let served = serve(
            &aged,
            CacheStatus::Hit,
            &Method::GET,
            &HeaderMap::new(),
            UnixMillis(15_000),
        );
        assert_eq!(served.headers.get_all(header::AGE).iter().count(), 1);
        assert_eq!(served.headers[header::AGE], "105");
    }

    #[test]
    fn if_modified_since_is_compared_with_the_stored_last_modified() {
        let mut stored = entry();
        stored.headers.push((
            header::LAST_MODIFIED,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        ));
        let mut later = HeaderMap::new();
        later.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:40 GMT"),
        );
        let now = UnixMillis(1_000_000_000_000);
        let served = serve(&stored, CacheStatus::Hit, &Method::GET, &later, now);
        assert_eq!(served.status, StatusCode::NOT_MODIFIED);
        let mut earlier = HeaderMap::new();
        earlier.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:30 GMT"),
        );
        let served = serve(&stored, CacheStatus::Hit, &Method::GET, &earlier, now);
        assert_eq!(served.status, StatusCode::OK);
    }
}
