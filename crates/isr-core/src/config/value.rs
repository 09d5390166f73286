//! The value parsers and checks of the configuration, shared by the file, the command
//! line, the Worker's variables and the builder, so every source accepts the same values.
//!
//! Invariants:
//! - No parser panics, whatever the text; every refusal is a [`ValueError`] whose message
//!   says what would be accepted.
//! - A value that passes its check can be used by every runtime as is: durations are at
//!   most [`MAX_DURATION_SECS`] (so converting them to milliseconds, adding them to a Unix
//!   time or handing them to Redis cannot overflow), counts are within the bounds below.
//! - Messages never quote a secret (tokens, Redis URLs).

use crate::coding::Coding;
use core::net::SocketAddr;
use std::sync::Arc;

use crate::policy::Revalidate;

/// What is wrong with one value. The message is a sentence fragment that follows the
/// name of the key it is about (`` `memory`: size "1XB" ... ``).
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// A size without a number.
    #[error(
        "invalid size {text:?}: expected a whole number of bytes, optionally with a unit like 64KiB or 256MiB"
    )]
    SizeWithoutNumber {
        /// The text given.
        text: String,
    },
    /// A size with an unknown unit.
    #[error(
        "invalid size {text:?}: unknown unit {unit:?} (expected B, KB, KiB, MB, MiB, GB, GiB, TB or TiB)"
    )]
    SizeUnit {
        /// The text given.
        text: String,
        /// The unit in it.
        unit: String,
    },
    /// A size above `u64::MAX` bytes.
    #[error("size {text:?} is too large")]
    SizeTooLarge {
        /// The text given.
        text: String,
    },
    /// A duration without a number.
    #[error(
        "invalid duration {text:?}: expected a whole number of seconds, optionally with a unit like 500ms, 5s, 2m, 1h or 7d"
    )]
    DurationWithoutNumber {
        /// The text given.
        text: String,
    },
    /// A duration with an unknown unit.
    #[error("invalid duration {text:?}: unknown unit {unit:?} (expected ms, s, m, h or d)")]
    DurationUnit {
        /// The text given.
        text: String,
        /// The unit in it.
        unit: String,
    },
    /// A duration above `u64::MAX` milliseconds.
    #[error("duration {text:?} is too large")]
    DurationTooLarge {
        /// The text given.
        text: String,
    },
    /// A duration kept in seconds, given with a fraction of one.
    #[error("duration {text:?} must be a whole number of seconds")]
    NotWholeSeconds {
        /// The text given.
        text: String,
    },
    /// A duration longer than [`MAX_DURATION_SECS`].
    #[error("is too long: at most {}d (100 years)", MAX_DURATION_SECS / 86_400)]
    TooLong,
    /// A number too large for its unit.
    #[error("{0} is too large")]
    NumberTooLarge(u64),
    /// A site-wide revalidate of 0.
    #[error(
        "revalidate must be greater than 0, or false (fresh until purged); \
         to never cache, set revalidate = 0 on a route"
    )]
    RevalidateZero,
    /// Zero where it would make the setting useless.
    #[error("must be greater than 0")]
    Zero,
    /// An empty string.
    #[error("must not be empty")]
    Empty,
    /// A concurrency of 0.
    #[error("concurrency must be at least 1")]
    ConcurrencyZero,
    /// A concurrency above [`MAX_CONCURRENCY`].
    #[error("concurrency {0} is too large: at most {MAX_CONCURRENCY}")]
    ConcurrencyTooLarge(u64),
    /// A compression level outside its coding's range.
    #[error("level {level} is out of range: {coding} takes {min} to {max} (or false for none)")]
    CompressionLevel {
        /// The coding (`br`, `zstd`, `gzip`).
        coding: &'static str,
        /// The level given.
        level: u64,
        /// Its lowest level.
        min: u32,
        /// Its highest level.
        max: u32,
    },
    /// A thread count out of 1 to [`MAX_THREADS`].
    #[error("threads must be between 1 and {MAX_THREADS} (got {0}); leave it out for one per core")]
    Threads(u64),
    /// Not an origin URL.
    #[error("invalid origin {text:?}: {problem}")]
    Origin {
        /// The text given.
        text: String,
        /// What is wrong with it.
        problem: OriginProblem,
    },
    /// Not an `IP:PORT` address.
    #[error("invalid listen address {text:?}: expected IP:PORT, like 127.0.0.1:8080")]
    Listen {
        /// The text given.
        text: String,
    },
    /// A token with other than visible ASCII characters.
    #[error(
        "must be visible ASCII characters only: no spaces, tabs, newlines, control or \
         non-ASCII characters (it is sent in an HTTP header)"
    )]
    TokenNotVisibleAscii,
    /// A token shorter than [`MIN_TOKEN_CHARS`] (its length).
    #[error(
        "is too short ({0} characters), so it could be guessed: use at least \
         {MIN_TOKEN_CHARS}, e.g. the output of `openssl rand -hex 32`"
    )]
    TokenTooShort(usize),
    /// A build id file with no build id.
    #[error("is empty: it must contain the build id")]
    BuildIdEmpty,
    /// A build id file with control characters.
    #[error("contains control characters: it must contain only the build id")]
    BuildIdControl,
    /// A build id file that cannot be read.
    #[error("cannot read build id file {path}: {cause}")]
    BuildIdFileUnreadable {
        /// The path of the file.
        path: String,
        /// Why it cannot be read (the reader's error).
        cause: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A build id file whose content is refused.
    #[error("build id file {path} {problem}")]
    BuildIdFile {
        /// The path of the file.
        path: String,
        /// What is wrong with its content.
        problem: Box<ValueError>,
    },
    /// A status that is not a number.
    #[error("status {0:?} is not a number")]
    StatusNotANumber(String),
    /// 200, which is always storable.
    #[error("200 is always storable; do not list it")]
    StatusAlwaysStorable,
    /// 304, which is never stored.
    #[error("304 is a revalidation answer and cannot be stored")]
    StatusRevalidation,
    /// A status other than 3xx or 4xx.
    #[error(
        "status {0} cannot be stored: only 3xx and 4xx statuses (other than 304) may be listed"
    )]
    StatusNotStorable(u16),
    /// An expire time shorter than the revalidate time.
    #[error("expire ({expire}s) must be at least revalidate ({revalidate}s)")]
    ExpireBeforeRevalidate {
        /// Seconds.
        expire: u64,
        /// Seconds.
        revalidate: u64,
    },
    /// A longest retry wait shorter than the first.
    #[error("retry_max ({max_ms}ms) must be at least retry_min ({min_ms}ms)")]
    RetryRange {
        /// Milliseconds.
        min_ms: u64,
        /// Milliseconds.
        max_ms: u64,
    },
    /// A Redis URL that is not `redis://` or `rediss://`.
    #[error("invalid Redis URL: expected redis://host:port[/db] or rediss://host:port[/db]")]
    RedisUrlScheme,
    /// A Redis URL without a host.
    #[error("invalid Redis URL: a host is required (redis://127.0.0.1:6379)")]
    RedisUrlHost,
    /// A key prefix Redis would read as more than a name.
    #[error("invalid prefix {0:?}: use 1 to 64 letters, digits, '-', '_' or '.'")]
    RedisPrefix(String),
    /// A Redis setting given without a Redis URL anywhere.
    #[error("needs a Redis URL (`redis.url`)")]
    NeedsRedisUrl,
    /// A word outside a setting's list of values.
    #[error("invalid value {text:?}: expected {expected}")]
    NotOneOf {
        /// The text given.
        text: String,
        /// The values accepted, quoted and joined for the message.
        expected: &'static str,
    },
    /// Two settings that set the same thing two ways (`build_id` and `build_id_file`).
    #[error("cannot be combined with `{0}`: set it one way")]
    Conflicts(&'static str),
}

