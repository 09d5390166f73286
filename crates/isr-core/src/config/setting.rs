//! [`Setting`]: the name of each setting, and [`Config::validate`], which checks every one
//! of them on a configuration however it was made (file, overrides, code).
//!
//! Invariants:
//! - A configuration that passes [`Config::validate`] starts every runtime without a
//!   panic and every value in it can work: counts, durations and sizes are within the
//!   bounds of [`super::value`], secrets are long enough, the rules that tie settings
//!   together hold.
//! - The file parser accepts exactly what `validate` accepts (a property test holds the
//!   two together), so a layered configuration is checked by the same rules as the file.

use super::model::{CompressionSettings, Config, EngineSettings, RedisSettings};
use super::value::{
    ValueError, check_compression_level, check_concurrency, check_duration_ms, check_duration_secs,
    check_expire_covers_revalidate, check_retry_range, check_storable_status, check_threads,
    check_token, parse_listen, parse_origin, parse_redis_prefix, parse_redis_url, require_positive,
    revalidate_from_secs,
};
use crate::coding::Coding;
use crate::policy::{CacheDefaults, Revalidate};

/// One setting of [`Config`], named by its key in `isr.toml`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// `origin`.
    Origin,
    /// `listen`.
    Listen,
    /// `cache_dir`.
    CacheDir,
    /// `memory`.
    Memory,
    /// `disk`.
    Disk,
    /// `threads`.
    Threads,
    /// `site`.
    Site,
    /// `build_id`.
    BuildId,
    /// `build_id_file`.
    BuildIdFile,
    /// `key_host`.
    KeyHost,
    /// `admin_token`.
    AdminToken,
    /// `bypass_token`.
    BypassToken,
    /// `bypass_nextjs_preview`.
    BypassNextjsPreview,
    /// `cache.revalidate`.
    Revalidate,
    /// `cache.expire`.
    Expire,
    /// `cache.stale_if_error`.
    StaleIfError,
    /// `cache.statuses`.
    Statuses,
    /// `cache.lock_timeout`.
    LockTimeout,
    /// `cache.render_timeout`.
    RenderTimeout,
    /// `cache.regenerate_concurrency`.
    RegenerateConcurrency,
    /// `cache.retry_min`.
    RetryMin,
    /// `cache.retry_max`.
    RetryMax,
    /// `cache.max_entry_size`.
    MaxEntrySize,
    /// `compression.br`.
    CompressionBr,
    /// `compression.zstd`.
    CompressionZstd,
    /// `compression.gzip`.
    CompressionGzip,
    /// `compression.min_size`.
    CompressionMinSize,
    /// `redis.url`.
    RedisUrl,
    /// `redis.prefix`.
    RedisPrefix,
    /// `redis.lock_ttl`.
    RedisLockTtl,
    /// `redis.timeout`.
    RedisTimeout,
    /// `redis.max_ttl`.
    RedisMaxTtl,
    /// Not a file key: the password comes from the environment only.
    RedisPassword,
    /// `redis.cluster`.
    RedisCluster,
    /// `metrics_listen`.
    MetricsListen,
    /// `access_log`.
    AccessLog,
    /// `log_format`.
    LogFormat,
}

impl Setting {
    /// The key in `isr.toml` (`memory`, `cache.expire`, `redis.url`).
    pub fn key(self) -> &'static str {
        match self {
            Setting::Origin => "origin",
            Setting::Listen => "listen",
            Setting::CacheDir => "cache_dir",
            Setting::Memory => "memory",
            Setting::Disk => "disk",
            Setting::Threads => "threads",
            Setting::Site => "site",
            Setting::BuildId => "build_id",
            Setting::BuildIdFile => "build_id_file",
            Setting::KeyHost => "key_host",
            Setting::AdminToken => "admin_token",
            Setting::BypassToken => "bypass_token",
            Setting::BypassNextjsPreview => "bypass_nextjs_preview",
            Setting::Revalidate => "cache.revalidate",
            Setting::Expire => "cache.expire",
            Setting::StaleIfError => "cache.stale_if_error",
            Setting::Statuses => "cache.statuses",
            Setting::LockTimeout => "cache.lock_timeout",
            Setting::RenderTimeout => "cache.render_timeout",
            Setting::RegenerateConcurrency => "cache.regenerate_concurrency",
            Setting::RetryMin => "cache.retry_min",
            Setting::RetryMax => "cache.retry_max",
            Setting::MaxEntrySize => "cache.max_entry_size",
            Setting::CompressionBr => "compression.br",
            Setting::CompressionZstd => "compression.zstd",
            Setting::CompressionGzip => "compression.gzip",
            Setting::CompressionMinSize => "compression.min_size",
            Setting::RedisUrl => "redis.url",
            Setting::RedisPrefix => "redis.prefix",
            Setting::RedisLockTtl => "redis.lock_ttl",
            Setting::RedisTimeout => "redis.timeout",
            Setting::RedisMaxTtl => "redis.max_ttl",
            Setting::RedisPassword => "redis.password",
            Setting::RedisCluster => "redis.cluster",
            Setting::MetricsListen => "metrics_listen",
            Setting::AccessLog => "access_log",
            Setting::LogFormat => "log_format",
        }
    }
}

