//! The configuration shared by every runtime: its model, its TOML form (`isr.toml`), the
//! overrides layered over it, and the typed routes the builder uses.
//!
//! One concern per file:
//! - `model.rs`: [`Config`] and its parts, with their defaults.
//! - `value.rs`: the value parsers and bounds every source shares ([`parse_bytes`], ...).
//! - `tag.rs`: tag templates (`post:{slug}`).
//! - `rule.rs`: [`RouteRule`], a route as typed values, and its checks.
//! - `setting.rs`: [`Setting`] names and [`Config::validate`], which checks them all.
//! - `overrides.rs`: [`Overrides`], what flags and variables set over the file.
//! - `toml_reader.rs` and `schema.rs`: reading `isr.toml` ([`Config::from_toml`]).
//! - `error.rs`: [`ConfigError`], with the file, line, column and key.
//!
//! Invariants:
//! - Unknown keys and bad values are errors, reported with the file, line and column and a
//!   message a person can act on; parsing never panics, whatever the input.
//! - Every source (file, flags, variables, code) is checked by the same functions, so a
//!   value is accepted in one exactly when it is accepted in the others; a configuration
//!   that passes them starts without a panic.
//! - Route conflicts (two patterns that cannot be told apart) are errors.
//! - A parsed [`Config`] is complete: every default is filled in, and routes are compiled
//!   into a [`crate::route::Router`].
//!
//! ```toml
//! origin = "http://127.0.0.1:3000"
//! listen = "127.0.0.1:8080"
//! cache_dir = ".isr-cache"
//! memory = "256MiB"
//! threads = 4                  # the proxy's worker threads; default: one per available core
//! site = "example.com"
//! build_id = ""                # or build_id_file = ".next/BUILD_ID" (not both; watched)
//! build_id_header = "x-nextjs-deployment-id"  # an answer naming a new build switches to it
//! bypass_cookies = ["session", "sb-*"]         # present: the request skips the cache
//! key_host = false
//! admin_token = "…"            # 16+ characters; turns on the admin API (/_isr/...)
//! bypass_token = "…"           # 16+ characters; draft/preview requests skip the cache
//! bypass_nextjs_preview = false
//!
//! [cache]
//! revalidate = 60            # seconds or "5m"; or false (fresh until purged)
//! expire = "1y"              # not a unit: use 31536000 or "365d"; or false (never expires)
//! stale_if_error = 86400
//! lock_timeout = "10s"
//! render_timeout = "30s"
//! regenerate_concurrency = 8
//! retry_min = "1s"
//! retry_max = "60s"
//! max_entry_size = "10MiB"
//! statuses = { "301" = 300, "308" = 300, "404" = 10, "410" = 60 }
//!
//! [[route]]
//! path = "/blog/[slug]"
//! revalidate = 60            # 0: never cached (passed through); false: until purged
//! expire = 3600
//! stale_if_error = 600
//! tags = ["blog", "post:{slug}"]
//! query = ["page"]
//! bypass_cookies = ["session"] # replaces the top-level list on this route ([]: none)
//! ```
//!
//! A pass-through route (`revalidate = 0`) is never stored, so `expire`, `stale_if_error`
//! and `tags` on it are rejected rather than silently ignored; its `query` defaults to
//! every parameter (nothing is keyed, so nothing needs to be dropped).
//!
//! `build_id_file` is the one key that needs a file read; this module does no I/O, so the
//! caller passes the reading function ([`Config::from_toml_reading`]). Secrets
//! (`admin_token`, `bypass_token`) are never quoted in error messages.

mod error;
mod model;
mod ops;
mod overrides;
mod rule;
mod schema;
mod setting;
mod tag;
mod toml_reader;
mod value;

#[cfg(test)]
mod tests;

pub use error::{Cause, ConfigError};
pub use model::{
    CompressionSettings, Config, EngineSettings, LogFormat, OpsSettings, RedisSettings, Route,
    RouteMode,
};
pub use ops::{parse_access_log, parse_log_format, parse_metrics_listen};
pub use overrides::Overrides;
pub use rule::{RouteError, RouteKey, RouteProblem, RouteRule, RoutesError, compile_routes};
pub use schema::NoFileReading;
pub use setting::{InvalidSetting, Setting};
pub use tag::{TagError, TagTemplate};
pub use value::{
    MAX_CONCURRENCY, MAX_DURATION_SECS, MAX_THREADS, MIN_TOKEN_CHARS, OriginProblem, ValueError,
    check_compression_level, check_concurrency, check_duration_ms, check_duration_secs,
    check_expire_covers_revalidate, check_retry_range, check_storable_status, check_threads,
    check_token, parse_build_id_file, parse_bytes, parse_duration_ms, parse_duration_secs,
    parse_expire, parse_listen, parse_non_empty, parse_origin, parse_redis_prefix, parse_redis_url,
    parse_revalidate, parse_storable_status, redact_url, require_positive, revalidate_from_secs,
};
