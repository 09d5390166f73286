//! Reading a spanned TOML tree ([`toml::de::DeTable`]): tables whose keys are checked
//! against the known ones, and fields converted to the schema's types, every error naming
//! its key and pointing at the value's own line and column.
//!
//! The file is read this way rather than through `serde` derive so that every message can
//! name the key it is about (serde's type errors cannot).
//!
//! Invariants:
//! - Positions are 1-based lines and columns counted in characters; computing one never
//!   panics, whatever the offset (past the end, inside a character).
//! - Every error from a [`Field`] starts with `` `key`: `` and carries the key.

use core::ops::Range;

use toml::Spanned;
use toml::de::{DeInteger, DeTable, DeValue};

use super::error::{Cause, ConfigError};
use super::value::{
    ValueError, check_duration_ms, check_duration_secs, parse_bytes, parse_duration_ms,
    parse_duration_secs, require_positive,
};

pub(crate) type Span = Range<usize>;

pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// The text being parsed, for turning byte spans into lines and columns.
pub(crate) struct Doc<'a> {
    pub(crate) source: &'a str,
    pub(crate) file: &'a str,
}

impl Doc<'_> {
    pub(crate) fn error(
        &self,
        span: Option<Span>,
        key: Option<&str>,
        message: impl Into<String>,
        cause: Option<Cause>,
    ) -> ConfigError {
        let position = match span {
            Some(span) => line_column(self.source, span.start),
            None => (0, 0),
        };
        ConfigError::placed(self.file, position, key, message.into(), cause)
    }

    pub(crate) fn toml_error(&self, error: toml::de::Error) -> ConfigError {
        let message = error.message().trim_end().to_owned();
        self.error(error.span(), None, message, Some(Cause::Toml(error)))
    }

    pub(crate) fn line_of(&self, span: &Span) -> usize {
        line_column(self.source, span.start).0
    }
}

/// 1-based line and column (in characters) of a byte offset. Works on bytes so that an
/// offset past the end or inside a character cannot panic.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let bytes = source.as_bytes();
    let before = bytes.get(..offset.min(bytes.len())).unwrap_or(bytes);
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let is_char_start = |b: &&u8| (**b & 0xC0) != 0x80;
    let column = 1 + before
        .get(line_start..)
        .unwrap_or_default()
        .iter()
        .filter(is_char_start)
        .count();
    (line, column)
}

/// A table whose keys have been checked against the known ones.
pub(crate) struct Section<'t, 'i> {
    doc: &'t Doc<'t>,
    table: &'t DeTable<'i>,
    /// `cache.` or `route.`: the prefix of keys in messages (empty at the top level).
    prefix: &'static str,
}

impl<'t, 'i> Section<'t, 'i> {
    pub(crate) fn new(
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
            let name = format!("{prefix}{}", key.get_ref());
            return Err(doc.error(
                Some(key.span()),
                Some(&name),
                format!(
                    "unknown key `{name}`; expected one of: {}",
                    known.join(", ")
                ),
                None,
            ));
        }
        Ok(Section { doc, table, prefix })
    }

    pub(crate) fn field(&self, key: &'static str) -> Option<Field<'t, 'i>> {
        self.table.get(key).map(|value| Field {
            doc: self.doc,
            name: format!("{}{}", self.prefix, key),
            value,
        })
    }
}

/// One `key = value`, with the conversions the schema needs; every error names the key.
pub(crate) struct Field<'t, 'i> {
    pub(crate) doc: &'t Doc<'t>,
    pub(crate) name: String,
    pub(crate) value: &'t Value<'i>,
}

impl<'t, 'i> Field<'t, 'i> {
    /// An error about this field, at its value.
    pub(crate) fn fail(
        &self,
        problem: impl std::fmt::Display,
        cause: Option<Cause>,
    ) -> ConfigError {
        self.doc.error(
            Some(self.value.span()),
            Some(&self.name),
            format!("`{}`: {problem}", self.name),
            cause,
        )
    }

    /// This field's value is refused.
    pub(crate) fn refused(&self, problem: ValueError) -> ConfigError {
        let message = problem.to_string();
        self.fail(message, Some(Cause::Value(problem)))
    }

