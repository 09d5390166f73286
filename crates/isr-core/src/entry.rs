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
//! - Decoding never panics and never allocates more than the buffer could hold: every
//!   length and count is checked against the bytes that remain before it is used.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! "ISRE" | version u8 | total length u64
//! key str | path str | status u16 | created_at u64
//! revalidate: tag u8 (0 never, 1 after) + secs u64
//! expire: presence u8 + secs u64 | stale_if_error u64
//! build_id str | etag str
//! headers: count u32 + (name str, value bytes)*
//! tags: count u32 + str*
//! body: len u32 + bytes
//! xxh3-64 of everything above, u64
//! ```
//!
//! where `str`/`bytes` are a u32 length followed by that many bytes.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::UnixMillis;
use crate::lifetime::{Lifetime, Revalidate};

const MAGIC: &[u8; 4] = b"ISRE";
/// Magic, version and total length.
const HEADER_LEN: usize = 4 + 1 + 8;
const CHECKSUM_LEN: usize = 8;

const REVALIDATE_NEVER: u8 = 0;
const REVALIDATE_AFTER: u8 = 1;
const ABSENT: u8 = 0;
const PRESENT: u8 = 1;

/// One cached response, with everything needed to serve it and to judge its freshness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The raw (unhashed) cache key; compared on read so a hashed-key collision is a miss.
    pub key: String,
    /// The normalised request path this entry answers (for listing and path purges).
    pub path: String,
    /// The origin's status code.
    pub status: StatusCode,
    /// The headers the entry is answered with ([`crate::headers::entry_headers`]): the
    /// storable origin headers plus isr's validators, length and downstream `Cache-Control`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The page body, shared with the buffer it was decoded from.
    pub body: Bytes,
    /// When the render that produced this entry started: freshness counts from here, and
    /// a purge at or after this instant applies (even if the render arrived later).
    pub created_at: UnixMillis,
    /// How long the entry is fresh, and servable when stale.
    pub lifetime: Lifetime,
    /// The tags a purge can name the entry by.
    pub tags: Vec<String>,
    /// The origin build the entry was rendered by.
    pub build_id: String,
    /// Strong validator, quoted (`"..."`): the origin's ETag, or one computed from the body.
    pub etag: String,
}

/// What [`Entry::peek`] reads of an encoded entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peek {
    /// [`Entry::created_at`].
    pub created_at: UnixMillis,
    /// [`Entry::servable_until`].
    pub servable_until: Option<UnixMillis>,
}

/// Why a buffer is not an entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("not an isr entry (bad magic)")]
    /// The buffer does not start with the entry magic.
    Magic,
    #[error("entry format version {0} is not supported")]
    /// An entry format this build cannot read.
    Version(u8),
    #[error("entry is truncated")]
    /// The buffer ends before the entry does.
    Truncated,
    #[error("entry checksum mismatch")]
    /// The checksum does not match the bytes.
    Checksum,
    #[error("entry field is invalid: {0}")]
    /// A field does not decode (the field's name).
    Invalid(&'static str),
}

impl Entry {
    /// The current format version written by [`Entry::encode`].
    pub const FORMAT_VERSION: u8 = 1;

    /// Encode to the versioned, checksummed binary format.
    ///
    /// A field longer than `u32::MAX` bytes (or more than `u32::MAX` headers or tags)
    /// cannot be represented; such an entry encodes to an empty buffer, which decodes to
    /// an error (a miss) rather than to a silently truncated entry.
    pub fn encode(&self) -> Vec<u8> {
        self.try_encode().unwrap_or_default()
    }

    fn try_encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        out.extend_from_slice(MAGIC);
        out.push(Self::FORMAT_VERSION);
        // Patched once the total is known.
        out.extend_from_slice(&0u64.to_le_bytes());