/// Why an origin URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum OriginProblem {
    /// It has a fragment.
    #[error("a fragment is not allowed")]
    Fragment,
    /// It is not a URI.
    #[error("{0}")]
    Unparsable(#[from] http::uri::InvalidUri),
    /// Its scheme is not http or https.
    #[error("scheme {0:?} is not http or https")]
    Scheme(String),
    /// It has no scheme.
    #[error("expected a URL like http://127.0.0.1:3000")]
    NoScheme,
    /// It has no host.
    #[error("a host is required")]
    NoHost,
    /// It has credentials.
    #[error("credentials in the URL are not supported")]
    Credentials,
    /// It has a query.
    #[error("a query is not allowed")]
    Query,
    /// It has a path.
    #[error("a path is not allowed (isr forwards each request's own path)")]
    Path,
}

/// The longest duration any setting takes: 100 years. Longer is surely a typo, and this
/// bound keeps every conversion (to milliseconds, to a deadline, to a Redis TTL) exact.
pub const MAX_DURATION_SECS: u64 = 100 * 365 * 86_400;

/// The most worker threads the proxy starts: far more than any machine has cores, so a
/// typo (`threads = 40000`) is refused instead of starting tens of thousands of threads.
pub const MAX_THREADS: usize = 1024;

/// The most background regenerations (or warm requests) at once. Far below what a
/// semaphore holds on any platform (tokio's `Semaphore::MAX_PERMITS` is `usize::MAX >> 3`),
/// and far above what one origin can render at once.
pub const MAX_CONCURRENCY: usize = 65_536;

