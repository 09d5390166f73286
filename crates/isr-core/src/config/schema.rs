//! The schema of `isr.toml`: which keys each table has and what each one sets
//! ([`Config::from_toml`]).
//!
//! Invariants:
//! - Unknown keys and bad values are errors naming the key, at the value's line and
//!   column; parsing never panics, whatever the input.
//! - Each value is checked by the same functions as every other source (`value.rs`,
//!   [`RouteRule::compile`] for routes), so what the file accepts is what
//!   [`Config::validate`] accepts.
//! - A parsed [`Config`] is complete: every default is filled in, and routes are compiled.
//! - Secrets (`admin_token`, `bypass_token`) are never quoted in error messages.

use toml::de::{DeTable, DeValue};

use super::error::{Cause, ConfigError};
use super::model::{CompressionSettings, Config, EngineSettings, RedisSettings, Route};
use super::ops::{
    CDN_KEYS, parse_access_log, parse_cdn_section, parse_log_format, parse_metrics_listen,
};
use super::rule::{RouteError, RouteKey, RouteRule};
use super::toml_reader::{Doc, Field, Section, Span};
use super::value::{
    ValueError, check_compression_level, check_concurrency, check_expire_covers_revalidate,
    check_retry_range, check_threads, check_token, parse_build_id_file, parse_listen,
    parse_non_empty, parse_origin, parse_redis_prefix, parse_redis_url, parse_storable_status,
    revalidate_from_secs,
};
use crate::coding::Coding;
use crate::policy::{CacheDefaults, Revalidate};
use crate::route::Router;
use crate::session::CookiePattern;

/// Files cannot be read where [`Config::from_toml`] is used.
#[derive(Debug, thiserror::Error)]
#[error("reading files is not supported here")]
pub struct NoFileReading;

impl Config {
    /// Parse `isr.toml` text; `file` names it in errors.
    ///
    /// Reads no file: a `build_id_file` key is an error here (use
    /// [`Config::from_toml_reading`]).
    pub fn from_toml(source: &str, file: &str) -> Result<Config, ConfigError> {
        Config::from_toml_reading(source, file, &|_| Err::<String, _>(NoFileReading))
    }

    /// Parse `isr.toml` text, reading the files it names (`build_id_file`) with
    /// `read_file` (e.g. `std::fs::read_to_string`).
    pub fn from_toml_reading<E>(
        source: &str,
        file: &str,
        read_file: &dyn Fn(&str) -> Result<String, E>,
    ) -> Result<Config, ConfigError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let doc = Doc { source, file };
        let root = DeTable::parse(source).map_err(|error| doc.toml_error(error))?;
        parse_document(&doc, root.get_ref(), &|path| {
            read_file(path).map_err(Into::into)
        })
    }
}

impl Config {
    /// [`Config::from_toml_reading`] for the file's bytes as read: text that is not UTF-8
    /// is an error at the line and column of its first bad byte.
    pub fn from_toml_bytes_reading<E>(
        source: &[u8],
        file: &str,
        read_file: &dyn Fn(&str) -> Result<String, E>,
    ) -> Result<Config, ConfigError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let text = std::str::from_utf8(source).map_err(|error| not_utf8(source, file, error))?;
        Config::from_toml_reading(text, file, read_file)
    }
}

/// The error for a file that is not UTF-8, at its first bad byte.
fn not_utf8(source: &[u8], file: &str, error: std::str::Utf8Error) -> ConfigError {
    let valid = source.get(..error.valid_up_to()).unwrap_or_default();
    let before = std::str::from_utf8(valid).unwrap_or_default();
    let position = super::toml_reader::line_column(before, before.len());
    let byte = source.get(error.valid_up_to()).copied().unwrap_or_default();
    let message = format!(
        "the file is not valid UTF-8 (byte 0x{byte:02X} here): save it as UTF-8 text, as \
         TOML requires"
    );
    ConfigError::placed(file, position, None, message, None)
}

type ReadFile<'a> = &'a dyn Fn(&str) -> Result<String, Box<dyn std::error::Error + Send + Sync>>;

pub(super) const TOP_KEYS: &[&str] = &[
    "origin",
    "listen",
    "cache_dir",
    "memory",
    "disk",
    "threads",
    "site",
    "build_id",
    "build_id_file",
    "build_id_header",
    "bypass_cookies",
    "key_host",
    "forward_headers",
    "admin_token",
    "bypass_token",
    "bypass_nextjs_preview",
    "cache",
    "compression",
    "redis",
    "route",
    "metrics_listen",
    "access_log",
    "log_format",
    "cdn",
];

