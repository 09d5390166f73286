//! `GET /_isr/entries?prefix=/blog&cursor=…&limit=100`: the query and its checks, the
//! cursor, and the answer (a page of entries and the cursor of the next).
//!
//! Invariants:
//! - Every runtime parses its query string with [`EntriesQuery::from_pairs`], so they refuse
//!   the same queries with the same messages.
//! - A cursor is the runtime's own position, hex-encoded: it passes through a query string
//!   untouched, and one isr did not give is refused, never misread.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::entry::Entry;
use crate::freshness::Freshness;
use crate::policy::Revalidate;

/// Most entries in one listing page.
pub const MAX_PAGE: usize = 1_000;
/// Entries in a listing page unless the query says.
pub const DEFAULT_PAGE: usize = 100;

/// `GET /_isr/entries?prefix=/blog&cursor=…&limit=100`, as given.
#[derive(Debug, Default)]
pub struct EntriesQuery {
    /// Only entries whose path starts with this (default `/`).
    pub prefix: Option<String>,
    /// Where to go on from: a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// The most entries in the page (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]).
    pub limit: Option<usize>,
}

/// A checked [`EntriesQuery`].
#[derive(Debug, PartialEq, Eq)]
pub struct Listing {
    /// Entries whose path starts with this.
    pub prefix: String,
    /// Where the previous page ended: what the runtime put in [`encode_cursor`].
    pub after: Option<String>,
    /// The most entries in the page.
    pub limit: usize,
}

/// Why a listing query is refused (a 400); the message names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    /// `limit` is not a number.
    #[error("`limit` must be a whole number from 1 to {MAX_PAGE}")]
    LimitNotANumber,
    /// `limit` is 0 or over [`MAX_PAGE`].
    #[error("`limit` must be from 1 to {MAX_PAGE}")]
    LimitOutOfRange,
    /// `cursor` does not decode: isr did not give it.
    #[error("`cursor` is not one isr gave: pass back `next_cursor` as it is")]
    UnknownCursor,
    /// A field the listing does not take.
    #[error("unknown field `{0}`: use prefix, cursor, limit")]
    UnknownField(String),
    /// A field given more than once.
    #[error("`{0}` is given twice")]
    Repeated(String),
}

impl EntriesQuery {
    /// The query of a URL (`prefix=/blog&limit=10`): an unknown or repeated field is an
    /// error naming it.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<EntriesQuery, ListingError> {
        let mut query = EntriesQuery::default();
        for (name, value) in pairs {
            let repeated = match name {
                "prefix" => query.prefix.replace(value.to_owned()).is_some(),
                "cursor" => query.cursor.replace(value.to_owned()).is_some(),
                "limit" => {
                    let limit = value.parse().map_err(|_| ListingError::LimitNotANumber)?;
                    query.limit.replace(limit).is_some()
                }
                other => return Err(ListingError::UnknownField(other.to_owned())),
            };
            if repeated {
                return Err(ListingError::Repeated(name.to_owned()));
            }
        }
        Ok(query)
    }

    /// Apply the defaults and check the bounds and the cursor.
    pub fn check(self) -> Result<Listing, ListingError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ListingError::LimitOutOfRange);
        }
        let after = match self.cursor.as_deref() {
            Some(cursor) => Some(decode_cursor(cursor).ok_or(ListingError::UnknownCursor)?),
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

/// One page of `GET /_isr/entries`. A client that passes entries on as it got them (the
/// command line's `--json`) reads them as another type (`serde_json::Value`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntriesPage<E = EntryInfo> {
    /// The entries, in the runtime's key order.
    pub entries: Vec<E>,
    /// Pass it back as `cursor` for the next page; `None`: this was the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

impl EntriesPage {
    /// A page ending at the runtime's own `position` (`None`: the last page).
    pub fn new(entries: Vec<EntryInfo>, position: Option<&str>) -> EntriesPage {
        EntriesPage {
            entries,
            next_cursor: position.map(encode_cursor),
        }
    }
}

/// One cached entry, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// The full cache key (what a revalidate request's `keys` takes).
    #[serde(default)]
    pub key: String,
    /// The path (and keyed query) it was rendered for.
    pub path: String,
    /// The origin's status.
    #[serde(default)]
    pub status: u16,
    /// Seconds since its render started.
    #[serde(default)]
    pub age: u64,
    /// Seconds fresh; `None`: until purged.
    #[serde(default)]
    pub revalidate: Option<u64>,
    /// Seconds of total life; `None`: never expires.
    #[serde(default)]
    pub expire: Option<u64>,
    /// What it would be answered as, now.
    pub state: EntryState,
    /// Its tags, as purges by tag reach it.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Body bytes.
    #[serde(default)]
    pub size: usize,
    /// The codings it also holds its body in (`br`, `zstd`, `gzip`), made when it was
    /// stored: this one entry answers every client.
    #[serde(default)]
    pub codings: Vec<String>,
}

