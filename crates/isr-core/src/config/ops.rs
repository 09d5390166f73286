//! Parsing the operations settings: the metrics listener, the access log, the format of
//! the application logs and a CDN in front (`metrics_listen`, `access_log`, `log_format`,
//! `[cdn]` in `isr.toml`; the model is [`super::model::OpsSettings`]).
//!
//! Invariant: each value is parsed by one function here, whatever its source (the file,
//! a flag, an environment variable), so every source accepts the same values.

use super::error::ConfigError;
use super::model::LogFormat;
use super::toml_reader::{Field, Section};
use super::value::{ValueError, check_token, parse_listen, parse_origin};
use crate::cdn::settings::{CLOUDFLARE_API, FASTLY_API};
use crate::cdn::{CdnSettings, CloudflareSettings, FastlySettings, TagsHeader};
use crate::telemetry::access_log::AccessLogFormat;

/// The keys of `[cdn]`.
pub(super) const CDN_KEYS: &[&str] = &[
    "tags_header",
    "site_url",
    "cloudflare_zone",
    "cloudflare_token",
    "cloudflare_api",
    "fastly_service",
    "fastly_token",
    "fastly_api",
    "retry_min",
];

/// A zone or service id: letters and digits.
fn parse_id(text: &str) -> Result<String, ValueError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(text.to_owned())
    } else {
        Err(ValueError::NotOneOf {
            text: text.to_owned(),
            expected: "an id of letters and digits",
        })
    }
}

/// An API base URL: `http://` or `https://`, without a trailing slash.
fn parse_api(text: &str) -> Result<String, ValueError> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.contains(['?', '#', ' ']) => {
            Ok(text.trim_end_matches('/').to_owned())
        }
        _ => Err(ValueError::NotOneOf {
            text: text.to_owned(),
            expected: "an http:// or https:// URL",
        }),
    }
}

fn string(
    field: &Field<'_, '_>,
    check: fn(&str) -> Result<String, ValueError>,
) -> Result<String, ConfigError> {
    check(field.string()?).map_err(|e| field.refused(e))
}

/// Parse the `[cdn]` table; a provider needs both its id and its token.
pub(super) fn parse_cdn_section(
    section: &Section<'_, '_>,
    table: &Field<'_, '_>,
) -> Result<CdnSettings, ConfigError> {
    let mut cdn = CdnSettings::default();
    if let Some(field) = section.field("tags_header") {
        cdn.tags_header = Some(TagsHeader::parse(field.string()?).map_err(|e| field.refused(e))?);
    }
    if let Some(field) = section.field("site_url") {
        cdn.site_url = Some(string(&field, parse_origin)?);
    }
    if let Some(field) = section.field("retry_min") {
        cdn.retry_min_ms = field.positive(field.duration_ms()?)?;
    }
    let secret = |key| -> Result<Option<String>, ConfigError> {
        section
            .field(key)
            .map(|field| string(&field, check_token))
            .transpose()
    };
    let id = |key| -> Result<Option<String>, ConfigError> {
        section
            .field(key)
            .map(|field| string(&field, parse_id))
            .transpose()
    };
    let api = |key, default: &str| -> Result<String, ConfigError> {
        section
            .field(key)
            .map_or_else(|| Ok(default.to_owned()), |field| string(&field, parse_api))
    };
    cdn.cloudflare = match (id("cloudflare_zone")?, secret("cloudflare_token")?) {
        (Some(zone), Some(token)) => Some(CloudflareSettings {
            zone,
            token,
            api: api("cloudflare_api", CLOUDFLARE_API)?,
        }),
        (None, None) => None,
        _ => {
            return Err(table.fail(
                "needs both `cloudflare_zone` and `cloudflare_token` to forward purges to Cloudflare",
                None,
            ));
        }
    };
    cdn.fastly = match (id("fastly_service")?, secret("fastly_token")?) {
        (Some(service), Some(token)) => Some(FastlySettings {
            service,
            token,
            api: api("fastly_api", FASTLY_API)?,
        }),
        (None, None) => None,
        _ => {
            return Err(table.fail(
                "needs both `fastly_service` and `fastly_token` to forward purges to Fastly",
                None,
            ));
        }
    };
    Ok(cdn)
}

/// The values `access_log` accepts.
const ACCESS_LOG_VALUES: &str = "\"off\", \"json\" or \"combined\"";
/// The values `log_format` accepts.
const LOG_FORMAT_VALUES: &str = "\"text\" or \"json\"";

