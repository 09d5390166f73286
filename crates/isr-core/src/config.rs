//! The configuration model shared by every runtime, and its TOML form (`isr.toml`).
//!
//! Invariants:
//! - Unknown keys and bad values are errors, reported with the file, line and column and a
//!   message a person can act on; parsing never panics, whatever the input.
//! - Route conflicts (two patterns that cannot be told apart) are errors.
//! - A parsed [`Config`] is complete: every default is filled in, and routes are compiled
//!   into a [`Router`].
//!
//! The file is read as a spanned TOML tree ([`toml::de::DeTable`]) rather than through
//! `serde` derive, so that every message can name the key it is about (serde's type errors
//! cannot) and point at the value's own line and column.
//!
//! ```toml
//! origin = "http://127.0.0.1:3000"
//! listen = "127.0.0.1:8080"
//! cache_dir = ".isr-cache"
//! memory = "256MiB"
//! threads = 4                  # the proxy's worker threads; default: one per available core
//! site = "example.com"
//! build_id = ""                # or build_id_file = ".next/BUILD_ID" (not both)
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
//! ```
//!
//! A pass-through route (`revalidate = 0`) is never stored, so `expire`, `stale_if_error`
//! and `tags` on it are rejected rather than silently ignored; its `query` defaults to
//! every parameter (nothing is keyed, so nothing needs to be dropped).
//!
//! `build_id_file` is the one key that needs a file read; this module does no I/O, so the
//! caller passes the reading function ([`Config::from_toml_reading`]). Secrets
//! (`admin_token`, `bypass_token`) are never quoted in error messages.

use core::net::SocketAddr;
use core::ops::Range;

use toml::Spanned;
use toml::de::{DeInteger, DeTable, DeValue};

use crate::path::QueryKeys;
use crate::policy::{CacheDefaults, Revalidate, RouteCachePolicy};
use crate::route::{Params, Pattern, Router};

/// A configuration error, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", location(.file, .line, .column))]
pub struct ConfigError {
    /// The file (or other source, e.g. `command line`) the error is in.
    pub file: String,
    /// 1-based; 0 when the error has no position (e.g. from an env var).
    pub line: usize,
    /// 1-based, in characters; 0 when the error has no position.
    pub column: usize,
    /// What is wrong, naming the key.
    pub message: String,
}

impl ConfigError {
    /// An error that has no line and column, such as one about a flag or a whole file.
    pub fn unplaced(file: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.into(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

/// `file:line:column`, or just `file` when there is no position.
fn location(file: &str, line: &usize, column: &usize) -> String {
    if *line == 0 {
        file.to_owned()
    } else {
        format!("{file}:{line}:{column}")
    }
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

/// One piece of a tag template.
enum TagPart<'a> {
    Text(&'a str),
    Param(&'a str),
}

/// Split a template into literal text and `{name}` placeholders.
fn split_template(source: &str) -> Result<Vec<TagPart<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!("unmatched `}}` in tag {source:?}"));
        }
        if open > 0 {
            parts.push(TagPart::Text(&rest[..open]));
        }
        let after_open = &rest[open + 1..];
        let close = after_open
            .find(['{', '}'])
            .filter(|&i| after_open[i..].starts_with('}'))
            .ok_or_else(|| format!("unclosed `{{` in tag {source:?}"))?;
        let name = &after_open[..close];
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(format!(
                "placeholder {{{name}}} in tag {source:?} must be a parameter name"
            ));
        }
        parts.push(TagPart::Param(name));
        rest = &after_open[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(TagPart::Text(rest));
    }
    Ok(parts)
}

impl TagTemplate {
    /// Parse a template; `{name}` must name a parameter of the route (checked by the caller
    /// with [`TagTemplate::params`]).
    pub fn parse(source: &str) -> Result<TagTemplate, String> {
        if source.is_empty() {
            return Err("a tag must not be empty".to_owned());
        }
        if source.chars().any(char::is_control) {
            return Err(format!("tag {source:?} contains a control character"));
        }
        split_template(source)?;
        Ok(TagTemplate {
            source: source.to_owned(),
        })
    }

    /// Names of the parameters the template uses.
    pub fn params(&self) -> Vec<&str> {
        // The source was validated by `parse`, so splitting cannot fail here.
        split_template(&self.source)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|part| match part {
                TagPart::Param(name) => Some(name),
                TagPart::Text(_) => None,
            })
            .collect()
    }

    /// The tag for a match; a parameter the match lacks renders as nothing.
    pub fn render(&self, params: &Params) -> String {
        let mut tag = String::with_capacity(self.source.len());
        for part in split_template(&self.source).unwrap_or_default() {
            match part {
                TagPart::Text(text) => tag.push_str(text),
                TagPart::Param(name) => tag.push_str(params.get(name).unwrap_or("")),
            }
        }
        tag
    }

    /// The template as written.
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

/// `url` with any credentials replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Check a Redis URL: `redis://` or `rediss://` with a host. Errors never repeat the URL
/// (it may hold a password).
pub fn parse_redis_url(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("redis://")
        .or_else(|| s.strip_prefix("rediss://"))
        .ok_or_else(|| {
            "invalid Redis URL: expected redis://host:port[/db] or rediss://host:port[/db]"
                .to_owned()
        })?;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err("invalid Redis URL: a host is required (redis://127.0.0.1:6379)".to_owned());
    }
    Ok(s.to_owned())
}

/// Check a key prefix: letters, digits and `-_.`, at most 64 of them. (No `{`, `}`, `:`
/// or glob characters, which would change how Redis hashes or matches keys.)
pub fn parse_redis_prefix(s: &str) -> Result<String, String> {
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid prefix {s:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        ))
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
    /// Byte budget of the entries in the on-disk store (the file itself settles at about
    /// twice that); the oldest renders are evicted to keep within it.
    pub disk_bytes: u64,
    /// Worker threads of the proxy's runtime; `None`: one per core this process may run
    /// on. One thread runs everything on a single-threaded runtime.
    pub threads: Option<usize>,
    /// The site part of every key.
    pub site: String,
    /// The build id part of every key.
    pub build_id: String,
    /// Key on the request's `Host` (validated) instead of `site`.
    pub key_host: bool,
    /// Bearer token of the admin API (`/_isr/...`); `None` turns the admin API off.
    pub admin_token: Option<String>,
    /// Secret that sends a request straight to the origin, never stored (draft/preview).
    pub bypass_token: Option<String>,
    /// Also bypass for Next.js's `__prerender_bypass` draft-mode cookie.
    pub bypass_nextjs_preview: bool,
    pub defaults: CacheDefaults,
    pub engine: EngineSettings,
    /// Distributed mode; `None`: the embedded on-disk store.
    pub redis: Option<RedisSettings>,
    pub routes: Router<Route>,
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
            key_host: false,
            admin_token: None,
            bypass_token: None,
            bypass_nextjs_preview: false,
            defaults: CacheDefaults::default(),
            engine: EngineSettings::default(),
            redis: None,
            routes: Router::new(Vec::new()).expect("no routes cannot conflict"),
        }
    }
}

/// Reads a file named in the configuration (`build_id_file`): its text, or the reason it
/// cannot be read (e.g. the I/O error's message).
pub type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, String>;

