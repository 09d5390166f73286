//! The admin API's model, shared by every runtime: the revalidate request, its checks, and
//! the answer; the listing's query, cursor and entry description. (The routes, the stores
//! and the HTTP plumbing are each runtime's own.)
//!
//! Invariants:
//! - A request is checked whole before anything is done: an unknown field, an empty or
//!   over-long list, or an invalid path or tag is an error naming the field, and a rejected
//!   request purges nothing.
//! - Tokens are compared in constant time, and an empty configured token matches nothing.

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::entry::Entry;
use crate::freshness::{Freshness, PurgeMode};
use crate::plan::constant_time_eq;
use crate::policy::Revalidate;
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

/// Most entries in one listing page.
pub const MAX_PAGE: usize = 1_000;
/// Entries in a listing page unless the query says.
pub const DEFAULT_PAGE: usize = 100;

/// `GET /_isr/entries?prefix=/blog&cursor=…&limit=100`, as given. Every runtime parses
/// its query string with [`EntriesQuery::from_pairs`], so they refuse the same queries
/// with the same messages.
#[derive(Debug, Default)]
pub struct EntriesQuery {
    pub prefix: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

/// A checked [`EntriesQuery`].
#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    /// Entries whose path starts with this.
    pub prefix: String,
    /// Where the previous page ended: what the runtime put in [`encode_cursor`].
    pub after: Option<String>,
    pub limit: usize,
}

impl EntriesQuery {
    /// The query of a URL (`prefix=/blog&limit=10`): an unknown or repeated field is an
    /// error naming it.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<EntriesQuery, String> {
        let mut query = EntriesQuery::default();
        for (name, value) in pairs {
            let repeated = match name {
                "prefix" => query.prefix.replace(value.to_owned()).is_some(),
                "cursor" => query.cursor.replace(value.to_owned()).is_some(),
                "limit" => {
                    let limit = value.parse().map_err(|_| {
                        format!("`limit` must be a whole number from 1 to {MAX_PAGE}")
                    })?;
                    query.limit.replace(limit).is_some()
                }
                other => {
                    return Err(format!(
                        "unknown field `{other}`: use prefix, cursor, limit"
                    ));
                }
            };
            if repeated {
                return Err(format!("`{name}` is given twice"));
            }
        }
        Ok(query)
    }

    pub fn check(self) -> Result<Listing, String> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(format!("`limit` must be from 1 to {MAX_PAGE}"));
        }
        let after = match self.cursor.as_deref() {
            Some(cursor) => Some(
                decode_cursor(cursor)
                    .ok_or("`cursor` is not one isr gave: pass back `next_cursor` as it is")?,
            ),
            None => None,
        };
        Ok(Listing {
            prefix: self.prefix.unwrap_or_else(|| "/".to_owned()),
            after,
            limit,
        })
    }
}

/// A cursor for the query string: the runtime's own position (a storage key, a KV
/// cursor), hex-encoded so it passes through untouched.
pub fn encode_cursor(position: &str) -> String {
    position.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str) -> Option<String> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 4096 {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| {
            cursor
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// One cached entry, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryInfo {
    /// The full cache key.
    pub key: String,
    pub path: String,
    pub status: u16,
    /// Seconds since its render started.
    pub age: u64,
    /// Seconds fresh; `None`: until purged.
    pub revalidate: Option<u64>,
    /// Seconds of total life; `None`: never expires.
    pub expire: Option<u64>,
    /// `fresh`, `stale`, `expired` or `purged`.
    pub state: &'static str,
    pub tags: Vec<String>,
    /// Body bytes.
    pub size: usize,
}

impl EntryInfo {
    /// `entry` at `now`, in the state the runtime judged (`freshness`).
    pub fn describe(entry: &Entry, freshness: Freshness, now: UnixMillis) -> EntryInfo {
        let state = match freshness {
            Freshness::Fresh => "fresh",
            Freshness::Stale => "stale",
            Freshness::Expired { .. } => "expired",
            Freshness::Purged => "purged",
        };
        EntryInfo {
            key: entry.key.clone(),
            path: entry.path.clone(),
            status: entry.status.as_u16(),
            age: now.secs_since(entry.created_at),
            revalidate: match entry.lifetime.revalidate {
                Revalidate::After(secs) => Some(secs),
                Revalidate::Never => None,
            },
            expire: entry.lifetime.expire,
            state,
            tags: entry.tags.clone(),
            size: entry.body.len(),
        }
    }
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

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for key in ["v1|0:|0:|html|identity|2:/a|0:", "h:0123abcd", ""] {
            assert_eq!(decode_cursor(&encode_cursor(key)).as_deref(), Some(key));
        }
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor("abc"), None);
    }

    #[test]
    fn a_listing_query_is_checked_whole() {
        let query = |pairs: &[(&str, &str)]| {
            EntriesQuery::from_pairs(pairs.iter().copied()).and_then(EntriesQuery::check)
        };
        assert_eq!(
            query(&[]).unwrap(),
            Listing {
                prefix: "/".to_owned(),
                after: None,
                limit: DEFAULT_PAGE
            }
        );
        let cursor = encode_cursor("v1|site|/blog/é");
        let listing = query(&[("prefix", "/blog"), ("cursor", &cursor), ("limit", "5")]).unwrap();
        assert_eq!(listing.after.as_deref(), Some("v1|site|/blog/é"));
        assert_eq!((listing.prefix.as_str(), listing.limit), ("/blog", 5));
        for (pairs, says) in [
            (&[("limit", "0")][..], "`limit`"),
            (&[("limit", "1001")][..], "`limit`"),
            (&[("limit", "ten")][..], "`limit`"),
            (&[("cursor", "zz")][..], "`cursor`"),
            (&[("cursor", "abc")][..], "`cursor`"),
            (&[("order", "desc")][..], "`order`"),
            (&[("prefix", "/a"), ("prefix", "/b")][..], "twice"),
        ] {
            let error = query(pairs).unwrap_err();
            assert!(error.contains(says), "{pairs:?}: {error}");
        }
    }

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
