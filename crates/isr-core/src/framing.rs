//! How an origin's answer says where its body ends, and whether that end can be trusted.
//!
//! Invariant: an HTTP/1 answer whose body is delimited only by the connection closing
//! (no `Content-Length`, no chunked `Transfer-Encoding`; RFC 9112 §6.3, rule 8) cannot be
//! told from one cut short by a FIN, so it is never stored. Answers that have no body
//! (1xx, 204, 304) and HTTP/2 or HTTP/3 answers (framed by the protocol) are delimited.
//! Call it before hop-by-hop headers are removed: `Transfer-Encoding` is one of them.

use http::{HeaderMap, StatusCode, Version, header};

/// Does this answer's body end only where the connection closed?
pub fn is_close_delimited(version: Version, status: StatusCode, headers: &HeaderMap) -> bool {
    let http1 = matches!(
        version,
        Version::HTTP_09 | Version::HTTP_10 | Version::HTTP_11
    );
    let has_no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    http1 && !has_no_body && !headers.contains_key(header::CONTENT_LENGTH) && !is_chunked(headers)
}

/// Is the last transfer coding chunked (what frames the body)?
fn is_chunked(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .rev()
        .find(|coding| !coding.is_empty())
        .is_some_and(|coding| coding.eq_ignore_ascii_case("chunked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                http::HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn only_an_http1_body_ended_by_the_close_is_close_delimited() {
        let ok = StatusCode::OK;
        let bare = headers(&[("cache-control", "public, max-age=60")]);
        assert!(is_close_delimited(Version::HTTP_11, ok, &bare));
        assert!(is_close_delimited(Version::HTTP_10, ok, &bare));
        for framed in [
            headers(&[("content-length", "5")]),
            headers(&[("transfer-encoding", "chunked")]),
            headers(&[("transfer-encoding", "gzip, Chunked")]),
        ] {
            assert!(
                !is_close_delimited(Version::HTTP_11, ok, &framed),
                "{framed:?}"
            );
        }
        // A coding list that does not end in chunked frames nothing (RFC 9112 §6.3).
        let gzip = headers(&[("transfer-encoding", "chunked, gzip")]);
        assert!(is_close_delimited(Version::HTTP_11, ok, &gzip));
        assert!(!is_close_delimited(Version::HTTP_2, ok, &bare));
        assert!(!is_close_delimited(Version::HTTP_3, ok, &bare));
        for bodiless in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            assert!(!is_close_delimited(Version::HTTP_11, bodiless, &bare));
        }
    }
}
