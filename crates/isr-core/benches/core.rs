//! Microbenchmarks of the decisions on isr's hit path: route matching, planning a request
//! (path normalisation, route match, query canonicalisation, key building) and the entry
//! format. Run with `cargo bench -p isr-core --bench core`.
//!
//! The numbers are for comparing one change with another on the same machine, not claims.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::hint::black_box;

use bytes::Bytes;
use divan::Bencher;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use isr_core::UnixMillis;
use isr_core::config::Config;
use isr_core::entry::Entry;
use isr_core::key::{CacheKey, EncodingClass, KeyParts, Variant};
use isr_core::plan::plan;
use isr_core::policy::{Lifetime, Revalidate};

fn main() {
    divan::main();
}

/// A config with `sections` routes of the form `/section{i}/[slug]`, plus a blog, a
/// catch-all docs route, a wildcard and a pass-through route: a plausible site.
fn config(sections: usize) -> Config {
    let mut toml = String::from(
        "origin = \"http://127.0.0.1:3000\"\nsite = \"example.com\"\n\n\
         [[route]]\npath = \"/blog/[slug]\"\nrevalidate = 60\n\
         tags = [\"blog\", \"post:{slug}\"]\nquery = [\"page\"]\n\n\
         [[route]]\npath = \"/docs/[...rest]\"\nrevalidate = 300\n\n\
         [[route]]\npath = \"/assets/*\"\nrevalidate = false\n\n\
         [[route]]\npath = \"/api/[...rest]\"\nrevalidate = 0\n",
    );
    for i in 0..sections {
        toml.push_str(&format!(
            "\n[[route]]\npath = \"/section{i}/[slug]\"\nrevalidate = 60\ntags = [\"s{i}\"]\n"
        ));
    }
    Config::from_toml(&toml, "bench.toml").expect("the bench config is valid")
}

/// Requests of different shapes: (name, path, query).
const PATHS: &[(&str, &str, Option<&str>)] = &[
    ("blog", "/blog/hello-world", Some("page=2&utm_source=x")),
    ("docs", "/docs/guide/getting-started/install", None),
    ("unrouted", "/about/team", None),
    ("last-section", "/section99/some-article", None),
];

fn path_of(name: &str) -> (&'static str, Option<&'static str>) {
    let (_, path, query) = PATHS
        .iter()
        .find(|(n, _, _)| *n == name)
        .expect("a known path");
    (path, *query)
}

fn browser_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("example.com"));
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"),
    );
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
    );
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("gzip, deflate, br, zstd"),
    );
    headers.insert(
        header::ACCEPT_LANGUAGE,
        HeaderValue::from_static("en-US,en;q=0.5"),
    );
    headers.insert(
        header::COOKIE,
        HeaderValue::from_static("session=abc123; theme=dark"),
    );
    headers
}

/// `Router::at` over 4 + `sections` routes.
mod route_matching {
    use super::*;

    #[divan::bench(args = [0, 10, 100])]
    fn blog(bencher: Bencher, sections: usize) {
        let config = config(sections);
        bencher.bench(|| {
            black_box(&config.routes)
                .at(black_box("/blog/hello-world"))
                .is_some()
        });
    }

    #[divan::bench(args = [0, 10, 100])]
    fn docs_catch_all(bencher: Bencher, sections: usize) {
        let config = config(sections);
        bencher.bench(|| {
            black_box(&config.routes)
                .at(black_box("/docs/guide/getting-started/install"))
                .is_some()
        });
    }

    #[divan::bench(args = [0, 10, 100])]
    fn no_match(bencher: Bencher, sections: usize) {
        let config = config(sections);
        bencher.bench(|| {
            black_box(&config.routes)
                .at(black_box("/about/team"))
                .is_none()
        });
    }
}

/// `plan`: everything decided before the cache lookup, key included.
mod plan_request {
    use super::*;

