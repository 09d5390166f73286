//! `isr serve`'s flags, and how flags, environment variables and the config file combine
//! into one [`Config`].
//!
//! Precedence, highest first: a flag, its environment variable (clap reads both), the
//! config file, the defaults. Every value is checked by the same functions that check the
//! config file ([`isr_core::config`]), so a value is accepted on the command line exactly
//! when it would be accepted in `isr.toml`.
//!
//! The layering itself is core's ([`Overrides`], shared with the Worker's variables): this
//! file only says which flag gives which setting, and names the flag in an error.
//!
//! Secrets (`--admin-token`, `--bypass-token`, `--redis`) are checked when the
//! configuration is loaded rather than by clap, because clap's errors quote the value;
//! their `Debug` is redacted and `--help` never shows their environment variable's value.

use std::path::PathBuf;

use clap::Args;
use clap::builder::BoolishValueParser;
use isr_core::config::{
    Config, ConfigError, InvalidSetting, LogFormat, Overrides, Setting, ValueError,
    parse_access_log, parse_duration_secs, parse_expire, parse_listen, parse_log_format,
    parse_metrics_listen, parse_non_empty, parse_origin, parse_redis_prefix, parse_revalidate,
};
use isr_core::policy::Revalidate;
use isr_core::telemetry::access_log::AccessLogFormat;

use super::parse::{
    Secret, parse_concurrency, parse_positive_bytes, parse_positive_duration_ms, parse_threads,
    secret,
};

/// The message when no origin was given anywhere.
const NO_ORIGIN: &str =
    "no origin: pass --origin URL, set ISR_ORIGIN, or set origin in the config file";

/// What errors about flags and environment variables are attributed to.
const COMMAND_LINE: &str = "command line";

/// An expire time; `None` means "never expires". An alias, because clap reads a literal
/// `Option<Option<_>>` field as "a flag whose value is optional", which this is not.
type Expiry = Option<u64>;