/// A setting whose value cannot work.
#[derive(Debug, thiserror::Error)]
#[error("`{}`: {problem}", setting.key())]
pub struct InvalidSetting {
    /// The setting that cannot work.
    pub setting: Setting,
    /// Why.
    pub problem: ValueError,
}

/// Attach `setting` to a check's error.
pub(crate) fn about<T>(
    setting: Setting,
    checked: Result<T, ValueError>,
) -> Result<T, InvalidSetting> {
    checked.map_err(|problem| InvalidSetting { setting, problem })
}

/// A count as checked: `usize` is at most 64 bits wherever isr runs.
fn widen(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl Config {
    /// Check every setting, and the rules that tie several together. The file parser
    /// enforces the same rules as it reads (pointing at the line); this is for a
    /// configuration layered with [`super::Overrides`] or changed in code.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if let Some(origin) = &self.origin {
            about(Setting::Origin, parse_origin(origin))?;
        }
        about(Setting::Listen, parse_listen(&self.listen))?;
        if let Some(listen) = &self.ops.metrics_listen {
            about(Setting::MetricsListen, parse_listen(listen))?;
        }
        if self.cache_dir.is_empty() {
            return Err(InvalidSetting {
                setting: Setting::CacheDir,
                problem: ValueError::Empty,
            });
        }
        about(Setting::Memory, require_positive(self.memory_bytes))?;
        about(Setting::Disk, require_positive(self.disk_bytes))?;
        if let Some(threads) = self.threads {
            about(Setting::Threads, check_threads(widen(threads)))?;
        }
        if let Some(token) = &self.admin_token {
            about(Setting::AdminToken, check_token(token))?;
        }
        if let Some(token) = &self.bypass_token {
            about(Setting::BypassToken, check_token(token))?;
        }
        validate_defaults(&self.defaults)?;
        validate_engine(&self.engine)?;
        validate_compression(&self.compression)?;
        if let Some(redis) = &self.redis {
            validate_redis(redis)?;
        }
        Ok(())
    }
}

fn validate_defaults(defaults: &CacheDefaults) -> Result<(), InvalidSetting> {
    if let Revalidate::After(secs) = defaults.revalidate {
        about(Setting::Revalidate, revalidate_from_secs(secs))?;
    }
    if let Some(expire) = defaults.expire {
        about(
            Setting::Expire,
            require_positive(expire).and_then(check_duration_secs),
        )?;
    }
    about(
        Setting::Expire,
        check_expire_covers_revalidate(defaults.revalidate, defaults.expire),
    )?;
    about(
        Setting::StaleIfError,
        check_duration_secs(defaults.stale_if_error),
    )?;
    for &(status, secs) in &defaults.status_revalidate {
        about(Setting::Statuses, check_storable_status(status))?;
        about(
            Setting::Statuses,
            require_positive(secs).and_then(check_duration_secs),
        )?;
    }
    Ok(())
}

fn validate_engine(engine: &EngineSettings) -> Result<(), InvalidSetting> {
    let timeout = |ms| require_positive(ms).and_then(check_duration_ms);
    about(Setting::LockTimeout, timeout(engine.lock_timeout_ms))?;
    about(Setting::RenderTimeout, timeout(engine.render_timeout_ms))?;
    about(Setting::RetryMin, timeout(engine.retry_min_ms))?;
    about(Setting::RetryMax, timeout(engine.retry_max_ms))?;
    about(
        Setting::RetryMax,
        check_retry_range(engine.retry_min_ms, engine.retry_max_ms),
    )?;
    about(
        Setting::RegenerateConcurrency,
        check_concurrency(widen(engine.regenerate_concurrency)),
    )?;
    about(
        Setting::MaxEntrySize,
        require_positive(engine.max_entry_bytes),
    )?;
    Ok(())
}

fn validate_compression(compression: &CompressionSettings) -> Result<(), InvalidSetting> {
    let levels = [
        (Setting::CompressionBr, Coding::Br, compression.br),
        (Setting::CompressionZstd, Coding::Zstd, compression.zstd),
        (Setting::CompressionGzip, Coding::Gzip, compression.gzip),
    ];
    for (setting, coding, level) in levels {
        if let Some(level) = level {
            about(setting, check_compression_level(coding, u64::from(level)))?;
        }
    }
    Ok(())
}

