//! [`Overrides`]: the settings a command-line flag, an environment variable or a Worker
//! variable can set, layered over the file's configuration by one function
//! ([`Overrides::apply_reading`]), which also checks the result.
//!
//! Invariants:
//! - A setting left `None` keeps the file's value (or the default); a given one replaces
//!   it. Precedence between flags and variables is the caller's (clap's); this layer only
//!   puts whatever won over the file.
//! - The layered configuration passes [`Config::validate`], or the error names the
//!   [`Setting`] that cannot work, so each caller can name it as its user wrote it (a
//!   flag, a variable, a key).
//! - Secrets (tokens, the Redis URL and password) are never printed by `Debug` and never
//!   quoted in errors.

use super::model::LogFormat;
use super::model::{Config, RedisSettings};
use super::schema::NoFileReading;
use super::setting::{InvalidSetting, Setting, about};
use super::value::{
    ValueError, parse_listen, parse_non_empty, parse_origin, parse_redis_url, read_build_id_file,
    redact_url,
};
use crate::policy::Revalidate;
use crate::telemetry::access_log::AccessLogFormat;

/// Settings given besides the file; `None`: not given, the file's value (or the default)
/// stays. Build one with `Overrides::default()` and set the fields given.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Overrides {
    /// `origin`; normalised like the file's (no trailing `/`).
    pub origin: Option<String>,
    /// `listen`: `IP:PORT`.
    pub listen: Option<String>,
    /// `metrics_listen`: `IP:PORT`.
    pub metrics_listen: Option<String>,
    /// `access_log`.
    pub access_log: Option<AccessLogFormat>,
    /// `log_format`.
    pub log_format: Option<LogFormat>,
    /// `cache_dir`.
    pub cache_dir: Option<String>,
    /// `memory`, in bytes.
    pub memory_bytes: Option<u64>,
    /// `disk`, in bytes.
    pub disk_bytes: Option<u64>,
    /// `threads`.
    pub threads: Option<usize>,
    /// `site`.
    pub site: Option<String>,
    /// `build_id`.
    pub build_id: Option<String>,
    /// Read (with the caller's reader) and its content, trimmed, used as the build id.
    /// Cannot be combined with `build_id`.
    pub build_id_file: Option<String>,
    /// `key_host`.
    pub key_host: Option<bool>,
    /// `admin_token`: checked like the file's, never quoted.
    pub admin_token: Option<String>,
    /// `bypass_token`: checked like the file's, never quoted.
    pub bypass_token: Option<String>,
    /// `bypass_nextjs_preview`.
    pub bypass_nextjs_preview: Option<bool>,
    /// `cache.revalidate`.
    pub revalidate: Option<Revalidate>,
    /// `cache.expire`; `Some(None)`: never expires.
    pub expire: Option<Option<u64>>,
    /// `cache.stale_if_error`, seconds.
    pub stale_if_error: Option<u64>,
    /// `cache.lock_timeout`, milliseconds.
    pub lock_timeout_ms: Option<u64>,
    /// `cache.render_timeout`, milliseconds.
    pub render_timeout_ms: Option<u64>,
    /// `cache.regenerate_concurrency`.
    pub regenerate_concurrency: Option<usize>,
    /// `cache.max_entry_size`, in bytes.
    pub max_entry_bytes: Option<u64>,
    /// Turns on distributed mode (or replaces the file's `redis.url`).
    pub redis_url: Option<String>,
    /// These three need a Redis URL, here or in the file.
    pub redis_prefix: Option<String>,
    /// The Redis password, when the URL has none (never quoted).
    pub redis_password: Option<String>,
    /// `redis.cluster`.
    pub redis_cluster: Option<bool>,
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("Overrides")
            .field("origin", &self.origin)
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("access_log", &self.access_log)
            .field("log_format", &self.log_format)
            .field("cache_dir", &self.cache_dir)
            .field("memory_bytes", &self.memory_bytes)
            .field("disk_bytes", &self.disk_bytes)
            .field("threads", &self.threads)
            .field("site", &self.site)
            .field("build_id", &self.build_id)
            .field("build_id_file", &self.build_id_file)
            .field("key_host", &self.key_host)
            .field("admin_token", &secret(&self.admin_token))
            .field("bypass_token", &secret(&self.bypass_token))
            .field("bypass_nextjs_preview", &self.bypass_nextjs_preview)
            .field("revalidate", &self.revalidate)
            .field("expire", &self.expire)
            .field("stale_if_error", &self.stale_if_error)
            .field("lock_timeout_ms", &self.lock_timeout_ms)
            .field("render_timeout_ms", &self.render_timeout_ms)
            .field("regenerate_concurrency", &self.regenerate_concurrency)
            .field("max_entry_bytes", &self.max_entry_bytes)
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_password", &secret(&self.redis_password))
            .field("redis_cluster", &self.redis_cluster)
            .finish()
    }
}