/// Flags of `isr serve`. `None` means "not given": the file's value or the default stays.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Read settings from this TOML file.
    ///
    /// Flags and environment variables override the values in the file. An unknown key or
    /// a bad value in the file is an error that names the key, the line and the column.
    #[arg(long, short = 'c', env = "ISR_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The origin to cache, like http://127.0.0.1:3000.
    ///
    /// An http or https URL with a host and no path, query or fragment: each request's own
    /// path and query are forwarded to it. An https origin's certificate is checked against
    /// the system's CA certificates (or those in SSL_CERT_FILE). Required, here or in the
    /// config file.
    #[arg(long, env = "ISR_ORIGIN", value_name = "URL", value_parser = parse_origin)]
    pub(crate) origin: Option<String>,

    /// The address to listen on, like 127.0.0.1:8080 or [::]:80. [default: 127.0.0.1:8080]
    #[arg(long, env = "ISR_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub(crate) listen: Option<String>,

    /// The directory of the on-disk cache. [default: .isr-cache]
    #[arg(long, env = "ISR_CACHE_DIR", value_name = "DIR", value_parser = parse_non_empty)]
    pub(crate) cache_dir: Option<String>,

    /// The size of the in-memory cache, like 256MiB or 1GB. [default: 256MiB]
    ///
    /// A number of bytes, or a number with a unit: B, KB, KiB, MB, MiB, GB, GiB, TB, TiB
    /// (KB, MB... are powers of 1000; KiB, MiB... powers of 1024).
    #[arg(long, env = "ISR_MEMORY", value_name = "BYTES", value_parser = parse_positive_bytes)]
    pub(crate) memory: Option<u64>,

    /// The size of the on-disk cache's pages, like 10GiB. [default: 10GiB]
    ///
    /// Past it, the pages rendered longest ago are removed from the disk (not from
    /// memory). The file settles at about twice this size: the database grows it by
    /// doubling and reuses the freed space. Same units as --memory. Unused with --redis.
    #[arg(long, env = "ISR_DISK", value_name = "BYTES", value_parser = parse_positive_bytes)]
    pub(crate) disk: Option<u64>,

    /// Worker threads that serve requests. [default: one per core isr may run on]
    ///
    /// 1 runs everything on one thread, which serves the most requests per core (no
    /// work-stealing); give more to use more cores. Cores are counted after `taskset`
    /// and container CPU limits.
    #[arg(long, env = "ISR_THREADS", value_name = "N", value_parser = parse_threads)]
    pub(crate) threads: Option<usize>,

    /// The site name that is part of every cache key, like example.com.
    ///
    /// Two sites sharing a cache directory must have different names.
    #[arg(long, env = "ISR_SITE", value_name = "SITE")]
    pub(crate) site: Option<String>,

    /// The build id that is part of every cache key.
    ///
    /// Deploying with a new build id starts from an empty cache, so no page rendered by
    /// an old build is ever served by a new one.
    #[arg(long, env = "ISR_BUILD_ID", value_name = "ID")]
    pub(crate) build_id: Option<String>,

    /// Read the build id from this file at start, like .next/BUILD_ID.
    ///
    /// Its content, trimmed, is the build id (see --build-id, which it replaces). Relative
    /// paths are relative to the working directory, here and in the config file.
    #[arg(
        long,
        env = "ISR_BUILD_ID_FILE",
        value_name = "PATH",
        conflicts_with = "build_id"
    )]
    pub(crate) build_id_file: Option<String>,

    /// Key pages on the request's Host header instead of --site.
    ///
    /// For one isr serving several hosts. Accepts an optional value: --key-host=false
    /// turns off a key_host = true from the config file.
    #[arg(
        long,
        env = "ISR_KEY_HOST",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub(crate) key_host: Option<bool>,

    /// The bearer token of the admin API (/_isr/...), at least 16 characters.
    ///
    /// Without it the admin API is off. Prefer the environment variable or the config file
    /// to the flag: a flag is visible to every user of the machine in the process list.
    #[arg(long, env = "ISR_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = secret)]
    pub(crate) admin_token: Option<Secret>,

    /// A secret that sends a request straight to the origin, never cached (drafts,
    /// previews), at least 16 characters.
    #[arg(long, env = "ISR_BYPASS_TOKEN", value_name = "TOKEN", hide_env_values = true, value_parser = secret)]
    pub(crate) bypass_token: Option<Secret>,

    /// Also bypass the cache for requests with Next.js's draft-mode cookie
    /// (__prerender_bypass).
    ///
    /// Accepts an optional value, like --key-host.
    #[arg(
        long,
        env = "ISR_BYPASS_NEXTJS_PREVIEW",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub(crate) bypass_nextjs_preview: Option<bool>,

    /// How long a page stays fresh when neither its route nor the origin says, like 60 or
    /// 5m; false keeps it fresh until purged. [default: 60s]
    ///
    /// A number of seconds, or a number with a unit: s, m, h or d.
    #[arg(long, env = "ISR_REVALIDATE", value_name = "DURATION|false", value_parser = parse_revalidate)]
    pub(crate) revalidate: Option<Revalidate>,

    /// How long after it was rendered a page may still be served stale, like 7d; false
    /// never expires. [default: 365d]
    ///
    /// Must be at least the revalidate time.
    #[arg(long, env = "ISR_EXPIRE", value_name = "DURATION|false", value_parser = parse_expire)]
    pub(crate) expire: Option<Expiry>,

    /// How long past expiry a page is still served when its origin fails, like 1d.
    /// [default: 1d]
    #[arg(long, env = "ISR_STALE_IF_ERROR", value_name = "DURATION", value_parser = parse_duration_secs)]
    pub(crate) stale_if_error: Option<u64>,

    /// How long a request waits for another request's render of the same page before
    /// going to the origin itself, like 10s or 500ms. [default: 10s]
    #[arg(long, env = "ISR_LOCK_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration_ms)]
    pub(crate) lock_timeout: Option<u64>,

    /// The longest one render may take, like 30s. [default: 30s]
    #[arg(long, env = "ISR_RENDER_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration_ms)]
    pub(crate) render_timeout: Option<u64>,

    /// The most pages regenerated in the background at once. [default: 8]
    #[arg(long, env = "ISR_REGENERATE_CONCURRENCY", value_name = "N", value_parser = parse_concurrency)]
    pub(crate) regenerate_concurrency: Option<usize>,

    /// The largest response body cached, like 10MiB; larger ones are passed through.
    /// [default: 10MiB]
    #[arg(long, env = "ISR_MAX_ENTRY_SIZE", value_name = "BYTES", value_parser = parse_positive_bytes)]
    pub(crate) max_entry_size: Option<u64>,

    /// Share the cache with other isr nodes through Redis or Valkey, like
    /// redis://127.0.0.1:6379/0 (rediss:// for TLS).
    ///
    /// Entries, purge records and render locks live in Redis; each node keeps its own
    /// memory tier, renders a page once across all nodes, and hears every purge at once.
    /// A password may be in the URL (redis://:PASSWORD@host:port) or in
    /// ISR_REDIS_PASSWORD. Without this, the embedded on-disk store (--cache-dir) is used.
    #[arg(long, env = "ISR_REDIS", value_name = "URL", hide_env_values = true, value_parser = secret)]
    pub(crate) redis: Option<Secret>,

    /// The namespace of isr's keys and channel in Redis, so several sites can share one.
    /// [default: isr]
    #[arg(long, env = "ISR_REDIS_PREFIX", value_name = "PREFIX", value_parser = parse_redis_prefix)]
    pub(crate) redis_prefix: Option<String>,

    /// The Redis password, when the URL has none. Prefer the environment variable: a flag
    /// is visible in the process list.
    #[arg(long, env = "ISR_REDIS_PASSWORD", value_name = "PASSWORD", hide_env_values = true, value_parser = secret)]
    pub(crate) redis_password: Option<Secret>,

    /// The --redis URL is one node of a Redis Cluster, which leads to the others.
    ///
    /// Entries and locks spread over the cluster's shards; listing and clearing visit every
    /// primary. Accepts an optional value, like --key-host.
    #[arg(
        long,
        env = "ISR_REDIS_CLUSTER",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub(crate) redis_cluster: Option<bool>,

    /// Serve Prometheus metrics at /metrics, and /healthz and /readyz, on this address,
    /// like 127.0.0.1:9090. [default: off]
    ///
    /// A listener of its own, apart from --listen: keep it private to the machine or the
    /// network your Prometheus scrapes from.
    #[arg(long, env = "ISR_METRICS_LISTEN", value_name = "ADDR", value_parser = parse_metrics_listen)]
    pub(crate) metrics_listen: Option<String>,

    /// Write one line per request to standard output: off, json or combined (the format
    /// of nginx and Apache, followed by isr's fields). [default: off]
    #[arg(long, env = "ISR_ACCESS_LOG", value_name = "FORMAT", value_parser = parse_access_log)]
    pub(crate) access_log: Option<AccessLogFormat>,

    /// The format of isr's own log lines: text or json. [default: text]
    #[arg(long, env = "ISR_LOG_FORMAT", value_name = "FORMAT", value_parser = parse_log_format)]
    pub(crate) log_format: Option<LogFormat>,

    /// Client connection limits and the graceful stop.
    #[command(flatten)]
    pub(crate) limits: super::limits::LimitArgs,

    /// What to log: error, warn, info, debug or trace, or a filter like isr=debug,warn.
    #[arg(long, env = "ISR_LOG", value_name = "LEVEL", default_value = "info")]
    pub(crate) log: String,
}