impl Config {
    /// Parse `isr.toml` text; `file` names it in errors.
    ///
    /// Reads no file: a `build_id_file` key is an error here (use
    /// [`Config::from_toml_reading`]).
    pub fn from_toml(source: &str, file: &str) -> Result<Config, ConfigError> {
        Config::from_toml_reading(source, file, &|_| {
            Err("reading files is not supported here".to_owned())
        })
    }

    /// Parse `isr.toml` text, reading the files it names (`build_id_file`) with
    /// `read_file`.
    pub fn from_toml_reading(
        source: &str,
        file: &str,
        read_file: ReadFile<'_>,
    ) -> Result<Config, ConfigError> {
        let doc = Doc { source, file };
        let root = DeTable::parse(source).map_err(|error| doc.toml_error(&error))?;
        parse_document(&doc, root.get_ref(), read_file)
    }

    /// Check the rules that tie several settings together (the single-value rules are
    /// enforced when each value is parsed). Used after command-line overrides, which can
    /// combine values from different places.
    pub fn validate(&self) -> Result<(), String> {
        check_expire_covers_revalidate(self.defaults.revalidate, self.defaults.expire)?;
        check_retry_range(self.engine.retry_min_ms, self.engine.retry_max_ms)
    }
}

// ---------------------------------------------------------------------------------------
// Value parsers, shared by the file and the command line so both accept the same values.
// ---------------------------------------------------------------------------------------

/// Split `"256 MiB"` into its number and its unit (either may be empty).
fn split_number_unit(s: &str) -> (&str, &str) {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (&s[..digits_end], s[digits_end..].trim_start())
}

/// Parse a byte size: a number of bytes, or a number with a unit (`256MiB`, `1GB`, `64k`).
///
/// Decimal units (`k`, `K`, `kB`, `KB`, `M`, `MB`, `G`, `GB`, `T`, `TB`) multiply by
/// powers of 1000, binary ones (`KiB`, `MiB`, `GiB`, `TiB`) by powers of 1024.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let (number, unit) = split_number_unit(s.trim());
    if number.is_empty() {
        return Err(format!(
            "invalid size {s:?}: expected a whole number of bytes, optionally with a unit like 64KiB or 256MiB"
        ));
    }
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "k" | "K" | "kB" | "KB" => 1_000,
        "KiB" => 1 << 10,
        "M" | "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "G" | "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        "T" | "TB" => 1_000_000_000_000,
        "TiB" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {unit:?} (expected B, KB, KiB, MB, MiB, GB, GiB, TB or TiB)"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parse a duration in milliseconds: a number of seconds, or with a unit (`500ms`, `5s`, `2m`, `1h`, `7d`).
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let (number, unit) = split_number_unit(s.trim());
    if number.is_empty() {
        return Err(format!(
            "invalid duration {s:?}: expected a whole number of seconds, optionally with a unit like 500ms, 5s, 2m, 1h or 7d"
        ));
    }
    let multiplier: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {unit:?} (expected ms, s, m, h or d)"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("duration {s:?} is too large"))
}

/// Parse a duration that is stored in whole seconds (`60`, `"5m"`); `"1500ms"` is refused
/// rather than rounded, so what is written is what is used.
pub fn parse_duration_secs(s: &str) -> Result<u64, String> {
    let ms = parse_duration_ms(s)?;
    whole_seconds(ms).ok_or_else(|| format!("duration {s:?} must be a whole number of seconds"))
}

fn whole_seconds(ms: u64) -> Option<u64> {
    ms.is_multiple_of(1000).then_some(ms / 1000)
}

/// Parse a revalidate time: a duration in whole seconds (> 0), or `false` for "fresh
/// until purged". 0 is refused: "never cache" is a per-route choice (`revalidate = 0`).
pub fn parse_revalidate(s: &str) -> Result<Revalidate, String> {
    if s.trim() == "false" {
        return Ok(Revalidate::Never);
    }
    revalidate_from_secs(parse_duration_secs(s)?)
}

fn revalidate_from_secs(secs: u64) -> Result<Revalidate, String> {
    match secs {
        0 => Err(
            "revalidate must be greater than 0, or false (fresh until purged); \
             to never cache, set revalidate = 0 on a route"
                .to_owned(),
        ),
        secs => Ok(Revalidate::After(secs)),
    }
}

/// Parse an expire time: a duration in whole seconds (> 0), or `false` for "never expires".
pub fn parse_expire(s: &str) -> Result<Option<u64>, String> {
    if s.trim() == "false" {
        return Ok(None);
    }
    require_positive(parse_duration_secs(s)?).map(Some)
}

/// Refuse 0 where 0 would make a setting useless (a size, a timeout).
pub fn require_positive(n: u64) -> Result<u64, String> {
    if n == 0 {
        Err("must be greater than 0".to_owned())
    } else {
        Ok(n)
    }
}

/// Check a regeneration concurrency: at least 1, and representable on this platform.
pub fn check_concurrency(n: u64) -> Result<usize, String> {
    let n = usize::try_from(n).map_err(|_| format!("concurrency {n} is too large"))?;
    if n == 0 {
        return Err("concurrency must be at least 1".to_owned());
    }
    Ok(n)
}

/// The most worker threads the proxy starts: far more than any machine has cores, so a
/// typo (`threads = 40000`) is refused instead of starting tens of thousands of threads.
pub const MAX_THREADS: usize = 1024;

/// Check a worker thread count: 1 to [`MAX_THREADS`].
pub fn check_threads(n: u64) -> Result<usize, String> {
    match usize::try_from(n) {
        Ok(n @ 1..=MAX_THREADS) => Ok(n),
        _ => Err(format!(
            "threads must be between 1 and {MAX_THREADS} (got {n}); leave it out for one per core"
        )),
    }
}

/// Validate an origin URL and return it without a trailing `/`.
///
/// It must be `http` or `https` with a host, and have no path (other than `/`), query,
/// fragment or credentials: isr forwards each request's own path and query to it.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let invalid = |why: &str| format!("invalid origin {s:?}: {why}");
    if s.contains('#') {
        return Err(invalid("a fragment is not allowed"));
    }
    let uri: http::Uri = s.parse().map_err(|e| invalid(&format!("{e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(invalid(&format!("scheme {other:?} is not http or https"))),
        None => return Err(invalid("expected a URL like http://127.0.0.1:3000")),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| invalid("a host is required"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("credentials in the URL are not supported"));
    }
    if authority.host().is_empty() {
        return Err(invalid("a host is required"));
    }
    if uri.query().is_some() {
        return Err(invalid("a query is not allowed"));
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(invalid(
            "a path is not allowed (isr forwards each request's own path)",
        ));
    }
    Ok(format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        authority
    ))
}

/// The shortest admin or bypass token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Check a secret token (`admin_token`, `bypass_token`): at least [`MIN_TOKEN_CHARS`]
/// visible ASCII characters (it travels in an HTTP header), no whitespace. The messages
/// never quote the token.
pub fn check_token(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "must be visible ASCII characters only: no spaces, tabs, newlines, control or \
             non-ASCII characters (it is sent in an HTTP header)"
                .to_owned(),
        );
    }
    let n = s.chars().count();
    if n < MIN_TOKEN_CHARS {
        return Err(format!(
            "is too short ({n} characters), so it could be guessed: use at least \
             {MIN_TOKEN_CHARS}, e.g. the output of `openssl rand -hex 32`"
        ));
    }
    Ok(s.to_owned())
}

