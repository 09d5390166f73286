//! The file parser's tests, by part of `isr.toml`: every key's accepted values and its
//! errors (the key named, the line pointed at), and properties over random input.
//!
//! Invariant: each test asserts on the error's file, line and message words, so a message
//! can be reworded but never lose what it names.

mod cache;
mod fuzz;
mod routes;
mod top;

use super::*;
use crate::path::QueryKeys;
use crate::policy::{CacheDefaults, Revalidate, RouteCachePolicy};

pub(super) fn parse(source: &str) -> Config {
    match Config::from_toml(source, "isr.toml") {
        Ok(config) => config,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Assert `source` fails on `line`, with a message containing every `needles`.
#[track_caller]
pub(super) fn assert_error(source: &str, line: usize, needles: &[&str]) -> ConfigError {
    let error = Config::from_toml(source, "isr.toml").expect_err("expected an error");
    assert_eq!(error.file, "isr.toml");
    assert_eq!(error.line, line, "wrong line for: {error}");
    for needle in needles {
        assert!(error.message.contains(needle), "{error:?} lacks {needle:?}");
    }
    error
}

pub(super) fn route_at<'c>(config: &'c Config, path: &str) -> &'c Route {
    config.routes.at(path).expect("a route matches").value
}

pub(super) const FULL: &str = r#"
origin = "http://127.0.0.1:3000/"
listen = "0.0.0.0:9090"
cache_dir = "/var/cache/isr"
memory = "64MiB"
disk = "2GiB"
threads = 3
site = "example.com"
build_id = "b42"
key_host = true

[cache]
revalidate = "2m"
expire = 86400
stale_if_error = "1h"
lock_timeout = "500ms"
render_timeout = 20
regenerate_concurrency = 3
retry_min = "2s"
retry_max = "5m"
max_entry_size = 1048576
statuses = { "404" = 5, "301" = "10m" }

[[route]]
path = "/blog/[slug]"
revalidate = 60
expire = 3600
stale_if_error = 600
tags = ["blog", "post:{slug}"]
query = ["page", "page", "sort"]

[[route]]
path = "/api/*"
revalidate = 0

[[route]]
path = "/docs/[...rest]"
revalidate = false
tags = ["docs:{rest}"]
"#;

#[test]
fn full_example_round_trips() {
    let config = parse(FULL);
    assert_eq!(config.origin.as_deref(), Some("http://127.0.0.1:3000"));
    assert_eq!(config.listen, "0.0.0.0:9090");
    assert_eq!(config.cache_dir, "/var/cache/isr");
    assert_eq!(config.memory_bytes, 64 * 1024 * 1024);
    assert_eq!(config.disk_bytes, 2 * 1024 * 1024 * 1024);
    assert_eq!(config.threads, Some(3));
    assert_eq!(config.site, "example.com");
    assert_eq!(config.build_id, "b42");
    assert!(config.key_host);
    assert_eq!(
        config.defaults,
        CacheDefaults {
            revalidate: Revalidate::After(120),
            expire: Some(86_400),
            stale_if_error: 3_600,
            status_revalidate: vec![(301, 600), (404, 5)],
        }
    );
    assert_eq!(
        config.engine,
        EngineSettings {
            lock_timeout_ms: 500,
            render_timeout_ms: 20_000,
            regenerate_concurrency: 3,
            retry_min_ms: 2_000,
            retry_max_ms: 300_000,
            max_entry_bytes: 1_048_576,
        }
    );
    assert_eq!(config.routes.len(), 3);

    let blog = config.routes.at("/blog/hello").expect("blog matches");
    assert_eq!(
        blog.value.mode,
        RouteMode::Cache(RouteCachePolicy {
            revalidate: Some(Revalidate::After(60)),
            expire: Some(3_600),
            stale_if_error: Some(600),
        })
    );
    let tags: Vec<String> = blog
        .value
        .tags
        .iter()
        .map(|t| t.render(&blog.params))
        .collect();
    assert_eq!(tags, ["blog", "post:hello"]);
    assert_eq!(
        blog.value.query,
        QueryKeys::Only(vec!["page".to_owned(), "sort".to_owned()])
    );

    let api = route_at(&config, "/api/users");
    assert_eq!(api.mode, RouteMode::PassThrough);
    assert_eq!(api.query, QueryKeys::All);
    assert!(api.tags.is_empty());

    let docs = config.routes.at("/docs/a/b").expect("docs matches");
    assert_eq!(
        docs.value.mode,
        RouteMode::Cache(RouteCachePolicy {
            revalidate: Some(Revalidate::Never),
            ..RouteCachePolicy::default()
        })
    );
    assert_eq!(docs.value.tags[0].render(&docs.params), "docs:a/b");
    config.validate().expect("the parsed file is valid");
}

#[test]
fn empty_file_gives_the_defaults() {
    let config = parse("# nothing\n");
    let defaults = Config::default();
    assert_eq!(config.origin, None);
    assert_eq!(config.listen, defaults.listen);
    assert_eq!(config.cache_dir, defaults.cache_dir);
    assert_eq!(config.memory_bytes, defaults.memory_bytes);
    assert_eq!(config.site, "");
    assert_eq!(config.build_id, "");
    assert!(!config.key_host);
    assert_eq!(config.defaults, CacheDefaults::default());
    assert_eq!(config.engine, EngineSettings::default());
    assert!(config.routes.is_empty());
}

#[test]
fn toml_syntax_errors_have_a_position() {
    let error = assert_error("site = \"a\"\nmemory = = 3\n", 2, &[]);
    assert_eq!(error.column, 10);
    assert!(error.to_string().starts_with("isr.toml:2:10: "), "{error}");
    assert_error("a = 1\na = 2\n", 2, &["duplicate key"]);
}

#[test]
fn unknown_keys_are_named_with_their_line() {
    assert_error(
        "site = \"x\"\nzeta = 1\nalpha = 2\n",
        2,
        &["unknown key `zeta`", "origin"],
    );
    assert_error(
        "[cache]\nrevalidate = 1\nrevalidat = 2\n",
        3,
        &["`cache.revalidat`"],
    );
    assert_error(
        "[[route]]\npath = \"/\"\n[[route]]\npath = \"/a\"\ntag = []\n",
        5,
        &["`route.tag`", "tags"],
    );
    assert_error(
        "[cache.statuses]\n\"404\" = 1\n[cache.nested]\nx = 1\n",
        3,
        &["cache.nested"],
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    let error = assert_error("site = \"é\"\n\"ü\" = 1\n", 2, &["unknown key `ü`"]);
    assert_eq!(error.column, 1);
    let error = assert_error("site = \"éé\"; memory = 0\n", 1, &[]);
    assert!(error.column > 0);
}
