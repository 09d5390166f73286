//! `POST /_isr/revalidate` (purge by path, tag, prefix or cache key, then maybe
//! regenerate) and `DELETE /_isr/cache` (clear everything): the request as sent, its
//! checks, and the answers.
//!
//! Invariants:
//! - [`RevalidateRequest::check`] looks at every list before anything is purged; an error
//!   names the field (and the item) at fault.
//! - The request serializes to what the server accepts: a list or a mode that is not given
//!   is left out, never sent empty.

use serde::{Deserialize, Serialize};

use super::auth::token_matches;
use super::error::ApiError;
use crate::freshness::PurgeMode;
use crate::purge::{Target, TargetError};

/// Most items in one list of a revalidate request.
pub const MAX_ITEMS: usize = 1_000;

/// `POST /_isr/revalidate`, as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevalidateRequest {
    /// Pages, by path (every variant of each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Every page carrying one of these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Every page whose path starts with one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    /// Raw cache keys (one variant of one path each), as `GET /_isr/entries` lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Soft (marked stale) unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<PurgeMode>,
    /// Re-render the purged `paths` now instead of on their next request.
    #[serde(default)]
    pub regenerate: bool,
    /// Regenerate only the paths that are cached.
    #[serde(default)]
    pub if_cached: bool,
    /// The webhook shape: the token in the body instead of a header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Why a revalidate request is refused (a 400); the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum RevalidateError {
    /// The body is not JSON, or not a JSON object.
    #[error("invalid JSON body: {0}")]
    Json(#[source] serde_json::Error),
    /// A field of the body is unknown or of the wrong type.
    #[error("invalid JSON body: `{path}`: {source}")]
    JsonAt {
        /// Where in the body, like `paths[2]`.
        path: String,
        /// What serde found there.
        #[source]
        source: serde_json::Error,
    },
    /// A list that is given but empty (an empty list is never guessed at).
    #[error("`{field}` is empty: leave it out, or list at least one")]
    EmptyList {
        /// The list's name.
        field: &'static str,
    },
    /// A list longer than [`MAX_ITEMS`].
    #[error("`{field}` has {count} items; at most {MAX_ITEMS} per request")]
    TooManyItems {
        /// The list's name.
        field: &'static str,
        /// How many items it has.
        count: usize,
    },
    /// An item that is not a valid path, tag, prefix or key.
    #[error("`{field}[{index}]` {source}")]
    InvalidTarget {
        /// The list's name.
        field: &'static str,
        /// The item's position in it.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: TargetError,
    },
    /// No list at all.
    #[error("nothing to revalidate: give `paths`, `tags`, `prefixes` or `keys`")]
    NothingToRevalidate,
}

/// A checked revalidate request: what to purge, how, and whether to regenerate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revalidation {
    /// Soft unless the request said.
    pub mode: PurgeMode,
    /// [`Target::Path`]s.
    pub paths: Vec<Target>,
    /// [`Target::Tag`]s.
    pub tags: Vec<Target>,
    /// [`Target::Prefix`]es.
    pub prefixes: Vec<Target>,
    /// [`Target::Key`]s.
    pub keys: Vec<Target>,
    /// Re-render the paths after the purge.
    pub regenerate: bool,
    /// Regenerate only the paths that are cached.
    pub if_cached: bool,
}

/// What a revalidate request did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevalidateAnswer {
    /// How the targets were purged.
    pub mode: PurgeMode,
    /// How many of each kind.
    #[serde(default)]
    pub purged: Purged,
    /// Paths whose regeneration started (or was already running).
    #[serde(default)]
    pub regenerating: Vec<String>,
    /// Paths that were purged but not regenerated.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

impl RevalidateAnswer {
    /// Report the regeneration of `path`: started (or already running) when `skipped` is
    /// `None`, else skipped and why.
    pub fn report(&mut self, path: &str, skipped: Option<SkipReason>) {
        match skipped {
            None => self.regenerating.push(path.to_owned()),
            Some(reason) => self.skipped.push(Skipped {
                path: path.to_owned(),
                reason,
            }),
        }
    }
}

