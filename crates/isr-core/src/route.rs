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
//!
//! Trailing slashes: a pattern's trailing slash is ignored (`/about/` is the pattern
//! `/about`), and a request path's trailing slash does not prevent a match (`/about/`
//! matches `/about`). The two paths still have different cache keys; only the route (its
//! policy) is shared.
//!
//! Static segments are compared case-sensitively with the normalised path, after being
//! normalised the same way ([`crate::path`]), so `/caf%c3%a9` and `/café` as patterns both
//! match the request path `/caf%C3%A9`.
//!
//! Specificity in detail: each pattern segment ranks static > parameter > catch-all
//! (`[...x]`, `:x*` and `*` alike) > optional catch-all, and patterns are compared on those
//! ranks lexicographically from the left. Where one pattern is a prefix of the other, the
//! longer one wins, except that an optional catch-all ranks below the end of a pattern:
//! `/docs` beats `/docs/[[...rest]]` on `/docs`.

use std::cmp::Ordering;

use crate::path::normalize_segment;

/// Why a pattern is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("pattern must start with '/': {0:?}")]
    /// The pattern does not start with `/`.
    NotAbsolute(String),
    #[error("invalid segment {segment:?} in pattern {pattern:?}: {reason}")]
    /// A segment of the pattern is not valid.
    BadSegment {
        /// The whole pattern.
        pattern: String,
        /// The segment that is not valid.
        segment: String,
        /// Why it is not valid.
        reason: &'static str,
    },
}

/// Two routes that can never be told apart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("routes {first:?} and {second:?} match the same paths with the same specificity")]
pub struct RouteConflict {
    /// Index (in the order given) and pattern of each conflicting route.
    pub first: String,
    /// The pattern that can never match.
    pub second: String,
    /// The position of `first` among the routes.
    pub first_index: usize,
    /// The position of `second` among the routes.
    pub second_index: usize,
}

/// A parsed route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    /// Matches exactly this (normalised) text.
    Static(String),
    /// `:name` or `[name]`: one non-empty segment.
    Param(String),
    /// `[...name]` or `:name*`: one or more segments.
    CatchAll(String),
    /// `[[...name]]`: zero or more segments.
    OptionalCatchAll(String),
    /// `*`: one or more segments, captured under the name `*`.
    Wildcard,
}

/// The name a wildcard's capture is reported under.
const WILDCARD_NAME: &str = "*";

impl Segment {
    /// Higher is more specific. `END_RANK` (the end of a pattern) sits between catch-all
    /// and optional catch-all; see the module documentation.
    fn rank(&self) -> u8 {
        match self {
            Segment::Static(_) => 4,
            Segment::Param(_) => 3,
            Segment::CatchAll(_) | Segment::Wildcard => 2,
            Segment::OptionalCatchAll(_) => 0,
        }
    }

    fn is_catch_all(&self) -> bool {
        matches!(
            self,
            Segment::CatchAll(_) | Segment::OptionalCatchAll(_) | Segment::Wildcard
        )
    }

    fn param_name(&self) -> Option<&str> {
        match self {
            Segment::Static(_) => None,
            Segment::Param(name) | Segment::CatchAll(name) | Segment::OptionalCatchAll(name) => {
                Some(name)
            }
            Segment::Wildcard => Some(WILDCARD_NAME),
        }
    }

    /// Same shape: the same static text, or the same kind of capture whatever its name.
    /// A wildcard and a catch-all match the same paths, so they have the same shape.
    fn same_shape(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Static(a), Segment::Static(b)) => a == b,
            (Segment::Static(_), _) | (_, Segment::Static(_)) => false,
            _ => self.rank() == other.rank(),
        }
    }
}

/// The rank of the end of a pattern.
const END_RANK: u8 = 1;