/// Replace `setting` with `given`, if given.
fn put<T>(setting: &mut T, given: Option<T>) {
    if let Some(value) = given {
        *setting = value;
    }
}

impl Overrides {
    /// Whether `setting` is given here (so an error about it can name the flag or variable
    /// it came from; otherwise it came from the file).
    pub fn sets(&self, setting: Setting) -> bool {
        match setting {
            Setting::Origin => self.origin.is_some(),
            Setting::Listen => self.listen.is_some(),
            Setting::MetricsListen => self.metrics_listen.is_some(),
            Setting::AccessLog => self.access_log.is_some(),
            Setting::LogFormat => self.log_format.is_some(),
            Setting::CacheDir => self.cache_dir.is_some(),
            Setting::Memory => self.memory_bytes.is_some(),
            Setting::Disk => self.disk_bytes.is_some(),
            Setting::Threads => self.threads.is_some(),
            Setting::Site => self.site.is_some(),
            Setting::BuildId => self.build_id.is_some(),
            Setting::BuildIdFile => self.build_id_file.is_some(),
            Setting::KeyHost => self.key_host.is_some(),
            Setting::AdminToken => self.admin_token.is_some(),
            Setting::BypassToken => self.bypass_token.is_some(),
            Setting::BypassNextjsPreview => self.bypass_nextjs_preview.is_some(),
            Setting::Revalidate => self.revalidate.is_some(),
            Setting::Expire => self.expire.is_some(),
            Setting::StaleIfError => self.stale_if_error.is_some(),
            Setting::LockTimeout => self.lock_timeout_ms.is_some(),
            Setting::RenderTimeout => self.render_timeout_ms.is_some(),
            Setting::RegenerateConcurrency => self.regenerate_concurrency.is_some(),
            Setting::MaxEntrySize => self.max_entry_bytes.is_some(),
            Setting::RedisUrl => self.redis_url.is_some(),
            Setting::RedisPrefix => self.redis_prefix.is_some(),
            Setting::RedisPassword => self.redis_password.is_some(),
            Setting::RedisCluster => self.redis_cluster.is_some(),
            Setting::Statuses
            | Setting::RetryMin
            | Setting::RetryMax
            | Setting::RedisLockTtl
            | Setting::RedisTimeout
            | Setting::RedisMaxTtl
            | Setting::CompressionBr
            | Setting::CompressionZstd
            | Setting::CompressionGzip
            | Setting::CompressionMinSize => false,
        }
    }

    /// [`Overrides::apply_reading`] where no file can be read: `build_id_file` is refused.
    pub fn apply(self, config: Config) -> Result<Config, InvalidSetting> {
        self.apply_reading(config, &|_| Err::<String, _>(NoFileReading))
    }

