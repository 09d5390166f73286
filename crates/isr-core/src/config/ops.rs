//! The operations settings: the metrics listener, the access log and the format of the
//! application logs (`metrics_listen`, `access_log`, `log_format` in `isr.toml`).
//!
//! Invariant: each value is parsed by one function here, whatever its source (the file,
//! a flag, an environment variable), so every source accepts the same values.

use super::value::{ValueError, parse_listen};
use crate::telemetry::access_log::AccessLogFormat;

/// How the application's own log lines are written (`log_format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Metrics, health and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpsSettings {
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`IP:PORT`), apart from the
    /// public listener; `None`: not served.
    pub metrics_listen: Option<String>,
    /// The access log: off, JSON or combined.
    pub access_log: AccessLogFormat,
    /// The application logs' format.
    pub log_format: LogFormat,
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
    use crate::config::Config;

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