impl ServeArgs {
    /// The configuration: the file (if any) with the flags and environment layered over it
    /// by core's [`Overrides`], which checks the result.
    ///
    /// Errors: an unreadable or invalid file, a value or a combination of values that
    /// breaks a rule (e.g. `--expire` shorter than the file's revalidate), named as the
    /// user gave it (the flag and its variable, or the file's key), or no origin anywhere.
    pub(crate) fn load(&self) -> Result<Config, ConfigError> {
        let file = self.read_config_file()?;
        let overrides = self.overrides();
        let config = overrides
            .clone()
            .apply_reading(file, &|path| std::fs::read_to_string(path))
            .map_err(|invalid| self.refused(&overrides, invalid))?;
        if config.origin.is_none() {
            return Err(ConfigError::unplaced(COMMAND_LINE, NO_ORIGIN));
        }
        Ok(config)
    }

    fn read_config_file(&self) -> Result<Config, ConfigError> {
        let Some(path) = &self.config else {
            return Ok(Config::default());
        };
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| {
            ConfigError::unplaced(&name, format!("cannot read config file {name}: {error}"))
        })?;
        Config::from_toml_bytes_reading(&bytes, &name, &|file| std::fs::read_to_string(file))
    }

    /// What was given here (a flag or its environment variable), for core to layer.
    fn overrides(&self) -> Overrides {
        let secret = |secret: &Option<Secret>| secret.as_ref().map(|secret| secret.0.clone());
        let mut overrides = Overrides::default();
        overrides.origin.clone_from(&self.origin);
        overrides.listen.clone_from(&self.listen);
        overrides.metrics_listen.clone_from(&self.metrics_listen);
        overrides.access_log = self.access_log;
        overrides.log_format = self.log_format;
        overrides.cache_dir.clone_from(&self.cache_dir);
        overrides.memory_bytes = self.memory;
        overrides.disk_bytes = self.disk;
        overrides.threads = self.threads;
        overrides.site.clone_from(&self.site);
        overrides.build_id.clone_from(&self.build_id);
        overrides.build_id_file.clone_from(&self.build_id_file);
        overrides.key_host = self.key_host;
        overrides.admin_token = secret(&self.admin_token);
        overrides.bypass_token = secret(&self.bypass_token);
        overrides.bypass_nextjs_preview = self.bypass_nextjs_preview;
        overrides.revalidate = self.revalidate;
        overrides.expire = self.expire;
        overrides.stale_if_error = self.stale_if_error;
        overrides.lock_timeout_ms = self.lock_timeout;
        overrides.render_timeout_ms = self.render_timeout;
        overrides.regenerate_concurrency = self.regenerate_concurrency;
        overrides.max_entry_bytes = self.max_entry_size;
        overrides.redis_url = secret(&self.redis);
        overrides.redis_prefix.clone_from(&self.redis_prefix);
        overrides.redis_password = secret(&self.redis_password);
        overrides.redis_cluster = self.redis_cluster;
        overrides
    }

    /// The error for a refused setting: about the flag (and its variable) when it was
    /// given here, about the file's key otherwise.
    fn refused(&self, overrides: &Overrides, invalid: InvalidSetting) -> ConfigError {
        let culprit = match invalid.problem {
            // A rule between two settings: the one given here broke it.
            ValueError::ExpireBeforeRevalidate { .. } if !overrides.sets(Setting::Expire) => {
                Setting::Revalidate
            }
            _ => invalid.setting,
        };
        let flag = flag(culprit).filter(|_| overrides.sets(culprit));
        let Some(flag) = flag else {
            let file = self.config.as_ref().map_or_else(
                || COMMAND_LINE.to_owned(),
                |path| path.display().to_string(),
            );
            let key = format!("`{}`", invalid.setting.key());
            return ConfigError::setting(file, &key, invalid);
        };
        let name = format!("--{flag} ({})", env_var(flag));
        if matches!(invalid.problem, ValueError::NeedsRedisUrl) {
            // Say how to give one here, where the file's key would not help.
            return ConfigError::unplaced(
                COMMAND_LINE,
                format!("{name} needs a Redis URL: pass --redis URL or set [redis] url"),
            );
        }
        ConfigError::setting(COMMAND_LINE, &name, invalid)
    }
}