/// How many targets of each kind were purged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Purged {
    /// Paths purged.
    pub paths: usize,
    /// Tags purged.
    pub tags: usize,
    /// Prefixes purged.
    pub prefixes: usize,
    /// Cache keys purged.
    pub keys: usize,
}

/// A path that was purged but not regenerated, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The path, as normalised.
    pub path: String,
    /// Why it was not regenerated.
    pub reason: SkipReason,
}

/// Why a path asked to be regenerated was not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SkipReason {
    /// `if_cached` was asked, and nothing is cached for the path.
    #[serde(rename = "not cached")]
    NotCached,
    /// No route or policy lets the path be cached.
    #[serde(rename = "not cacheable")]
    NotCacheable,
    /// The path cannot be requested.
    #[serde(rename = "invalid path")]
    InvalidPath,
    /// The runtime could not read what it needs to decide (the Worker's purge records).
    #[serde(rename = "state unavailable")]
    StateUnavailable,
}

impl SkipReason {
    /// The reason as the answer spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotCached => "not cached",
            SkipReason::NotCacheable => "not cacheable",
            SkipReason::InvalidPath => "invalid path",
            SkipReason::StateUnavailable => "state unavailable",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `DELETE /_isr/cache` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearAnswer {
    /// Whether every entry is gone.
    pub cleared: bool,
}

impl RevalidateRequest {
    /// Parse a JSON body; the error says what is wrong with it, and where.
    pub fn from_json(body: &[u8]) -> Result<RevalidateRequest, RevalidateError> {
        let mut json = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let source = e.into_inner();
            if path == "." {
                RevalidateError::Json(source)
            } else {
                RevalidateError::JsonAt { path, source }
            }
        })
    }

    /// Check every list; the error names the field at fault.
    pub fn check(&self) -> Result<Revalidation, RevalidateError> {
        let revalidation = Revalidation {
            mode: self.mode.unwrap_or(PurgeMode::Soft),
            paths: targets("paths", self.paths.as_deref(), Target::path)?,
            tags: targets("tags", self.tags.as_deref(), Target::tag)?,
            prefixes: targets("prefixes", self.prefixes.as_deref(), Target::prefix)?,
            keys: targets("keys", self.keys.as_deref(), Target::key)?,
            regenerate: self.regenerate,
            if_cached: self.if_cached,
        };
        if revalidation.targets().is_empty() {
            return Err(RevalidateError::NothingToRevalidate);
        }
        Ok(revalidation)
    }
}

impl Revalidation {
    /// Read and authorise the body of `POST /_isr/revalidate` against the configured
    /// `token`; `bearer_ok`: the call's `Authorization` carried it. Without it the body's
    /// `secret` must match, and a caller with neither learns nothing about the body: its
    /// answer is 401 before any 400.
    pub fn authorize(body: &[u8], bearer_ok: bool, token: &str) -> Result<Revalidation, ApiError> {
        let request = match RevalidateRequest::from_json(body) {
            Ok(request) => request,
            Err(_) if !bearer_ok => return Err(ApiError::unauthorized()),
            Err(error) => return Err(ApiError::bad_request(error)),
        };
        let secret_ok = request
            .secret
            .as_deref()
            .is_some_and(|secret| token_matches(token, secret));
        if !bearer_ok && !secret_ok {
            return Err(ApiError::unauthorized());
        }
        request.check().map_err(ApiError::bad_request)
    }

    /// Every target, to purge in one go.
    pub fn targets(&self) -> Vec<Target> {
        self.paths
            .iter()
            .chain(&self.tags)
            .chain(&self.prefixes)
            .chain(&self.keys)
            .cloned()
            .collect()
    }

