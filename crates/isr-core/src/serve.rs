//! Answering from a cached entry: the status, headers and body every runtime sends.
//!
//! Invariants:
//! - Only the `age` and the cache status are computed per answer; every other header was
//!   computed when the entry was stored ([`crate::headers::entry_headers`]), so a hit
//!   formats nothing else.
//! - A conditional request that the entry satisfies gets `304` with no body; `HEAD` gets
//!   the headers of a full answer and no body.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use crate::UnixMillis;
use crate::entry::Entry;
use crate::headers::{CacheStatus, X_ISR_CACHE, X_NEXTJS_CACHE, is_not_modified};

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
    cache_status: CacheStatus,
    method: &Method,
    request_headers: &HeaderMap,
    now: UnixMillis,
) -> Served {
    let mut headers = HeaderMap::with_capacity(entry.headers.len() + 3);
    for (name, value) in &entry.headers {
        headers.append(name.clone(), value.clone());
    }
    headers.insert(
        header::AGE,
        HeaderValue::from(now.secs_since(entry.created_at)),
    );
    headers.insert(X_ISR_CACHE, cache_status.header_value());
    headers.insert(X_NEXTJS_CACHE, cache_status.header_value());
    let not_modified = entry.status == StatusCode::OK
        && is_not_modified(request_headers, &entry.etag, entry.created_at);
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
        body: (*method != Method::HEAD).then(|| entry.body.clone()),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderName;

    use super::*;
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
}