/// The build id in the text of a build id file (like Next.js's `.next/BUILD_ID`):
/// trimmed, non-empty, printable.
pub fn parse_build_id_file(text: &str) -> Result<String, String> {
    let id = text.trim();
    if id.is_empty() {
        return Err("is empty: it must contain the build id".to_owned());
    }
    if id.chars().any(char::is_control) {
        return Err("contains control characters: it must contain only the build id".to_owned());
    }
    Ok(id.to_owned())
}

/// Validate a listen address (`127.0.0.1:8080`, `[::1]:8080`).
pub fn parse_listen(s: &str) -> Result<String, String> {
    s.parse::<SocketAddr>()
        .map(|_| s.to_owned())
        .map_err(|_| format!("invalid listen address {s:?}: expected IP:PORT, like 127.0.0.1:8080"))
}

/// Statuses besides 200 that may be configured as storable: redirects and client errors,
/// except 304 (a revalidation answer, never a stored page).
fn check_storable_status(s: &str) -> Result<u16, String> {
    let status: u16 = s
        .parse()
        .map_err(|_| format!("status {s:?} is not a number"))?;
    match status {
        200 => Err("200 is always storable; do not list it".to_owned()),
        304 => Err("304 is a revalidation answer and cannot be stored".to_owned()),
        300..=499 => Ok(status),
        _ => Err(format!(
            "status {status} cannot be stored: only 3xx and 4xx statuses (other than 304) may be listed"
        )),
    }
}

fn check_expire_covers_revalidate(
    revalidate: Revalidate,
    expire: Option<u64>,
) -> Result<(), String> {
    match (revalidate, expire) {
        (Revalidate::After(revalidate), Some(expire)) if expire < revalidate => Err(format!(
            "expire ({expire}s) must be at least revalidate ({revalidate}s)"
        )),
        _ => Ok(()),
    }
}

fn check_retry_range(retry_min_ms: u64, retry_max_ms: u64) -> Result<(), String> {
    if retry_max_ms < retry_min_ms {
        Err(format!(
            "retry_max ({retry_max_ms}ms) must be at least retry_min ({retry_min_ms}ms)"
        ))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Reading the spanned TOML tree.
// ---------------------------------------------------------------------------------------

type Span = Range<usize>;

/// The text being parsed, for turning byte spans into lines and columns.
struct Doc<'a> {
    source: &'a str,
    file: &'a str,
}

impl Doc<'_> {
    fn error(&self, span: Option<Span>, message: impl Into<String>) -> ConfigError {
        let (line, column) = match span {
            Some(span) => line_column(self.source, span.start),
            None => (0, 0),
        };
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn toml_error(&self, error: &toml::de::Error) -> ConfigError {
        self.error(error.span(), error.message().trim_end())
    }

    fn line_of(&self, span: &Span) -> usize {
        line_column(self.source, span.start).0
    }
}

/// 1-based line and column (in characters) of a byte offset. Works on bytes so that an
/// offset past the end or inside a character cannot panic.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source.as_bytes()[..offset.min(source.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let is_char_start = |b: &&u8| (**b & 0xC0) != 0x80;
    let column = 1 + before[line_start..].iter().filter(is_char_start).count();
    (line, column)
}

type Value<'i> = Spanned<DeValue<'i>>;

/// A table whose keys have been checked against the known ones.
struct Section<'t, 'i> {
    doc: &'t Doc<'t>,
    table: &'t DeTable<'i>,
    /// `cache.` or `route.`: the prefix of keys in messages (empty at the top level).
    prefix: &'static str,
}

impl<'t, 'i> Section<'t, 'i> {
    fn new(
        doc: &'t Doc<'t>,
        table: &'t DeTable<'i>,
        prefix: &'static str,
        known: &[&str],
    ) -> Result<Self, ConfigError> {
        // The map is sorted by key; report the unknown key that comes first in the file.
        let unknown = table
            .keys()
            .filter(|key| !known.contains(&key.get_ref().as_ref()))
            .min_by_key(|key| key.span().start);
        if let Some(key) = unknown {
            return Err(doc.error(
                Some(key.span()),
                format!(
                    "unknown key `{}{}`; expected one of: {}",
                    prefix,
                    key.get_ref(),
                    known.join(", ")
                ),
            ));
        }
        Ok(Section { doc, table, prefix })
    }

    fn field(&self, key: &'static str) -> Option<Field<'t, 'i>> {
        self.table.get(key).map(|value| Field {
            doc: self.doc,
            name: format!("{}{}", self.prefix, key),
            value,
        })
    }
}

/// One `key = value`, with the conversions the schema needs; every error names the key.
struct Field<'t, 'i> {
    doc: &'t Doc<'t>,
    name: String,
    value: &'t Value<'i>,
}

impl<'t, 'i> Field<'t, 'i> {
    fn error(&self, problem: impl std::fmt::Display) -> ConfigError {
        self.doc.error(
            Some(self.value.span()),
            format!("`{}`: {problem}", self.name),
        )
    }

    fn wrong_type(&self, expected: &str) -> ConfigError {
        let found = self.value.get_ref().type_str();
        let hint = if found == "float" {
            " (fractions are not supported: use a whole number, in a smaller unit if needed)"
        } else {
            ""
        };
        let article = if found.starts_with(['a', 'i']) {
            "an"
        } else {
            "a"
        };
        self.error(format!(
            "expected {expected}, found {article} {found}{hint}"
        ))
    }