/// Parse an `access_log` value: `off`, `json` or `combined`.
pub fn parse_access_log(text: &str) -> Result<AccessLogFormat, ValueError> {
    match text {
        "off" => Ok(AccessLogFormat::Off),
        "json" => Ok(AccessLogFormat::Json),
        "combined" => Ok(AccessLogFormat::Combined),
        _ => Err(ValueError::NotOneOf {
            text: text.to_owned(),
            expected: ACCESS_LOG_VALUES,
        }),
    }
}

/// Parse a `log_format` value: `text` or `json`.
pub fn parse_log_format(text: &str) -> Result<LogFormat, ValueError> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(ValueError::NotOneOf {
            text: text.to_owned(),
            expected: LOG_FORMAT_VALUES,
        }),
    }
}

/// Parse a `metrics_listen` value: an `IP:PORT` like `listen`.
pub fn parse_metrics_listen(text: &str) -> Result<String, ValueError> {
    parse_listen(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, OpsSettings};

    #[test]
    fn the_file_sets_every_ops_value() {
        let config = Config::from_toml(
            "metrics_listen = \"127.0.0.1:9090\"\naccess_log = \"combined\"\nlog_format = \"json\"\n",
            "isr.toml",
        )
        .expect("valid");
        assert_eq!(config.ops.metrics_listen.as_deref(), Some("127.0.0.1:9090"));
        assert_eq!(config.ops.access_log, AccessLogFormat::Combined);
        assert_eq!(config.ops.log_format, LogFormat::Json);
        assert_eq!(
            Config::default().ops,
            OpsSettings::default(),
            "off by default"
        );
    }

    #[test]
    fn the_cdn_table() {
        let config = Config::from_toml(
            "[cdn]\ntags_header = \"Surrogate-Key\"\nsite_url = \"https://www.example.com\"\n\
             cloudflare_zone = \"abc123\"\ncloudflare_token = \"cf-token-0123456789\"\n\
             fastly_service = \"svc\"\nfastly_token = \"fastly-token-0123456789\"\n\
             fastly_api = \"http://127.0.0.1:9/\"\nretry_min = \"10ms\"\n",
            "isr.toml",
        )
        .expect("valid");
        let cdn = &config.ops.cdn;
        assert_eq!(cdn.tags_header, Some(TagsHeader::SurrogateKey));
        assert_eq!(cdn.site_url.as_deref(), Some("https://www.example.com"));
        let cloudflare = cdn.cloudflare.as_ref().expect("cloudflare");
        assert_eq!(
            (cloudflare.zone.as_str(), cloudflare.api.as_str()),
            ("abc123", CLOUDFLARE_API)
        );
        let fastly = cdn.fastly.as_ref().expect("fastly");
        assert_eq!(fastly.api, "http://127.0.0.1:9");
        assert_eq!(cdn.retry_min_ms, 10);
        for (toml, says) in [
            ("[cdn]\ncloudflare_zone = \"abc\"\n", "cloudflare_token"),
            (
                "[cdn]\nfastly_token = \"fastly-token-0123456789\"\n",
                "fastly_service",
            ),
            (
                "[cdn]\ncloudflare_zone = \"a/b\"\ncloudflare_token = \"cf-token-0123456789\"\n",
                "letters and digits",
            ),
            ("[cdn]\ntags_header = \"X-Tags\"\n", "Surrogate-Key"),
            (
                "[cdn]\nfastly_service = \"s\"\nfastly_token = \"short\"\n",
                "too short",
            ),
            ("[cdn]\nsurrogate = 1\n", "surrogate"),
        ] {
            let error = Config::from_toml(toml, "isr.toml")
                .expect_err(toml)
                .to_string();
            assert!(error.contains(says), "{toml}: {error}");
            assert!(
                !error.contains("0123456789"),
                "never quotes a token: {error}"
            );
        }
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_accepted() {
        for (toml, key, expected) in [
            ("access_log = \"yes\"", "access_log", ACCESS_LOG_VALUES),
            ("log_format = \"xml\"", "log_format", LOG_FORMAT_VALUES),
            (
                "metrics_listen = \"localhost\"",
                "metrics_listen",
                "IP:PORT",
            ),
        ] {
            let error = Config::from_toml(toml, "isr.toml").expect_err(toml);
            let message = error.to_string();
            assert!(message.contains(key), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }
}
