//! The shared data cache of an app's own caches (Next.js's incremental cache and its
//! `'use cache'` entries, or any framework's): `GET`, `PUT` and `DELETE /_isr/data`, and
//! the tags a page carries, `POST /_isr/tags` (and `GET /_isr/tags?path=…`). The request and answer types, their checks,
//! and the storage namespaces the runtimes keep them under.
//!
//! The native server serves these (`crates/isr`); the Cloudflare Worker does not yet.
//!
//! Invariants:
//! - A data entry is stored under [`DATA_PREFIX`] and a page's learned tags under
//!   [`TAG_INDEX_PREFIX`] / [`PATH_TAGS_PREFIX`]: page storage keys start with the key
//!   format version (`v2|…`) or a hash, never with `~`, so neither can collide with a page.
//! - A request is checked whole before anything is stored: a key, a value, a tag or a path
//!   out of bounds is a 400 naming the field, and nothing is written.
//! - A data entry is reached by every purge of one of its tags (and by a purge of
//!   everything, or of the prefix `/`), never by a path or another prefix purge: its
//!   storage path is empty.
//! - A tag learned for a path makes every purge of that tag a purge of that path too, by
//!   one index read per tag (never a scan of the store).

use serde::{Deserialize, Serialize};

use crate::headers::{MAX_TAG_LEN, MAX_TAGS};
use crate::purge::{Target, TargetError};

/// Storage-key prefix of data entries.
pub const DATA_PREFIX: &str = "~data|";
/// Storage-key prefix of the index of a tag: the paths whose pages carry it.
pub const TAG_INDEX_PREFIX: &str = "~tag|";
/// Storage-key prefix of the tags last learned for a path.
pub const PATH_TAGS_PREFIX: &str = "~path-tags|";
/// Longest data key, in bytes.
pub const MAX_DATA_KEY_LEN: usize = 2 * 1024;
/// Largest stored value, in bytes (Next.js itself caps fetch entries at 2 MB).
pub const MAX_DATA_VALUE_BYTES: usize = 16 * 1024 * 1024;
/// Largest `PUT /_isr/data` body: the value, its JSON escaping, and the rest.
pub const MAX_DATA_BODY_BYTES: usize = 2 * MAX_DATA_VALUE_BYTES + 64 * 1024;
/// Most paths one tag's index holds; a tag on more pages purges everything (never less
/// than it should).
pub const MAX_TAG_PATHS: usize = 4_096;

/// Is `key` a storage key of this module's namespaces (not a page)?
pub fn is_data_storage_key(key: &str) -> bool {
    key.starts_with('~')
}

/// The storage key of the data entry `key`.
pub fn data_storage_key(key: &str) -> String {
    format!("{DATA_PREFIX}{key}")
}

/// `PUT /_isr/data`: store a value under a key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPut {
    /// The app's key (1 to [`MAX_DATA_KEY_LEN`] bytes, no control characters).
    pub key: String,
    /// The value, opaque to isr (at most [`MAX_DATA_VALUE_BYTES`]).
    pub value: String,
    /// Tags a purge can reach the value by (at most 128, each at most 256 bytes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Seconds the value is fresh; absent: until purged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revalidate: Option<u64>,
    /// Seconds after which the value is gone; absent: never. At least `revalidate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire: Option<u64>,
    /// When the value was made (ms since the epoch), if before now: a purge recorded since
    /// then reaches it. Absent or later: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
}

/// `GET /_isr/data?key=…&tag=…` (and `DELETE /_isr/data?key=…`): the key, and the tags the
/// reader's context adds (Next's implicit tags of the page reading it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataQuery {
    /// The app's key.
    pub key: String,
    /// Tags checked for purges besides the entry's own.
    pub tags: Vec<String>,
}

/// The state of a data entry when it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataState {
    /// Within its revalidate time, and not purged since it was stored.
    Fresh,
    /// Past its revalidate time (not purged).
    Stale,
    /// Soft-purged since it was stored (one of its tags, or everything).
    Purged,
}

/// The answer of `GET /_isr/data` (a value that is hard-purged or expired is a 404).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataAnswer {
    /// The app's key.
    pub key: String,
    /// The value as stored.
    pub value: String,
    /// Its tags as stored.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it counts as made (ms since the epoch).
    #[serde(default)]
    pub created_at: u64,
    /// Its revalidate time, as stored.
    #[serde(default)]
    pub revalidate: Option<u64>,
    /// Its expire time, as stored.
    #[serde(default)]
    pub expire: Option<u64>,
    /// Fresh, stale or soft-purged.
    pub state: DataState,
}

/// The answer of `PUT /_isr/data`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataStored {
    /// When the value counts as made (ms since the epoch).
    #[serde(default)]
    pub created_at: u64,
}

/// The answer of `DELETE /_isr/data`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRemoved {
    /// Whether a value was stored.
    #[serde(default)]
    pub removed: bool,
}

/// `POST /_isr/tags`: the tags the page at `path` carries (all its variants), so that a
/// purge of any of them reaches it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    /// The page's path, as requested.
    pub path: String,
    /// Its tags (1 to 128, each at most 256 bytes).
    pub tags: Vec<String>,
}