    fn string(&self) -> Result<&'t str, ConfigError> {
        match self.value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    fn integer(&self, int: &DeInteger<'_>) -> Result<u64, ConfigError> {
        match i128::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if n < 0 => Err(self.error(format!("must not be negative, found {n}"))),
            Ok(n) => u64::try_from(n).map_err(|_| self.error(format!("{n} is too large"))),
            Err(_) if int.as_str().starts_with('-') => Err(self.error("must not be negative")),
            Err(_) => Err(self.error(format!("{} is too large", int.as_str()))),
        }
    }

    /// An integer, or a string read by `parse`.
    fn number_or_string(
        &self,
        expected: &str,
        parse: impl Fn(&str) -> Result<u64, String>,
        scale_integer: impl Fn(u64) -> Option<u64>,
    ) -> Result<u64, ConfigError> {
        match self.value.get_ref() {
            DeValue::Integer(int) => {
                let n = self.integer(int)?;
                scale_integer(n).ok_or_else(|| self.error(format!("{n} is too large")))
            }
            DeValue::String(s) => parse(s).map_err(|e| self.error(e)),
            _ => Err(self.wrong_type(expected)),
        }
    }

    fn count(&self) -> Result<u64, ConfigError> {
        match self.value.get_ref() {
            DeValue::Integer(int) => self.integer(int),
            _ => Err(self.wrong_type("a whole number")),
        }
    }

    fn bytes(&self) -> Result<u64, ConfigError> {
        self.number_or_string(
            "a number of bytes or a size like \"256MiB\"",
            parse_bytes,
            Some,
        )
    }

    fn duration_ms(&self) -> Result<u64, ConfigError> {
        self.number_or_string(
            "a number of seconds or a duration like \"10s\"",
            parse_duration_ms,
            |secs| secs.checked_mul(1000),
        )
    }

    fn seconds(&self) -> Result<u64, ConfigError> {
        self.number_or_string(
            "a number of seconds or a duration like \"5m\"",
            parse_duration_secs,
            Some,
        )
    }

    /// Seconds, or `false` (`None`); `true` means nothing and is refused.
    fn seconds_or_false(&self) -> Result<Option<u64>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Boolean(false) => Ok(None),
            DeValue::Boolean(true) => Err(self.error(
                "`true` is not a duration: use a number of seconds, a duration like \"5m\", or false",
            )),
            DeValue::Integer(_) | DeValue::String(_) => self.seconds().map(Some),
            _ => Err(self.wrong_type("a number of seconds, a duration like \"5m\", or false")),
        }
    }

    fn positive(&self, n: u64) -> Result<u64, ConfigError> {
        require_positive(n).map_err(|e| self.error(e))
    }

    fn array(&self) -> Result<&'t [Value<'i>], ConfigError> {
        match self.value.get_ref() {
            DeValue::Array(items) => Ok(items),
            _ => Err(self.wrong_type("an array")),
        }
    }

    fn table(&self) -> Result<&'t DeTable<'i>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.wrong_type("a table")),
        }
    }

    /// Each element of an array, as a field of its own (same name, its own position).
    fn elements(&self) -> Result<Vec<Field<'t, 'i>>, ConfigError> {
        Ok(self
            .array()?
            .iter()
            .map(|value| Field {
                doc: self.doc,
                name: self.name.clone(),
                value,
            })
            .collect())
    }
}

const TOP_KEYS: &[&str] = &[
    "origin",
    "listen",
    "cache_dir",
    "memory",
    "disk",
    "threads",
    "site",
    "build_id",
    "build_id_file",
    "key_host",
    "admin_token",
    "bypass_token",
    "bypass_nextjs_preview",
    "cache",
    "redis",
    "route",
];

const REDIS_KEYS: &[&str] = &["url", "prefix", "lock_ttl", "timeout", "max_ttl", "cluster"];

const CACHE_KEYS: &[&str] = &[
    "revalidate",
    "expire",
    "stale_if_error",
    "lock_timeout",
    "render_timeout",
    "regenerate_concurrency",
    "retry_min",
    "retry_max",
    "max_entry_size",
    "statuses",
];

const ROUTE_KEYS: &[&str] = &[
    "path",
    "revalidate",
    "expire",
    "stale_if_error",
    "tags",
    "query",
];

fn parse_document(
    doc: &Doc<'_>,
    root: &DeTable<'_>,
    read_file: ReadFile<'_>,
) -> Result<Config, ConfigError> {
    let top = Section::new(doc, root, "", TOP_KEYS)?;
    let mut config = Config::default();
    if let Some(field) = top.field("origin") {
        config.origin = Some(parse_origin(field.string()?).map_err(|e| field.error(e))?);
    }
    if let Some(field) = top.field("listen") {
        config.listen = parse_listen(field.string()?).map_err(|e| field.error(e))?;
    }
    if let Some(field) = top.field("cache_dir") {
        config.cache_dir = non_empty_string(&field)?;
    }
    if let Some(field) = top.field("memory") {
        config.memory_bytes = field.positive(field.bytes()?)?;
    }
    if let Some(field) = top.field("disk") {
        config.disk_bytes = field.positive(field.bytes()?)?;
    }
    if let Some(field) = top.field("threads") {
        config.threads = Some(check_threads(field.count()?).map_err(|e| field.error(e))?);
    }
    if let Some(field) = top.field("site") {
        config.site = field.string()?.to_owned();
    }
    if let Some(field) = top.field("build_id") {
        config.build_id = field.string()?.to_owned();
    }
    if let Some(field) = top.field("build_id_file") {
        config.build_id = parse_build_id_file_field(&top, &field, read_file)?;
    }
    if let Some(field) = top.field("key_host") {
        config.key_host = field.boolean()?;
    }
    if let Some(field) = top.field("admin_token") {
        config.admin_token = Some(token(&field)?);
    }
    if let Some(field) = top.field("bypass_token") {
        config.bypass_token = Some(token(&field)?);
    }
    if let Some(field) = top.field("bypass_nextjs_preview") {
        config.bypass_nextjs_preview = field.boolean()?;
    }
    if let Some(field) = top.field("cache") {
        let section = Section::new(doc, field.table()?, "cache.", CACHE_KEYS)?;
        parse_cache_section(&section, &mut config.defaults, &mut config.engine)?;
    }
    if let Some(field) = top.field("redis") {
        let section = Section::new(doc, field.table()?, "redis.", REDIS_KEYS)?;
        config.redis = Some(parse_redis_section(&section, &field)?);
    }
    if let Some(field) = top.field("route") {
        config.routes = parse_routes(doc, &field)?;
    }
    Ok(config)
}

fn parse_redis_section(
    section: &Section<'_, '_>,
    table: &Field<'_, '_>,
) -> Result<RedisSettings, ConfigError> {
    let mut redis = RedisSettings::default();
    match section.field("url") {
        Some(field) => redis.url = parse_redis_url(field.string()?).map_err(|e| field.error(e))?,
        None => return Err(table.error("needs `url` (redis://host:port)")),
    }
    if let Some(field) = section.field("prefix") {
        redis.prefix = parse_redis_prefix(field.string()?).map_err(|e| field.error(e))?;
    }
    if let Some(field) = section.field("lock_ttl") {
        redis.lock_ttl_ms = field.positive(field.duration_ms()?)?;
    }
    if let Some(field) = section.field("timeout") {
        redis.timeout_ms = field.positive(field.duration_ms()?)?;
    }
    if let Some(field) = section.field("max_ttl") {
        redis.max_ttl_secs = field.positive(field.seconds()?)?;
    }
    if let Some(field) = section.field("cluster") {
        redis.cluster = field.boolean()?;
    }
    Ok(redis)
}

fn token(field: &Field<'_, '_>) -> Result<String, ConfigError> {
    check_token(field.string()?).map_err(|e| field.error(e))
}

/// `build_id_file`: refused next to `build_id` (pointing at whichever comes second), then
/// read and checked.
fn parse_build_id_file_field(
    top: &Section<'_, '_>,
    field: &Field<'_, '_>,
    read_file: ReadFile<'_>,
) -> Result<String, ConfigError> {
    if let Some(build_id) = top.field("build_id") {
        let (second, first, first_name) = if build_id.value.span().start > field.value.span().start
        {
            (&build_id, field, "build_id_file")
        } else {
            (field, &build_id, "build_id")
        };
        return Err(second.error(format!(
            "cannot be combined with `{first_name}` (line {}): set the build id one way",
            first.doc.line_of(&first.value.span())
        )));
    }
    let path = non_empty_string(field)?;
    let text = read_file(&path)
        .map_err(|e| field.error(format!("cannot read build id file {path}: {e}")))?;
    parse_build_id_file(&text).map_err(|e| field.error(format!("build id file {path} {e}")))
}

