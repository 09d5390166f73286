//! [`RouteRule`]: how one route is cached, as typed values (the `[[route]]` table of
//! `isr.toml`, in code), and its compilation into a [`Route`].
//!
//! Invariants:
//! - Every route is checked here, whether it comes from the file or from code: the TOML
//!   reader turns a `[[route]]` table into a [`RouteRule`] and points the [`RouteError`]
//!   back at the key (and element) it names.
//! - A pass-through route (`revalidate = 0`) has no `expire`, `stale_if_error` or `tags`
//!   (they would be silently ignored); `expire` is at least `revalidate`; every tag uses
//!   only the route's parameters; every `bypass_cookies` entry is a cookie name or prefix; query names are non-empty, without `&`, `=` or `#`.

use super::model::{Route, RouteMode};
use super::tag::{TagError, TagTemplate};
use super::value::{
    ValueError, check_duration_secs, check_expire_covers_revalidate, require_positive,
};
use crate::path::QueryKeys;
use crate::policy::{Revalidate, RouteCachePolicy};
use crate::route::{Pattern, PatternError, RouteConflict, Router};
use crate::session::{CookiePattern, CookiePatternError};

/// How one route is cached: the `[[route]]` table of `isr.toml`, in code.
///
/// ```
/// use isr_core::config::RouteRule;
///
/// let rule = RouteRule::revalidate(60).expire(3600).tags(["posts", "post:{id}"]);
/// assert!(rule.compile("/posts/[id]").is_ok());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteRule {
    /// `None`: left to the origin's headers, then the defaults. `Some(None)`: fresh until
    /// purged. `Some(Some(0))`: never cached.
    revalidate: Option<Option<u64>>,
    expire: Option<u64>,
    stale_if_error: Option<u64>,
    /// `None`: no `tags` key (an empty list is still a key, refused on a pass-through).
    tags: Option<Vec<String>>,
    query: Option<Vec<String>>,
    bypass_cookies: Option<Vec<String>>,
}

impl RouteRule {
    /// Fresh for `secs` seconds after each render, then served stale while regenerated.
    /// `0`: never cached (see [`RouteRule::pass_through`]).
    pub fn revalidate(secs: u64) -> RouteRule {
        RouteRule {
            revalidate: Some(Some(secs)),
            ..RouteRule::default()
        }
    }

    /// Fresh until purged (`revalidate = false`).
    pub fn until_purged() -> RouteRule {
        RouteRule {
            revalidate: Some(None),
            ..RouteRule::default()
        }
    }

    /// Never cached: passed through to the app (`revalidate = 0`).
    pub fn pass_through() -> RouteRule {
        RouteRule::revalidate(0)
    }

    /// Cached as the app's `Cache-Control` says, then as the defaults say.
    pub fn from_origin() -> RouteRule {
        RouteRule::default()
    }

    /// Seconds after a render past which the page is no longer served stale.
    pub fn expire(mut self, secs: u64) -> RouteRule {
        self.expire = Some(secs);
        self
    }

    /// Seconds past expiry during which the page is still served if a render fails.
    pub fn stale_if_error(mut self, secs: u64) -> RouteRule {
        self.stale_if_error = Some(secs);
        self
    }

    /// Tag the route's pages; `{name}` is replaced by the route parameter `name`.
    pub fn tag(mut self, tag: impl Into<String>) -> RouteRule {
        self.tags.get_or_insert_with(Vec::new).push(tag.into());
        self
    }

