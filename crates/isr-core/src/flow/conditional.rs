//! Revalidating a stored entry with its validators (RFC 9111 §4.3): the conditional
//! headers a render of a key that has an entry carries, and the entry a `304 Not Modified`
//! refreshes.
//!
//! Invariants:
//! - A render with a previous entry asks `If-None-Match` with the entry's `ETag` and
//!   `If-Modified-Since` with its `Last-Modified`; a client's own
//!   conditionals never reach the origin (the job drops them).
//! - A `304` refreshes only the entry it answers: the stored body, with the stored
//!   headers updated by the `304`'s (RFC 9111 §3.2, §4.3.4: every header it carries
//!   replaces the stored one, except the framing headers), and a new lifetime from the
//!   merged headers, judged by the same policy as a full answer. A `304` without a
//!   previous entry is never stored.

use http::HeaderMap as Headers;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::UnixMillis;
use crate::config::Config;
use crate::entry::Entry;
use crate::headers::{CDN_CACHE_CONTROL, is_hop_by_hop};
use crate::job::Job;
use crate::policy::NoStoreReason;

/// Headers of a `304` that never replace the stored ones: they describe the 304 message,
/// not the stored representation.
const NOT_UPDATED: [HeaderName; 3] = [
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
];

/// The conditional headers a render of a key whose entry is `previous` carries.
pub fn validators(previous: &Entry) -> Vec<(HeaderName, HeaderValue)> {
    let mut validators = Vec::with_capacity(2);
    if let Ok(etag) = HeaderValue::from_str(&previous.etag) {
        validators.push((header::IF_NONE_MATCH, etag));
    }
    // When the origin sent no `Last-Modified`, the stored one is the render's start: an
    // origin that cannot compare dates ignores it, one that can sends its own.
    let last_modified = previous
        .headers
        .iter()
        .find(|(name, _)| *name == header::LAST_MODIFIED);
    if let Some((_, value)) = last_modified {
        validators.push((header::IF_MODIFIED_SINCE, value.clone()));
    }
    validators
}

/// The entry a `304` with `headers` makes of `previous`, rendered at `created_at`, or why
/// the merged answer may not be stored.
pub fn refreshed(
    job: &Job,
    config: &Config,
    previous: &Entry,
    headers: &Headers,
    created_at: UnixMillis,
) -> Result<Entry, NoStoreReason> {
    let merged = merged_headers(previous, headers);
    job.entry_from(
        config,
        previous.status,
        &merged,
        previous.body.clone(),
        created_at,
    )
}

/// The stored headers, each replaced by the `304`'s of the same name; what isr computed
/// for the stored entry (its `Age`, its `CDN-Cache-Control` for a route) is recomputed.
fn merged_headers(previous: &Entry, not_modified: &Headers) -> HeaderMap {
    let is_updated = |name: &HeaderName| {
        not_modified.contains_key(name) && !NOT_UPDATED.contains(name) && !is_hop_by_hop(name)
    };
    let mut merged = HeaderMap::with_capacity(previous.headers.len() + not_modified.len());
    for (name, value) in &previous.headers {
        let recomputed = *name == header::AGE || *name == CDN_CACHE_CONTROL;
        if !recomputed && !is_updated(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    for (name, value) in not_modified {
        if is_updated(name) || *name == header::CONNECTION {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;

    fn setup() -> (Config, Job, Entry) {
        let config = Config::from_toml("", "isr.toml").unwrap();
        let job = crate::job::jobs_for_path(&config, "/feed")
            .unwrap()
            .remove(0);
        let mut origin = Headers::new();
        origin.insert("cache-control", HeaderValue::from_static("max-age=10"));
        origin.insert("etag", HeaderValue::from_static("\"v1\""));
        origin.insert("content-type", HeaderValue::from_static("text/plain"));
        origin.insert("x-kept", HeaderValue::from_static("old"));
        let body = Bytes::from_static(b"body");
        let entry = job
            .entry_from(&config, StatusCode::OK, &origin, body, UnixMillis(1_000))
            .unwrap();
        (config, job, entry)
    }

    #[test]
    fn a_render_of_a_stored_entry_asks_with_its_validators() {
        let (_, _, entry) = setup();
        let asked = validators(&entry);
        assert_eq!(
            asked.first(),
            Some(&(header::IF_NONE_MATCH, HeaderValue::from_static("\"v1\"")))
        );
        assert_eq!(
            asked.get(1).map(|(name, _)| name),
            Some(&header::IF_MODIFIED_SINCE)
        );
    }

    #[test]
    fn a_304_refreshes_the_headers_and_the_lifetime_and_keeps_the_body() {
        let (config, job, entry) = setup();
        let mut not_modified = Headers::new();
        not_modified.insert("cache-control", HeaderValue::from_static("max-age=600"));
        not_modified.insert("x-kept", HeaderValue::from_static("new"));
        not_modified.insert("content-length", HeaderValue::from_static("0"));
        let fresh = refreshed(&job, &config, &entry, &not_modified, UnixMillis(50_000)).unwrap();
        assert_eq!(fresh.body, entry.body);
        assert_eq!(fresh.created_at, UnixMillis(50_000));
        assert_eq!(
            fresh.lifetime.revalidate,
            crate::lifetime::Revalidate::After(600)
        );
        let get = |name: &str| {
            fresh
                .headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("x-kept"), ["new"]);
        assert_eq!(get("content-type"), ["text/plain"]);
        assert_eq!(
            get("content-length"),
            ["4"],
            "the stored body's length, not the 304's"
        );
        assert_eq!(get("etag"), ["\"v1\""]);
    }

    #[test]
    fn a_304_that_makes_the_answer_private_refreshes_nothing() {
        let (config, job, entry) = setup();
        let mut not_modified = Headers::new();
        not_modified.insert("cache-control", HeaderValue::from_static("no-store"));
        let refused = refreshed(&job, &config, &entry, &not_modified, UnixMillis(50_000));
        assert_eq!(refused.err(), Some(NoStoreReason::NoStore));
    }
}