    /// Layer these settings over `config` (the file's, or the defaults), reading
    /// `build_id_file` with `read_file` (e.g. `std::fs::read_to_string`), and check the
    /// result with [`Config::validate`].
    pub fn apply_reading<E>(
        self,
        mut config: Config,
        read_file: &dyn Fn(&str) -> Result<String, E>,
    ) -> Result<Config, InvalidSetting>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if let Some(origin) = self.origin {
            config.origin = Some(about(Setting::Origin, parse_origin(&origin))?);
        }
        if let Some(listen) = self.listen {
            config.listen = about(Setting::Listen, parse_listen(&listen))?;
        }
        if let Some(listen) = self.metrics_listen {
            let listen = about(Setting::MetricsListen, parse_listen(&listen))?;
            config.ops.metrics_listen = Some(listen);
        }
        put(&mut config.ops.access_log, self.access_log);
        put(&mut config.ops.log_format, self.log_format);
        if let Some(dir) = self.cache_dir {
            config.cache_dir = about(Setting::CacheDir, parse_non_empty(&dir))?;
        }
        put(&mut config.memory_bytes, self.memory_bytes);
        put(&mut config.disk_bytes, self.disk_bytes);
        put(&mut config.threads, self.threads.map(Some));
        put(&mut config.site, self.site);
        match (self.build_id, self.build_id_file) {
            (Some(_), Some(_)) => {
                return Err(InvalidSetting {
                    setting: Setting::BuildIdFile,
                    problem: ValueError::Conflicts(Setting::BuildId.key()),
                });
            }
            (Some(id), None) => {
                // The flag wins over the file's `build_id_file`, which is then not watched.
                config.build_id = id;
                config.build_id_file = None;
            }
            (None, Some(path)) => {
                config.build_id =
                    about(Setting::BuildIdFile, read_build_id_file(&path, read_file))?;
                config.build_id_file = Some(path);
            }
            (None, None) => {}
        }
        put(&mut config.key_host, self.key_host);
        put(&mut config.admin_token, self.admin_token.map(Some));
        put(&mut config.bypass_token, self.bypass_token.map(Some));
        put(
            &mut config.bypass_nextjs_preview,
            self.bypass_nextjs_preview,
        );
        put(&mut config.defaults.revalidate, self.revalidate);
        put(&mut config.defaults.expire, self.expire);
        put(&mut config.defaults.stale_if_error, self.stale_if_error);
        let engine = &mut config.engine;
        put(&mut engine.lock_timeout_ms, self.lock_timeout_ms);
        put(&mut engine.render_timeout_ms, self.render_timeout_ms);
        put(
            &mut engine.regenerate_concurrency,
            self.regenerate_concurrency,
        );
        put(&mut engine.max_entry_bytes, self.max_entry_bytes);
        if let Some(url) = self.redis_url {
            let url = about(Setting::RedisUrl, parse_redis_url(&url))?;
            let redis = config.redis.take().unwrap_or_default();
            config.redis = Some(RedisSettings { url, ..redis });
        }
        let redis_settings = [
            (Setting::RedisPrefix, self.redis_prefix.is_some()),
            (Setting::RedisPassword, self.redis_password.is_some()),
            (Setting::RedisCluster, self.redis_cluster.is_some()),
        ];
        match &mut config.redis {
            Some(redis) => {
                put(&mut redis.prefix, self.redis_prefix);
                put(&mut redis.password, self.redis_password.map(Some));
                put(&mut redis.cluster, self.redis_cluster);
            }
            None => {
                if let Some((setting, _)) = redis_settings.into_iter().find(|&(_, given)| given) {
                    return Err(InvalidSetting {
                        setting,
                        problem: ValueError::NeedsRedisUrl,
                    });
                }
            }
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(toml: &str) -> Config {
        Config::from_toml(toml, "isr.toml").expect("valid")
    }

    #[test]
    fn nothing_given_keeps_the_file() {
        let base = file("origin = \"http://x\"\nmemory = 1000\n[cache]\nrevalidate = 5\n");
        let layered = Overrides::default().apply(base.clone()).expect("valid");
        assert_eq!(layered.origin, base.origin);
        assert_eq!(layered.memory_bytes, 1000);
        assert_eq!(layered.defaults, base.defaults);
    }

    #[test]
    fn every_given_setting_replaces_the_file() {
        let base = file("origin = \"http://file\"\nsite = \"file\"\nbuild_id = \"file\"\n");
        let given = Overrides {
            origin: Some("https://flag:2/".into()),
            listen: Some("[::1]:2222".into()),
            metrics_listen: Some("127.0.0.1:9090".into()),
            access_log: Some(AccessLogFormat::Json),
            log_format: Some(LogFormat::Json),
            cache_dir: Some("dir".into()),
            memory_bytes: Some(2048),
            disk_bytes: Some(3072),
            threads: Some(1),
            site: Some("flag".into()),
            build_id: Some("flag-build".into()),
            key_host: Some(true),
            admin_token: Some("0123456789abcdef".into()),
            bypass_token: Some("preview-0123456789".into()),
            bypass_nextjs_preview: Some(true),
            revalidate: Some(Revalidate::Never),
            expire: Some(None),
            stale_if_error: Some(60),
            lock_timeout_ms: Some(250),
            render_timeout_ms: Some(60_000),
            regenerate_concurrency: Some(16),
            max_entry_bytes: Some(1_000_000),
            redis_url: Some("redis://127.0.0.1:6379/1".into()),
            redis_prefix: Some("shop".into()),
            redis_password: Some("pw".into()),
            redis_cluster: Some(true),
            build_id_file: None,
        };
        assert!(
            !format!("{given:?}").contains("0123456789"),
            "secrets are redacted"
        );
        let config = given.apply(base).expect("valid");
        assert_eq!(config.origin.as_deref(), Some("https://flag:2"));
        assert_eq!(config.listen, "[::1]:2222");
        assert_eq!(config.ops.metrics_listen.as_deref(), Some("127.0.0.1:9090"));
        assert_eq!(config.ops.access_log, AccessLogFormat::Json);
        assert_eq!(config.ops.log_format, LogFormat::Json);
        assert_eq!(config.cache_dir, "dir");
        assert_eq!((config.memory_bytes, config.disk_bytes), (2048, 3072));
        assert_eq!(config.threads, Some(1));
        assert_eq!(
            (config.site.as_str(), config.build_id.as_str()),
            ("flag", "flag-build")
        );
        assert!(config.key_host && config.bypass_nextjs_preview);
        assert_eq!(config.admin_token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(config.bypass_token.as_deref(), Some("preview-0123456789"));
        assert_eq!(config.defaults.revalidate, Revalidate::Never);
        assert_eq!(config.defaults.expire, None);
        assert_eq!(config.defaults.stale_if_error, 60);
        assert_eq!(config.engine.lock_timeout_ms, 250);
        assert_eq!(config.engine.render_timeout_ms, 60_000);
        assert_eq!(config.engine.regenerate_concurrency, 16);
        assert_eq!(config.engine.max_entry_bytes, 1_000_000);
        let redis = config.redis.expect("distributed");
        assert_eq!(redis.url, "redis://127.0.0.1:6379/1");
        assert_eq!(
            (redis.prefix.as_str(), redis.password.as_deref()),
            ("shop", Some("pw"))
        );
        assert!(redis.cluster);
        assert_eq!(redis.lock_ttl_ms, RedisSettings::default().lock_ttl_ms);
    }

    #[track_caller]
    fn refused(base: &str, change: impl FnOnce(&mut Overrides), setting: Setting, needle: &str) {
        let mut given = Overrides::default();
        change(&mut given);
        let error = given.apply(file(base)).expect_err("refused");
        assert_eq!(error.setting, setting, "{error}");
        assert!(
            error.to_string().contains(needle),
            "{error} lacks {needle:?}"
        );
    }

    #[test]
    fn the_result_is_checked() {
        refused(
            "",
            |o| o.origin = Some("http://x/app".into()),
            Setting::Origin,
            "path",
        );
        refused(
            "",
            |o| o.memory_bytes = Some(0),
            Setting::Memory,
            "greater than 0",
        );
        refused("", |o| o.threads = Some(0), Setting::Threads, "between 1");
        refused(
            "",
            |o| o.admin_token = Some("guessable".into()),
            Setting::AdminToken,
            "too short",
        );
        refused(
            "",
            |o| o.regenerate_concurrency = Some(usize::MAX),
            Setting::RegenerateConcurrency,
            "too large",
        );
        // A combination of the file's and the given values.
        refused(
            "[cache]\nrevalidate = 600\nexpire = 3600\n",
            |o| o.expire = Some(Some(300)),
            Setting::Expire,
            "at least revalidate",
        );
        refused(
            "",
            |o| o.redis_prefix = Some("shop".into()),
            Setting::RedisPrefix,
            "Redis URL",
        );
        refused(
            "",
            |o| o.redis_cluster = Some(false),
            Setting::RedisCluster,
            "Redis URL",
        );
        refused(
            "",
            |o| o.redis_url = Some("http://user:hunter2@h".into()),
            Setting::RedisUrl,
            "redis://",
        );
        refused(
            "",
            |o| {
                o.build_id = Some("a".into());
                o.build_id_file = Some("b".into());
            },
            Setting::BuildIdFile,
            "`build_id`",
        );
        refused(
            "",
            |o| o.build_id_file = Some("BUILD_ID".into()),
            Setting::BuildIdFile,
            "not supported",
        );
        let error = {
            let given = Overrides {
                redis_url: Some("http://user:hunter2@h".into()),
                ..Overrides::default()
            };
            given.apply(Config::default()).expect_err("refused")
        };
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn redis_settings_join_the_files_redis() {
        let base = file("[redis]\nurl = \"redis://h\"\nprefix = \"file\"\n");
        let given = Overrides {
            redis_cluster: Some(true),
            ..Overrides::default()
        };
        let redis = given.apply(base).expect("valid").redis.expect("redis");
        assert_eq!((redis.prefix.as_str(), redis.cluster), ("file", true));
    }

    #[test]
    fn a_build_id_file_is_read_by_the_callers_reader() {
        let read = |path: &str| -> Result<String, std::io::Error> {
            match path {
                "BUILD_ID" => Ok(" b7\n".into()),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            }
        };
        let given = Overrides {
            build_id_file: Some("BUILD_ID".into()),
            ..Overrides::default()
        };
        assert!(given.sets(Setting::BuildIdFile) && !given.sets(Setting::BuildId));
        let config = given
            .apply_reading(file("build_id = \"file\""), &read)
            .expect("reads");
        assert_eq!(config.build_id, "b7");
        let given = Overrides {
            build_id_file: Some("nope".into()),
            ..Overrides::default()
        };
        let error = given
            .apply_reading(Config::default(), &read)
            .expect_err("missing");
        assert!(
            error.to_string().contains("cannot read build id file nope"),
            "{error}"
        );
    }
}
