//! The `[cache]` table: site-wide lifetimes, engine tunables and storable statuses.

use super::*;

#[test]
fn cache_revalidate_and_expire() {
    assert_eq!(
        parse("[cache]\nrevalidate = false").defaults.revalidate,
        Revalidate::Never
    );
    assert_eq!(
        parse("[cache]\nrevalidate = 0x10").defaults.revalidate,
        Revalidate::After(16)
    );
    assert_eq!(parse("[cache]\nexpire = false").defaults.expire, None);
    assert_error(
        "[cache]\nrevalidate = 0",
        2,
        &["`cache.revalidate`", "greater than 0"],
    );
    assert_error(
        "[cache]\nrevalidate = true",
        2,
        &["`cache.revalidate`", "`true`"],
    );
    assert_error(
        "[cache]\nrevalidate = 1.5",
        2,
        &["`cache.revalidate`", "float"],
    );
    assert_error(
        "[cache]\nrevalidate = \"1500ms\"",
        2,
        &["`cache.revalidate`", "whole number of seconds"],
    );
    assert_error(
        "[cache]\nexpire = 0",
        2,
        &["`cache.expire`", "greater than 0"],
    );
    assert_error(
        "[cache]\nrevalidate = 600\nexpire = 60",
        3,
        &["`cache.expire`", "at least revalidate"],
    );
    // Against the default revalidate (60s) too.
    assert_error(
        "[cache]\nrevalidate = \"400d\"",
        2,
        &["`cache.revalidate`", "at least revalidate"],
    );
    assert_error(
        "[cache]\nexpire = 30",
        2,
        &["`cache.expire`", "at least revalidate"],
    );
}

#[test]
fn cache_stale_if_error() {
    assert_eq!(
        parse("[cache]\nstale_if_error = 0").defaults.stale_if_error,
        0
    );
    assert_eq!(
        parse("[cache]\nstale_if_error = \"1d\"")
            .defaults
            .stale_if_error,
        86_400
    );
    assert_error(
        "[cache]\nstale_if_error = false",
        2,
        &["`cache.stale_if_error`"],
    );
}

#[test]
fn engine_durations() {
    let engine = parse("[cache]\nlock_timeout = 2\nrender_timeout = \"1m\"\nretry_min = \"100ms\"\nretry_max = \"1h\"").engine;
    assert_eq!(engine.lock_timeout_ms, 2_000);
    assert_eq!(engine.render_timeout_ms, 60_000);
    assert_eq!(engine.retry_min_ms, 100);
    assert_eq!(engine.retry_max_ms, 3_600_000);
    for key in ["lock_timeout", "render_timeout", "retry_min", "retry_max"] {
        assert_error(
            &format!("[cache]\n{key} = 0"),
            2,
            &[&format!("`cache.{key}`"), "greater than 0"],
        );
        assert_error(
            &format!("[cache]\n{key} = \"10x\""),
            2,
            &[&format!("`cache.{key}`"), "unknown unit"],
        );
        assert_error(
            &format!("[cache]\n{key} = []"),
            2,
            &[&format!("`cache.{key}`"), "array"],
        );
    }
    assert_error(
        "[cache]\nrender_timeout = 18446744073709551615",
        2,
        &["`cache.render_timeout`", "too large"],
    );
    assert_error(
        "[cache]\nretry_min = \"2m\"\nretry_max = \"1m\"",
        3,
        &["`cache.retry_max`", "at least retry_min"],
    );
    assert_error(
        "[cache]\nretry_min = \"2m\"",
        2,
        &["`cache.retry_min`", "at least retry_min"],
    );
}

#[test]
fn engine_counts_and_sizes() {
    assert_eq!(
        parse("[cache]\nregenerate_concurrency = 1")
            .engine
            .regenerate_concurrency,
        1
    );
    assert_error(
        "[cache]\nregenerate_concurrency = 0",
        2,
        &["`cache.regenerate_concurrency`", "at least 1"],
    );
    assert_error(
        "[cache]\nregenerate_concurrency = -1",
        2,
        &["`cache.regenerate_concurrency`", "negative"],
    );
    assert_error(
        "[cache]\nregenerate_concurrency = \"8\"",
        2,
        &["`cache.regenerate_concurrency`", "whole number"],
    );
    assert_eq!(
        parse("[cache]\nmax_entry_size = \"1KiB\"")
            .engine
            .max_entry_bytes,
        1024
    );
    assert_error(
        "[cache]\nmax_entry_size = \"0MB\"",
        2,
        &["`cache.max_entry_size`", "greater than 0"],
    );
}

#[test]
fn statuses() {
    let config = parse("[cache.statuses]\n\"410\" = 60\n\"302\" = \"1m\"\n");
    assert_eq!(
        config.defaults.status_revalidate,
        vec![(302, 60), (410, 60)]
    );
    assert_eq!(
        parse("[cache]\nstatuses = {}").defaults.status_revalidate,
        vec![]
    );
    for (status, why) in [
        ("200", "always storable"),
        ("304", "revalidation"),
        ("500", "3xx and 4xx"),
        ("abc", "not a number"),
        ("99999", "not a number"),
    ] {
        assert_error(
            &format!("[cache]\nstatuses = {{ \"404\" = 1, \"{status}\" = 5 }}"),
            2,
            &[&format!("`cache.statuses.\"{status}\"`"), why],
        );
    }
    assert_error(
        "[cache.statuses]\n\"404\" = 0",
        2,
        &["`cache.statuses.\"404\"`", "greater than 0"],
    );
    assert_error(
        "[cache]\nstatuses = [404]",
        2,
        &["`cache.statuses`", "table"],
    );
}

#[test]
fn compression_levels_and_min_size() {
    let defaults = parse("").compression;
    assert_eq!(defaults, CompressionSettings::default());
    let set =
        parse("[compression]\nbr = 11\nzstd = false\ngzip = 1\nmin_size = \"1KiB\"").compression;
    assert_eq!(
        set,
        CompressionSettings {
            br: Some(11),
            zstd: None,
            gzip: Some(1),
            min_bytes: 1024,
        }
    );
    assert_eq!(parse("[compression]\nbr = 0").compression.br, Some(0));
    assert_error(
        "[compression]\nbr = 12",
        2,
        &["`compression.br`", "br takes 0 to 11"],
    );
    assert_error(
        "[compression]\ngzip = 0",
        2,
        &["`compression.gzip`", "gzip takes 1 to 9"],
    );
    assert_error(
        "[compression]\nzstd = true",
        2,
        &["`compression.zstd`", "or false"],
    );
    assert_error("[compression]\nlevel = 3", 2, &["compression.level"]);
    let mut config = Config::default();
    config.compression.zstd = Some(23);
    let error = config.validate().unwrap_err();
    assert_eq!(error.setting, Setting::CompressionZstd);
    assert!(error.to_string().contains("zstd takes 1 to 22"), "{error}");
}