impl Pattern {
    /// Parse a pattern (syntax in the module documentation).
    ///
    /// Errors: not starting with `/`; an empty segment (`//`); an empty or invalid
    /// parameter name (names are `[A-Za-z0-9_]+`); a duplicate name; a catch-all or `*`
    /// that is not the last segment; a static segment containing `[`, `]` or `*`, that is
    /// `.` or `..`, or that has a bad percent-encoding or a control character.
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let body = source
            .strip_prefix('/')
            .ok_or_else(|| PatternError::NotAbsolute(source.to_owned()))?;
        let mut segments = Vec::new();
        for text in segment_texts(body) {
            segments.push(parse_segment(source, text)?);
        }
        check_catch_all_is_last(source, &segments)?;
        check_unique_names(source, &segments)?;
        Ok(Pattern {
            source: source.to_owned(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the two patterns match the same paths with the same specificity.
    fn conflicts_with(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| a.same_shape(b))
    }

    /// Compare specificity; `Greater` means `self` wins.
    fn cmp_specificity(&self, other: &Pattern) -> Ordering {
        self.ranks().cmp(other.ranks())
    }

    fn ranks(&self) -> impl Iterator<Item = u8> + '_ {
        self.segments
            .iter()
            .map(Segment::rank)
            .chain(std::iter::once(END_RANK))
    }

    /// Whether the pattern matches `body` (a path without its leading and trailing `/`).
    fn matches(&self, body: &str) -> bool {
        walk(&self.segments, body, |_, _| {})
    }

    fn captures(&self, body: &str) -> Params {
        let mut params = Vec::new();
        walk(&self.segments, body, |name, value| {
            params.push((name.to_owned(), value.to_owned()));
        });
        Params(params)
    }
}

/// The segment texts of a pattern body (the pattern without its leading `/`), ignoring one
/// trailing slash. `""` (the pattern `/`) has none.
fn segment_texts(body: &str) -> impl Iterator<Item = &str> {
    let trimmed = match body.strip_suffix('/') {
        // `//` is an empty segment, not a root with a trailing slash: keep it to reject it.
        Some(rest) if !rest.is_empty() => rest,
        _ => body,
    };
    // `"".split('/')` would yield one empty segment; the root pattern has none.
    let segments = (!trimmed.is_empty()).then(|| trimmed.split('/'));
    segments.into_iter().flatten()
}

fn parse_segment(pattern: &str, text: &str) -> Result<Segment, PatternError> {
    let bad = |reason| PatternError::BadSegment {
        pattern: pattern.to_owned(),
        segment: text.to_owned(),
        reason,
    };
    let name = |name: &str| {
        if is_valid_name(name) {
            Ok(name.to_owned())
        } else {
            Err(bad(
                "parameter names must be non-empty and made of [A-Za-z0-9_]",
            ))
        }
    };
    if text.is_empty() {
        return Err(bad("empty segment"));
    }
    if text == "*" {
        return Ok(Segment::Wildcard);
    }
    if let Some(inner) = strip_delimiters(text, "[[...", "]]") {
        return Ok(Segment::OptionalCatchAll(name(inner)?));
    }
    if let Some(inner) = strip_delimiters(text, "[...", "]") {
        return Ok(Segment::CatchAll(name(inner)?));
    }
    if let Some(inner) = strip_delimiters(text, "[", "]") {
        return Ok(Segment::Param(name(inner)?));
    }
    if let Some(inner) = text.strip_prefix(':') {
        return match inner.strip_suffix('*') {
            Some(catch_all) => Ok(Segment::CatchAll(name(catch_all)?)),
            None => Ok(Segment::Param(name(inner)?)),
        };
    }
    parse_static(text).map_err(bad)
}

fn strip_delimiters<'t>(text: &'t str, open: &str, close: &str) -> Option<&'t str> {
    text.strip_prefix(open)?.strip_suffix(close)
}

fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_static(text: &str) -> Result<Segment, &'static str> {
    if text.contains(['[', ']', '*']) {
        // Almost certainly a mistyped parameter or a glob, which this syntax does not have.
        return Err("'[', ']' and '*' are reserved in static segments");
    }
    let normalised = normalize_segment(text)
        .map_err(|_| "bad percent-encoding or control character in a static segment")?;
    if normalised == "." || normalised == ".." {
        return Err("a dot segment can never match a normalised path");
    }
    Ok(Segment::Static(normalised))
}

fn check_catch_all_is_last(pattern: &str, segments: &[Segment]) -> Result<(), PatternError> {
    let Some((_, before_last)) = segments.split_last() else {
        return Ok(());
    };
    match before_last.iter().find(|segment| segment.is_catch_all()) {
        None => Ok(()),
        Some(segment) => Err(PatternError::BadSegment {
            pattern: pattern.to_owned(),
            segment: segment_source(segment),
            reason: "a catch-all or '*' must be the last segment",
        }),
    }
}