/// The shortest admin or bypass token accepted: shorter ones can be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Split `"256 MiB"` into its number and its unit (either may be empty).
fn split_number_unit(s: &str) -> (&str, &str) {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (
        s.get(..digits_end).unwrap_or(""),
        s.get(digits_end..).unwrap_or("").trim_start(),
    )
}

/// Parse a byte size: a number of bytes, or a number with a unit (`256MiB`, `1GB`, `64k`).
///
/// Decimal units (`k`, `K`, `kB`, `KB`, `M`, `MB`, `G`, `GB`, `T`, `TB`) multiply by
/// powers of 1000, binary ones (`KiB`, `MiB`, `GiB`, `TiB`) by powers of 1024.
pub fn parse_bytes(s: &str) -> Result<u64, ValueError> {
    let (number, unit) = split_number_unit(s.trim());
    if number.is_empty() {
        return Err(ValueError::SizeWithoutNumber { text: s.to_owned() });
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
            return Err(ValueError::SizeUnit {
                text: s.to_owned(),
                unit: unit.to_owned(),
            });
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| ValueError::SizeTooLarge { text: s.to_owned() })
}

/// Parse a duration in milliseconds: a number of seconds, or with a unit (`500ms`, `5s`,
/// `2m`, `1h`, `7d`); at most [`MAX_DURATION_SECS`].
pub fn parse_duration_ms(s: &str) -> Result<u64, ValueError> {
    let (number, unit) = split_number_unit(s.trim());
    if number.is_empty() {
        return Err(ValueError::DurationWithoutNumber { text: s.to_owned() });
    }
    let multiplier: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(ValueError::DurationUnit {
                text: s.to_owned(),
                unit: unit.to_owned(),
            });
        }
    };
    let ms = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| ValueError::DurationTooLarge { text: s.to_owned() })?;
    check_duration_ms(ms)
}

/// Parse a duration that is stored in whole seconds (`60`, `"5m"`); `"1500ms"` is refused
/// rather than rounded, so what is written is what is used.
pub fn parse_duration_secs(s: &str) -> Result<u64, ValueError> {
    let ms = parse_duration_ms(s)?;
    if ms.is_multiple_of(1000) {
        Ok(ms / 1000)
    } else {
        Err(ValueError::NotWholeSeconds { text: s.to_owned() })
    }
}

/// Check a duration in milliseconds: at most [`MAX_DURATION_SECS`].
pub fn check_duration_ms(ms: u64) -> Result<u64, ValueError> {
    if ms / 1000 > MAX_DURATION_SECS {
        Err(ValueError::TooLong)
    } else {
        Ok(ms)
    }
}

/// Check a duration in seconds: at most [`MAX_DURATION_SECS`].
pub fn check_duration_secs(secs: u64) -> Result<u64, ValueError> {
    if secs > MAX_DURATION_SECS {
        Err(ValueError::TooLong)
    } else {
        Ok(secs)
    }
}

/// Parse a revalidate time: a duration in whole seconds (> 0), or `false` for "fresh
/// until purged". 0 is refused: "never cache" is a per-route choice (`revalidate = 0`).
pub fn parse_revalidate(s: &str) -> Result<Revalidate, ValueError> {
    if s.trim() == "false" {
        return Ok(Revalidate::Never);
    }
    revalidate_from_secs(parse_duration_secs(s)?)
}

