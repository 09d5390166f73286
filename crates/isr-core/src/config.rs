//! The configuration model shared by every runtime, and its TOML form (`isr.toml`).
//!
//! Invariants:
//! - Unknown keys and bad values are errors, reported with the file, line and column and a
//!   message a person can act on; parsing never panics, whatever the input.
//! - Route conflicts (two patterns that cannot be told apart) are errors.
//! - A parsed [`Config`] is complete: every default is filled in, and routes are compiled
//!   into a [`Router`].

// TODO(helper: config) implement parsing.

use crate::path::QueryKeys;
use crate::policy::{CacheDefaults, RouteCachePolicy};
use crate::route::{Params, Router};

/// A configuration error, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the error has no position (e.g. from an env var).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// What a route does with its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteMode {
    /// `revalidate = 0`: never cached, passed through.
    PassThrough,
    /// Cached with this policy (fields left `None` are steered by the origin).
    Cache(RouteCachePolicy),
}

/// A tag that may use route parameters: `post:{slug}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagTemplate {
    source: String,
}

impl TagTemplate {
    /// Parse a template; `{name}` must name a parameter of the route (checked by the caller
    /// with [`TagTemplate::params`]).
    pub fn parse(source: &str) -> Result<TagTemplate, String> {
        let _ = source;
        todo!("helper: config")
    }

    /// Names of the parameters the template uses.
    pub fn params(&self) -> Vec<&str> {
        todo!("helper: config")
    }

    /// The tag for a match.
    pub fn render(&self, params: &Params) -> String {
        let _ = params;
        todo!("helper: config")
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// One configured route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub mode: RouteMode,
    pub tags: Vec<TagTemplate>,
    /// Query parameters that are part of the key (and the only ones forwarded).
    pub query: QueryKeys,
}

/// Tunables of the cache engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// How long a request waits for another request's render of the same key before going
    /// to the origin itself, uncached.
    pub lock_timeout_ms: u64,
    /// Timeout of one render (foreground or background).
    pub render_timeout_ms: u64,
    /// Most background regenerations at once.
    pub regenerate_concurrency: usize,
    /// Backoff after a failed regeneration: first wait, doubled per failure up to the max.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// Largest body stored; larger responses are passed through.
    pub max_entry_bytes: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            lock_timeout_ms: 10_000,
            render_timeout_ms: 30_000,
            regenerate_concurrency: 8,
            retry_min_ms: 1_000,
            retry_max_ms: 60_000,
            max_entry_bytes: 10 * 1024 * 1024,
        }
    }
}

/// Everything isr is configured with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Origin base URL (`http://127.0.0.1:3000`); required by the proxy, unused by the layer.
    pub origin: Option<String>,
    /// Address the proxy listens on.
    pub listen: String,
    /// Directory of the on-disk store.
    pub cache_dir: String,
    /// Byte budget of the in-memory tier.
    pub memory_bytes: u64,
    /// The site part of every key.
    pub site: String,
    /// The build id part of every key.
    pub build_id: String,
    /// Key on the request's `Host` (validated) instead of `site`.
    pub key_host: bool,
    pub defaults: CacheDefaults,
    pub engine: EngineSettings,
    pub routes: Router<Route>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            origin: None,
            listen: "127.0.0.1:8080".to_owned(),
            cache_dir: ".isr-cache".to_owned(),
            memory_bytes: 256 * 1024 * 1024,
            site: String::new(),
            build_id: String::new(),
            key_host: false,
            defaults: CacheDefaults::default(),
            engine: EngineSettings::default(),
            routes: Router::new(Vec::new()).expect("no routes cannot conflict"),
        }
    }
}

impl Config {
    /// Parse `isr.toml` text; `file` names it in errors.
    pub fn from_toml(source: &str, file: &str) -> Result<Config, ConfigError> {
        let _ = (source, file);
        todo!("helper: config")
    }
}

/// Parse a byte size: a number of bytes, or a number with a unit (`256MiB`, `1GB`, `64k`).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let _ = s;
    todo!("helper: config")
}

/// Parse a duration in milliseconds: a number of seconds, or with a unit (`500ms`, `5s`, `2m`, `1h`).
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let _ = s;
    todo!("helper: config")
}