/// The answer of `POST /_isr/tags`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsAnswer {
    /// The path, normalised as requests are.
    pub path: String,
    /// Tags the path was newly added to the index of.
    #[serde(default)]
    pub added: u64,
}

/// The answer of `GET /_isr/tags?path=…`: the tags last learned for a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageTagsAnswer {
    /// The path, normalised as requests are.
    pub path: String,
    /// Its tags, newest first (empty: none learned).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// The path of `GET /_isr/tags?path=…`, normalised as requests are.
pub fn tags_query_path<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, DataError> {
    let mut path = None;
    for (name, value) in pairs {
        match name {
            "path" if path.is_none() => path = Some(value),
            "path" => return Err(DataError::Query("`path` is repeated".to_owned())),
            other => return Err(DataError::Query(format!("unknown field `{other}`"))),
        }
    }
    let path = path.ok_or_else(|| DataError::Query("`path` is missing".to_owned()))?;
    match Target::path(path).map_err(DataError::Path)? {
        Target::Path(path) => Ok(path),
        _ => Err(DataError::Path(TargetError::Empty)),
    }
}

/// A data or tags request that is refused (a 400); the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The body is not the JSON asked for.
    #[error("invalid JSON body: {0}")]
    Json(#[source] serde_json::Error),
    /// `key` is empty, too long, or holds a control character.
    #[error("`key` is empty, longer than {MAX_DATA_KEY_LEN} bytes, or holds a control character")]
    Key,
    /// `value` is over [`MAX_DATA_VALUE_BYTES`].
    #[error("`value` is {0} bytes; at most {MAX_DATA_VALUE_BYTES}")]
    ValueTooLarge(usize),
    /// Too many tags.
    #[error("`tags` has {0} items; at most {MAX_TAGS}")]
    TooManyTags(usize),
    /// An empty tag list where one is needed.
    #[error("`tags` is empty: list at least one")]
    NoTags,
    /// A tag that is empty, too long, or holds a control character.
    #[error("`tags[{index}]` {source}")]
    Tag {
        /// Its position.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: TargetError,
    },
    /// `expire` below `revalidate`.
    #[error("`expire` ({expire}) is below `revalidate` ({revalidate})")]
    ExpireBeforeRevalidate {
        /// As sent.
        revalidate: u64,
        /// As sent.
        expire: u64,
    },
    /// `path` is not a valid path.
    #[error("`path` {0}")]
    Path(#[source] TargetError),
    /// A query field that is unknown, repeated or missing.
    #[error("query: {0}")]
    Query(String),
}

fn check_key(key: &str) -> Result<(), DataError> {
    if key.is_empty() || key.len() > MAX_DATA_KEY_LEN || key.chars().any(char::is_control) {
        return Err(DataError::Key);
    }
    Ok(())
}

fn check_tags(tags: &[String]) -> Result<(), DataError> {
    if tags.len() > MAX_TAGS {
        return Err(DataError::TooManyTags(tags.len()));
    }
    for (index, tag) in tags.iter().enumerate() {
        if tag.len() > MAX_TAG_LEN {
            return Err(DataError::Tag {
                index,
                source: TargetError::TooLong(MAX_TAG_LEN),
            });
        }
        Target::tag(tag).map_err(|source| DataError::Tag { index, source })?;
    }
    Ok(())
}

impl DataPut {
    /// Parse and check a `PUT /_isr/data` body.
    pub fn parse(body: &[u8]) -> Result<DataPut, DataError> {
        let put: DataPut = serde_json::from_slice(body).map_err(DataError::Json)?;
        put.check()?;
        Ok(put)
    }

    /// Check the bounds of every field.
    pub fn check(&self) -> Result<(), DataError> {
        check_key(&self.key)?;
        if self.value.len() > MAX_DATA_VALUE_BYTES {
            return Err(DataError::ValueTooLarge(self.value.len()));
        }
        check_tags(&self.tags)?;
        if let (Some(revalidate), Some(expire)) = (self.revalidate, self.expire)
            && expire < revalidate
        {
            return Err(DataError::ExpireBeforeRevalidate { revalidate, expire });
        }
        Ok(())
    }
}

impl DataQuery {
    /// The query of a URL (`key=…&tag=a&tag=b`): `key` once, `tag` any number of times
    /// (bounded like an entry's tags), nothing else.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<DataQuery, DataError> {
        let mut key = None;
        let mut tags = Vec::new();
        for (name, value) in pairs {
            match name {
                "key" if key.is_none() => key = Some(value.to_owned()),
                "key" => return Err(DataError::Query("`key` is repeated".to_owned())),
                "tag" => tags.push(value.to_owned()),
                other => return Err(DataError::Query(format!("unknown field `{other}`"))),
            }
        }
        let key = key.ok_or_else(|| DataError::Query("`key` is missing".to_owned()))?;
        check_key(&key)?;
        check_tags(&tags)?;
        Ok(DataQuery { key, tags })
    }
}