/// A site-wide revalidate time of `secs` seconds: more than 0, at most
/// [`MAX_DURATION_SECS`].
pub fn revalidate_from_secs(secs: u64) -> Result<Revalidate, ValueError> {
    match check_duration_secs(secs)? {
        0 => Err(ValueError::RevalidateZero),
        secs => Ok(Revalidate::After(secs)),
    }
}

/// Parse an expire time: a duration in whole seconds (> 0), or `false` for "never expires".
pub fn parse_expire(s: &str) -> Result<Option<u64>, ValueError> {
    if s.trim() == "false" {
        return Ok(None);
    }
    require_positive(parse_duration_secs(s)?).map(Some)
}

/// Refuse 0 where 0 would make a setting useless (a size, a timeout).
pub fn require_positive(n: u64) -> Result<u64, ValueError> {
    if n == 0 { Err(ValueError::Zero) } else { Ok(n) }
}

/// Check a store-time compression level: brotli 0 to 11, zstd 1 to 22, gzip 1 to 9.
pub fn check_compression_level(coding: Coding, level: u64) -> Result<u32, ValueError> {
    let (min, max) = match coding {
        Coding::Br => (0, 11),
        Coding::Zstd => (1, 22),
        Coding::Gzip | Coding::Deflate => (1, 9),
    };
    u32::try_from(level)
        .ok()
        .filter(|level| (min..=max).contains(level))
        .ok_or(ValueError::CompressionLevel {
            coding: coding.as_str(),
            level,
            min,
            max,
        })
}

/// Check a concurrency (background regenerations, warm requests): 1 to
/// [`MAX_CONCURRENCY`].
pub fn check_concurrency(n: u64) -> Result<usize, ValueError> {
    match usize::try_from(n) {
        Ok(0) => Err(ValueError::ConcurrencyZero),
        Ok(n @ 1..=MAX_CONCURRENCY) => Ok(n),
        _ => Err(ValueError::ConcurrencyTooLarge(n)),
    }
}

/// Check a worker thread count: 1 to [`MAX_THREADS`].
pub fn check_threads(n: u64) -> Result<usize, ValueError> {
    match usize::try_from(n) {
        Ok(n @ 1..=MAX_THREADS) => Ok(n),
        _ => Err(ValueError::Threads(n)),
    }
}

/// Validate an origin URL and return it without a trailing `/`.
///
/// It must be `http` or `https` with a host, and have no path (other than `/`), query,
/// fragment or credentials: isr forwards each request's own path and query to it.
pub fn parse_origin(s: &str) -> Result<String, ValueError> {
    check_origin(s).map_err(|problem| ValueError::Origin {
        text: s.to_owned(),
        problem,
    })
}

fn check_origin(s: &str) -> Result<String, OriginProblem> {
    if s.contains('#') {
        return Err(OriginProblem::Fragment);
    }
    let uri: http::Uri = s.parse()?;
    let scheme = match uri.scheme_str() {
        Some(scheme @ ("http" | "https")) => scheme,
        Some(other) => return Err(OriginProblem::Scheme(other.to_owned())),
        None => return Err(OriginProblem::NoScheme),
    };
    let authority = uri.authority().ok_or(OriginProblem::NoHost)?;
    if authority.as_str().contains('@') {
        return Err(OriginProblem::Credentials);
    }
    if authority.host().is_empty() {
        return Err(OriginProblem::NoHost);
    }
    if uri.query().is_some() {
        return Err(OriginProblem::Query);
    }
    if !matches!(uri.path(), "" | "/") {
        return Err(OriginProblem::Path);
    }
    Ok(format!("{scheme}://{authority}"))
}

/// Check a secret token (`admin_token`, `bypass_token`): at least [`MIN_TOKEN_CHARS`]
/// visible ASCII characters (it travels in an HTTP header), no whitespace. The messages
/// never quote the token.
pub fn check_token(s: &str) -> Result<String, ValueError> {
    if s.is_empty() {
        return Err(ValueError::Empty);
    }
    if !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ValueError::TokenNotVisibleAscii);
    }
    let n = s.chars().count();
    if n < MIN_TOKEN_CHARS {
        return Err(ValueError::TokenTooShort(n));
    }
    Ok(s.to_owned())
}