fn check_unique_names(pattern: &str, segments: &[Segment]) -> Result<(), PatternError> {
    let names: Vec<&str> = segments.iter().filter_map(Segment::param_name).collect();
    for (index, name) in names.iter().enumerate() {
        if names.iter().take(index).any(|earlier| earlier == name) {
            return Err(PatternError::BadSegment {
                pattern: pattern.to_owned(),
                segment: (*name).to_owned(),
                reason: "duplicate parameter name",
            });
        }
    }
    Ok(())
}

/// A segment written back in canonical syntax, for error messages.
fn segment_source(segment: &Segment) -> String {
    match segment {
        Segment::Static(text) => text.clone(),
        Segment::Param(name) => format!("[{name}]"),
        Segment::CatchAll(name) => format!("[...{name}]"),
        Segment::OptionalCatchAll(name) => format!("[[...{name}]]"),
        Segment::Wildcard => WILDCARD_NAME.to_owned(),
    }
}

/// Match `segments` against `body`, calling `capture(name, value)` for each capture in
/// pattern order. Allocation-free: the hit path runs it for every route on every request.
fn walk<'p>(segments: &[Segment], body: &'p str, mut capture: impl FnMut(&str, &'p str)) -> bool {
    // `None`: no segment left. `Some(text)`: one or more segments, separated by '/'.
    let mut rest: Option<&'p str> = (!body.is_empty()).then_some(body);
    for segment in segments {
        match segment {
            Segment::Static(text) => {
                let Some((head, tail)) = next_segment(rest) else {
                    return false;
                };
                if head != text {
                    return false;
                }
                rest = tail;
            }
            Segment::Param(name) => {
                let Some((head, tail)) = next_segment(rest) else {
                    return false;
                };
                if head.is_empty() {
                    return false;
                }
                capture(name, head);
                rest = tail;
            }
            Segment::CatchAll(name) => {
                let Some(remainder) = rest.take() else {
                    return false;
                };
                capture(name, remainder);
            }
            Segment::Wildcard => {
                let Some(remainder) = rest.take() else {
                    return false;
                };
                capture(WILDCARD_NAME, remainder);
            }
            Segment::OptionalCatchAll(name) => {
                capture(name, rest.take().unwrap_or(""));
            }
        }
    }
    rest.is_none()
}

fn next_segment(rest: Option<&str>) -> Option<(&str, Option<&str>)> {
    let text = rest?;
    Some(match text.split_once('/') {
        Some((head, tail)) => (head, Some(tail)),
        None => (text, None),
    })
}

/// The part of a path that is matched: without the leading `/` and one trailing `/`.
fn path_body(path: &str) -> Option<&str> {
    let body = path.strip_prefix('/')?;
    Some(body.strip_suffix('/').unwrap_or(body))
}

/// Parameter values captured by a match, in pattern order. A catch-all's value is the
/// remainder joined with `/` (empty for an optional catch-all that matched nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The value captured under `name` (`*` for a wildcard), if any.
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
    /// The value the matched pattern was added with.
    pub value: &'r T,
    /// The matched pattern.
    pub pattern: &'r Pattern,
    /// The values of the pattern's parameters.
    pub params: Params,
}

/// A set of routes, each with a value (its policy).
#[derive(Clone, Debug)]
pub struct Router<T> {
    routes: Vec<(Pattern, T)>,
}

/// No routes: matches nothing.
impl<T> Default for Router<T> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<T> Router<T> {
    /// Build a router; fails on the first pair of conflicting routes (two patterns of the
    /// same shape: the same static segments in the same places and the same kinds of
    /// capture elsewhere, whatever their names).
    pub fn new(routes: Vec<(Pattern, T)>) -> Result<Router<T>, RouteConflict> {
        for (second_index, (second, _)) in routes.iter().enumerate() {
            let earlier = routes.iter().take(second_index).enumerate();
            for (first_index, (first, _)) in earlier {
                if first.conflicts_with(second) {
                    return Err(RouteConflict {
                        first: first.source.clone(),
                        second: second.source.clone(),
                        first_index,
                        second_index,
                    });
                }
            }
        }
        Ok(Router { routes })
    }