    pub(crate) fn wrong_type(&self, expected: &str) -> ConfigError {
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
        self.fail(
            format_args!("expected {expected}, found {article} {found}{hint}"),
            None,
        )
    }

    pub(crate) fn string(&self) -> Result<&'t str, ConfigError> {
        match self.value.get_ref() {
            DeValue::String(s) => Ok(s.as_ref()),
            _ => Err(self.wrong_type("a string")),
        }
    }

    pub(crate) fn boolean(&self) -> Result<bool, ConfigError> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    fn integer(&self, int: &DeInteger<'_>) -> Result<u64, ConfigError> {
        match i128::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if n < 0 => Err(self.fail(format_args!("must not be negative, found {n}"), None)),
            Ok(n) => {
                u64::try_from(n).map_err(|_| self.fail(format_args!("{n} is too large"), None))
            }
            Err(_) if int.as_str().starts_with('-') => Err(self.fail("must not be negative", None)),
            Err(_) => Err(self.fail(format_args!("{} is too large", int.as_str()), None)),
        }
    }

    /// An integer (scaled and checked by `check_integer`), or a string read by `parse`.
    fn number_or_string(
        &self,
        expected: &str,
        parse: impl Fn(&str) -> Result<u64, ValueError>,
        check_integer: impl Fn(u64) -> Result<u64, ValueError>,
    ) -> Result<u64, ConfigError> {
        match self.value.get_ref() {
            DeValue::Integer(int) => check_integer(self.integer(int)?).map_err(|e| self.refused(e)),
            DeValue::String(s) => parse(s).map_err(|e| self.refused(e)),
            _ => Err(self.wrong_type(expected)),
        }
    }

    pub(crate) fn count(&self) -> Result<u64, ConfigError> {
        match self.value.get_ref() {
            DeValue::Integer(int) => self.integer(int),
            _ => Err(self.wrong_type("a whole number")),
        }
    }

    pub(crate) fn bytes(&self) -> Result<u64, ConfigError> {
        self.number_or_string(
            "a number of bytes or a size like \"256MiB\"",
            parse_bytes,
            Ok,
        )
    }

    pub(crate) fn duration_ms(&self) -> Result<u64, ConfigError> {
        self.number_or_string(
            "a number of seconds or a duration like \"10s\"",
            parse_duration_ms,
            |secs| {
                let ms = secs
                    .checked_mul(1000)
                    .ok_or(ValueError::NumberTooLarge(secs))?;
                check_duration_ms(ms)
            },
        )
    }

    pub(crate) fn seconds(&self) -> Result<u64, ConfigError> {
        self.number_or_string(
            "a number of seconds or a duration like \"5m\"",
            parse_duration_secs,
            check_duration_secs,
        )
    }

    /// Seconds, or `false` (`None`); `true` means nothing and is refused.
    pub(crate) fn seconds_or_false(&self) -> Result<Option<u64>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Boolean(false) => Ok(None),
            DeValue::Boolean(true) => Err(self.fail(
                "`true` is not a duration: use a number of seconds, a duration like \"5m\", or false",
                None,
            )),
            DeValue::Integer(_) | DeValue::String(_) => self.seconds().map(Some),
            _ => Err(self.wrong_type("a number of seconds, a duration like \"5m\", or false")),
        }
    }

    pub(crate) fn positive(&self, n: u64) -> Result<u64, ConfigError> {
        require_positive(n).map_err(|e| self.refused(e))
    }

    pub(crate) fn table(&self) -> Result<&'t DeTable<'i>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.wrong_type("a table")),
        }
    }

    /// Each element of an array, as a field of its own (same name, its own position).
    pub(crate) fn elements(&self) -> Result<Vec<Field<'t, 'i>>, ConfigError> {
        match self.value.get_ref() {
            DeValue::Array(items) => Ok(items
                .iter()
                .map(|value| Field {
                    doc: self.doc,
                    name: self.name.clone(),
                    value,
                })
                .collect()),
            _ => Err(self.wrong_type("an array")),
        }
    }

    /// Each element of an array of strings.
    pub(crate) fn strings(&self) -> Result<Vec<String>, ConfigError> {
        self.elements()?
            .iter()
            .map(|element| element.string().map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é = 1", 3), (1, 3));
        assert_eq!(line_column("é", 1), (1, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }
}
