//! The configuration model shared by every runtime: [`Config`] and its parts.
//!
//! Invariants:
//! - [`Config::default`] is a valid configuration (it passes [`Config::validate`]); every
//!   field has a documented default.
//! - Secrets (tokens, the Redis URL and password) are never printed by `Debug`.
//! - Routes are held compiled ([`Router`]): two routes that cannot be told apart never
//!   get here.

use crate::cdn::CdnSettings;
use crate::path::QueryKeys;
use crate::policy::{CacheDefaults, RouteCachePolicy};
use crate::route::Router;
use crate::session::CookiePattern;
use crate::telemetry::access_log::AccessLogFormat;

use super::tag::TagTemplate;
use super::value::redact_url;

/// What a route does with its requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteMode {
    /// `revalidate = 0`: never cached, passed through.
    PassThrough,
    /// Cached with this policy (fields left `None` are steered by the origin).
    Cache(RouteCachePolicy),
}

/// One configured route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Cached (and how) or passed through.
    pub mode: RouteMode,
    /// The tags of the route's pages, which may use its parameters.
    pub tags: Vec<TagTemplate>,
    /// Query parameters that are part of the key (and the only ones forwarded).
    pub query: QueryKeys,
    /// The cookies that bypass the cache on this route (`None`: the top-level
    /// `bypass_cookies`; an empty list: none).
    pub bypass_cookies: Option<Vec<CookiePattern>>,
}

/// Tunables of the cache engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineSettings {
    /// How long a request waits for another request's render of the same key before going
    /// to the origin itself, uncached.
    pub lock_timeout_ms: u64,
    /// Timeout of one render (foreground or background).
    pub render_timeout_ms: u64,
    /// Most background regenerations at once (1 to [`super::MAX_CONCURRENCY`]).
    pub regenerate_concurrency: usize,
    /// Backoff after a failed regeneration: first wait, doubled per failure up to the max.
    pub retry_min_ms: u64,
    /// The longest wait between two failed regenerations of a key.
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

/// Store-time compression (`[compression]`): the codings a page is stored in besides
/// identity, each at its level (`None`: not made), and the smallest body worth it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressionSettings {
    /// Brotli quality, 0 to 11 (`br`).
    pub br: Option<u32>,
    /// Zstandard level, 1 to 22 (`zstd`).
    pub zstd: Option<u32>,
    /// gzip level, 1 to 9 (`gzip`).
    pub gzip: Option<u32>,
    /// Bodies smaller than this are stored as identity only (`min_size`).
    pub min_bytes: u64,
}

impl Default for CompressionSettings {
    /// Levels that cost about 5 ms of one core per 100 KB page, once per render, for most
    /// of the gain of the slowest (br 9 takes 27 ms for 1.5% less): br 5, zstd 6, gzip 4
    /// (gzip is for the few clients without br or zstd); 512 bytes and up.
    fn default() -> Self {
        CompressionSettings {
            br: Some(5),
            zstd: Some(6),
            gzip: Some(4),
            min_bytes: 512,
        }
    }
}

/// Distributed mode: nodes share one Redis (or Valkey) as their durable tier.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` or `rediss://...` (TLS).
    pub url: String,
    /// Namespace of every key and channel, so several sites can share one Redis.
    pub prefix: String,
    /// How long a render lock outlives a holder that died (the holder releases it sooner).
    pub lock_ttl_ms: u64,
    /// Longest a Redis operation may take; past it the node answers without Redis.
    pub timeout_ms: u64,
    /// Time to live in Redis of an entry that never expires (`expire = false`).
    pub max_ttl_secs: u64,
    /// Password used when the URL has none (from the environment, never from a file).
    pub password: Option<String>,
    /// `url` is one node of a Redis Cluster, which leads to the others.
    pub cluster: bool,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: String::new(),
            prefix: "isr".to_owned(),
            lock_ttl_ms: 10_000,
            timeout_ms: 250,
            max_ttl_secs: 7 * 86_400,
            password: None,
            cluster: false,
        }
    }
}