/// The flag (its long name) that sets `setting`, if one does.
fn flag(setting: Setting) -> Option<&'static str> {
    Some(match setting {
        Setting::Origin => "origin",
        Setting::Listen => "listen",
        Setting::CacheDir => "cache-dir",
        Setting::Memory => "memory",
        Setting::Disk => "disk",
        Setting::Threads => "threads",
        Setting::Site => "site",
        Setting::BuildId => "build-id",
        Setting::BuildIdFile => "build-id-file",
        Setting::KeyHost => "key-host",
        Setting::AdminToken => "admin-token",
        Setting::BypassToken => "bypass-token",
        Setting::BypassNextjsPreview => "bypass-nextjs-preview",
        Setting::Revalidate => "revalidate",
        Setting::Expire => "expire",
        Setting::StaleIfError => "stale-if-error",
        Setting::LockTimeout => "lock-timeout",
        Setting::RenderTimeout => "render-timeout",
        Setting::RegenerateConcurrency => "regenerate-concurrency",
        Setting::MaxEntrySize => "max-entry-size",
        Setting::RedisUrl => "redis",
        Setting::RedisPrefix => "redis-prefix",
        Setting::RedisPassword => "redis-password",
        Setting::RedisCluster => "redis-cluster",
        Setting::MetricsListen => "metrics-listen",
        Setting::AccessLog => "access-log",
        Setting::LogFormat => "log-format",
        _ => return None,
    })
}

