//! Store-time compression, decided: which compressed representations of a page are made
//! when it is stored ([`to_make`]), which are worth keeping, and how an entry carries them
//! ([`attach`]). The compressing and decoding themselves are a native runtime's (brotli,
//! zstd and flate2 are native crates, kept out of this crate and of the Worker, whose
//! pages Cloudflare's edge compresses per client).
//!
//! Invariants:
//! - Only a page that gains is compressed: a compressible media type (text, JSON,
//!   JavaScript, XML, SVG, WebAssembly, uncompressed fonts), a body of at least
//!   `min_size`, a status with content, and an origin that did not forbid it with
//!   `Cache-Control: no-transform` (RFC 9110 §7.7). A representation that saves less than
//!   [`MIN_SAVING_PERCENT`] is dropped.
//! - An entry holding representations says `Vary: Accept-Encoding`, on every answer
//!   (identity too), so a downstream cache keys them apart.
//! - A decoded origin answer loses `Content-Encoding`, `Content-Length` and its `ETag`
//!   (which named the coded bytes): the entry's validator is then computed from the
//!   identity body.

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::coding::{Coding, MADE};
use crate::config::CompressionSettings;
use crate::entry::{Entry, Representation};

/// A representation is kept only if it is at least this much smaller than identity.
pub const MIN_SAVING_PERCENT: usize = 5;

/// One representation to make: the coding, at the configured level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compression {
    /// The coding to make.
    pub coding: Coding,
    /// Its level (quality for br), within the coding's range.
    pub level: u32,
}

/// The representations to make of a page the origin answered with `status` and `headers`
/// (its own, before isr's are added), whose identity body is `body_len` bytes.
pub fn to_make(
    status: StatusCode,
    headers: &HeaderMap,
    body_len: usize,
    settings: &CompressionSettings,
) -> Vec<Compression> {
    let has_content = !(status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED);
    let gains = has_content
        && u64::try_from(body_len).unwrap_or(u64::MAX) >= settings.min_bytes
        && !headers.contains_key(header::CONTENT_ENCODING)
        && !forbids_transform(headers)
        && headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| is_compressible(value.as_bytes()));
    if !gains {
        return Vec::new();
    }
    MADE.into_iter()
        .filter_map(|coding| {
            let level = match coding {
                Coding::Br => settings.br,
                Coding::Zstd => settings.zstd,
                Coding::Gzip => settings.gzip,
                Coding::Deflate => None,
            }?;
            Some(Compression { coding, level })
        })
        .collect()
}

/// `Cache-Control: no-transform` anywhere in the origin's answer.
fn forbids_transform(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .any(|directive| directive.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
}

/// Is a body of this `Content-Type` worth compressing? Text, and the structured and
/// script types that are text in all but name; never images (but SVG), audio, video,
/// archives or fonts that are compressed already (WOFF, WOFF2).
pub fn is_compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii()
        .to_ascii_lowercase();
    let Some(slash) = essence.iter().position(|&b| b == b'/') else {
        return false;
    };
    let (kind, subtype) = essence.split_at(slash);
    let subtype = subtype.get(1..).unwrap_or_default();
    const APPLICATION: [&[u8]; 9] = [
        b"json",
        b"javascript",
        b"x-javascript",
        b"ecmascript",
        b"xml",
        b"wasm",
        b"graphql-response+json",
        b"vnd.ms-fontobject",
        b"x-font-ttf",
    ];
    match kind {
        b"text" => subtype != b"event-stream",
        b"application" => {
            APPLICATION.contains(&subtype)
                || subtype.ends_with(b"+json")
                || subtype.ends_with(b"+xml")
        }
        b"image" => subtype == b"svg+xml" || subtype == b"x-icon" || subtype == b"bmp",
        b"font" => subtype == b"ttf" || subtype == b"otf",
        _ => false,
    }
}

/// Is a `coded_len`-byte representation of an `identity_len`-byte body worth keeping?
pub fn worth_keeping(identity_len: usize, coded_len: usize) -> bool {
    coded_len.saturating_mul(100) <= identity_len.saturating_mul(100 - MIN_SAVING_PERCENT)
}

/// Give `entry` the representations a runtime `made` (coding and body), keeping those
/// worth it, each with its own validator, and `Vary: Accept-Encoding` when any is kept.
pub fn attach(entry: &mut Entry, made: Vec<(Coding, Bytes)>) {
    let identity_len = entry.body.len();
    for (coding, body) in made {
        if !worth_keeping(identity_len, body.len()) || entry.representation(coding).is_some() {
            continue;
        }
        entry.representations.push(Representation {
            coding,
            etag: coding.representation_etag(&entry.etag),
            body,
        });
    }
    if !entry.representations.is_empty() && !varies_on_accept_encoding(&entry.headers) {
        entry
            .headers
            .push((header::VARY, HeaderValue::from_static("accept-encoding")));
    }
}