/// The URL may carry a password: it is never printed.
impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("lock_ttl_ms", &self.lock_ttl_ms)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_ttl_secs", &self.max_ttl_secs)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// Everything isr is configured with.
#[derive(Clone)]
pub struct Config {
    /// Origin base URL (`http://127.0.0.1:3000`); required by the proxy, unused by the layer.
    pub origin: Option<String>,
    /// Address the proxy listens on.
    pub listen: String,
    /// Directory of the on-disk store.
    pub cache_dir: String,
    /// Byte budget of the in-memory tier.
    pub memory_bytes: u64,
    /// Byte budget of the entries in the on-disk store (the file itself settles at about
    /// twice that); the oldest renders are evicted to keep within it.
    pub disk_bytes: u64,
    /// Worker threads of the proxy's runtime; `None`: one per core this process may run
    /// on. One thread runs everything on a single-threaded runtime.
    pub threads: Option<usize>,
    /// The site part of every key.
    pub site: String,
    /// The build id part of every key (at start: a running isr can switch it, see
    /// [`crate::build`]).
    pub build_id: String,
    /// The file the build id was read from (`build_id_file`), which the proxy watches.
    pub build_id_file: Option<String>,
    /// A response header naming the build that rendered the answer (lower-case, e.g.
    /// `x-nextjs-deployment-id`): an answer naming a new build switches to it.
    pub build_id_header: Option<String>,
    /// The cookies that mean "logged in": a request carrying one bypasses the cache
    /// (routes may set their own).
    pub bypass_cookies: Vec<CookiePattern>,
    /// Key on the request's `Host` (validated) instead of `site`.
    pub key_host: bool,
    /// Client request headers a render of a request no route matched carries besides the
    /// built-in allow-list (lower-case names; `forward_headers` in `isr.toml`). Each must be
    /// one the origin declares in `Vary` when it changes the answer.
    pub forward_headers: Vec<String>,
    /// Bearer token of the admin API (`/_isr/...`); `None` turns the admin API off.
    pub admin_token: Option<String>,
    /// Secret that sends a request straight to the origin, never stored (draft/preview).
    pub bypass_token: Option<String>,
    /// Also bypass for Next.js's `__prerender_bypass` draft-mode cookie.
    pub bypass_nextjs_preview: bool,
    /// Lifetimes of pages whose route and origin leave them open (`[cache]`).
    pub defaults: CacheDefaults,
    /// Tunables of the cache engine (`[cache]`).
    pub engine: EngineSettings,
    /// Store-time compression (`[compression]`).
    pub compression: CompressionSettings,
    /// Distributed mode; `None`: the embedded on-disk store.
    pub redis: Option<RedisSettings>,
    /// The routes (`[[route]]`), compiled.
    pub routes: Router<Route>,
    /// Metrics, health checks and logs.
    pub ops: OpsSettings,
}

/// The tokens are secrets: `Debug` says whether they are set, not what they are.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |token: &Option<String>| token.as_ref().map(|_| "***");
        f.debug_struct("Config")
            .field("origin", &self.origin)
            .field("listen", &self.listen)
            .field("cache_dir", &self.cache_dir)
            .field("memory_bytes", &self.memory_bytes)
            .field("disk_bytes", &self.disk_bytes)
            .field("threads", &self.threads)
            .field("site", &self.site)
            .field("build_id", &self.build_id)
            .field("build_id_file", &self.build_id_file)
            .field("build_id_header", &self.build_id_header)
            .field("bypass_cookies", &self.bypass_cookies)
            .field("key_host", &self.key_host)
            .field("forward_headers", &self.forward_headers)
            .field("admin_token", &set(&self.admin_token))
            .field("bypass_token", &set(&self.bypass_token))
            .field("bypass_nextjs_preview", &self.bypass_nextjs_preview)
            .field("defaults", &self.defaults)
            .field("engine", &self.engine)
            .field("compression", &self.compression)
            .field("redis", &self.redis)
            .field("routes", &self.routes)
            .field("ops", &self.ops)
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            origin: None,
            listen: "127.0.0.1:8080".to_owned(),
            cache_dir: ".isr-cache".to_owned(),
            memory_bytes: 256 * 1024 * 1024,
            disk_bytes: 10 * 1024 * 1024 * 1024,
            threads: None,
            site: String::new(),
            build_id: String::new(),
            build_id_file: None,
            build_id_header: None,
            bypass_cookies: Vec::new(),
            key_host: false,
            forward_headers: Vec::new(),
            admin_token: None,
            bypass_token: None,
            bypass_nextjs_preview: false,
            defaults: CacheDefaults::default(),
            engine: EngineSettings::default(),
            compression: CompressionSettings::default(),
            redis: None,
            routes: Router::default(),
            ops: OpsSettings::default(),
        }
    }
}

/// How the application's own log lines are written (`log_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Metrics, health, logs and a CDN in front.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpsSettings {
    /// A CDN in front (`[cdn]`): the tag header downstream, purges forwarded.
    pub cdn: CdnSettings,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`IP:PORT`), apart from the
    /// public listener; `None`: not served.
    pub metrics_listen: Option<String>,
    /// The access log: off, JSON or combined.
    pub access_log: AccessLogFormat,
    /// The application logs' format.
    pub log_format: LogFormat,
}
