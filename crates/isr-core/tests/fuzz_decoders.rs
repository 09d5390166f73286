//! Fuzzing on stable Rust: every decoder of untrusted input in isr-core, fed the corpus in
//! `fuzz/corpus/<decoder>/` (kept in the repository), mutations of it, and arbitrary
//! bytes. The property is the same for all: an answer or a typed error, never a panic.
//!
//! Untrusted input here means what arrives from the network or from files: stored entries
//! (disk rows, Redis values, Worker KV), requests (path, query, headers: what keys and
//! plans are built from), origin headers (`Cache-Control` and its kin), route patterns and
//! tag templates, config files, admin JSON bodies and listing queries, and purge record
//! names. The Redis tier's own decoders are fuzzed in isr-store.
//!
//! The normal test run tries proptest's default number of cases; `ci/fuzz.sh` runs many
//! more (`PROPTEST_CASES`), bounded in time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use isr_core::admin::listing::EntriesQuery;
use isr_core::admin::revalidate::RevalidateRequest;
use isr_core::cache_control::CacheControl;
use isr_core::config::Config;
use isr_core::config::TagTemplate;
use isr_core::entry::Entry;
use isr_core::path::normalize_path;
use isr_core::plan::plan;
use isr_core::purge::Target;
use isr_core::route::Pattern;
use proptest::prelude::*;

/// The seed inputs of `decoder`, from the repository's corpus.
fn corpus(decoder: &str) -> Vec<Vec<u8>> {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "fuzz",
        "corpus",
        decoder,
    ]
    .iter()
    .collect();
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("corpus {}: {error}", dir.display()))
        .map(|file| std::fs::read(file.expect("corpus file").path()).expect("read seed"))
        .collect();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    seeds.sort();
    seeds
}

/// A seed of `seeds`, mutated: bytes flipped, inserted, removed, or the input cut.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 0..8);
    (proptest::sample::select(seeds), edits).prop_map(|(mut input, edits)| {
        for (at, action, byte) in edits {
            let at = at % (input.len() + 1);
            match action {
                0 => input.insert(at, byte),
                1 if at < input.len() => {
                    input.remove(at);
                }
                2 if at < input.len() => input[at] ^= byte | 1,
                _ => input.truncate(at),
            }
        }
        input
    })
}

/// Corpus mutations half the time, arbitrary bytes the other half.
fn input(decoder: &str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        mutated(corpus(decoder)),
        proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A well-formed entry, encoded: the seed that reaches deepest into the decoder.
fn encoded_entry() -> Vec<u8> {
    let config = Config::from_toml("[[route]]\npath = \"/p\"\nrevalidate = 60\n", "fuzz.toml")
        .expect("config");
    let Ok(isr_core::plan::Plan::Cache(planned)) =
        plan(&config, &Method::GET, "/p", None, &HeaderMap::new())
    else {
        panic!("a routed GET is cached");
    };
    let job = isr_core::job::Job::from(&planned);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("text/html"));
    let entry = job
        .entry_from(
            &config,
            http::StatusCode::OK,
            &headers,
            Bytes::from_static(b"<html>page</html>"),
            isr_core::UnixMillis(1_800_000_000_000),
        )
        .expect("storable");
    entry.encode()
}

/// A request head as the corpus spells it: `METHOD target` on the first line, then
/// `name: value` lines (lossy where bytes are not a valid header).
fn request_head(bytes: &[u8]) -> (Method, String, Option<String>, HeaderMap) {
    let text = text(bytes);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, target) = first.split_once(' ').unwrap_or(("GET", first));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_bytes(value.trim().as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    (method, path, query, headers)
}

fn no_files(_: &str) -> Result<String, std::io::Error> {
    Err(std::io::Error::other("no files while fuzzing"))
}

proptest! {
    #[test]
    fn stored_entries(bytes in prop_oneof![
        input("entry"),
        mutated(vec![encoded_entry()]),
    ]) {
        let _ = Entry::decode(Bytes::from(bytes.clone()));
        let _ = Entry::peek(&bytes);
    }

    #[test]
    fn cache_control(bytes in input("cache_control")) {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            for name in ["cache-control", "cdn-cache-control", "surrogate-control"] {
                headers.insert(HeaderName::from_static(name), value.clone());
                let _ = CacheControl::from_headers(&headers, name);
            }
        }
    }

    #[test]
    fn requests_keys_and_plans(bytes in input("request")) {
        let config = Config::from_toml(
            "key_host = true\n[[route]]\npath = \"/blog/[slug]\"\nrevalidate = 60\nquery = [\"page\"]\n",
            "fuzz.toml",
        ).expect("config");
        let (method, path, query, headers) = request_head(&bytes);
        let _ = normalize_path(&path);
        let _ = plan(&config, &method, &path, query.as_deref(), &headers);
        let _ = plan(&Config::default(), &method, &path, query.as_deref(), &headers);
    }

    #[test]
    fn route_patterns(bytes in input("route")) {
        let _ = Pattern::parse(&text(&bytes));
    }

    #[test]
    fn tag_templates(bytes in input("tag")) {
        let _ = TagTemplate::parse(&text(&bytes));
    }

    #[test]
    fn config_files(bytes in input("config")) {
        let _ = Config::from_toml_bytes_reading(&bytes, "fuzz.toml", &no_files);
    }

    #[test]
    fn admin_json(bytes in input("revalidate_json")) {
        if let Ok(request) = RevalidateRequest::from_json(&bytes) {
            let _ = request.check();
        }
    }

    #[test]
    fn admin_listing_queries(bytes in input("listing_query")) {
        let pairs: Vec<(String, String)> = form_pairs(&bytes);
        let pairs = pairs.iter().map(|(name, value)| (name.as_str(), value.as_str()));
        if let Ok(query) = EntriesQuery::from_pairs(pairs) {
            let _ = query.check();
        }
    }

    #[test]
    fn purge_targets(bytes in input("purge_record")) {
        let text = text(&bytes);
        for line in text.lines() {
            let _ = Target::from_record_name(line);
            let _ = Target::path(line);
            let _ = Target::tag(line);
            let _ = Target::prefix(line);
        }
    }
}

/// `a=b&c=d`, split as a query string (no decoding: the admin API's own layer decodes).
fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    text(bytes)
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn every_decoder_has_seeds() {
    let root: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "fuzz", "corpus"]
        .iter()
        .collect();
    for decoder in [
        "entry",
        "cache_control",
        "request",
        "route",
        "tag",
        "config",
        "revalidate_json",
        "listing_query",
        "purge_record",
        "redis_event",
        "redis_value",
    ] {
        assert!(Path::new(&root.join(decoder)).is_dir(), "{decoder}");
        assert!(!corpus(decoder).is_empty(), "{decoder}");
    }
}