/// A checked `POST /_isr/tags`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageTags {
    /// The path, normalised as requests are (and as page entries hold it).
    pub path: String,
    /// The tags, without duplicates, in the order given.
    pub tags: Vec<String>,
}

impl TagsRequest {
    /// Parse and check a `POST /_isr/tags` body.
    pub fn parse(body: &[u8]) -> Result<PageTags, DataError> {
        let request: TagsRequest = serde_json::from_slice(body).map_err(DataError::Json)?;
        request.check()
    }

    /// Check it: a valid path, 1 to 128 valid tags.
    pub fn check(self) -> Result<PageTags, DataError> {
        let Target::Path(path) = Target::path(&self.path).map_err(DataError::Path)? else {
            return Err(DataError::Path(TargetError::Empty));
        };
        if self.tags.is_empty() {
            return Err(DataError::NoTags);
        }
        check_tags(&self.tags)?;
        let mut tags: Vec<String> = Vec::with_capacity(self.tags.len());
        for tag in self.tags {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(PageTags { path, tags })
    }
}

/// The stored index of one tag: the paths whose pages carry it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagIndex {
    /// The paths, at most [`MAX_TAG_PATHS`], oldest first.
    #[serde(default)]
    pub paths: Vec<String>,
    /// More paths carried the tag than the index holds: a purge of it purges everything.
    #[serde(default)]
    pub overflowed: bool,
}

impl TagIndex {
    /// Add `path`; `true` if it was not held. Past [`MAX_TAG_PATHS`] the index overflows.
    pub fn add(&mut self, path: &str) -> bool {
        if self.paths.iter().any(|held| held == path) {
            return false;
        }
        if self.paths.len() >= MAX_TAG_PATHS {
            self.overflowed = true;
            return false;
        }
        self.paths.push(path.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_is_checked_whole() {
        let ok = br#"{"key":"k","value":"v","tags":["a"],"revalidate":5,"expire":10}"#;
        let put = DataPut::parse(ok).unwrap();
        assert_eq!(put.tags, ["a"]);
        assert!(matches!(
            DataPut::parse(br#"{"key":"","value":"v"}"#),
            Err(DataError::Key)
        ));
        assert!(matches!(
            DataPut::parse(br#"{"key":"k","value":"v","extra":1}"#),
            Err(DataError::Json(_))
        ));
        assert!(matches!(
            DataPut::parse(br#"{"key":"k","value":"v","revalidate":10,"expire":5}"#),
            Err(DataError::ExpireBeforeRevalidate { .. })
        ));
        let long_tag = format!(
            r#"{{"key":"k","value":"v","tags":["{}"]}}"#,
            "t".repeat(257)
        );
        let error = DataPut::parse(long_tag.as_bytes()).unwrap_err();
        assert!(error.to_string().starts_with("`tags[0]`"), "{error}");
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        let put = DataPut {
            key: "k".into(),
            tags: many,
            ..DataPut::default()
        };
        assert!(matches!(put.check(), Err(DataError::TooManyTags(_))));
    }

    #[test]
    fn queries_name_their_fault() {
        let query = DataQuery::from_pairs([("key", "k"), ("tag", "_N_T_/posts/1"), ("tag", "b")]);
        assert_eq!(
            query.unwrap(),
            DataQuery {
                key: "k".into(),
                tags: vec!["_N_T_/posts/1".into(), "b".into()],
            }
        );
        let missing = DataQuery::from_pairs([("tag", "a")]).unwrap_err();
        assert_eq!(missing.to_string(), "query: `key` is missing");
        assert!(DataQuery::from_pairs([("key", "a"), ("key", "b")]).is_err());
        assert!(DataQuery::from_pairs([("key", "a"), ("other", "b")]).is_err());
    }

    #[test]
    fn page_tags_are_normalised_and_deduplicated() {
        let tags = TagsRequest::parse(br#"{"path":"/posts//1","tags":["a","b","a"]}"#).unwrap();
        assert_eq!(tags.path, "/posts/1");
        assert_eq!(tags.tags, ["a", "b"]);
        assert!(matches!(
            TagsRequest::parse(br#"{"path":"/p","tags":[]}"#),
            Err(DataError::NoTags)
        ));
        assert!(matches!(
            TagsRequest::parse(br#"{"path":"no-slash","tags":["a"]}"#),
            Err(DataError::Path(_))
        ));
    }

    #[test]
    fn an_index_is_bounded_and_overflows_rather_than_forgets() {
        let mut index = TagIndex::default();
        assert!(index.add("/a"));
        assert!(!index.add("/a"));
        for i in 1..MAX_TAG_PATHS {
            assert!(index.add(&format!("/p{i}")));
        }
        assert!(!index.overflowed);
        assert!(!index.add("/one-more"));
        assert!(index.overflowed);
        assert_eq!(index.paths.len(), MAX_TAG_PATHS);
        assert!(is_data_storage_key(&data_storage_key("x")));
        assert!(!is_data_storage_key("v2|site|build|html|/x"));
    }
}