    #[divan::bench(args = ["blog", "docs", "unrouted", "last-section"])]
    fn with_100_sections(bencher: Bencher, name: &str) {
        let config = config(100);
        let headers = browser_headers();
        let (path, query) = path_of(name);
        bencher.bench(|| {
            plan(
                black_box(&config),
                &Method::GET,
                black_box(path),
                black_box(query),
                black_box(&headers),
            )
            .is_ok()
        });
    }

    #[divan::bench(args = ["blog", "unrouted"])]
    fn with_no_routes(bencher: Bencher, name: &str) {
        let config = config(0);
        let headers = browser_headers();
        let (path, query) = path_of(name);
        bencher.bench(|| {
            plan(
                black_box(&config),
                &Method::GET,
                black_box(path),
                black_box(query),
                black_box(&headers),
            )
            .is_ok()
        });
    }
}

/// Key building alone, from parts already normalised.
mod key {
    use super::*;

    #[divan::bench]
    fn cache_key_new() -> CacheKey {
        CacheKey::new(black_box(&KeyParts {
            site: "example.com",
            build_id: "build-2024-06-01",
            variant: Variant::Html,
            encoding: EncodingClass::Br,
            path: "/blog/hello-world",
            query: "page=2",
        }))
    }

    #[divan::bench]
    fn cache_key_new_long_path() -> CacheKey {
        const LONG: &str = "/docs/a-very-long-section-name/with/many/segments/that/goes/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/and/on/end";
        CacheKey::new(black_box(&KeyParts {
            site: "example.com",
            build_id: "build-2024-06-01",
            variant: Variant::Html,
            encoding: EncodingClass::Identity,
            path: LONG,
            query: "",
        }))
    }

    #[divan::bench]
    fn encoding_class_from_request(bencher: Bencher) {
        let headers = browser_headers();
        bencher.bench(|| EncodingClass::from_request(black_box(&headers)));
    }
}

fn entry(body_bytes: usize) -> Entry {
    let page = "<p>lorem ipsum</p>".repeat(body_bytes / 18 + 1);
    let headers = vec![
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("s-maxage=60, stale-while-revalidate=86400"),
        ),
        (
            HeaderName::from_static("x-powered-by"),
            HeaderValue::from_static("Next.js"),
        ),
        (
            header::VARY,
            HeaderValue::from_static("RSC, Accept-Encoding"),
        ),
    ];
    Entry {
        key: "v1|11:example.com|16:build-2024-06-01|html|identity|17:/blog/hello-world|6:page=2"
            .to_owned(),
        path: "/blog/hello-world".to_owned(),
        status: StatusCode::OK,
        headers,
        body: Bytes::from(page.as_bytes()[..body_bytes].to_vec()),
        created_at: UnixMillis(1_717_200_000_000),
        lifetime: Lifetime {
            revalidate: Revalidate::After(60),
            expire: Some(31_536_000),
            stale_if_error: 86_400,
        },
        tags: vec!["blog".to_owned(), "post:hello-world".to_owned()],
        build_id: "build-2024-06-01".to_owned(),
        etag: "\"fac74e4460ed3dd3\"".to_owned(),
    }
}

/// The stored entry format (what the disk tier reads and writes), by body size.
mod entry_format {
    use super::*;

    const SIZES: [usize; 3] = [1_000, 20_000, 200_000];

    #[divan::bench(args = SIZES)]
    fn encode(bencher: Bencher, body_bytes: usize) {
        let entry = entry(body_bytes);
        bencher
            .counter(divan::counter::BytesCount::new(body_bytes))
            .bench(|| black_box(&entry).encode());
    }

    #[divan::bench(args = SIZES)]
    fn decode(bencher: Bencher, body_bytes: usize) {
        let encoded = Bytes::from(entry(body_bytes).encode());
        bencher
            .counter(divan::counter::BytesCount::new(body_bytes))
            .bench(|| Entry::decode(black_box(encoded.clone())).is_ok());
    }
}