/// What a listed entry would be answered as, now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    /// Served as it is (`HIT`).
    Fresh,
    /// Served while one regeneration runs (`STALE`), past its revalidate time or purged
    /// soft.
    Stale,
    /// Past its expire time: rendered again, served only if the origin fails and
    /// `stale_if_error` allows.
    Expired,
    /// Purged hard: never served again.
    Purged,
}

impl EntryState {
    /// The state as the answer spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Fresh => "fresh",
            EntryState::Stale => "stale",
            EntryState::Expired => "expired",
            EntryState::Purged => "purged",
        }
    }
}

impl std::fmt::Display for EntryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Freshness> for EntryState {
    fn from(freshness: Freshness) -> EntryState {
        match freshness {
            Freshness::Fresh => EntryState::Fresh,
            Freshness::Stale => EntryState::Stale,
            Freshness::Expired { .. } => EntryState::Expired,
            Freshness::Purged => EntryState::Purged,
        }
    }
}

impl EntryInfo {
    /// `entry` at `now`, in the state the runtime judged (`freshness`).
    pub fn describe(entry: &Entry, freshness: Freshness, now: UnixMillis) -> EntryInfo {
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
            state: freshness.into(),
            tags: entry.tags.clone(),
            size: entry.body.len(),
            codings: entry
                .representations
                .iter()
                .map(|r| r.coding.as_str().to_owned())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
            let error = query(pairs).unwrap_err().to_string();
            assert!(error.contains(says), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn a_page_round_trips_and_reads_leniently() {
        let entry = EntryInfo {
            key: "v1|site|/a".to_owned(),
            path: "/a".to_owned(),
            status: 200,
            age: 75,
            revalidate: Some(60),
            expire: None,
            state: Freshness::Expired {
                servable_on_error: true,
            }
            .into(),
            tags: vec!["blog".to_owned()],
            size: 2048,
            codings: vec!["br".to_owned(), "gzip".to_owned()],
        };
        let page = EntriesPage::new(vec![entry], Some("v1|site|/a"));
        let sent = serde_json::to_value(&page).unwrap();
        assert_eq!(sent["entries"][0]["state"], "expired");
        assert_eq!(sent["entries"][0]["expire"], json!(null));
        assert_eq!(sent["next_cursor"], json!(encode_cursor("v1|site|/a")));
        assert_eq!(serde_json::from_value::<EntriesPage>(sent).unwrap(), page);
        // An older server's entry, without `key`.
        let old: EntryInfo = serde_json::from_value(json!({
            "path": "/b", "status": 200, "age": 1, "revalidate": null, "expire": 10,
            "state": "stale", "tags": [], "size": 3,
        }))
        .unwrap();
        assert_eq!((old.key.as_str(), old.state), ("", EntryState::Stale));
        assert!(
            old.codings.is_empty(),
            "an older server's entry holds no codings"
        );
        assert_eq!(EntryState::Purged.to_string(), "purged");
    }
}