/// The build id in the text of a build id file (like Next.js's `.next/BUILD_ID`):
/// trimmed, non-empty, printable.
pub fn parse_build_id_file(text: &str) -> Result<String, ValueError> {
    let id = text.trim();
    if id.is_empty() {
        return Err(ValueError::BuildIdEmpty);
    }
    if id.chars().any(char::is_control) {
        return Err(ValueError::BuildIdControl);
    }
    Ok(id.to_owned())
}

/// Read the build id file at `path` with `read_file` and return the build id in it.
pub(crate) fn read_build_id_file<E>(
    path: &str,
    read_file: &dyn Fn(&str) -> Result<String, E>,
) -> Result<String, ValueError>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let text = read_file(path).map_err(|cause| ValueError::BuildIdFileUnreadable {
        path: path.to_owned(),
        cause: Arc::from(cause.into()),
    })?;
    parse_build_id_file(&text).map_err(|problem| ValueError::BuildIdFile {
        path: path.to_owned(),
        problem: Box::new(problem),
    })
}

/// Validate a listen address (`127.0.0.1:8080`, `[::1]:8080`).
pub fn parse_listen(s: &str) -> Result<String, ValueError> {
    s.parse::<SocketAddr>()
        .map(|_| s.to_owned())
        .map_err(|_| ValueError::Listen { text: s.to_owned() })
}

/// A string that must not be empty (`cache_dir`, `build_id_file`).
pub fn parse_non_empty(s: &str) -> Result<String, ValueError> {
    if s.is_empty() {
        Err(ValueError::Empty)
    } else {
        Ok(s.to_owned())
    }
}

/// Statuses besides 200 that may be configured as storable: redirects and client errors,
/// except 304 (a revalidation answer, never a stored page).
pub fn parse_storable_status(s: &str) -> Result<u16, ValueError> {
    let status: u16 = s
        .parse()
        .map_err(|_| ValueError::StatusNotANumber(s.to_owned()))?;
    check_storable_status(status)
}

/// See [`parse_storable_status`].
pub fn check_storable_status(status: u16) -> Result<u16, ValueError> {
    match status {
        200 => Err(ValueError::StatusAlwaysStorable),
        304 => Err(ValueError::StatusRevalidation),
        300..=499 => Ok(status),
        _ => Err(ValueError::StatusNotStorable(status)),
    }
}

/// An expire time (seconds) must not end before the revalidate time.
pub fn check_expire_covers_revalidate(
    revalidate: Revalidate,
    expire: Option<u64>,
) -> Result<(), ValueError> {
    match (revalidate, expire) {
        (Revalidate::After(revalidate), Some(expire)) if expire < revalidate => {
            Err(ValueError::ExpireBeforeRevalidate { expire, revalidate })
        }
        _ => Ok(()),
    }
}

/// The longest retry wait must not be shorter than the first.
pub fn check_retry_range(min_ms: u64, max_ms: u64) -> Result<(), ValueError> {
    if max_ms < min_ms {
        Err(ValueError::RetryRange { min_ms, max_ms })
    } else {
        Ok(())
    }
}

/// Check a Redis URL: `redis://` or `rediss://` with a host. Errors never repeat the URL
/// (it may hold a password).
pub fn parse_redis_url(s: &str) -> Result<String, ValueError> {
    let rest = s
        .strip_prefix("redis://")
        .or_else(|| s.strip_prefix("rediss://"))
        .ok_or(ValueError::RedisUrlScheme)?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err(ValueError::RedisUrlHost);
    }
    Ok(s.to_owned())
}

/// Check a key prefix: letters, digits and `-_.`, at most 64 of them. (No `{`, `}`, `:`
/// or glob characters, which would change how Redis hashes or matches keys.)
pub fn parse_redis_prefix(s: &str) -> Result<String, ValueError> {
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(s.to_owned())
    } else {
        Err(ValueError::RedisPrefix(s.to_owned()))
    }
}

/// `url` with any credentials replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((_, after)) => {
            let path = rest.get(authority.len()..).unwrap_or("");
            format!("{scheme}://***@{after}{path}")
        }
        None => url.to_owned(),
    }
}
