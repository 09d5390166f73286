//! Tag templates: the tags a route gives its pages, which may use the route's parameters
//! (`post:{slug}`).
//!
//! Invariants:
//! - A [`TagTemplate`] is non-empty, has no control character, and every `{` is closed by
//!   a `}` around a parameter name (no whitespace, no nesting); anything else is refused
//!   by [`TagTemplate::parse`].
//! - Rendering never fails: a parameter the match lacks renders as nothing.

use crate::route::Params;

/// Why a tag template is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("a tag must not be empty")]
    Empty,
    #[error("tag {0:?} contains a control character")]
    Control(String),
    #[error("unmatched `}}` in tag {0:?}")]
    Unmatched(String),
    #[error("unclosed `{{` in tag {0:?}")]
    Unclosed(String),
    #[error("placeholder {{{name}}} in tag {tag:?} must be a parameter name")]
    Placeholder { name: String, tag: String },
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
fn split_template(source: &str) -> Result<Vec<TagPart<'_>>, TagError> {
    let mut parts = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find(['{', '}']) {
        let (text, from_brace) = rest.split_at(open);
        let Some(after_open) = from_brace.strip_prefix('{') else {
            return Err(TagError::Unmatched(source.to_owned()));
        };
        if !text.is_empty() {
            parts.push(TagPart::Text(text));
        }
        let (name, after_close) = after_open
            .find(['{', '}'])
            .map(|close| after_open.split_at(close))
            .and_then(|(name, from_close)| Some((name, from_close.strip_prefix('}')?)))
            .ok_or_else(|| TagError::Unclosed(source.to_owned()))?;
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(TagError::Placeholder {
                name: name.to_owned(),
                tag: source.to_owned(),
            });
        }
        parts.push(TagPart::Param(name));
        rest = after_close;
    }
    if !rest.is_empty() {
        parts.push(TagPart::Text(rest));
    }
    Ok(parts)
}

impl TagTemplate {
    /// Parse a template; `{name}` must name a parameter of the route (checked by the caller
    /// with [`TagTemplate::params`]).
    pub fn parse(source: &str) -> Result<TagTemplate, TagError> {
        if source.is_empty() {
            return Err(TagError::Empty);
        }
        if source.chars().any(char::is_control) {
            return Err(TagError::Control(source.to_owned()));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
