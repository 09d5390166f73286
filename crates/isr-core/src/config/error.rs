//! [`ConfigError`]: a configuration error with where it is (file, line, column, key), and
//! the typed problem behind it.
//!
//! Invariants:
//! - The message is complete: it names the key and says what is wrong and what would be
//!   accepted; `Display` prints `file:line:column: message` (or `file: message` without
//!   a position). Secrets are never quoted.
//! - The typed cause is kept ([`ConfigError::cause`]) for code that needs it. It is not
//!   returned by `source()`, because the message already says what it says: an error
//!   report printing the chain (`{:#}`) would say it twice.

use super::rule::RouteError;
use super::setting::InvalidSetting;
use super::value::ValueError;

/// A configuration error, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", location(.file, .line, .column))]
pub struct ConfigError {
    /// The file (or other source, e.g. `command line`) the error is in.
    pub file: String,
    /// 1-based; 0 when the error has no position (e.g. from an env var).
    pub line: usize,
    /// 1-based, in characters; 0 when the error has no position.
    pub column: usize,
    /// The key the error is about (`cache.expire`), when it is about one.
    pub key: Option<String>,
    /// What is wrong, naming the key.
    pub message: String,
    cause: Option<Box<Cause>>,
}

/// The typed problem behind a [`ConfigError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Cause {
    /// The text is not TOML.
    Toml(toml::de::Error),
    /// A value is refused.
    Value(ValueError),
    /// A route is refused.
    Route(RouteError),
    /// A setting of a layered configuration is refused.
    Setting(InvalidSetting),
}

impl ConfigError {
    /// An error that has no line and column, such as one about a flag or a whole file.
    pub fn unplaced(file: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.into(),
            line: 0,
            column: 0,
            key: None,
            message: message.into(),
            cause: None,
        }
    }

    /// A refused setting of a layered configuration (see [`super::Overrides`]), named
    /// `name` in the message: the flag or variable it came from (`--expire (ISR_EXPIRE)`,
    /// `ISR_ORIGIN`), or its key when it came from the file.
    pub fn setting(file: impl Into<String>, name: &str, invalid: InvalidSetting) -> ConfigError {
        ConfigError {
            file: file.into(),
            line: 0,
            column: 0,
            key: Some(invalid.setting.key().to_owned()),
            message: format!("{name}: {}", invalid.problem),
            cause: Some(Box::new(Cause::Setting(invalid))),
        }
    }

    /// An error at a position, about `key` when given.
    pub(crate) fn placed(
        file: &str,
        (line, column): (usize, usize),
        key: Option<&str>,
        message: String,
        cause: Option<Cause>,
    ) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            key: key.map(str::to_owned),
            message,
            cause: cause.map(Box::new),
        }
    }

    /// The typed problem, when there is one (a message-only error has none).
    pub fn cause(&self) -> Option<&Cause> {
        self.cause.as_deref()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Setting;

    #[test]
    fn errors_without_a_position_print_only_the_file() {
        let error = ConfigError::unplaced("command line", "no origin");
        assert_eq!(error.to_string(), "command line: no origin");
    }

    #[test]
    fn a_refused_setting_is_named_as_its_caller_says() {
        let invalid = InvalidSetting {
            setting: Setting::Memory,
            problem: ValueError::Zero,
        };
        let error = ConfigError::setting("command line", "--memory (ISR_MEMORY)", invalid);
        assert_eq!(
            error.to_string(),
            "command line: --memory (ISR_MEMORY): must be greater than 0"
        );
        assert_eq!(error.key.as_deref(), Some("memory"));
        assert!(matches!(error.cause(), Some(Cause::Setting(_))));
    }
}
