//! The stored entry and its binary format.
//!
//! Invariants:
//! - The format is versioned (a magic and a version byte) and checksummed (xxh3-64 over
//!   everything before the checksum). A buffer that is short, torn, of another version
//!   or whose checksum differs decodes to an error, never to an entry: callers treat
//!   that as a miss.
//! - Bodies are bytes, never text. Decoding from a `Bytes` buffer shares it: the body of
//!   a decoded entry is a slice of the buffer, not a copy.
//! - Header names and values are validated on decode; an entry never carries a header
//!   that `http` would reject.

// TODO(helper: store) implement encode/decode.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::UnixMillis;
use crate::policy::Lifetime;

/// One cached response, with everything needed to serve it and to judge its freshness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The raw (unhashed) cache key; compared on read so a hashed-key collision is a miss.
    pub key: String,
    /// The normalised request path this entry answers (for listing and path purges).
    pub path: String,
    pub status: StatusCode,
    /// Stored response headers (already filtered by [`crate::headers::storable_headers`]).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// When the render that produced this entry arrived.
    pub created_at: UnixMillis,
    pub lifetime: Lifetime,
    pub tags: Vec<String>,
    pub build_id: String,
    /// Strong validator, quoted (`"..."`): the origin's ETag, or one computed from the body.
    pub etag: String,
}

/// Why a buffer is not an entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not an isr entry (bad magic)")]
    Magic,
    #[error("entry format version {0} is not supported")]
    Version(u8),
    #[error("entry is truncated")]
    Truncated,
    #[error("entry checksum mismatch")]
    Checksum,
    #[error("entry field is invalid: {0}")]
    Invalid(&'static str),
}

impl Entry {
    /// The current format version written by [`Entry::encode`].
    pub const FORMAT_VERSION: u8 = 1;

    /// Encode to the versioned, checksummed binary format.
    pub fn encode(&self) -> Vec<u8> {
        todo!("helper: store")
    }

    /// Decode a buffer produced by [`Entry::encode`]. The body shares `buf`.
    pub fn decode(buf: Bytes) -> Result<Entry, DecodeError> {
        let _ = buf;
        todo!("helper: store")
    }

    /// Approximate bytes this entry holds in memory, for byte-bounded caches.
    pub fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 16)
            .sum();
        let tags: usize = self.tags.iter().map(|t| t.len() + 24).sum();
        (self.body.len()
            + headers
            + tags
            + self.key.len()
            + self.path.len()
            + self.build_id.len()
            + self.etag.len()
            + 160) as u64
    }
}