fn validate_redis(redis: &RedisSettings) -> Result<(), InvalidSetting> {
    about(Setting::RedisUrl, parse_redis_url(&redis.url))?;
    about(Setting::RedisPrefix, parse_redis_prefix(&redis.prefix))?;
    let positive_ms = |ms| require_positive(ms).and_then(check_duration_ms);
    about(Setting::RedisLockTtl, positive_ms(redis.lock_ttl_ms))?;
    about(Setting::RedisTimeout, positive_ms(redis.timeout_ms))?;
    about(
        Setting::RedisMaxTtl,
        require_positive(redis.max_ttl_secs).and_then(check_duration_secs),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused(change: impl FnOnce(&mut Config), setting: Setting, needle: &str) {
        let mut config = Config::default();
        change(&mut config);
        let error = config.validate().expect_err("refused");
        assert_eq!(error.setting, setting, "{error}");
        let text = error.to_string();
        assert!(text.contains(setting.key()), "{text}");
        assert!(text.contains(needle), "{text} lacks {needle:?}");
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn every_setting_is_checked() {
        refused(
            |c| c.origin = Some("ftp://x".into()),
            Setting::Origin,
            "http",
        );
        refused(
            |c| c.listen = "localhost".into(),
            Setting::Listen,
            "IP:PORT",
        );
        refused(|c| c.cache_dir.clear(), Setting::CacheDir, "empty");
        refused(|c| c.memory_bytes = 0, Setting::Memory, "greater than 0");
        refused(|c| c.disk_bytes = 0, Setting::Disk, "greater than 0");
        refused(|c| c.threads = Some(5000), Setting::Threads, "between");
        refused(
            |c| c.admin_token = Some("short".into()),
            Setting::AdminToken,
            "short",
        );
        refused(
            |c| c.bypass_token = Some("".into()),
            Setting::BypassToken,
            "empty",
        );
        refused(
            |c| c.defaults.revalidate = Revalidate::After(0),
            Setting::Revalidate,
            "greater than 0",
        );
        refused(
            |c| c.defaults.revalidate = Revalidate::After(u64::MAX),
            Setting::Revalidate,
            "too long",
        );
        refused(
            |c| c.defaults.expire = Some(1),
            Setting::Expire,
            "at least revalidate",
        );
        refused(
            |c| c.defaults.expire = Some(0),
            Setting::Expire,
            "greater than 0",
        );
        refused(
            |c| c.defaults.stale_if_error = u64::MAX,
            Setting::StaleIfError,
            "too long",
        );
        refused(
            |c| c.defaults.status_revalidate = vec![(200, 1)],
            Setting::Statuses,
            "always storable",
        );
        refused(
            |c| c.defaults.status_revalidate = vec![(404, 0)],
            Setting::Statuses,
            "greater than 0",
        );
        refused(
            |c| c.engine.lock_timeout_ms = 0,
            Setting::LockTimeout,
            "greater than 0",
        );
        refused(
            |c| c.engine.render_timeout_ms = u64::MAX,
            Setting::RenderTimeout,
            "too long",
        );
        refused(
            |c| c.engine.retry_min_ms = 0,
            Setting::RetryMin,
            "greater than 0",
        );
        refused(
            |c| c.engine.retry_max_ms = 1,
            Setting::RetryMax,
            "at least retry_min",
        );
        refused(
            |c| c.engine.regenerate_concurrency = usize::MAX,
            Setting::RegenerateConcurrency,
            "too large",
        );
        refused(
            |c| c.engine.regenerate_concurrency = 0,
            Setting::RegenerateConcurrency,
            "at least 1",
        );
        refused(
            |c| c.engine.max_entry_bytes = 0,
            Setting::MaxEntrySize,
            "greater than 0",
        );
        let redis = |change: fn(&mut RedisSettings)| {
            move |c: &mut Config| {
                let mut redis = RedisSettings {
                    url: "redis://h".into(),
                    ..RedisSettings::default()
                };
                change(&mut redis);
                c.redis = Some(redis);
            }
        };
        refused(
            redis(|r| r.url = "http://h".into()),
            Setting::RedisUrl,
            "redis://",
        );
        refused(
            redis(|r| r.prefix = "a:b".into()),
            Setting::RedisPrefix,
            "prefix",
        );
        refused(
            redis(|r| r.lock_ttl_ms = 0),
            Setting::RedisLockTtl,
            "greater than 0",
        );
        refused(
            redis(|r| r.timeout_ms = u64::MAX),
            Setting::RedisTimeout,
            "too long",
        );
        refused(
            redis(|r| r.max_ttl_secs = u64::MAX),
            Setting::RedisMaxTtl,
            "too long",
        );
    }
}