    /// Tag the route's pages with each of `tags`.
    pub fn tags<I, S>(mut self, tags: I) -> RouteRule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags
            .get_or_insert_with(Vec::new)
            .extend(tags.into_iter().map(Into::into));
        self
    }

    /// The query parameters that are part of the key (all others are dropped).
    pub fn query<I, S>(mut self, names: I) -> RouteRule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// The cookies that mean "logged in" on this route (replacing the top-level
    /// `bypass_cookies`; none: no cookie bypasses): a name, or a prefix ending in `*`.
    pub fn bypass_cookies<I, S>(mut self, names: I) -> RouteRule
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bypass_cookies = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// This rule for `pattern`, checked.
    pub fn compile(&self, pattern: &str) -> Result<(Pattern, Route), RouteError> {
        let pattern = Pattern::parse(pattern)
            .map_err(|e| RouteError::at(RouteKey::Path, RouteProblem::Pattern(e)))?;
        let mode = match self.revalidate {
            Some(Some(0)) => self.pass_through_mode()?,
            revalidate => {
                let revalidate = revalidate
                    .map(|secs| {
                        secs.map_or(Ok(Revalidate::Never), |secs| {
                            check_duration_secs(secs).map(Revalidate::After)
                        })
                    })
                    .transpose()
                    .map_err(|e| RouteError::value(RouteKey::Revalidate, e))?;
                RouteMode::Cache(self.policy(revalidate)?)
            }
        };
        let tags = self.compile_tags(&pattern)?;
        let query = self.compile_query(&mode)?;
        let bypass_cookies = self.compile_cookies()?;
        Ok((
            pattern,
            Route {
                mode,
                tags,
                query,
                bypass_cookies,
            },
        ))
    }

    fn compile_cookies(&self) -> Result<Option<Vec<CookiePattern>>, RouteError> {
        let Some(given) = &self.bypass_cookies else {
            return Ok(None);
        };
        let mut patterns = Vec::with_capacity(given.len());
        for (index, name) in given.iter().enumerate() {
            let pattern = CookiePattern::parse(name).map_err(|e| RouteError {
                key: RouteKey::BypassCookies,
                index: Some(index),
                problem: RouteProblem::Cookie(e),
            })?;
            patterns.push(pattern);
        }
        Ok(Some(patterns))
    }

    /// `revalidate = 0`: refuse the keys that only matter to a stored entry, so a setting
    /// that would be silently ignored is pointed out instead.
    fn pass_through_mode(&self) -> Result<RouteMode, RouteError> {
        let refused = [
            (RouteKey::Expire, self.expire.is_some()),
            (RouteKey::StaleIfError, self.stale_if_error.is_some()),
            (RouteKey::Tags, self.tags.is_some()),
            (RouteKey::BypassCookies, self.bypass_cookies.is_some()),
        ];
        match refused.into_iter().find(|&(_, set)| set) {
            Some((key, _)) => Err(RouteError::at(key, RouteProblem::NeverCached)),
            None => Ok(RouteMode::PassThrough),
        }
    }

    fn policy(&self, revalidate: Option<Revalidate>) -> Result<RouteCachePolicy, RouteError> {
        let expire = self
            .expire
            .map(|secs| {
                let secs = require_positive(secs)
                    .and_then(check_duration_secs)
                    .map_err(|e| RouteError::value(RouteKey::Expire, e))?;
                if revalidate == Some(Revalidate::Never) {
                    return Err(RouteError::at(RouteKey::Expire, RouteProblem::UntilPurged));
                }
                if let Some(revalidate) = revalidate {
                    check_expire_covers_revalidate(revalidate, Some(secs))
                        .map_err(|e| RouteError::value(RouteKey::Expire, e))?;
                }
                Ok(secs)
            })
            .transpose()?;
        let stale_if_error = self
            .stale_if_error
            .map(check_duration_secs)
            .transpose()
            .map_err(|e| RouteError::value(RouteKey::StaleIfError, e))?;
        Ok(RouteCachePolicy {
            revalidate,
            expire,
            stale_if_error,
        })
    }

    fn compile_tags(&self, pattern: &Pattern) -> Result<Vec<TagTemplate>, RouteError> {
        let params = pattern_params(pattern.as_str());
        let mut tags = Vec::new();
        for (index, source) in self.tags.iter().flatten().enumerate() {
            let element = |problem| RouteError {
                key: RouteKey::Tags,
                index: Some(index),
                problem,
            };
            let tag = TagTemplate::parse(source).map_err(|e| element(RouteProblem::Tag(e)))?;
            if let Some(unknown) = tag.params().into_iter().find(|p| !params.contains(p)) {
                return Err(element(RouteProblem::UnknownParam {
                    tag: source.clone(),
                    param: unknown.to_owned(),
                    pattern: pattern.as_str().to_owned(),
                    params: params.iter().map(|p| (*p).to_owned()).collect(),
                }));
            }
            tags.push(tag);
        }
        Ok(tags)
    }

    fn compile_query(&self, mode: &RouteMode) -> Result<QueryKeys, RouteError> {
        let Some(given) = &self.query else {
            // Nothing of a pass-through route is keyed, so it forwards the query untouched.
            return Ok(match mode {
                RouteMode::PassThrough => QueryKeys::All,
                RouteMode::Cache(_) => QueryKeys::Only(Vec::new()),
            });
        };
        let mut names: Vec<String> = Vec::new();
        for (index, name) in given.iter().enumerate() {
            if name.is_empty()
                || name.contains(['&', '=', '#'])
                || name.chars().any(char::is_control)
            {
                return Err(RouteError {
                    key: RouteKey::Query,
                    index: Some(index),
                    problem: RouteProblem::QueryName(name.clone()),
                });
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        Ok(QueryKeys::Only(names))
    }
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

/// A key of a route (`[[route]]` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteKey {
    /// `path`.
    Path,
    /// `revalidate`.
    Revalidate,
    /// `expire`.
    Expire,
    /// `stale_if_error`.
    StaleIfError,
    /// `tags`.
    Tags,
    /// `query`.
    Query,
    /// `bypass_cookies`.
    BypassCookies,
}

impl RouteKey {
    /// The key as named in messages: `route.expire`.
    pub fn name(self) -> &'static str {
        match self {
            RouteKey::Path => "route.path",
            RouteKey::Revalidate => "route.revalidate",
            RouteKey::Expire => "route.expire",
            RouteKey::StaleIfError => "route.stale_if_error",
            RouteKey::Tags => "route.tags",
            RouteKey::Query => "route.query",
            RouteKey::BypassCookies => "route.bypass_cookies",
        }
    }
}