fn non_empty_string(field: &Field<'_, '_>) -> Result<String, ConfigError> {
    match field.string()? {
        "" => Err(field.error("must not be empty")),
        s => Ok(s.to_owned()),
    }
}

fn parse_cache_section(
    section: &Section<'_, '_>,
    defaults: &mut CacheDefaults,
    engine: &mut EngineSettings,
) -> Result<(), ConfigError> {
    if let Some(field) = section.field("revalidate") {
        defaults.revalidate = match field.seconds_or_false()? {
            None => Revalidate::Never,
            Some(secs) => revalidate_from_secs(secs).map_err(|e| field.error(e))?,
        };
    }
    if let Some(field) = section.field("expire") {
        defaults.expire = match field.seconds_or_false()? {
            None => None,
            Some(secs) => Some(field.positive(secs)?),
        };
    }
    // Either side may be the default, so check whenever one of them was written.
    let lifetime_field = section
        .field("expire")
        .or_else(|| section.field("revalidate"));
    if let Some(field) = lifetime_field {
        check_expire_covers_revalidate(defaults.revalidate, defaults.expire)
            .map_err(|e| field.error(e))?;
    }
    if let Some(field) = section.field("stale_if_error") {
        defaults.stale_if_error = field.seconds()?;
    }
    if let Some(field) = section.field("statuses") {
        defaults.status_revalidate = parse_statuses(&field)?;
    }
    parse_engine_settings(section, engine)
}

fn parse_engine_settings(
    section: &Section<'_, '_>,
    engine: &mut EngineSettings,
) -> Result<(), ConfigError> {
    let positive_ms = |key| -> Result<Option<u64>, ConfigError> {
        section
            .field(key)
            .map(|field| field.positive(field.duration_ms()?))
            .transpose()
    };
    if let Some(ms) = positive_ms("lock_timeout")? {
        engine.lock_timeout_ms = ms;
    }
    if let Some(ms) = positive_ms("render_timeout")? {
        engine.render_timeout_ms = ms;
    }
    if let Some(ms) = positive_ms("retry_min")? {
        engine.retry_min_ms = ms;
    }
    if let Some(ms) = positive_ms("retry_max")? {
        engine.retry_max_ms = ms;
    }
    if let Some(field) = section.field("regenerate_concurrency") {
        engine.regenerate_concurrency =
            check_concurrency(field.count()?).map_err(|e| field.error(e))?;
    }
    if let Some(field) = section.field("max_entry_size") {
        engine.max_entry_bytes = field.positive(field.bytes()?)?;
    }
    // Point at whichever retry bound was written (retry_max first: it is the usual culprit).
    let retry_field = section
        .field("retry_max")
        .or_else(|| section.field("retry_min"));
    if let Some(field) = retry_field {
        check_retry_range(engine.retry_min_ms, engine.retry_max_ms).map_err(|e| field.error(e))?;
    }
    Ok(())
}

fn parse_statuses(field: &Field<'_, '_>) -> Result<Vec<(u16, u64)>, ConfigError> {
    let table = field.table()?;
    let mut statuses = Vec::with_capacity(table.len());
    for (key, value) in table.iter() {
        let entry = Field {
            doc: field.doc,
            name: format!("{}.\"{}\"", field.name, key.get_ref()),
            value,
        };
        let status = check_storable_status(key.get_ref()).map_err(|e| {
            field
                .doc
                .error(Some(key.span()), format!("`{}`: {e}", entry.name))
        })?;
        statuses.push((status, entry.positive(entry.seconds()?)?));
    }
    statuses.sort_unstable();
    Ok(statuses)
}

// ---------------------------------------------------------------------------------------
// Routes.
// ---------------------------------------------------------------------------------------

/// A route as read from the file, before the router checks it against the others.
struct ParsedRoute {
    pattern: Pattern,
    route: Route,
    path_span: Span,
}

fn parse_routes(doc: &Doc<'_>, field: &Field<'_, '_>) -> Result<Router<Route>, ConfigError> {
    let mut parsed = Vec::new();
    for item in field.elements()? {
        let table = match item.value.get_ref() {
            DeValue::Table(table) => table,
            _ => return Err(item.wrong_type("a table (write routes as [[route]])")),
        };
        let section = Section::new(doc, table, "route.", ROUTE_KEYS)?;
        parsed.push(parse_route(&section, &item)?);
    }
    let spans: Vec<(String, Span)> = parsed
        .iter()
        .map(|p| (p.pattern.as_str().to_owned(), p.path_span.clone()))
        .collect();
    let routes = parsed.into_iter().map(|p| (p.pattern, p.route)).collect();
    Router::new(routes).map_err(|conflict| {
        let first_line = spans
            .get(conflict.first_index)
            .map_or(0, |(_, span)| doc.line_of(span));
        let second_span = spans
            .get(conflict.second_index)
            .map(|(_, span)| span.clone());
        doc.error(
            second_span,
            format!(
                "`route.path`: route {:?} conflicts with route {:?} on line {first_line}: \
                 both match the same paths with the same specificity",
                conflict.second, conflict.first
            ),
        )
    })
}

fn parse_route(
    section: &Section<'_, '_>,
    item: &Field<'_, '_>,
) -> Result<ParsedRoute, ConfigError> {
    let path = section.field("path").ok_or_else(|| {
        item.doc.error(
            Some(item.value.span()),
            "`route.path` is required in every [[route]]",
        )
    })?;
    let pattern = Pattern::parse(path.string()?).map_err(|e| path.error(e))?;
    let revalidate = section
        .field("revalidate")
        .map(|field| field.seconds_or_false().map(|secs| (field, secs)))
        .transpose()?;
    let mode = match revalidate {
        Some((_, Some(0))) => pass_through(section)?,
        other => {
            let revalidate =
                other.map(|(_, secs)| secs.map_or(Revalidate::Never, Revalidate::After));
            RouteMode::Cache(parse_route_policy(section, revalidate)?)
        }
    };
    let tags = parse_tags(section, pattern.as_str())?;
    let query = parse_query(section, &mode)?;
    Ok(ParsedRoute {
        pattern,
        route: Route { mode, tags, query },
        path_span: path.value.span(),
    })
}

/// `revalidate = 0`: refuse the keys that only matter to a stored entry, so a setting
/// that would be silently ignored is pointed out instead.
fn pass_through(section: &Section<'_, '_>) -> Result<RouteMode, ConfigError> {
    for key in ["expire", "stale_if_error", "tags"] {
        if let Some(field) = section.field(key) {
            return Err(field.error(
                "has no effect when revalidate = 0 (the route is never cached); remove it",
            ));
        }
    }
    Ok(RouteMode::PassThrough)
}

fn parse_route_policy(
    section: &Section<'_, '_>,
    revalidate: Option<Revalidate>,
) -> Result<RouteCachePolicy, ConfigError> {
    let mut policy = RouteCachePolicy {
        revalidate,
        ..RouteCachePolicy::default()
    };
    if let Some(field) = section.field("expire") {
        let expire = field.positive(field.seconds()?)?;
        if revalidate == Some(Revalidate::Never) {
            return Err(field.error(
                "has no effect with revalidate = false (the entry stays fresh until purged); remove it",
            ));
        }
        if let Some(revalidate) = revalidate {
            check_expire_covers_revalidate(revalidate, Some(expire)).map_err(|e| field.error(e))?;
        }
        policy.expire = Some(expire);
    }
    if let Some(field) = section.field("stale_if_error") {
        policy.stale_if_error = Some(field.seconds()?);
    }
    Ok(policy)
}

