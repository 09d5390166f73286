//! The admin API's model, shared by every runtime: the revalidate request, its checks, and
//! the answer. (The routes, the stores and the HTTP plumbing are each runtime's own.)
//!
//! Invariants:
//! - A request is checked whole before anything is done: an unknown field, an empty or
//!   over-long list, or an invalid path or tag is an error naming the field, and a rejected
//!   request purges nothing.
//! - Tokens are compared in constant time, and an empty configured token matches nothing.

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::freshness::PurgeMode;
use crate::plan::constant_time_eq;
use crate::purge::{Target, TargetError};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Most items in one list of a revalidate request.
pub const MAX_ITEMS: usize = 1_000;
/// What a caller without the right token is told.
pub const UNAUTHORIZED: &str =
    "missing or wrong admin token: send Authorization: Bearer <ISR_ADMIN_TOKEN>";

/// An admin API error: a status, and a message a person can act on. Answered as
/// `{"error": "<message>"}`, never cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "error": self.message }))
            .unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// `POST /_isr/revalidate`, as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevalidateRequest {
    pub paths: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub prefixes: Option<Vec<String>>,
    /// Raw cache keys (one variant of one path each), as `GET /_isr/entries` lists them.
    pub keys: Option<Vec<String>>,
    pub mode: Option<PurgeMode>,
    #[serde(default)]
    pub regenerate: bool,
    #[serde(default)]
    pub if_cached: bool,
    /// The webhook shape: the token in the body instead of a header.
    pub secret: Option<String>,
}

/// A checked revalidate request: what to purge, how, and whether to regenerate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revalidation {
    pub mode: PurgeMode,
    pub paths: Vec<Target>,
    pub tags: Vec<Target>,
    pub prefixes: Vec<Target>,
    pub keys: Vec<Target>,
    pub regenerate: bool,
    pub if_cached: bool,
}

/// What a revalidate request did.
#[derive(Debug, Serialize)]
pub struct RevalidateAnswer {
    pub mode: PurgeMode,
    pub purged: Purged,
    /// Paths whose regeneration started (or was already running).
    pub regenerating: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// How many targets of each kind were purged.
#[derive(Debug, Default, Serialize)]
pub struct Purged {
    pub paths: usize,
    pub tags: usize,
    pub prefixes: usize,
    pub keys: usize,
}

/// A path that was purged but not regenerated, and why.
#[derive(Debug, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: &'static str,
}

impl RevalidateRequest {
    /// Parse a JSON body; the error says what is wrong with it, and where.
    pub fn from_json(body: &[u8]) -> Result<RevalidateRequest, String> {
        let mut json = serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("invalid JSON body: {inner}")
            } else {
                format!("invalid JSON body: `{path}`: {inner}")
            }
        })
    }

    /// Check every list; the error names the field at fault.
    pub fn check(&self) -> Result<Revalidation, String> {
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
            return Err("nothing to revalidate: give `paths`, `tags`, `prefixes` or `keys`".into());
        }
        Ok(revalidation)
    }
}

impl Revalidation {
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
    field: &str,
    items: Option<&[String]>,
    parse: impl Fn(&str) -> Result<Target, TargetError>,
) -> Result<Vec<Target>, String> {
    let Some(items) = items else {
        return Ok(Vec::new());
    };
    if items.is_empty() {
        return Err(format!(
            "`{field}` is empty: leave it out, or list at least one"
        ));
    }
    if items.len() > MAX_ITEMS {
        return Err(format!(
            "`{field}` has {} items; at most {MAX_ITEMS} per request",
            items.len()
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse(item).map_err(|e| format!("`{field}[{i}]` {e}")))
        .collect()
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    authorization.strip_prefix("Bearer ").map(str::trim)
}

/// Does `given` match the configured `token`? (Constant time; an empty token matches
/// nothing.)
pub fn token_matches(token: &str, given: &str) -> bool {
    !token.is_empty() && constant_time_eq(given.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<Revalidation, String> {
        RevalidateRequest::from_json(json.as_bytes())?.check()
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
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (json, field) in [
            (r#"{"paths":[]}"#, "`paths` is empty"),
            (r#"{"tags":[""]}"#, "`tags[0]`"),
            (r#"{"bogus":1}"#, "bogus"),
            (r#"{}"#, "nothing to revalidate"),
            (r#"{"paths":"/a"}"#, "`paths`: invalid type"),
            (r#"{"paths":["/a"],"mode":"medium"}"#, "`mode`"),
        ] {
            let error = check(json).unwrap_err();
            assert!(error.contains(field), "{json}: {error}");
        }
        let many = format!(
            r#"{{"tags":[{}]}}"#,
            vec![r#""t""#; MAX_ITEMS + 1].join(",")
        );
        assert!(check(&many).unwrap_err().contains("at most"));
    }

    #[test]
    fn errors_are_json_with_their_message() {
        let error = ApiError::unauthorized();
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body["error"], UNAUTHORIZED);
    }

    #[test]
    fn tokens() {
        assert_eq!(bearer_token("Bearer abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert!(token_matches("secret", "secret"));
        assert!(!token_matches("secret", "secreT"));
        assert!(!token_matches("", ""));
    }
}