/// Why a route is refused: which key (and which element of a list), and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("`{}`: {problem}", key.name())]
pub struct RouteError {
    /// The key that is refused.
    pub key: RouteKey,
    /// The element of `tags` or `query` that is refused.
    pub index: Option<usize>,
    /// What is wrong with it.
    pub problem: RouteProblem,
}

impl RouteError {
    fn at(key: RouteKey, problem: RouteProblem) -> RouteError {
        RouteError {
            key,
            index: None,
            problem,
        }
    }

    fn value(key: RouteKey, problem: ValueError) -> RouteError {
        RouteError::at(key, RouteProblem::Value(problem))
    }
}

/// What is wrong with a route.
#[derive(Debug, thiserror::Error)]
pub enum RouteProblem {
    /// The path is not a valid pattern.
    #[error(transparent)]
    Pattern(PatternError),
    /// The value is refused.
    #[error(transparent)]
    Value(ValueError),
    /// A setting of stored pages on a route that is never cached.
    #[error("has no effect when revalidate = 0 (the route is never cached); remove it")]
    NeverCached,
    /// `expire` on a route fresh until purged.
    #[error(
        "has no effect with revalidate = false (the entry stays fresh until purged); remove it"
    )]
    UntilPurged,
    /// A tag is not a valid template.
    #[error(transparent)]
    Tag(TagError),
    /// A `bypass_cookies` entry is not a cookie name or prefix.
    #[error(transparent)]
    Cookie(CookiePatternError),
    /// A tag uses a parameter the route does not have.
    #[error(
        "tag {tag:?} uses {{{param}}}, which is not a parameter of {pattern:?} (parameters: {})",
        if params.is_empty() { "none".to_owned() } else { params.join(", ") }
    )]
    UnknownParam {
        /// The tag as written.
        tag: String,
        /// The parameter it uses.
        param: String,
        /// The route's pattern.
        pattern: String,
        /// The route's parameters.
        params: Vec<String>,
    },
    /// Not a query parameter name.
    #[error("{0:?} is not a query parameter name (it must be non-empty, without &, = or #)")]
    QueryName(String),
}

/// Why a list of routes is refused.
#[derive(Debug, thiserror::Error)]
pub enum RoutesError {
    /// The route at `index` (in the order given) is refused.
    #[error("route {pattern:?}: {error}")]
    Route {
        /// Its place in the order given.
        index: usize,
        /// The route's pattern.
        pattern: String,
        /// Why it is refused.
        error: Box<RouteError>,
    },
    /// Two routes match the same paths with the same specificity.
    #[error(
        "`route.path`: route {:?} conflicts with route {:?}: both match the same paths with the same specificity",
        .0.second, .0.first
    )]
    Conflict(RouteConflict),
}