        put_bytes(&mut out, self.key.as_bytes())?;
        put_bytes(&mut out, self.path.as_bytes())?;
        out.extend_from_slice(&self.status.as_u16().to_le_bytes());
        out.extend_from_slice(&self.created_at.0.to_le_bytes());
        let (tag, secs) = match self.lifetime.revalidate {
            Revalidate::Never => (REVALIDATE_NEVER, 0),
            Revalidate::After(secs) => (REVALIDATE_AFTER, secs),
        };
        out.push(tag);
        out.extend_from_slice(&secs.to_le_bytes());
        let (presence, secs) = match self.lifetime.expire {
            None => (ABSENT, 0),
            Some(secs) => (PRESENT, secs),
        };
        out.push(presence);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&self.lifetime.stale_if_error.to_le_bytes());
        put_bytes(&mut out, self.build_id.as_bytes())?;
        put_bytes(&mut out, self.etag.as_bytes())?;

        put_u32(&mut out, self.headers.len())?;
        for (name, value) in &self.headers {
            put_bytes(&mut out, name.as_str().as_bytes())?;
            put_bytes(&mut out, value.as_bytes())?;
        }
        put_u32(&mut out, self.tags.len())?;
        for tag in &self.tags {
            put_bytes(&mut out, tag.as_bytes())?;
        }
        put_bytes(&mut out, &self.body)?;

        let total = (out.len() + CHECKSUM_LEN) as u64;
        out.get_mut(5..HEADER_LEN)?
            .copy_from_slice(&total.to_le_bytes());
        let checksum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        Some(out)
    }

    /// Exact size of the encoding, so `encode` allocates once.
    fn encoded_len_hint(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| 8 + n.as_str().len() + v.len())
            .sum();
        let tags: usize = self.tags.iter().map(|t| 4 + t.len()).sum();
        HEADER_LEN
            + 4 * 4
            + self.key.len()
            + self.path.len()
            + self.build_id.len()
            + self.etag.len()
            + 2
            + 8
            + 9
            + 9
            + 8
            + 4
            + headers
            + 4
            + tags
            + 4
            + self.body.len()
            + CHECKSUM_LEN
    }

    /// Decode a buffer produced by [`Entry::encode`]. The body shares `buf`.
    pub fn decode(buf: Bytes) -> Result<Entry, DecodeError> {
        // The envelope first: nothing inside is trusted until the checksum matches.
        if buf.get(..MAGIC.len()).is_some_and(|magic| magic != MAGIC) {
            return Err(DecodeError::Magic);
        }
        let total = envelope_header(&buf)?;
        if total > buf.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        if total < buf.len() as u64 {
            return Err(DecodeError::Invalid("bytes after the checksum"));
        }
        let (checksummed, stored) = buf
            .split_last_chunk::<CHECKSUM_LEN>()
            .ok_or(DecodeError::Truncated)?;
        if xxhash_rust::xxh3::xxh3_64(checksummed) != u64::from_le_bytes(*stored) {
            return Err(DecodeError::Checksum);
        }
        let checksummed = checksummed.len();

        let mut r = Reader {
            buf: &buf,
            pos: HEADER_LEN,
            end: checksummed,
        };
        let key = r.string("key")?;
        let path = r.string("path")?;
        let status = StatusCode::from_u16(r.u16()?).map_err(|_| DecodeError::Invalid("status"))?;
        let (created_at, lifetime) = r.timing()?;
        let build_id = r.string("build_id")?;
        let etag = r.string("etag")?;

        // Each header takes at least two length prefixes, each tag one: a count larger
        // than the remaining bytes allow is corrupt, and never sizes an allocation.
        let header_count = r.count(8)?;
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let name = HeaderName::from_bytes(r.bytes()?)
                .map_err(|_| DecodeError::Invalid("header name"))?;
            let value = HeaderValue::from_bytes(r.bytes()?)
                .map_err(|_| DecodeError::Invalid("header value"))?;
            headers.push((name, value));
        }
        let tag_count = r.count(4)?;
        let mut tags = Vec::with_capacity(tag_count);
        for _ in 0..tag_count {
            tags.push(r.string("tag")?);
        }
        let body_len = r.len()?;
        let body_start = r.pos;
        r.take(body_len)?;
        let body = buf.slice(body_start..body_start + body_len);
        if r.pos != r.end {
            return Err(DecodeError::Invalid("bytes after the body"));
        }

        Ok(Entry {
            key,
            path,
            status,
            headers,
            body,
            created_at,
            lifetime,
            tags,
            build_id,
            etag,
        })
    }

    /// The instant past which this entry can never be served again, not even on error;
    /// `None`: it never expires.
    pub fn servable_until(&self) -> Option<UnixMillis> {
        servable_until(self.created_at, &self.lifetime)
    }

    /// The instants of an encoded entry, read from the front of the buffer alone: neither
    /// the body nor the checksum is read. For the disk tier's indexes (expiry, write
    /// order), where reading every body would cost more than the index saves; a caller
    /// that acts on the answer must tolerate a corrupt buffer's (it only decides what to
    /// delete).
    pub fn peek(buf: &[u8]) -> Result<Peek, DecodeError> {
        if buf.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(DecodeError::Truncated);
        }
        envelope_header(buf)?;
        let mut r = Reader {
            buf,
            pos: HEADER_LEN,
            end: buf.len() - CHECKSUM_LEN,
        };
        r.bytes()?; // key
        r.bytes()?; // path
        r.u16()?; // status
        let (created_at, lifetime) = r.timing()?;
        Ok(Peek {
            created_at,
            servable_until: servable_until(created_at, &lifetime),
        })
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