    /// The most specific route matching the normalised `path`.
    ///
    /// One trailing slash on `path` is ignored. Only the winning route's parameters are
    /// copied out; finding it allocates nothing.
    pub fn at(&self, path: &str) -> Option<Match<'_, T>> {
        let body = path_body(path)?;
        let (_, (pattern, value)) = self.best(body)?;
        Some(Match {
            value,
            pattern,
            params: pattern.captures(body),
        })
    }

    /// The position (in the order given to [`Router::new`]) of the route [`Router::at`]
    /// picks for `path`, without copying its parameters out: allocates nothing.
    pub fn position_at(&self, path: &str) -> Option<usize> {
        let body = path_body(path)?;
        self.best(body).map(|(position, _)| position)
    }

    /// The patterns, in the order given to [`Router::new`].
    pub fn patterns(&self) -> impl Iterator<Item = &Pattern> {
        self.routes.iter().map(|(pattern, _)| pattern)
    }

    /// The most specific route matching `body` (a path without its slashes at the ends).
    fn best(&self, body: &str) -> Option<(usize, &(Pattern, T))> {
        let mut best: Option<(usize, &(Pattern, T))> = None;
        for (position, route) in self.routes.iter().enumerate() {
            let wins = best.is_none_or(|(_, (best_pattern, _))| {
                route.0.cmp_specificity(best_pattern) == Ordering::Greater
            });
            if wins && route.0.matches(body) {
                best = Some((position, route));
            }
        }
        best
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(source: &str) -> Pattern {
        match Pattern::parse(source) {
            Ok(pattern) => pattern,
            Err(error) => panic!("{source:?} did not parse: {error}"),
        }
    }

    fn router(sources: &[&'static str]) -> Router<&'static str> {
        let routes = sources.iter().map(|s| (pattern(s), *s)).collect();
        match Router::new(routes) {
            Ok(router) => router,
            Err(conflict) => panic!("unexpected conflict: {conflict}"),
        }
    }

    /// The winning pattern for `path`, if any.
    fn winner(router: &Router<&'static str>, path: &str) -> Option<&'static str> {
        router.at(path).map(|m| *m.value)
    }

    fn params(router: &Router<&'static str>, path: &str) -> Vec<(String, String)> {
        router.at(path).map(|m| m.params.0).unwrap_or_default()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn bad_segment_reason(source: &str) -> &'static str {
        match Pattern::parse(source) {
            Err(PatternError::BadSegment { reason, .. }) => reason,
            other => panic!("{source:?}: expected a bad segment, got {other:?}"),
        }
    }

    #[test]
    fn parses_every_syntax() {
        for source in [
            "/",
            "/about",
            "/blog/:slug",
            "/blog/[slug]",
            "/docs/[...rest]",
            "/docs/:rest*",
            "/docs/[[...rest]]",
            "/assets/*",
            "/a/[x]/b/:y/[...z]",
            "/user:name",
        ] {
            assert_eq!(pattern(source).as_str(), source);
        }
    }

    #[test]
    fn pattern_must_be_absolute() {
        assert_eq!(
            Pattern::parse("about"),
            Err(PatternError::NotAbsolute("about".to_owned()))
        );
        assert!(matches!(
            Pattern::parse(""),
            Err(PatternError::NotAbsolute(_))
        ));
    }

    #[test]
    fn empty_segments_are_rejected() {
        for source in ["//", "/a//b", "//a", "/a//"] {
            assert_eq!(bad_segment_reason(source), "empty segment", "{source}");
        }
    }

    #[test]
    fn bad_names_are_rejected() {
        for source in [
            "/[]", "/:", "/[...]", "/[[...]]", "/:*", "/[a-b]", "/:a.b", "/[[...x]", "/[a b]",
        ] {
            assert!(
                bad_segment_reason(source).starts_with("parameter names"),
                "{source}"
            );
        }
    }

    #[test]
    fn duplicate_names_are_rejected() {
        assert_eq!(bad_segment_reason("/[a]/:a"), "duplicate parameter name");
        assert_eq!(bad_segment_reason("/:a/[...a]"), "duplicate parameter name");
    }

    #[test]
    fn catch_alls_must_be_last() {
        for source in ["/*/a", "/[...a]/b", "/:a*/b", "/[[...a]]/b", "/*/*"] {
            assert_eq!(
                bad_segment_reason(source),
                "a catch-all or '*' must be the last segment",
                "{source}"
            );
        }
    }

    #[test]
    fn reserved_characters_in_static_segments_are_rejected() {
        for source in ["/a*", "/a[b]", "/[a]b", "/**"] {
            assert!(bad_segment_reason(source).contains("reserved"), "{source}");
        }
    }

    #[test]
    fn dot_and_bad_static_segments_are_rejected() {
        assert!(bad_segment_reason("/a/..").contains("dot segment"));
        assert!(bad_segment_reason("/a/%2e").contains("dot segment"));
        assert!(bad_segment_reason("/%zz").contains("percent-encoding"));
        assert!(bad_segment_reason("/a%00").contains("control"));
    }

    #[test]
    fn static_segments_are_normalised_like_paths() {
        let router = router(&["/caf%c3%a9/%7euser"]);
        assert_eq!(
            winner(&router, "/caf%C3%A9/~user"),
            Some("/caf%c3%a9/%7euser")
        );
        let raw_unicode = self::router(&["/café"]);
        assert_eq!(winner(&raw_unicode, "/caf%C3%A9"), Some("/café"));
    }

    #[test]
    fn static_matching_is_case_sensitive() {
        let router = router(&["/About"]);
        assert_eq!(winner(&router, "/About"), Some("/About"));
        assert_eq!(winner(&router, "/about"), None);
    }

    #[test]
    fn root_matches_only_root() {
        let router = router(&["/"]);
        assert_eq!(winner(&router, "/"), Some("/"));
        assert_eq!(winner(&router, "/a"), None);
    }

    #[test]
    fn trailing_slashes_are_ignored_for_matching() {
        let router = router(&["/about/"]);
        assert_eq!(winner(&router, "/about"), Some("/about/"));
        assert_eq!(winner(&router, "/about/"), Some("/about/"));
        assert_eq!(winner(&router, "/about/x"), None);
    }

    #[test]
    fn pattern_trailing_slash_is_the_same_pattern() {
        let conflict = Router::new(vec![(pattern("/about"), ()), (pattern("/about/"), ())]);
        assert!(conflict.is_err());
    }

    #[test]
    fn params_capture_one_non_empty_segment() {
        let router = router(&["/blog/[slug]"]);
        assert_eq!(params(&router, "/blog/hello"), pairs(&[("slug", "hello")]));
        assert_eq!(winner(&router, "/blog"), None);
        assert_eq!(winner(&router, "/blog/"), None);
        assert_eq!(winner(&router, "/blog/a/b"), None);
        assert_eq!(params(&router, "/blog/a%2Fb"), pairs(&[("slug", "a%2Fb")]));
    }

    #[test]
    fn colon_params_capture_too() {
        let router = router(&["/u/:id/posts/:post"]);
        assert_eq!(
            params(&router, "/u/7/posts/9"),
            pairs(&[("id", "7"), ("post", "9")])
        );
    }

    #[test]
    fn catch_all_needs_one_segment_and_joins_the_rest() {
        let router = router(&["/docs/[...rest]"]);
        assert_eq!(winner(&router, "/docs"), None);
        assert_eq!(params(&router, "/docs/a"), pairs(&[("rest", "a")]));
        assert_eq!(params(&router, "/docs/a/b/c"), pairs(&[("rest", "a/b/c")]));
        assert_eq!(params(&router, "/docs/a/b/"), pairs(&[("rest", "a/b")]));
        let colon = self::router(&["/docs/:rest*"]);
        assert_eq!(params(&colon, "/docs/a/b"), pairs(&[("rest", "a/b")]));
    }

    #[test]
    fn optional_catch_all_matches_zero_segments() {
        let router = router(&["/docs/[[...rest]]"]);
        assert_eq!(params(&router, "/docs"), pairs(&[("rest", "")]));
        assert_eq!(params(&router, "/docs/"), pairs(&[("rest", "")]));
        assert_eq!(params(&router, "/docs/a/b"), pairs(&[("rest", "a/b")]));
        assert_eq!(winner(&router, "/doc"), None);
        let root = self::router(&["/[[...all]]"]);
        assert_eq!(params(&root, "/"), pairs(&[("all", "")]));
    }

    #[test]
    fn wildcard_is_captured_under_star() {
        let router = router(&["/assets/*"]);
        assert_eq!(winner(&router, "/assets"), None);
        assert_eq!(
            params(&router, "/assets/js/app.js"),
            pairs(&[("*", "js/app.js")])
        );
        assert_eq!(
            router
                .at("/assets/x")
                .and_then(|m| m.params.get("*").map(str::to_owned)),
            Some("x".to_owned())
        );
    }

    #[test]
    fn static_beats_param_beats_catch_all() {
        let router = router(&[
            "/blog/[...rest]",
            "/blog/[slug]",
            "/blog/new",
            "/blog/[[...opt]]",
        ]);
        assert_eq!(winner(&router, "/blog/new"), Some("/blog/new"));
        assert_eq!(winner(&router, "/blog/other"), Some("/blog/[slug]"));
        assert_eq!(winner(&router, "/blog/a/b"), Some("/blog/[...rest]"));
        assert_eq!(winner(&router, "/blog"), Some("/blog/[[...opt]]"));
    }

    #[test]
    fn leftmost_difference_decides() {
        let router = router(&["/[a]/b", "/x/[c]"]);
        assert_eq!(winner(&router, "/x/b"), Some("/x/[c]"));
    }

    #[test]
    fn longer_pattern_wins_over_its_prefix() {
        let router = router(&["/a/[...rest]", "/a/b/[...rest]"]);
        assert_eq!(winner(&router, "/a/b/c"), Some("/a/b/[...rest]"));
        assert_eq!(winner(&router, "/a/c/d"), Some("/a/[...rest]"));
    }

    #[test]
    fn exact_path_beats_optional_catch_all_matching_nothing() {
        let router = router(&["/docs/[[...rest]]", "/docs"]);
        assert_eq!(winner(&router, "/docs"), Some("/docs"));
        assert_eq!(winner(&router, "/docs/x"), Some("/docs/[[...rest]]"));
    }

    #[test]
    fn catch_all_beats_optional_catch_all() {
        let router = router(&["/docs/[[...opt]]", "/docs/[...rest]"]);
        assert_eq!(winner(&router, "/docs/x"), Some("/docs/[...rest]"));
        assert_eq!(winner(&router, "/docs"), Some("/docs/[[...opt]]"));
    }

    #[test]
    fn same_shape_patterns_conflict() {
        for (first, second) in [
            ("/blog/:a", "/blog/[b]"),
            ("/a/*", "/a/[...rest]"),
            ("/a/:x*", "/a/[...y]"),
            ("/d/[[...a]]", "/d/[[...b]]"),
            ("/x", "/x"),
        ] {
            let routes = vec![
                (pattern("/other"), 0),
                (pattern(first), 1),
                (pattern(second), 2),
            ];
            assert_eq!(
                Router::new(routes).map(|r| r.len()),
                Err(RouteConflict {
                    first: first.to_owned(),
                    second: second.to_owned(),
                    first_index: 1,
                    second_index: 2,
                })
            );
        }
    }

    #[test]
    fn different_shapes_do_not_conflict() {
        let router = router(&[
            "/blog/:a",
            "/blog/:a/x",
            "/blog/new",
            "/blog/[...rest]",
            "/blog/[[...opt]]",
            "/blog",
            "/news/:a",
        ]);
        assert_eq!(router.len(), 7);
        assert!(!router.is_empty());
    }

    #[test]
    fn empty_router_matches_nothing() {
        let router: Router<()> = match Router::new(Vec::new()) {
            Ok(router) => router,
            Err(conflict) => panic!("{conflict}"),
        };
        assert!(router.is_empty());
        assert!(router.at("/").is_none());
    }

    #[test]
    fn relative_paths_match_nothing() {
        let router = router(&["/[[...all]]"]);
        assert_eq!(winner(&router, ""), None);
        assert_eq!(winner(&router, "a"), None);
    }

    #[test]
    fn match_reports_its_pattern() {
        let router = router(&["/blog/[slug]"]);
        let found = router.at("/blog/x").map(|m| m.pattern.as_str().to_owned());
        assert_eq!(found.as_deref(), Some("/blog/[slug]"));
    }
}