    /// The paths to regenerate after the purge (none unless `regenerate` was asked).
    pub fn paths_to_regenerate(&self) -> impl Iterator<Item = &str> {
        self.paths
            .iter()
            .filter(|_| self.regenerate)
            .filter_map(|target| match target {
                Target::Path(path) => Some(path.as_str()),
                _ => None,
            })
    }

    /// The answer for this purge, before any regeneration is reported in it.
    pub fn answer(&self) -> RevalidateAnswer {
        RevalidateAnswer {
            mode: self.mode,
            purged: Purged {
                paths: self.paths.len(),
                tags: self.tags.len(),
                prefixes: self.prefixes.len(),
                keys: self.keys.len(),
            },
            regenerating: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

/// Parse one list of a revalidate request: absent is fine, empty is an error, and each
/// item must be a valid target.
fn targets(
    field: &'static str,
    items: Option<&[String]>,
    parse: impl Fn(&str) -> Result<Target, TargetError>,
) -> Result<Vec<Target>, RevalidateError> {
    let Some(items) = items else {
        return Ok(Vec::new());
    };
    if items.is_empty() {
        return Err(RevalidateError::EmptyList { field });
    }
    if items.len() > MAX_ITEMS {
        return Err(RevalidateError::TooManyItems {
            field,
            count: items.len(),
        });
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse(item).map_err(|source| RevalidateError::InvalidTarget {
                field,
                index,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(json: &str) -> Result<Revalidation, RevalidateError> {
        RevalidateRequest::from_json(json.as_bytes()).and_then(|request| request.check())
    }

    #[test]
    fn a_request_becomes_targets_and_an_answer() {
        let revalidation =
            check(r#"{"paths":["/a"],"tags":["blog"],"mode":"hard","regenerate":true}"#).unwrap();
        assert_eq!(revalidation.mode, PurgeMode::Hard);
        assert_eq!(revalidation.targets().len(), 2);
        assert_eq!(
            revalidation.paths_to_regenerate().collect::<Vec<_>>(),
            ["/a"]
        );
        assert_eq!(revalidation.answer().purged.tags, 1);
        let soft = check(r#"{"prefixes":["/docs"]}"#).unwrap();
        assert_eq!(soft.mode, PurgeMode::Soft);
        assert_eq!(soft.paths_to_regenerate().count(), 0);
        let keys = check(r#"{"keys":["v1|site|/a"]}"#).unwrap();
        assert_eq!(keys.answer().purged.keys, 1);
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (json, field) in [
            (r#"{"paths":[]}"#, "`paths` is empty"),
            (r#"{"tags":[""]}"#, "`tags[0]`"),
            (r#"{"keys":["a\u0007"]}"#, "`keys[0]`"),
            (r#"{"bogus":1}"#, "bogus"),
            (r#"{}"#, "nothing to revalidate"),
            (r#"{"paths":"/a"}"#, "`paths`: invalid type"),
            (r#"{"paths":["/a"],"mode":"medium"}"#, "`mode`"),
            ("not json", "invalid JSON body: expected"),
        ] {
            let error = check(json).unwrap_err().to_string();
            assert!(error.contains(field), "{json}: {error}");
        }
        let many = format!(
            r#"{{"tags":[{}]}}"#,
            vec![r#""t""#; MAX_ITEMS + 1].join(",")
        );
        assert!(matches!(
            check(&many),
            Err(RevalidateError::TooManyItems { field: "tags", .. })
        ));
    }

    #[test]
    fn a_request_is_sent_as_the_server_reads_it() {
        let request = RevalidateRequest {
            tags: Some(vec!["blog".to_owned()]),
            keys: Some(vec!["v1|site|/a".to_owned()]),
            mode: Some(PurgeMode::Hard),
            ..RevalidateRequest::default()
        };
        let sent = serde_json::to_value(&request).unwrap();
        assert_eq!(
            sent,
            json!({
                "tags": ["blog"],
                "keys": ["v1|site|/a"],
                "mode": "hard",
                "regenerate": false,
                "if_cached": false,
            }),
            "what is not given is left out"
        );
        let read = RevalidateRequest::from_json(sent.to_string().as_bytes()).unwrap();
        assert_eq!(read, request);
    }

    #[test]
    fn answers_round_trip_and_read_leniently() {
        let mut answer = check(r#"{"paths":["/a","/b"],"keys":["k"],"regenerate":true}"#)
            .unwrap()
            .answer();
        answer.regenerating.push("/a".to_owned());
        answer.skipped.push(Skipped {
            path: "/b".to_owned(),
            reason: SkipReason::NotCached,
        });
        let sent = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            sent,
            json!({
                "mode": "soft",
                "purged": { "paths": 2, "tags": 0, "prefixes": 0, "keys": 1 },
                "regenerating": ["/a"],
                "skipped": [{ "path": "/b", "reason": "not cached" }],
            })
        );
        assert_eq!(
            serde_json::from_value::<RevalidateAnswer>(sent).unwrap(),
            answer
        );
        // An older server's answer: no `keys`, no lists; a newer one's extra field.
        let old: RevalidateAnswer = serde_json::from_str(
            r#"{"mode":"hard","purged":{"paths":1,"tags":2,"prefixes":0},"new":1}"#,
        )
        .unwrap();
        assert_eq!(old.purged.keys, 0);
        assert!(old.regenerating.is_empty() && old.skipped.is_empty());
    }

    #[test]
    fn authorization_comes_before_the_body() {
        let good = br#"{"paths": ["/a"]}"#;
        let with_secret = br#"{"paths": ["/a"], "secret": "s3cret"}"#;
        assert!(Revalidation::authorize(good, true, "s3cret").is_ok());
        assert!(Revalidation::authorize(with_secret, false, "s3cret").is_ok());
        let unauthorized = Err(ApiError::unauthorized());
        assert_eq!(Revalidation::authorize(good, false, "s3cret"), unauthorized);
        let wrong_secret = br#"{"paths": ["/a"], "secret": "guess"}"#;
        assert_eq!(
            Revalidation::authorize(wrong_secret, false, "s3cret"),
            unauthorized
        );
        // A caller without the token learns nothing about the body; one with it is told.
        assert_eq!(
            Revalidation::authorize(b"{not json", false, "s3cret"),
            unauthorized
        );
        let bad = Revalidation::authorize(b"{not json", true, "s3cret").unwrap_err();
        assert_eq!(bad.status, http::StatusCode::BAD_REQUEST);
        let empty = Revalidation::authorize(br#"{"secret": "s3cret"}"#, false, "s3cret");
        assert_eq!(
            empty.unwrap_err().message,
            RevalidateError::NothingToRevalidate.to_string()
        );
        // An empty configured token matches nothing, not even an empty secret.
        let empty_secret = br#"{"paths": ["/a"], "secret": ""}"#;
        assert_eq!(
            Revalidation::authorize(empty_secret, false, ""),
            unauthorized
        );
    }

    #[test]
    fn regenerations_are_reported() {
        let mut answer = check(r#"{"paths": ["/a", "/b"], "regenerate": true}"#)
            .unwrap()
            .answer();
        answer.report("/a", None);
        answer.report("/b", Some(SkipReason::NotCached));
        assert_eq!(answer.regenerating, ["/a"]);
        assert_eq!(
            answer.skipped,
            [Skipped {
                path: "/b".to_owned(),
                reason: SkipReason::NotCached
            }]
        );
    }

    #[test]
    fn skip_reasons_are_spelled_as_sent() {
        for reason in [
            SkipReason::NotCached,
            SkipReason::NotCacheable,
            SkipReason::InvalidPath,
            SkipReason::StateUnavailable,
        ] {
            assert_eq!(
                serde_json::to_value(reason).unwrap(),
                json!(reason.to_string())
            );
        }
    }
}