fn varies_on_accept_encoding(headers: &[(HeaderName, HeaderValue)]) -> bool {
    headers
        .iter()
        .filter(|(name, _)| name == header::VARY)
        .flat_map(|(_, value)| value.as_bytes().split(|&b| b == b','))
        .any(|name| name.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"))
}

/// The origin's headers once its body has been decoded to identity: without
/// `Content-Encoding`, `Content-Length` and the `ETag` of the coded bytes.
pub fn as_identity(headers: &mut HeaderMap) {
    headers.remove(header::CONTENT_ENCODING);
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::ETAG);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UnixMillis;
    use crate::lifetime::{Lifetime, Revalidate};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn codings(
        status: StatusCode,
        pairs: &[(&'static str, &'static str)],
        len: usize,
    ) -> Vec<Coding> {
        to_make(
            status,
            &headers(pairs),
            len,
            &CompressionSettings::default(),
        )
        .into_iter()
        .map(|c| c.coding)
        .collect()
    }

    const HTML: (&str, &str) = ("content-type", "text/html; charset=utf-8");

    #[test]
    fn a_page_is_made_in_every_coding_at_the_configured_levels() {
        assert_eq!(codings(StatusCode::OK, &[HTML], 2_041), MADE.to_vec());
        let settings = CompressionSettings {
            br: Some(11),
            zstd: None,
            gzip: Some(1),
            min_bytes: 0,
        };
        assert_eq!(
            to_make(StatusCode::NOT_FOUND, &headers(&[HTML]), 10, &settings),
            vec![
                Compression {
                    coding: Coding::Br,
                    level: 11
                },
                Compression {
                    coding: Coding::Gzip,
                    level: 1
                },
            ]
        );
    }

    #[test]
    fn what_would_not_gain_is_left_alone() {
        let min = CompressionSettings::default().min_bytes as usize;
        assert!(codings(StatusCode::OK, &[HTML], min - 1).is_empty());
        assert!(codings(StatusCode::NO_CONTENT, &[HTML], 5_000).is_empty());
        assert!(codings(StatusCode::OK, &[("content-type", "image/png")], 5_000).is_empty());
        assert!(codings(StatusCode::OK, &[], 5_000).is_empty());
        assert!(
            codings(
                StatusCode::OK,
                &[HTML, ("cache-control", "max-age=60, No-Transform")],
                5_000
            )
            .is_empty()
        );
        assert!(codings(StatusCode::OK, &[HTML, ("content-encoding", "gzip")], 5_000).is_empty());
    }

    #[test]
    fn compressible_media_types() {
        for yes in [
            "text/html",
            "TEXT/CSS; charset=utf-8",
            "text/x-component",
            "application/json",
            "application/ld+json",
            "application/rss+xml",
            "application/javascript",
            "application/wasm",
            "image/svg+xml",
            "font/ttf",
        ] {
            assert!(is_compressible(yes.as_bytes()), "{yes}");
        }
        for no in [
            "image/png",
            "image/webp",
            "video/mp4",
            "application/octet-stream",
            "application/zip",
            "application/gzip",
            "font/woff2",
            "text/event-stream",
            "html",
            "",
        ] {
            assert!(!is_compressible(no.as_bytes()), "{no}");
        }
    }

    fn entry(headers: Vec<(HeaderName, HeaderValue)>) -> Entry {
        Entry {
            key: "k".to_owned(),
            path: "/".to_owned(),
            status: StatusCode::OK,
            headers,
            body: Bytes::from(vec![b'a'; 1000]),
            created_at: UnixMillis(0),
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
    fn attached_representations_that_gain_get_their_validator_and_vary() {
        let mut page = entry(Vec::new());
        attach(
            &mut page,
            vec![
                (Coding::Br, Bytes::from_static(b"small")),
                (Coding::Gzip, Bytes::from(vec![0; 960])),
            ],
        );
        assert_eq!(page.representations.len(), 1);
        assert_eq!(
            page.representation(Coding::Br).map(|r| r.etag.as_str()),
            Some("\"e-br\"")
        );
        assert_eq!(
            page.headers,
            vec![(header::VARY, HeaderValue::from_static("accept-encoding"))]
        );

        let mut varied = entry(vec![(
            header::VARY,
            HeaderValue::from_static("RSC, Accept-Encoding"),
        )]);
        attach(&mut varied, vec![(Coding::Zstd, Bytes::from_static(b"z"))]);
        assert_eq!(varied.headers.len(), 1);

        let mut none_kept = entry(Vec::new());
        attach(
            &mut none_kept,
            vec![(Coding::Gzip, Bytes::from(vec![0; 999]))],
        );
        assert!(none_kept.representations.is_empty());
        assert!(none_kept.headers.is_empty());
    }

    #[test]
    fn a_decoded_answer_loses_what_described_the_coded_bytes() {
        let mut map = headers(&[
            HTML,
            ("content-encoding", "gzip"),
            ("content-length", "12"),
            ("etag", "\"gz\""),
        ]);
        as_identity(&mut map);
        assert_eq!(map.len(), 1);
        assert!(map.contains_key(header::CONTENT_TYPE));
    }
}