/// Compile `rules`, each for its pattern, into a router: each route checked alone (so an
/// error names its route), then all together (for conflicts).
pub fn compile_routes<'a, I>(rules: I) -> Result<Router<Route>, RoutesError>
where
    I: IntoIterator<Item = (&'a str, &'a RouteRule)>,
{
    let routes = rules
        .into_iter()
        .enumerate()
        .map(|(index, (pattern, rule))| {
            rule.compile(pattern).map_err(|error| RoutesError::Route {
                index,
                pattern: pattern.to_owned(),
                error: Box::new(error),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Router::new(routes).map_err(RoutesError::Conflict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused(pattern: &str, rule: RouteRule, key: RouteKey, needle: &str) -> RouteError {
        let error = rule.compile(pattern).expect_err("refused");
        assert_eq!(error.key, key, "{error}");
        let text = error.to_string();
        assert!(text.contains(key.name()) && text.contains(needle), "{text}");
        error
    }

    #[test]
    fn rules_are_checked_like_the_file() {
        refused(
            "blog",
            RouteRule::default(),
            RouteKey::Path,
            "must start with '/'",
        );
        refused(
            "/a",
            RouteRule::pass_through().expire(1),
            RouteKey::Expire,
            "revalidate = 0",
        );
        refused(
            "/a",
            RouteRule::pass_through().stale_if_error(1),
            RouteKey::StaleIfError,
            "revalidate = 0",
        );
        refused(
            "/a",
            RouteRule::pass_through().tags([""; 0]),
            RouteKey::Tags,
            "revalidate = 0",
        );
        refused(
            "/a",
            RouteRule::revalidate(60).expire(59),
            RouteKey::Expire,
            "at least",
        );
        refused(
            "/a",
            RouteRule::until_purged().expire(60),
            RouteKey::Expire,
            "false",
        );
        refused(
            "/a",
            RouteRule::default().expire(0),
            RouteKey::Expire,
            "greater than 0",
        );
        refused(
            "/a",
            RouteRule::revalidate(u64::MAX),
            RouteKey::Revalidate,
            "too long",
        );
        refused(
            "/a",
            RouteRule::default().stale_if_error(u64::MAX),
            RouteKey::StaleIfError,
            "too long",
        );
        let error = refused(
            "/a/[id]",
            RouteRule::default().tags(["ok", "x:{slug}"]),
            RouteKey::Tags,
            "parameters: id",
        );
        assert_eq!(error.index, Some(1));
        let error = refused(
            "/a",
            RouteRule::default().query(["a", "b=c"]),
            RouteKey::Query,
            "b=c",
        );
        assert_eq!(error.index, Some(1));
    }

    #[test]
    fn modes_and_query_defaults() {
        let (_, route) = RouteRule::pass_through().compile("/api/*").expect("valid");
        assert_eq!(
            (route.mode, route.query),
            (RouteMode::PassThrough, QueryKeys::All)
        );
        let (_, route) = RouteRule::until_purged()
            .query(["p", "p", "q"])
            .compile("/docs/[...rest]")
            .expect("valid");
        assert_eq!(
            route.mode,
            RouteMode::Cache(RouteCachePolicy {
                revalidate: Some(Revalidate::Never),
                ..RouteCachePolicy::default()
            })
        );
        assert_eq!(route.query, QueryKeys::Only(vec!["p".into(), "q".into()]));
    }

    #[test]
    fn conflicts_name_both_routes() {
        let rule = RouteRule::revalidate(1);
        let error = compile_routes([("/a/[x]", &rule), ("/a/[y]", &rule)]).expect_err("conflict");
        let text = error.to_string();
        assert!(text.contains("/a/[x]") && text.contains("/a/[y]"), "{text}");
        let error = compile_routes([("/a", &rule), ("b", &rule)]).expect_err("invalid");
        assert!(
            matches!(error, RoutesError::Route { index: 1, .. }),
            "{error}"
        );
    }
}
