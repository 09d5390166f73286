//! Cache keys, built only from what is keyed.
//!
//! Invariants:
//! - A key is a function of: the configured site (or the validated Host, when configured),
//!   the build id, the variant (HTML, RSC, RSC prefetch), the encoding class, the
//!   normalised path and the canonical query. Never of any other request header.
//! - Fields are length-prefixed, so no choice of values can make two different tuples
//!   produce the same raw key.
//! - Raw keys longer than [`MAX_RAW_KEY_LEN`] are stored under a 128-bit blake3 hash; the
//!   raw key is kept in the entry and compared on read, so a collision is a miss.

// TODO(helper: routing) implement.

use http::HeaderMap;

/// Raw keys up to this length are used as storage keys as they are.
pub const MAX_RAW_KEY_LEN: usize = 200;

/// Which representation of a page: Next.js App Router requests with `RSC: 1` get the
/// RSC payload, not HTML, and must not share an entry with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    Html,
    Rsc,
    RscPrefetch,
}

impl Variant {
    /// `RSC: 1` → `Rsc`, plus `Next-Router-Prefetch: 1` → `RscPrefetch`; else `Html`.
    pub fn from_request(headers: &HeaderMap) -> Variant {
        let _ = headers;
        todo!("helper: routing")
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Html => "html",
            Variant::Rsc => "rsc",
            Variant::RscPrefetch => "rsc-prefetch",
        }
    }
}

/// The content-coding class a client accepts; the origin is asked for exactly that class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodingClass {
    Identity,
    Gzip,
    Br,
}

impl EncodingClass {
    /// From the request's `Accept-Encoding` (q=0 means refused): `br` if accepted, else
    /// `gzip`, else identity.
    pub fn from_request(headers: &HeaderMap) -> EncodingClass {
        let _ = headers;
        todo!("helper: routing")
    }

    /// The `Accept-Encoding` value sent to the origin for this class.
    pub fn accept_encoding(self) -> &'static str {
        match self {
            EncodingClass::Identity => "identity",
            EncodingClass::Gzip => "gzip",
            EncodingClass::Br => "br",
        }
    }
}

/// Everything a key is made of.
#[derive(Clone, Copy, Debug)]
pub struct KeyParts<'a> {
    pub site: &'a str,
    pub build_id: &'a str,
    pub variant: Variant,
    pub encoding: EncodingClass,
    /// Normalised path ([`crate::path::normalize_path`]).
    pub path: &'a str,
    /// Canonical query ([`crate::path::canonical_query`]), `""` if none.
    pub query: &'a str,
}

/// A cache key: the raw key, and the storage key backends see.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    raw: String,
    storage: String,
}

impl CacheKey {
    pub fn new(parts: &KeyParts<'_>) -> CacheKey {
        let _ = parts;
        todo!("helper: routing")
    }

    /// The full, unhashed key (kept in the entry).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The key backends store under: the raw key, or `h:` + 32 hex digits of its blake3
    /// hash when the raw key is longer than [`MAX_RAW_KEY_LEN`].
    pub fn storage(&self) -> &str {
        &self.storage
    }
}