fn parse_tags(section: &Section<'_, '_>, pattern: &str) -> Result<Vec<TagTemplate>, ConfigError> {
    let Some(field) = section.field("tags") else {
        return Ok(Vec::new());
    };
    let params = pattern_params(pattern);
    let mut tags = Vec::new();
    for element in field.elements()? {
        let tag = TagTemplate::parse(element.string()?).map_err(|e| element.error(e))?;
        if let Some(unknown) = tag.params().into_iter().find(|p| !params.contains(p)) {
            return Err(element.error(format!(
                "tag {:?} uses {{{unknown}}}, which is not a parameter of {pattern:?} (parameters: {})",
                tag.as_str(),
                if params.is_empty() { "none".to_owned() } else { params.join(", ") }
            )));
        }
        tags.push(tag);
    }
    Ok(tags)
}

/// Names of the parameters of a (valid) pattern: `:name`, `:name*`, `[name]`,
/// `[...name]`, `[[...name]]`, and `*` for the wildcard (the name its capture has).
fn pattern_params(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|segment| {
            let name = if segment == "*" {
                segment
            } else if let Some(rest) = segment.strip_prefix(':') {
                rest.trim_end_matches(['*', '+', '?'])
            } else if segment.starts_with('[') && segment.ends_with(']') {
                segment.trim_matches(['[', ']']).trim_start_matches("...")
            } else {
                return None;
            };
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

fn parse_query(section: &Section<'_, '_>, mode: &RouteMode) -> Result<QueryKeys, ConfigError> {
    let Some(field) = section.field("query") else {
        // Nothing of a pass-through route is keyed, so it forwards the query untouched.
        return Ok(match mode {
            RouteMode::PassThrough => QueryKeys::All,
            RouteMode::Cache(_) => QueryKeys::Only(Vec::new()),
        });
    };
    let mut names: Vec<String> = Vec::new();
    for element in field.elements()? {
        let name = element.string()?;
        if name.is_empty() || name.contains(['&', '=', '#']) || name.chars().any(char::is_control) {
            return Err(element.error(format!(
                "{name:?} is not a query parameter name (it must be non-empty, without &, = or #)"
            )));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(QueryKeys::Only(names))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Config {
        match Config::from_toml(source, "isr.toml") {
            Ok(config) => config,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// Assert `source` fails on `line`, with a message containing every `needles`.
    #[track_caller]
    fn assert_error(source: &str, line: usize, needles: &[&str]) -> ConfigError {
        let error = Config::from_toml(source, "isr.toml").expect_err("expected an error");
        assert_eq!(error.file, "isr.toml");
        assert_eq!(error.line, line, "wrong line for: {error}");
        for needle in needles {
            assert!(error.message.contains(needle), "{error:?} lacks {needle:?}");
        }
        error
    }

    fn route_at<'c>(config: &'c Config, path: &str) -> &'c Route {
        config.routes.at(path).expect("a route matches").value
    }

    const FULL: &str = r#"
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
        assert_eq!(config.validate(), Ok(()));
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
    fn origin() {
        assert_eq!(
            parse("origin = \"https://app.internal:8443\"")
                .origin
                .as_deref(),
            Some("https://app.internal:8443")
        );
        for (bad, why) in [
            ("ftp://x", "not http or https"),
            ("127.0.0.1:3000", "invalid origin"),
            ("http://x/app", "path is not allowed"),
            ("http://x/?a=1", "query is not allowed"),
            ("http://x/#top", "fragment"),
            ("http://user:pw@x", "credentials"),
            ("", "invalid origin"),
        ] {
            assert_error(&format!("\n\norigin = {bad:?}\n"), 3, &["`origin`", why]);
        }
        assert_error(
            "origin = 3000\n",
            1,
            &["`origin`", "expected a string, found an integer"],
        );
    }

    #[test]
    fn listen() {
        assert_eq!(parse("listen = \"[::1]:80\"").listen, "[::1]:80");
        assert_error("\nlisten = \"localhost:80\"", 2, &["`listen`", "IP:PORT"]);
        assert_error("listen = 8080", 1, &["`listen`", "string"]);
    }

    #[test]
    fn redis_section() {
        let config = parse(
            "[redis]\nurl = \"redis://:pw@127.0.0.1:6379/2\"\nprefix = \"shop\"\nlock_ttl = \"5s\"\ntimeout = \"100ms\"\nmax_ttl = \"1d\"\ncluster = true\n",
        );
        let redis = config.redis.unwrap();
        assert_eq!(redis.prefix, "shop");
        assert_eq!(redis.lock_ttl_ms, 5_000);
        assert!(redis.cluster);
        assert_eq!(redis.timeout_ms, 100);
        assert_eq!(redis.max_ttl_secs, 86_400);
        assert!(
            !format!("{redis:?}").contains("pw"),
            "the password is never printed"
        );
        assert!(parse("").redis.is_none());
        assert_error("[redis]\nprefix = \"a\"", 1, &["`redis`", "url"]);
        assert_error(
            "[redis]\nurl = \"http://x\"",
            2,
            &["`redis.url`", "redis://"],
        );
        assert_error("[redis]\nurl = \"redis://:secret@\"", 2, &["host"]);
        assert_error(
            "[redis]\nurl = \"redis://h\"\nprefix = \"a{b}\"",
            3,
            &["prefix"],
        );
        assert_error("[redis]\nurl = \"redis://h\"\nbogus = 1", 3, &["bogus"]);
    }

    #[test]
    fn redacted_urls_hide_credentials() {
        assert_eq!(redact_url("redis://u:p@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("rediss://:p@a@h"), "rediss://***@h");
    }

    #[test]
    fn strings_and_flags() {
        assert_error("cache_dir = \"\"", 1, &["`cache_dir`", "empty"]);
        assert_error("site = true", 1, &["`site`", "string"]);
        assert_error("build_id = 1", 1, &["`build_id`", "string"]);
        assert_error("key_host = \"yes\"", 1, &["`key_host`", "true or false"]);
    }

    #[test]
    fn secrets_and_bypass() {
        let config = parse(
            "admin_token = \"0123456789abcdef\"\nbypass_token = \"preview-secret-0123\"\nbypass_nextjs_preview = true\n",
        );
        assert_eq!(config.admin_token.as_deref(), Some("0123456789abcdef"));
        assert_eq!(config.bypass_token.as_deref(), Some("preview-secret-0123"));
        assert!(config.bypass_nextjs_preview);
        let config = parse("# nothing");
        assert_eq!((config.admin_token, config.bypass_token), (None, None));
        assert!(!config.bypass_nextjs_preview);
        for key in ["admin_token", "bypass_token"] {
            let name = format!("`{key}`");
            for (value, why) in [
                ("\"short-secret\"", "too short"),
                ("\"\"", "empty"),
                ("\"0123456789 abcdef\"", "no spaces"),
                ("\"0123456789abcdef\\n\"", "control"),
                ("\"0123456789abcdéf\"", "non-ASCII"),
                ("12345678901234567", "string"),
            ] {
                let error = assert_error(&format!("\n{key} = {value}\n"), 2, &[&name, why]);
                assert!(
                    !error.message.contains("short-secret")
                        && !error.message.contains("0123456789"),
                    "the secret is quoted: {error}"
                );
            }
        }
        assert_error(
            "bypass_nextjs_preview = \"yes\"",
            1,
            &["`bypass_nextjs_preview`", "true or false"],
        );
    }

    #[test]
    fn token_checks() {
        assert_eq!(
            check_token("abcdefghijklmnop"),
            Ok("abcdefghijklmnop".to_owned())
        );
        assert!(check_token("abcdefghijklmno").is_err(), "15 characters");
        assert!(check_token("abcdefgh\tijklmnop").is_err());
        assert!(check_token("abcdefgh\u{7f}ijklmnop").is_err());
        assert!(check_token("").is_err());
    }

    #[test]
    fn build_id_file() {
        let read = |path: &str| -> Result<String, String> {
            match path {
                ".next/BUILD_ID" => Ok("  abc123\n".to_owned()),
                "empty" => Ok(" \n".to_owned()),
                "binary" => Ok("a\u{0}b".to_owned()),
                _ => Err("No such file or directory (os error 2)".to_owned()),
            }
        };
        let parse_reading = |source: &str| Config::from_toml_reading(source, "isr.toml", &read);
        let config = parse_reading("build_id_file = \".next/BUILD_ID\"").expect("reads");
        assert_eq!(config.build_id, "abc123");

        let error =
            parse_reading("site = \"x\"\nbuild_id_file = \"nope/BUILD_ID\"").expect_err("missing");
        assert_eq!((error.file.as_str(), error.line), ("isr.toml", 2));
        for needle in ["`build_id_file`", "nope/BUILD_ID", "No such file"] {
            assert!(error.message.contains(needle), "{error} lacks {needle}");
        }
        let error = parse_reading("build_id_file = \"empty\"").expect_err("empty");
        assert!(error.message.contains("empty"), "{error}");
        let error = parse_reading("build_id_file = \"binary\"").expect_err("control");
        assert!(error.message.contains("control"), "{error}");
        let error = parse_reading("build_id_file = \"\"").expect_err("no path");
        assert!(error.message.contains("empty"), "{error}");

        // Both: the error points at whichever comes second and names the other's line.
        let error = parse_reading("build_id = \"a\"\n\nbuild_id_file = \".next/BUILD_ID\"")
            .expect_err("both");
        assert_eq!(error.line, 3, "{error}");
        assert!(error.message.contains("`build_id_file`"), "{error}");
        assert!(error.message.contains("`build_id` (line 1)"), "{error}");
        let error = parse_reading("build_id_file = \".next/BUILD_ID\"\nbuild_id = \"a\"")
            .expect_err("both");
        assert_eq!(error.line, 2, "{error}");
        assert!(
            error.message.contains("`build_id_file` (line 1)"),
            "{error}"
        );

        // Without a reader, the key is refused rather than silently ignored.
        assert_error(
            "build_id_file = \".next/BUILD_ID\"",
            1,
            &["`build_id_file`", "not supported"],
        );
        assert_eq!(parse_build_id_file("x\r\n"), Ok("x".to_owned()));
    }

    #[test]
    fn threads() {
        assert_eq!(parse("threads = 1").threads, Some(1));
        assert_eq!(parse("").threads, None);
        assert_error("threads = 0", 1, &["`threads`", "between 1 and 1024"]);
        assert_error("threads = 40000", 1, &["`threads`", "between 1 and 1024"]);
        assert_error("threads = \"4\"", 1, &["`threads`", "whole number"]);
    }

    #[test]
    fn disk() {
        assert_eq!(Config::default().disk_bytes, 10 * 1024 * 1024 * 1024);
        assert_eq!(parse("disk = \"500MB\"").disk_bytes, 500_000_000);
        assert_error("disk = 0", 1, &["`disk`", "greater than 0"]);
        assert_error("disk = \"12 parsecs\"", 1, &["`disk`", "unknown unit"]);
    }

    #[test]
    fn memory() {
        assert_eq!(parse("memory = 1000").memory_bytes, 1000);
        assert_eq!(parse("memory = \"2GB\"").memory_bytes, 2_000_000_000);
        assert_error("memory = 0", 1, &["`memory`", "greater than 0"]);
        assert_error("memory = -5", 1, &["`memory`", "negative"]);
        assert_error("memory = 1.5", 1, &["`memory`", "float"]);
        assert_error("memory = \"12 parsecs\"", 1, &["`memory`", "unknown unit"]);
        assert_error("memory = \"99999999999TiB\"", 1, &["`memory`", "too large"]);
        assert_error(
            "memory = 99999999999999999999",
            1,
            &["`memory`", "too large"],
        );
    }

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
    fn route_revalidate_modes() {
        let config = parse(
            "[[route]]\npath = \"/a\"\n[[route]]\npath = \"/b\"\nrevalidate = \"0s\"\nquery = [\"q\"]\n",
        );
        assert_eq!(
            route_at(&config, "/a").mode,
            RouteMode::Cache(RouteCachePolicy::default())
        );
        assert_eq!(route_at(&config, "/a").query, QueryKeys::Only(vec![]));
        assert_eq!(route_at(&config, "/b").mode, RouteMode::PassThrough);
        assert_eq!(
            route_at(&config, "/b").query,
            QueryKeys::Only(vec!["q".to_owned()])
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nrevalidate = -1",
            3,
            &["`route.revalidate`", "negative"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nrevalidate = true",
            3,
            &["`route.revalidate`"],
        );
    }

    #[test]
    fn pass_through_routes_refuse_cache_settings() {
        for (key, value) in [
            ("expire", "60"),
            ("stale_if_error", "60"),
            ("tags", "[\"t\"]"),
        ] {
            assert_error(
                &format!("[[route]]\npath = \"/a\"\nrevalidate = 0\n{key} = {value}\n"),
                4,
                &[&format!("`route.{key}`"), "revalidate = 0"],
            );
        }
    }

    #[test]
    fn route_expire() {
        assert_error(
            "[[route]]\npath = \"/a\"\nrevalidate = 60\nexpire = 59",
            4,
            &["`route.expire`", "at least revalidate"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nrevalidate = false\nexpire = 60",
            4,
            &["`route.expire`", "revalidate = false"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nexpire = false",
            3,
            &["`route.expire`"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nexpire = 0",
            3,
            &["`route.expire`", "greater than 0"],
        );
        let config = parse("[[route]]\npath = \"/a\"\nexpire = 5\nstale_if_error = 0");
        assert_eq!(
            route_at(&config, "/a").mode,
            RouteMode::Cache(RouteCachePolicy {
                revalidate: None,
                expire: Some(5),
                stale_if_error: Some(0)
            })
        );
    }

    #[test]
    fn route_paths() {
        assert_error(
            "[[route]]\nrevalidate = 1\n",
            1,
            &["`route.path` is required"],
        );
        assert_error(
            "[[route]]\npath = \"blog\"\n",
            2,
            &["`route.path`", "must start with '/'"],
        );
        assert_error(
            "[[route]]\npath = \"/[...a]/b\"\n",
            2,
            &["`route.path`", "last segment"],
        );
        assert_error("[[route]]\npath = 1\n", 2, &["`route.path`", "string"]);
        assert_error("route = [1]\n", 1, &["`route`", "[[route]]"]);
        assert_error("[route]\npath = \"/\"\n", 1, &["`route`", "array"]);
    }

    #[test]
    fn route_conflicts_point_at_the_second_route_and_name_the_first() {
        let error = assert_error(
            "[[route]]\npath = \"/blog/:a\"\n\n[[route]]\npath = \"/other\"\n[[route]]\n  path = \"/blog/[b]\"\n",
            7,
            &["\"/blog/[b]\"", "\"/blog/:a\"", "line 2"],
        );
        assert_eq!(error.column, 10);
    }

    #[test]
    fn route_tags() {
        assert_error(
            "[[route]]\npath = \"/a/[id]\"\ntags = [\"x:{slug}\"]",
            3,
            &["`route.tags`", "{slug}", "parameters: id"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\ntags = [\"x:{id}\"]",
            3,
            &["`route.tags`", "parameters: none"],
        );
        assert_error(
            "[[route]]\npath = \"/a/:id\"\ntags = [\n  \"ok\",\n  \"x:{id\",\n]",
            5,
            &["`route.tags`", "unclosed"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\ntags = [\"x}\"]",
            3,
            &["unmatched"],
        );
        assert_error("[[route]]\npath = \"/a\"\ntags = [\"\"]", 3, &["empty"]);
        assert_error(
            "[[route]]\npath = \"/a\"\ntags = \"x\"",
            3,
            &["`route.tags`", "array"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\ntags = [1]",
            3,
            &["`route.tags`", "string"],
        );
        let config =
            parse("[[route]]\npath = \"/u/:user/[[...rest]]\"\ntags = [\"{user}-{rest}\"]");
        let matched = config.routes.at("/u/ann").expect("matches");
        assert_eq!(matched.value.tags[0].render(&matched.params), "ann-");
    }

    #[test]
    fn route_query() {
        assert_error(
            "[[route]]\npath = \"/a\"\nquery = [\"\"]",
            3,
            &["`route.query`"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nquery = [\"a=b\"]",
            3,
            &["`route.query`"],
        );
        assert_error(
            "[[route]]\npath = \"/a\"\nquery = \"page\"",
            3,
            &["`route.query`", "array"],
        );
    }

    #[test]
    fn tag_templates() {
        let tag = TagTemplate::parse("post:{slug}/{page}!").expect("valid");
        assert_eq!(tag.params(), ["slug", "page"]);
        let params = Params(vec![("slug".to_owned(), "hi".to_owned())]);
        assert_eq!(tag.render(&params), "post:hi/!");
        assert_eq!(tag.as_str(), "post:{slug}/{page}!");
        assert!(
            TagTemplate::parse("plain")
                .expect("valid")
                .params()
                .is_empty()
        );
        for bad in ["", "{", "}", "{}", "{a", "a}", "{a{b}}", "{ a }", "x\ny"] {
            assert!(
                TagTemplate::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn byte_sizes() {
        for (text, bytes) in [
            ("0", 0),
            ("17", 17),
            ("17B", 17),
            ("64k", 64_000),
            ("64K", 64_000),
            ("64KB", 64_000),
            ("64KiB", 65_536),
            ("3M", 3_000_000),
            ("3MB", 3_000_000),
            ("256MiB", 268_435_456),
            ("1G", 1_000_000_000),
            ("1GB", 1_000_000_000),
            ("2GiB", 2_147_483_648),
            (" 5 MiB ", 5 * 1_048_576),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text:?}");
        }
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5MiB",
            "1mib",
            "1 2",
            "18446744073709551616",
            "17179869184GiB",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn durations() {
        for (text, ms) in [
            ("0", 0),
            ("60", 60_000),
            ("250ms", 250),
            ("5s", 5_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("7d", 604_800_000),
            ("10 s", 10_000),
        ] {
            assert_eq!(parse_duration_ms(text), Ok(ms), "{text:?}");
        }
        for bad in [
            "",
            "s",
            "-1s",
            "1.5s",
            "1w",
            "1S",
            "5 m s",
            "18446744073709551615s",
            "99999999999999999999",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(parse_duration_secs("2m"), Ok(120));
        assert!(parse_duration_secs("2500ms").is_err());
        assert_eq!(parse_revalidate("false"), Ok(Revalidate::Never));
        assert_eq!(parse_revalidate("1h"), Ok(Revalidate::After(3_600)));
        assert!(parse_revalidate("0").is_err());
        assert_eq!(parse_expire("false"), Ok(None));
        assert_eq!(parse_expire("30"), Ok(Some(30)));
        assert!(parse_expire("0").is_err());
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é = 1", 3), (1, 3));
        assert_eq!(line_column("é", 1), (1, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
        let error = assert_error("site = \"é\"\n\"ü\" = 1\n", 2, &["unknown key `ü`"]);
        assert_eq!(error.column, 1);
        let error = assert_error("site = \"éé\"; memory = 0\n", 1, &[]);
        assert!(error.column > 0);
    }

    #[test]
    fn errors_without_a_position_print_only_the_file() {
        let error = ConfigError::unplaced("command line", "no origin");
        assert_eq!(error.to_string(), "command line: no origin");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Apply `edits` (position, action, byte) to `source`, keeping it valid UTF-8.
        fn mutate(source: &str, edits: &[(usize, u8, char)]) -> String {
            let mut chars: Vec<char> = source.chars().collect();
            for &(position, action, c) in edits {
                let at = position % (chars.len() + 1);
                match action % 3 {
                    0 => chars.insert(at, c),
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ if at < chars.len() => chars[at] = c,
                    _ => {}
                }
            }
            chars.into_iter().collect()
        }

        fn interesting_char() -> impl Strategy<Value = char> {
            prop_oneof![
                Just('"'),
                Just('['),
                Just(']'),
                Just('{'),
                Just('}'),
                Just('='),
                Just('\n'),
                Just('0'),
                Just('9'),
                Just('-'),
                Just('.'),
                Just(':'),
                Just('/'),
                Just('é'),
                any::<char>(),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn random_text_never_panics(source in ".{0,200}") {
                let _ = Config::from_toml(&source, "fuzz.toml");
            }

            #[test]
            fn mutated_configs_never_panic(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>(), interesting_char()), 1..6)
            ) {
                let source = mutate(FULL, &edits);
                if let Err(error) = Config::from_toml(&source, "fuzz.toml") {
                    // Positions, when present, are inside the text.
                    let lines = source.split('\n').count();
                    prop_assert!(error.line <= lines, "{error} beyond {lines} lines");
                }
            }

            #[test]
            fn value_parsers_never_panic(text in ".{0,40}") {
                let _ = parse_bytes(&text);
                let _ = parse_duration_ms(&text);
                let _ = parse_origin(&text);
                let _ = parse_listen(&text);
                let _ = TagTemplate::parse(&text).map(|t| t.render(&Params::default()));
            }
        }
    }
}
