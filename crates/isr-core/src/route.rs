//! Route patterns and matching.
//!
//! Syntax, one pattern per route, matched against the normalised path:
//! - exact segments: `/about`
//! - named parameters: `/blog/:slug` or `/blog/[slug]` (one non-empty segment)
//! - catch-all: `/docs/[...rest]` or `/docs/:rest*` (one or more segments), optional
//!   catch-all `/docs/[[...rest]]` (zero or more)
//! - wildcard: `/assets/*` (one or more segments, unnamed)
//!
//! Invariants:
//! - The most specific match wins: compared segment by segment from the left, a static
//!   segment beats a parameter, which beats a catch-all; a longer pattern beats a shorter
//!   one when all else is equal.
//! - Two patterns that match exactly the same paths with the same specificity (e.g.
//!   `/blog/:a` and `/blog/[b]`) are a conflict, reported by [`Router::new`].

// TODO(helper: routing) implement.

/// Why a pattern is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern must start with '/': {0:?}")]
    NotAbsolute(String),
    #[error("invalid segment {segment:?} in pattern {pattern:?}: {reason}")]
    BadSegment {
        pattern: String,
        segment: String,
        reason: &'static str,
    },
}

/// Two routes that can never be told apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("routes {first:?} and {second:?} match the same paths with the same specificity")]
pub struct RouteConflict {
    /// Index (in the order given) and pattern of each conflicting route.
    pub first: String,
    pub second: String,
    pub first_index: usize,
    pub second_index: usize,
}

/// A parsed route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    source: String,
}

impl Pattern {
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let _ = source;
        todo!("helper: routing")
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Parameter values captured by a match, in pattern order. A catch-all's value is the
/// remainder joined with `/` (empty for an optional catch-all that matched nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A successful match.
#[derive(Debug)]
pub struct Match<'r, T> {
    pub value: &'r T,
    pub pattern: &'r Pattern,
    pub params: Params,
}

/// A set of routes, each with a value (its policy).
#[derive(Clone, Debug)]
pub struct Router<T> {
    routes: Vec<(Pattern, T)>,
}

impl<T> Router<T> {
    /// Build a router; fails on the first pair of conflicting routes.
    pub fn new(routes: Vec<(Pattern, T)>) -> Result<Router<T>, RouteConflict> {
        let _ = &routes;
        todo!("helper: routing")
    }

    /// The most specific route matching the normalised `path`.
    pub fn at(&self, path: &str) -> Option<Match<'_, T>> {
        let _ = (path, &self.routes);
        todo!("helper: routing")
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}