pub(super) const COMPRESSION_KEYS: &[&str] = &["br", "zstd", "gzip", "min_size"];

pub(super) const REDIS_KEYS: &[&str] =
    &["url", "prefix", "lock_ttl", "timeout", "max_ttl", "cluster"];

pub(super) const CACHE_KEYS: &[&str] = &[
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

pub(super) const ROUTE_KEYS: &[&str] = &[
    "path",
    "revalidate",
    "expire",
    "stale_if_error",
    "tags",
    "query",
    "bypass_cookies",
];

/// A string field checked by `check`.
/// `forward_headers`: header names, lower-cased; never one isr sets or that steers the
/// origin unkeyed (`host`, `x-isr-render`, the `x-forwarded-*` family, `forwarded`).
fn parse_forward_headers(field: &Field<'_, '_>) -> Result<Vec<String>, ConfigError> {
    let mut names = Vec::new();
    for element in field.elements()? {
        let name = element.string()?.to_ascii_lowercase();
        let reserved = ["host", "x-isr-render", "forwarded"].contains(&name.as_str())
            || name.starts_with("x-forwarded-");
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() || reserved {
            return Err(element.fail(
                format!("{name:?} is not a header isr may forward (not a valid name, or one isr sets itself)"),
                None,
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// `build_id_header`: a response header name, lower-cased.
fn parse_header_name(field: &Field<'_, '_>) -> Result<String, ConfigError> {
    let name = field.string()?.to_ascii_lowercase();
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(field.fail(format!("{name:?} is not a header name"), None));
    }
    Ok(name)
}

/// `bypass_cookies`: cookie names, or prefixes ending in `*`.
fn parse_cookie_patterns(field: &Field<'_, '_>) -> Result<Vec<CookiePattern>, ConfigError> {
    let mut patterns = Vec::new();
    for element in field.elements()? {
        let pattern = CookiePattern::parse(element.string()?)
            .map_err(|e| element.fail(e.to_string(), None))?;
        patterns.push(pattern);
    }
    Ok(patterns)
}

fn checked_string(
    field: &Field<'_, '_>,
    check: impl Fn(&str) -> Result<String, ValueError>,
) -> Result<String, ConfigError> {
    check(field.string()?).map_err(|e| field.refused(e))
}

fn parse_document(
    doc: &Doc<'_>,
    root: &DeTable<'_>,
    read_file: ReadFile<'_>,
) -> Result<Config, ConfigError> {
    let top = Section::new(doc, root, "", TOP_KEYS)?;
    let mut config = Config::default();
    if let Some(field) = top.field("origin") {
        config.origin = Some(checked_string(&field, parse_origin)?);
    }
    if let Some(field) = top.field("listen") {
        config.listen = checked_string(&field, parse_listen)?;
    }
    if let Some(field) = top.field("cache_dir") {
        config.cache_dir = checked_string(&field, parse_non_empty)?;
    }
    if let Some(field) = top.field("memory") {
        config.memory_bytes = field.positive(field.bytes()?)?;
    }
    if let Some(field) = top.field("disk") {
        config.disk_bytes = field.positive(field.bytes()?)?;
    }
    if let Some(field) = top.field("threads") {
        config.threads = Some(check_threads(field.count()?).map_err(|e| field.refused(e))?);
    }
    if let Some(field) = top.field("site") {
        config.site = field.string()?.to_owned();
    }
    if let Some(field) = top.field("build_id") {
        config.build_id = field.string()?.to_owned();
    }
    if let Some(field) = top.field("build_id_file") {
        config.build_id = parse_build_id_file_field(&top, &field, read_file)?;
        config.build_id_file = Some(field.string()?.to_owned());
    }
    if let Some(field) = top.field("build_id_header") {
        config.build_id_header = Some(parse_header_name(&field)?);
    }
    if let Some(field) = top.field("bypass_cookies") {
        config.bypass_cookies = parse_cookie_patterns(&field)?;
    }
    if let Some(field) = top.field("key_host") {
        config.key_host = field.boolean()?;
    }
    if let Some(field) = top.field("forward_headers") {
        config.forward_headers = parse_forward_headers(&field)?;
    }
    if let Some(field) = top.field("admin_token") {
        config.admin_token = Some(checked_string(&field, check_token)?);
    }
    if let Some(field) = top.field("bypass_token") {
        config.bypass_token = Some(checked_string(&field, check_token)?);
    }
    if let Some(field) = top.field("bypass_nextjs_preview") {
        config.bypass_nextjs_preview = field.boolean()?;
    }
    if let Some(field) = top.field("cache") {
        let section = Section::new(doc, field.table()?, "cache.", CACHE_KEYS)?;
        parse_cache_section(&section, &mut config.defaults, &mut config.engine)?;
    }
    if let Some(field) = top.field("compression") {
        let section = Section::new(doc, field.table()?, "compression.", COMPRESSION_KEYS)?;
        parse_compression_section(&section, &mut config.compression)?;
    }
    if let Some(field) = top.field("redis") {
        let section = Section::new(doc, field.table()?, "redis.", REDIS_KEYS)?;
        config.redis = Some(parse_redis_section(&section, &field)?);
    }
    if let Some(field) = top.field("route") {
        config.routes = parse_routes(doc, &field)?;
    }
    if let Some(field) = top.field("metrics_listen") {
        config.ops.metrics_listen = Some(checked_string(&field, parse_metrics_listen)?);
    }
    if let Some(field) = top.field("access_log") {
        let format = parse_access_log(field.string()?).map_err(|e| field.refused(e))?;
        config.ops.access_log = format;
    }
    if let Some(field) = top.field("cdn") {
        let section = Section::new(doc, field.table()?, "cdn.", CDN_KEYS)?;
        config.ops.cdn = parse_cdn_section(&section, &field)?;
    }
    if let Some(field) = top.field("log_format") {
        let format = parse_log_format(field.string()?).map_err(|e| field.refused(e))?;
        config.ops.log_format = format;
    }
    Ok(config)
}

fn parse_compression_section(
    section: &Section<'_, '_>,
    compression: &mut CompressionSettings,
) -> Result<(), ConfigError> {
    let levels = [
        ("br", Coding::Br, &mut compression.br),
        ("zstd", Coding::Zstd, &mut compression.zstd),
        ("gzip", Coding::Gzip, &mut compression.gzip),
    ];
    for (key, coding, level) in levels {
        if let Some(field) = section.field(key) {
            *level = level_or_false(&field, coding)?;
        }
    }
    if let Some(field) = section.field("min_size") {
        compression.min_bytes = field.bytes()?;
    }
    Ok(())
}

/// A compression level of `coding`, or `false` for none (`true` names no level).
fn level_or_false(field: &Field<'_, '_>, coding: Coding) -> Result<Option<u32>, ConfigError> {
    match field.value.get_ref() {
        DeValue::Boolean(false) => Ok(None),
        DeValue::Integer(_) => check_compression_level(coding, field.count()?)
            .map(Some)
            .map_err(|e| field.refused(e)),
        _ => Err(field.wrong_type("a level (a whole number) or false")),
    }
}

fn parse_redis_section(
    section: &Section<'_, '_>,
    table: &Field<'_, '_>,
) -> Result<RedisSettings, ConfigError> {
    let mut redis = RedisSettings::default();
    match section.field("url") {
        Some(field) => redis.url = checked_string(&field, parse_redis_url)?,
        None => return Err(table.fail("needs `url` (redis://host:port)", None)),
    }
    if let Some(field) = section.field("prefix") {
        redis.prefix = checked_string(&field, parse_redis_prefix)?;
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
        return Err(second.fail(
            format_args!(
                "cannot be combined with `{first_name}` (line {}): set the build id one way",
                first.doc.line_of(&first.value.span())
            ),
            None,
        ));
    }
    let path = checked_string(field, parse_non_empty)?;
    let text = read_file(&path).map_err(|cause| {
        field.refused(ValueError::BuildIdFileUnreadable {
            path: path.clone(),
            cause: cause.into(),
        })
    })?;
    parse_build_id_file(&text).map_err(|problem| {
        field.refused(ValueError::BuildIdFile {
            path,
            problem: Box::new(problem),
        })
    })
}

fn parse_cache_section(
    section: &Section<'_, '_>,
    defaults: &mut CacheDefaults,
    engine: &mut EngineSettings,
) -> Result<(), ConfigError> {
    if let Some(field) = section.field("revalidate") {
        defaults.revalidate = match field.seconds_or_false()? {
            None => Revalidate::Never,
            Some(secs) => revalidate_from_secs(secs).map_err(|e| field.refused(e))?,
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
            .map_err(|e| field.refused(e))?;
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
            check_concurrency(field.count()?).map_err(|e| field.refused(e))?;
    }
    if let Some(field) = section.field("max_entry_size") {
        engine.max_entry_bytes = field.positive(field.bytes()?)?;
    }
    // Point at whichever retry bound was written (retry_max first: it is the usual culprit).
    let retry_field = section
        .field("retry_max")
        .or_else(|| section.field("retry_min"));
    if let Some(field) = retry_field {
        check_retry_range(engine.retry_min_ms, engine.retry_max_ms)
            .map_err(|e| field.refused(e))?;
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
        let status = parse_storable_status(key.get_ref()).map_err(|e| {
            field.doc.error(
                Some(key.span()),
                Some(&entry.name),
                format!("`{}`: {e}", entry.name),
                Some(Cause::Value(e)),
            )
        })?;
        statuses.push((status, entry.positive(entry.seconds()?)?));
    }
    statuses.sort_unstable();
    Ok(statuses)
}

/// A `[[route]]` table read into a rule, with where each of its keys is.
struct RouteTable<'t, 'i> {
    path: Field<'t, 'i>,
    pattern: String,
    rule: RouteRule,
    section: Section<'t, 'i>,
}

impl RouteTable<'_, '_> {
    /// Point `error` at the key (and element) it is about.
    fn locate(&self, error: RouteError) -> ConfigError {
        let key = match error.key {
            RouteKey::Path => "path",
            RouteKey::Revalidate => "revalidate",
            RouteKey::Expire => "expire",
            RouteKey::StaleIfError => "stale_if_error",
            RouteKey::Tags => "tags",
            RouteKey::Query => "query",
            RouteKey::BypassCookies => "bypass_cookies",
        };
        let field = self.section.field(key).unwrap_or_else(|| Field {
            doc: self.path.doc,
            name: error.key.name().to_owned(),
            value: self.path.value,
        });
        let element = error
            .index
            .and_then(|index| field.elements().ok()?.into_iter().nth(index));
        let at = element.as_ref().unwrap_or(&field);
        at.doc.error(
            Some(at.value.span()),
            Some(error.key.name()),
            error.to_string(),
            Some(Cause::Route(error)),
        )
    }
}

fn parse_routes(doc: &Doc<'_>, field: &Field<'_, '_>) -> Result<Router<Route>, ConfigError> {
    let mut routes = Vec::new();
    let mut spans: Vec<Span> = Vec::new();
    for item in field.elements()? {
        let table = match item.value.get_ref() {
            DeValue::Table(table) => table,
            _ => return Err(item.wrong_type("a table (write routes as [[route]])")),
        };
        let section = Section::new(doc, table, "route.", ROUTE_KEYS)?;
        let table = read_route(section, &item)?;
        routes.push(
            table
                .rule
                .compile(&table.pattern)
                .map_err(|e| table.locate(e))?,
        );
        spans.push(table.path.value.span());
    }
    Router::new(routes).map_err(|conflict| {
        let first_line = spans
            .get(conflict.first_index)
            .map_or(0, |span| doc.line_of(span));
        let second_span = spans.get(conflict.second_index).cloned();
        doc.error(
            second_span,
            Some("route.path"),
            format!(
                "`route.path`: route {:?} conflicts with route {:?} on line {first_line}: \
                 both match the same paths with the same specificity",
                conflict.second, conflict.first
            ),
            None,
        )
    })
}

/// A `[[route]]` table's values, type-checked, as a [`RouteRule`].
fn read_route<'t, 'i>(
    section: Section<'t, 'i>,
    item: &Field<'t, 'i>,
) -> Result<RouteTable<'t, 'i>, ConfigError> {
    let path = section.field("path").ok_or_else(|| {
        item.doc.error(
            Some(item.value.span()),
            Some("route.path"),
            "`route.path` is required in every [[route]]",
            None,
        )
    })?;
    let pattern = path.string()?.to_owned();
    let mut rule = match section.field("revalidate") {
        None => RouteRule::from_origin(),
        Some(field) => match field.seconds_or_false()? {
            None => RouteRule::until_purged(),
            Some(secs) => RouteRule::revalidate(secs),
        },
    };
    if let Some(field) = section.field("expire") {
        rule = rule.expire(field.seconds()?);
    }
    if let Some(field) = section.field("stale_if_error") {
        rule = rule.stale_if_error(field.seconds()?);
    }
    if let Some(field) = section.field("tags") {
        rule = rule.tags(field.strings()?);
    }
    if let Some(field) = section.field("query") {
        rule = rule.query(field.strings()?);
    }
    if let Some(field) = section.field("bypass_cookies") {
        rule = rule.bypass_cookies(field.strings()?);
    }
    Ok(RouteTable {
        path,
        pattern,
        rule,
        section,
    })
}