/// Append a u32 length (or count); `None` if it does not fit in a u32.
fn put_u32(out: &mut Vec<u8>, n: usize) -> Option<()> {
    out.extend_from_slice(&u32::try_from(n).ok()?.to_le_bytes());
    Some(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Option<()> {
    put_u32(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Some(())
}

fn servable_until(created_at: UnixMillis, lifetime: &Lifetime) -> Option<UnixMillis> {
    let secs = lifetime.servable_for_secs()?;
    Some(UnixMillis(
        created_at.0.saturating_add(secs.saturating_mul(1000)),
    ))
}

/// Check the envelope's fixed header (magic, format version; room for the checksum) and
/// return the total length it declares.
fn envelope_header(buf: &[u8]) -> Result<u64, DecodeError> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Err(DecodeError::Truncated);
    };
    if rest.len() < CHECKSUM_LEN {
        return Err(DecodeError::Truncated);
    }
    let [m0, m1, m2, m3, version, total @ ..] = *header;
    if [m0, m1, m2, m3] != *MAGIC {
        return Err(DecodeError::Magic);
    }
    if version != Entry::FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    Ok(u64::from_le_bytes(total))
}

/// A bounds-checked cursor over `buf[..end]`: every read past `end` is `Truncated`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let end = self.pos + n;
        let bytes = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A u32 length, already checked against the remaining bytes.
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = usize::try_from(u32::from_le_bytes(self.array()?))
            .map_err(|_| DecodeError::Truncated)?;
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    /// A u32 count of items each at least `min_item_len` bytes long.
    fn count(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        let n = usize::try_from(u32::from_le_bytes(self.array()?))
            .map_err(|_| DecodeError::Truncated)?;
        if n > self.remaining() / min_item_len {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len()?;
        self.take(n)
    }

    /// `created_at`, then the lifetime.
    fn timing(&mut self) -> Result<(UnixMillis, Lifetime), DecodeError> {
        let created_at = UnixMillis(self.u64()?);
        let revalidate = match (self.u8()?, self.u64()?) {
            (REVALIDATE_NEVER, 0) => Revalidate::Never,
            (REVALIDATE_AFTER, secs) => Revalidate::After(secs),
            _ => return Err(DecodeError::Invalid("revalidate")),
        };
        let expire = match (self.u8()?, self.u64()?) {
            (ABSENT, 0) => None,
            (PRESENT, secs) => Some(secs),
            _ => return Err(DecodeError::Invalid("expire")),
        };
        let stale_if_error = self.u64()?;
        let lifetime = Lifetime {
            revalidate,
            expire,
            stale_if_error,
        };
        Ok((created_at, lifetime))
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Invalid(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Entry {
        Entry {
            key: "GET|example.com|/blog/hello?x=1".to_owned(),
            path: "/blog/hello".to_owned(),
            status: StatusCode::OK,
            headers: vec![
                (
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    HeaderName::from_static("x-custom"),
                    HeaderValue::from_bytes(b"bin\xff\x80ary").unwrap(),
                ),
            ],
            body: Bytes::from((0..=255u8).collect::<Vec<u8>>()),
            created_at: UnixMillis(1_700_000_000_123),
            lifetime: Lifetime {
                revalidate: Revalidate::After(60),
                expire: Some(3600),
                stale_if_error: 86_400,
            },
            tags: vec!["blog".to_owned(), "post:hello".to_owned()],
            build_id: "build-42".to_owned(),
            etag: "\"abc123\"".to_owned(),
        }
    }

    fn roundtrip(entry: &Entry) -> Entry {
        Entry::decode(Bytes::from(entry.encode())).expect("decodes")
    }

    #[test]
    fn roundtrip_binary_body_with_every_byte_value() {
        let entry = sample();
        assert_eq!(roundtrip(&entry), entry);
    }

    #[test]
    fn roundtrip_empty_body_and_no_headers_or_tags() {
        let entry = Entry {
            body: Bytes::new(),
            headers: Vec::new(),
            tags: Vec::new(),
            key: String::new(),
            etag: String::new(),
            ..sample()
        };
        assert_eq!(roundtrip(&entry), entry);
    }

    #[test]
    fn roundtrip_many_headers_and_tags() {
        let entry = Entry {
            headers: (0..200)
                .map(|i| {
                    (
                        HeaderName::from_bytes(format!("x-h-{i}").as_bytes()).unwrap(),
                        HeaderValue::from_str(&format!("value {i}")).unwrap(),
                    )
                })
                .collect(),
            tags: (0..500).map(|i| format!("tag-{i}-ü")).collect(),
            ..sample()
        };
        assert_eq!(roundtrip(&entry), entry);
    }

    #[test]
    fn roundtrip_every_lifetime_shape() {
        for revalidate in [
            Revalidate::Never,
            Revalidate::After(1),
            Revalidate::After(u64::MAX),
        ] {
            for expire in [None, Some(0), Some(31_536_000), Some(u64::MAX)] {
                let entry = Entry {
                    lifetime: Lifetime {
                        revalidate,
                        expire,
                        stale_if_error: 7,
                    },
                    status: StatusCode::NOT_FOUND,
                    ..sample()
                };
                assert_eq!(roundtrip(&entry), entry);
            }
        }
    }

    #[test]
    fn decoded_body_shares_the_buffer() {
        let buf = Bytes::from(sample().encode());
        let range = buf.as_ptr_range();
        let entry = Entry::decode(buf.clone()).unwrap();
        let body = entry.body.as_ptr_range();
        assert!(range.start <= body.start && body.end <= range.end);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let encoded = sample().encode();
        for len in 0..encoded.len() {
            let cut = Bytes::copy_from_slice(&encoded[..len]);
            assert!(Entry::decode(cut).is_err(), "truncated to {len} decoded");
        }
    }

    #[test]
    fn every_single_bit_flip_is_an_error() {
        let encoded = sample().encode();
        for byte in 0..encoded.len() {
            for bit in 0..8 {
                let mut flipped = encoded.clone();
                flipped[byte] ^= 1 << bit;
                assert!(
                    Entry::decode(Bytes::from(flipped)).is_err(),
                    "flip of bit {bit} in byte {byte} decoded"
                );
            }
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut encoded = sample().encode();
        encoded.push(0);
        assert!(Entry::decode(Bytes::from(encoded)).is_err());
    }

    #[test]
    fn wrong_magic_and_version_are_reported() {
        let encoded = sample().encode();
        let mut magic = encoded.clone();
        magic[0] = b'X';
        assert_eq!(Entry::decode(Bytes::from(magic)), Err(DecodeError::Magic));
        let mut version = encoded;
        version[4] = 2;
        assert_eq!(
            Entry::decode(Bytes::from(version)),
            Err(DecodeError::Version(2))
        );
        assert_eq!(Entry::decode(Bytes::new()), Err(DecodeError::Truncated));
    }

    /// A buffer with a valid envelope (magic, version, length, checksum) around
    /// `payload`, to reach the field parser with hostile contents.
    fn sealed(payload: &[u8]) -> Bytes {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(Entry::FORMAT_VERSION);
        let total = (HEADER_LEN + payload.len() + CHECKSUM_LEN) as u64;
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(payload);
        let checksum = xxhash_rust::xxh3::xxh3_64(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        Bytes::from(out)
    }

    #[test]
    fn huge_lengths_and_counts_are_rejected_without_allocating() {
        // key length u32::MAX
        assert_eq!(
            Entry::decode(sealed(&u32::MAX.to_le_bytes())),
            Err(DecodeError::Truncated)
        );
        // Everything valid up to a header count of u32::MAX.
        let valid = sample().encode();
        let fields = &valid[HEADER_LEN..valid.len() - CHECKSUM_LEN];
        let headers_at = 4 + 31 + 4 + 11 + 2 + 8 + 9 + 9 + 8 + 4 + 8 + 4 + 8;
        assert_eq!(fields[headers_at..headers_at + 4], 2u32.to_le_bytes());
        let mut payload = fields[..headers_at].to_vec();
        payload.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Entry::decode(sealed(&payload)), Err(DecodeError::Truncated));
    }

    #[test]
    fn invalid_fields_are_rejected_even_with_a_valid_checksum() {
        let valid = sample().encode();
        let fields = &valid[HEADER_LEN..valid.len() - CHECKSUM_LEN];
        // Status lives right after key and path.
        let status_at = 4 + 31 + 4 + 11;
        let mut bad_status = fields.to_vec();
        bad_status[status_at..status_at + 2].copy_from_slice(&42u16.to_le_bytes());
        assert_eq!(
            Entry::decode(sealed(&bad_status)),
            Err(DecodeError::Invalid("status"))
        );
        let mut bad_key = fields.to_vec();
        bad_key[4] = 0xff;
        assert_eq!(
            Entry::decode(sealed(&bad_key)),
            Err(DecodeError::Invalid("key"))
        );
    }

    #[test]
    fn servable_until_is_creation_plus_expire_plus_stale_if_error() {
        let entry = sample();
        let until = UnixMillis(1_700_000_000_123 + (3_600 + 86_400) * 1000);
        assert_eq!(entry.servable_until(), Some(until));
        let peeked = Entry::peek(&entry.encode()).unwrap();
        assert_eq!(peeked.servable_until, Some(until));
        assert_eq!(peeked.created_at, entry.created_at);

        let mut forever = sample();
        forever.lifetime.expire = None;
        assert_eq!(forever.servable_until(), None);
        assert_eq!(Entry::peek(&forever.encode()).unwrap().servable_until, None);

        let mut far = sample();
        far.lifetime.expire = Some(u64::MAX);
        assert_eq!(far.servable_until(), Some(UnixMillis(u64::MAX)));
    }

    #[test]
    fn peeking_reads_neither_body_nor_checksum_but_refuses_what_is_not_an_entry() {
        let mut encoded = sample().encode();
        let body_byte = encoded.len() - CHECKSUM_LEN - 1;
        encoded[body_byte] ^= 1;
        assert!(Entry::peek(&encoded).unwrap().servable_until.is_some());
        assert_eq!(Entry::peek(b"nope"), Err(DecodeError::Truncated));
        assert_eq!(
            Entry::peek(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"),
            Err(DecodeError::Magic)
        );
        assert_eq!(
            Entry::peek(&encoded[..HEADER_LEN + 12]),
            Err(DecodeError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Entry::decode(Bytes::from(bytes.clone()));
            let _ = Entry::peek(&bytes);
        }

        #[test]
        fn decode_never_panics_on_sealed_arbitrary_fields(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Entry::decode(sealed(&bytes));
        }

        #[test]
        fn decode_never_panics_on_mutated_valid_entries(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
        ) {
            let mut encoded = sample().encode();
            let payload_len = encoded.len() - HEADER_LEN - CHECKSUM_LEN;
            for (index, value) in edits {
                let at = HEADER_LEN + index.index(payload_len);
                encoded[at] = value;
            }
            let _ = Entry::peek(&encoded);
            let payload = encoded[HEADER_LEN..encoded.len() - CHECKSUM_LEN].to_vec();
            let _ = Entry::decode(sealed(&payload));
        }
    }
}