/// The environment variable of `--flag`: `ISR_` and the flag in capitals.
fn env_var(flag: &str) -> String {
    format!("ISR_{}", flag.replace('-', "_").to_uppercase())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use clap::error::ErrorKind;
    use clap::{FromArgMatches, error::Error};
    use isr_core::config::RedisSettings;

    use super::*;

    /// `isr serve`, as a command of its own (so these tests need not know the others).
    fn serve_command() -> clap::Command {
        ServeArgs::augment_args(clap::Command::new("serve"))
    }

    /// `isr serve <args>`, parsed.
    fn try_serve_args(args: &[&str]) -> Result<ServeArgs, Error> {
        let matches = serve_command().try_get_matches_from(["serve"].iter().chain(args))?;
        ServeArgs::from_arg_matches(&matches)
    }

    fn serve_args(args: &[&str]) -> ServeArgs {
        try_serve_args(args).unwrap_or_else(|error| panic!("{error}"))
    }

    fn load(args: &[&str]) -> Result<Config, ConfigError> {
        serve_args(args).load()
    }

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write config");
        file
    }

    /// The error for `isr serve <args>`, which must be about `flag`.
    #[track_caller]
    fn assert_flag_error(args: &[&str], flag: &str) {
        let error = try_serve_args(args).expect_err("expected a clap error");
        assert_eq!(error.kind(), ErrorKind::ValueValidation, "{error}");
        let text = error.to_string();
        assert!(text.contains(flag), "{text:?} does not name {flag}");
    }

    #[test]
    fn origin_alone_is_enough() {
        let config = load(&["--origin", "http://localhost:3000/"]).expect("loads");
        assert_eq!(config.origin.as_deref(), Some("http://localhost:3000"));
        let defaults = Config::default();
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.cache_dir, defaults.cache_dir);
        assert_eq!(config.memory_bytes, defaults.memory_bytes);
        assert_eq!(config.disk_bytes, defaults.disk_bytes);
        assert_eq!(config.defaults, defaults.defaults);
        assert_eq!(config.engine, defaults.engine);
        assert!(config.routes.is_empty());
    }

    #[test]
    fn no_origin_anywhere_is_an_error() {
        let error = load(&[]).expect_err("no origin");
        assert_eq!(error.message, NO_ORIGIN);
        let file = config_file("site = \"x\"\n");
        let path = file.path().to_str().expect("utf-8 path");
        let error = load(&["--config", path]).expect_err("no origin");
        assert_eq!(error.message, NO_ORIGIN);
    }

    #[test]
    fn every_flag_overrides_the_file() {
        let file = config_file(
            r#"
origin = "http://file:1"
listen = "127.0.0.1:1111"
cache_dir = "file-dir"
memory = 1000
disk = 5000
threads = 3
site = "file.example"
build_id = "file-build"
key_host = true
[cache]
revalidate = 100
expire = 1000
stale_if_error = 10
lock_timeout = 1
render_timeout = 2
regenerate_concurrency = 3
max_entry_size = 4
"#,
        );
        let path = file.path().to_str().expect("utf-8 path");
        let config = load(&[
            "-c",
            path,
            "--origin=https://flag:2",
            "--listen=[::1]:2222",
            "--cache-dir=flag-dir",
            "--memory=2KiB",
            "--disk=3KiB",
            "--threads=1",
            "--site=flag.example",
            "--build-id=flag-build",
            "--key-host=false",
            "--revalidate=false",
            "--expire=false",
            "--stale-if-error=1m",
            "--lock-timeout=250ms",
            "--render-timeout=1m",
            "--regenerate-concurrency=16",
            "--max-entry-size=1MB",
            "--metrics-listen=127.0.0.1:9191",
            "--access-log=json",
            "--log-format=json",
        ])
        .expect("loads");
        assert_eq!(config.ops.metrics_listen.as_deref(), Some("127.0.0.1:9191"));
        assert_eq!(config.ops.access_log, AccessLogFormat::Json);
        assert_eq!(config.ops.log_format, LogFormat::Json);
        assert_eq!(config.origin.as_deref(), Some("https://flag:2"));
        assert_eq!(config.listen, "[::1]:2222");
        assert_eq!(config.cache_dir, "flag-dir");
        assert_eq!(config.memory_bytes, 2048);
        assert_eq!(config.disk_bytes, 3072);
        assert_eq!(config.threads, Some(1));
        assert_eq!(config.site, "flag.example");
        assert_eq!(config.build_id, "flag-build");
        assert!(!config.key_host);
        assert_eq!(config.defaults.revalidate, Revalidate::Never);
        assert_eq!(config.defaults.expire, None);
        assert_eq!(config.defaults.stale_if_error, 60);
        assert_eq!(config.engine.lock_timeout_ms, 250);
        assert_eq!(config.engine.render_timeout_ms, 60_000);
        assert_eq!(config.engine.regenerate_concurrency, 16);
        assert_eq!(config.engine.max_entry_bytes, 1_000_000);
    }

    #[test]
    fn redis_flags_turn_on_distributed_mode() {
        let origin = ["--origin", "http://127.0.0.1:1"];
        assert!(load(&origin).unwrap().redis.is_none(), "off by default");
        let config = load(&[
            origin[0],
            origin[1],
            "--redis",
            "redis://127.0.0.1:6379/1",
            "--redis-prefix",
            "shop",
            "--redis-password",
            "pw-from-env",
            "--redis-cluster",
        ])
        .unwrap();
        let redis = config.redis.unwrap();
        assert!(redis.cluster);
        assert_eq!(redis.url, "redis://127.0.0.1:6379/1");
        assert_eq!(redis.prefix, "shop");
        assert_eq!(redis.password.as_deref(), Some("pw-from-env"));
        assert_eq!(redis.lock_ttl_ms, RedisSettings::default().lock_ttl_ms);

        let error = load(&[origin[0], origin[1], "--redis", "http://user:hunter2@h"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--redis") && error.contains("redis://"),
            "{error}"
        );
        assert!(
            !error.contains("hunter2"),
            "a password is never echoed: {error}"
        );
        let error = load(&[origin[0], origin[1], "--redis-prefix", "shop"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--redis URL"), "{error}");
        let error = load(&[origin[0], origin[1], "--redis-cluster=true"]).unwrap_err();
        assert!(error.to_string().contains("--redis-cluster"), "{error}");
    }

    #[test]
    fn the_file_beats_the_defaults_where_no_flag_is_given() {
        let file = config_file(
            "origin = \"http://file:1\"\nmemory = \"1MiB\"\nsite = \"file\"\n[[route]]\npath = \"/a\"\n",
        );
        let path = file.path().to_str().expect("utf-8 path");
        let config = load(&["--config", path, "--site", "flag"]).expect("loads");
        assert_eq!(config.origin.as_deref(), Some("http://file:1"));
        assert_eq!(config.memory_bytes, 1 << 20);
        assert_eq!(config.site, "flag");
        assert_eq!(config.listen, Config::default().listen);
        assert_eq!(config.routes.len(), 1);
    }

    #[test]
    fn key_host_flag_forms() {
        assert_eq!(serve_args(&[]).key_host, None);
        assert_eq!(serve_args(&["--key-host"]).key_host, Some(true));
        assert_eq!(serve_args(&["--key-host=no"]).key_host, Some(false));
        assert_eq!(serve_args(&["--key-host=1"]).key_host, Some(true));
    }

    #[test]
    fn a_missing_file_names_the_path_and_the_io_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope.toml");
        let missing = missing.to_str().expect("utf-8 path");
        let error = load(&["--config", missing, "--origin", "http://x"]).expect_err("missing");
        assert_eq!(error.file, missing);
        assert!(error.message.contains(missing), "{error}");
        let io_text = std::io::Error::from(std::io::ErrorKind::NotFound).to_string();
        assert!(
            error.message.to_lowercase().contains("no such file")
                || error.message.contains(&io_text),
            "{error}"
        );
    }

    #[test]
    fn file_errors_keep_their_position() {
        let file = config_file("origin = \"http://x\"\n\nmemroy = 1\n");
        let path = file.path().to_str().expect("utf-8 path");
        let error = load(&["--config", path]).expect_err("unknown key");
        assert_eq!((error.file.as_str(), error.line), (path, 3));
        assert!(error.message.contains("memroy"), "{error}");
    }

    #[test]
    fn combined_values_are_checked_after_overrides() {
        let file = config_file("origin = \"http://x\"\n[cache]\nrevalidate = 600\nexpire = 3600\n");
        let path = file.path().to_str().expect("utf-8 path");
        let error = load(&["--config", path, "--expire", "5m"]).expect_err("expire < revalidate");
        assert_eq!(error.file, COMMAND_LINE);
        assert!(error.message.contains("expire"), "{error}");
        assert!(load(&["--config", path, "--revalidate", "1m", "--expire", "10m"]).is_ok());
    }

    #[test]
    fn a_rule_broken_by_a_flag_names_the_flag() {
        let file = config_file("origin = \"http://x\"\n[cache]\nrevalidate = 600\nexpire = 3600\n");
        let path = file.path().to_str().expect("utf-8 path");
        let error =
            load(&["--config", path, "--revalidate", "2h"]).expect_err("expire < revalidate");
        assert_eq!(error.file, COMMAND_LINE);
        assert!(
            error
                .message
                .starts_with("--revalidate (ISR_REVALIDATE): expire (3600s)"),
            "{error}"
        );
    }

    #[test]
    fn every_setting_a_flag_gives_is_named_after_that_flag() {
        let settings = [
            Setting::Origin,
            Setting::Listen,
            Setting::CacheDir,
            Setting::Memory,
            Setting::Disk,
            Setting::Threads,
            Setting::Site,
            Setting::BuildId,
            Setting::BuildIdFile,
            Setting::KeyHost,
            Setting::AdminToken,
            Setting::BypassToken,
            Setting::BypassNextjsPreview,
            Setting::Revalidate,
            Setting::Expire,
            Setting::StaleIfError,
            Setting::LockTimeout,
            Setting::RenderTimeout,
            Setting::RegenerateConcurrency,
            Setting::MaxEntrySize,
            Setting::RedisUrl,
            Setting::RedisPrefix,
            Setting::RedisPassword,
            Setting::RedisCluster,
            Setting::MetricsListen,
            Setting::AccessLog,
            Setting::LogFormat,
        ];
        let mut named: Vec<&str> = settings.iter().filter_map(|&s| flag(s)).collect();
        named.sort_unstable();
        let command = serve_command();
        let mut flags: Vec<&str> = command
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            // Not settings of the configuration: the file, the log, the connection limits.
            .filter(|long| !["config", "log"].contains(long))
            .filter(|long| !LIMIT_FLAGS.contains(long))
            .collect();
        flags.sort_unstable();
        assert_eq!(named, flags, "every setting flag, and only those");
        assert_eq!(flag(Setting::RetryMin), None, "the file's alone");
    }

    /// The flags of [`super::super::limits::LimitArgs`].
    const LIMIT_FLAGS: [&str; 4] = [
        "drain-timeout",
        "request-head-timeout",
        "idle-timeout",
        "max-connections",
    ];

    #[test]
    fn the_connection_limit_flags_set_the_limits() {
        let args = serve_args(&[
            "--drain-timeout=2m",
            "--request-head-timeout=5s",
            "--idle-timeout=500ms",
            "--max-connections=7",
        ]);
        let limits = args.limits.limits();
        assert_eq!(limits.drain_timeout.as_secs(), 120);
        assert_eq!(limits.request_head_timeout.as_secs(), 5);
        assert_eq!(limits.idle_timeout.as_millis(), 500);
        assert_eq!(limits.max_connections, 7);
        let defaults = serve_args(&[]).limits.limits();
        assert_eq!(defaults.drain_timeout.as_secs(), 30);
        for bad in [
            "--drain-timeout=0",
            "--max-connections=0",
            "--idle-timeout=soon",
        ] {
            let flag = bad.split('=').next().unwrap_or(bad);
            assert_flag_error(&[bad], flag);
        }
    }

    #[test]
    fn bad_values_are_errors_naming_the_flag() {
        assert_flag_error(&["--origin", "ftp://x"], "--origin");
        assert_flag_error(&["--origin", "http://x/app"], "--origin");
        assert_flag_error(&["--listen", "localhost"], "--listen");
        assert_flag_error(&["--cache-dir="], "--cache-dir");
        assert_flag_error(&["--memory", "12XB"], "--memory");
        assert_flag_error(&["--memory", "0"], "--memory");
        assert_flag_error(&["--disk", "1 parsec"], "--disk");
        assert_flag_error(&["--disk", "0"], "--disk");
        assert_flag_error(&["--threads", "0"], "--threads");
        assert_flag_error(&["--threads", "all"], "--threads");
        assert_flag_error(&["--key-host=maybe"], "--key-host");
        assert_flag_error(&["--revalidate", "0"], "--revalidate");
        assert_flag_error(&["--revalidate", "true"], "--revalidate");
        assert_flag_error(&["--expire", "1500ms"], "--expire");
        assert_flag_error(&["--stale-if-error=-1"], "--stale-if-error");
        assert_flag_error(&["--lock-timeout", "5w"], "--lock-timeout");
        assert_flag_error(&["--render-timeout", "0s"], "--render-timeout");
        assert_flag_error(
            &["--regenerate-concurrency", "0"],
            "--regenerate-concurrency",
        );
        assert_flag_error(
            &["--regenerate-concurrency", "many"],
            "--regenerate-concurrency",
        );
        assert_flag_error(&["--max-entry-size", "huge"], "--max-entry-size");
        assert_flag_error(&["--metrics-listen", "localhost:9090"], "--metrics-listen");
        assert_flag_error(&["--access-log", "apache"], "--access-log");
        assert_flag_error(&["--log-format", "xml"], "--log-format");
    }

    #[test]
    fn log_defaults_to_info() {
        assert_eq!(serve_args(&[]).log, "info");
        assert_eq!(serve_args(&["--log", "isr=debug"]).log, "isr=debug");
    }

    /// Environment variables cannot be set from a test here (`set_var` is unsafe in Rust
    /// 2024 and the workspace forbids unsafe code), so check the wiring instead: every
    /// `serve` value has its ISR_* variable, named after the flag.
    #[test]
    fn every_serve_flag_has_its_environment_variable() {
        let mut checked = 0;
        for arg in serve_command().get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" {
                continue;
            }
            let expected = format!("ISR_{}", long.replace('-', "_").to_uppercase());
            let env = arg.get_env().and_then(|env| env.to_str());
            assert_eq!(env, Some(expected.as_str()), "--{long}");
            checked += 1;
        }
        assert_eq!(checked, 33);
    }

    #[test]
    fn secrets_and_bypass_flags() {
        let config = load(&[
            "--origin=http://x",
            "--admin-token=0123456789abcdef",
            "--bypass-token=preview-0123456789",
            "--bypass-nextjs-preview",
        ])
        .expect("loads");
        assert_eq!(config.admin_token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(config.bypass_token.as_deref(), Some("preview-0123456789"));
        assert!(config.bypass_nextjs_preview);
        assert!(
            !format!("{:?}", serve_args(&["--admin-token=0123456789abcdef"]))
                .contains("0123456789abcdef")
        );

        let file = config_file(
            "origin = \"http://x\"\nadmin_token = \"file-token-0123456789\"\nbypass_nextjs_preview = true\n",
        );
        let path = file.path().to_str().expect("utf-8 path");
        let config = load(&["-c", path, "--bypass-nextjs-preview=false"]).expect("loads");
        assert_eq!(config.admin_token.as_deref(), Some("file-token-0123456789"));
        assert!(!config.bypass_nextjs_preview);

        for (flag, env) in [
            ("--admin-token", "ISR_ADMIN_TOKEN"),
            ("--bypass-token", "ISR_BYPASS_TOKEN"),
        ] {
            let error =
                load(&["--origin=http://x", &format!("{flag}=guessable")]).expect_err("short");
            assert_eq!(error.file, COMMAND_LINE);
            assert!(error.message.contains(flag), "{error}");
            assert!(error.message.contains(env), "{error}");
            assert!(error.message.contains("too short"), "{error}");
            assert!(
                !error.message.contains("guessable"),
                "quotes the secret: {error}"
            );
        }
    }

    #[test]
    fn build_id_file_flag() {
        let dir = tempfile::tempdir().expect("temp dir");
        let build_id = dir.path().join("BUILD_ID");
        std::fs::write(&build_id, "  next-build-7\n").expect("write");
        let build_id = build_id.to_str().expect("utf-8 path");
        let config = load(&["--origin=http://x", "--build-id-file", build_id]).expect("loads");
        assert_eq!(config.build_id, "next-build-7");
        assert_eq!(config.build_id_file.as_deref(), Some(build_id), "watched");

        // The file's build_id_file, relative to the working directory like cache_dir.
        let file = config_file(&format!(
            "origin = \"http://x\"\nbuild_id_file = {build_id:?}\n"
        ));
        let path = file.path().to_str().expect("utf-8 path");
        assert_eq!(load(&["-c", path]).expect("loads").build_id, "next-build-7");
        assert_eq!(
            load(&["-c", path]).expect("loads").build_id_file.as_deref(),
            Some(build_id)
        );
        // A flag beats the file, whichever way each sets the build id (and the file is
        // then not watched).
        let flagged = load(&["-c", path, "--build-id=flag"]).expect("loads");
        assert_eq!(flagged.build_id, "flag");
        assert_eq!(flagged.build_id_file, None);

        let missing = dir.path().join("nope");
        let missing = missing.to_str().expect("utf-8 path");
        let error = load(&["--origin=http://x", "--build-id-file", missing]).expect_err("missing");
        assert!(error.message.contains("--build-id-file"), "{error}");
        assert!(error.message.contains(missing), "{error}");
        assert!(
            error.message.to_lowercase().contains("no such file"),
            "{error}"
        );

        let error =
            try_serve_args(&["--build-id=a", "--build-id-file", build_id]).expect_err("both");
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict, "{error}");
    }
}
