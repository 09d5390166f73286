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

use http::HeaderMap;
use http::header::{ACCEPT_ENCODING, HeaderName};

/// Raw keys up to this length are used as storage keys as they are.
pub const MAX_RAW_KEY_LEN: usize = 200;

const RSC: HeaderName = HeaderName::from_static("rsc");
const NEXT_ROUTER_PREFETCH: HeaderName = HeaderName::from_static("next-router-prefetch");

/// Which representation of a page: Next.js App Router requests with `RSC: 1` get the
/// RSC payload, not HTML, and must not share an entry with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The HTML document.
    Html,
    /// A React Server Components payload (`RSC: 1`).
    Rsc,
    /// An RSC prefetch payload (`Next-Router-Prefetch: 1`).
    RscPrefetch,
}

impl Variant {
    /// `RSC: 1` → `Rsc`, plus `Next-Router-Prefetch: 1` → `RscPrefetch`; else `Html`.
    ///
    /// Only the value `1` (surrounding whitespace ignored) counts; a prefetch header
    /// without `RSC: 1` is an ordinary HTML request.
    pub fn from_request(headers: &HeaderMap) -> Variant {
        if !header_is_one(headers, &RSC) {
            Variant::Html
        } else if header_is_one(headers, &NEXT_ROUTER_PREFETCH) {
            Variant::RscPrefetch
        } else {
            Variant::Rsc
        }
    }

    /// The variant's name in keys and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Html => "html",
            Variant::Rsc => "rsc",
            Variant::RscPrefetch => "rsc-prefetch",
        }
    }
}

fn header_is_one(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers
        .get(name)
        .is_some_and(|value| value.as_bytes().trim_ascii() == b"1")
}

/// The content-coding class a client accepts; the origin is asked for exactly that class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EncodingClass {
    /// No content coding.
    Identity,
    /// gzip.
    Gzip,
    /// Brotli.
    Br,
}

impl EncodingClass {
    /// From the request's `Accept-Encoding` (q=0 means refused): `br` if accepted, else
    /// `gzip`, else identity.
    ///
    /// The preference is by acceptance, not by q-value: `br;q=0.1, gzip` is `Br`. `*` with
    /// q>0 accepts `gzip` (unless `gzip` is listed itself) but never `br`, which some
    /// clients that send `*` cannot decode. `x-gzip` counts as `gzip`. A coding refused
    /// anywhere in the header stays refused. Items with an unreadable q-value and header
    /// values that are not visible ASCII are ignored; no header at all means identity.
    pub fn from_request(headers: &HeaderMap) -> EncodingClass {
        let mut acceptance = Acceptance::default();
        for value in headers.get_all(ACCEPT_ENCODING) {
            let Ok(text) = value.to_str() else {
                continue;
            };
            for item in text.split(',') {
                acceptance.record(item);
            }
        }
        acceptance.class()
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

/// What an `Accept-Encoding` header says about one coding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stance {
    #[default]
    Unmentioned,
    Accepted,
    Refused,
}

impl Stance {
    /// Combine with one more mention; a refusal wins over any acceptance.
    fn and(self, accepted: bool) -> Stance {
        match (self, accepted) {
            (Stance::Refused, _) | (_, false) => Stance::Refused,
            _ => Stance::Accepted,
        }
    }
}

#[derive(Default)]
struct Acceptance {
    br: Stance,
    gzip: Stance,
    any: Stance,
}

impl Acceptance {
    /// Record one comma-separated item, like `gzip;q=0.8`.
    fn record(&mut self, item: &str) {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let Some(accepted) = weight_is_positive(parts) else {
            return;
        };
        let stance = if coding.eq_ignore_ascii_case("br") {
            &mut self.br
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut self.gzip
        } else if coding == "*" {
            &mut self.any
        } else {
            return;
        };
        *stance = stance.and(accepted);
    }

    fn class(&self) -> EncodingClass {
        let gzip_by_wildcard = self.gzip == Stance::Unmentioned && self.any == Stance::Accepted;
        if self.br == Stance::Accepted {
            EncodingClass::Br
        } else if self.gzip == Stance::Accepted || gzip_by_wildcard {
            EncodingClass::Gzip
        } else {
            EncodingClass::Identity
        }
    }
}

/// Whether an item's parameters give it a positive weight: `Some(true)` without a `q`,
/// `None` when the first `q` cannot be read.
fn weight_is_positive<'a>(mut params: impl Iterator<Item = &'a str>) -> Option<bool> {
    let q = params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("q")
            .then_some(value.trim())
    });
    match q {
        None => Some(true),
        Some(value) => qvalue_is_positive(value),
    }
}

/// RFC 9110 §12.4.2 `qvalue`, read leniently (any number of decimals, and `1.x` as
/// positive): `0`, `0.0` and `0.000` are zero; anything but a `0` or `1` integer part is
/// unreadable.
fn qvalue_is_positive(value: &str) -> Option<bool> {
    let (integer, fraction) = value.split_once('.').unwrap_or((value, ""));
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match integer {
        "0" => Some(fraction.bytes().any(|b| b != b'0')),
        "1" => Some(true),
        _ => None,
    }
}

/// Everything a key is made of.
#[derive(Clone, Copy, Debug)]
pub struct KeyParts<'a> {
    /// The site (keyed host, or the configured site name).
    pub site: &'a str,
    /// The origin build the entry belongs to.
    pub build_id: &'a str,
    /// Which representation of the page.
    pub variant: Variant,
    /// The encoding class.
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
    /// `None`: the raw key is short enough to be the storage key too (no second copy).
    hashed: Option<String>,
}

impl CacheKey {
    /// Build the key for `parts`.
    ///
    /// The raw key reads
    /// `v1|{len}:{site}|{len}:{build_id}|{variant}|{encoding}|{len}:{path}|{len}:{query}`,
    /// each `len` the byte length of the field after it. The free-text fields are
    /// length-prefixed and the others come from fixed sets without `|`, so the raw key
    /// can be read back into exactly one tuple: two different tuples never share a key.
    pub fn new(parts: &KeyParts<'_>) -> CacheKey {
        let raw = raw_key(parts);
        let hashed = (raw.len() > MAX_RAW_KEY_LEN).then(|| hashed_storage_key(&raw));
        CacheKey { raw, hashed }
    }

    /// The full, unhashed key (kept in the entry).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The key backends store under: the raw key, or `h:` + 32 hex digits of its blake3
    /// hash when the raw key is longer than [`MAX_RAW_KEY_LEN`].
    pub fn storage(&self) -> &str {
        self.hashed.as_deref().unwrap_or(&self.raw)
    }
}

/// Bump when the raw key format changes, so old entries are simply never found.
const KEY_FORMAT_VERSION: &str = "v1";

/// Built by hand into one allocation of the right size: this runs on every request, and
/// `format!` costs several times as much.
fn raw_key(parts: &KeyParts<'_>) -> String {
    let variant = parts.variant.as_str();
    let encoding = parts.encoding.accept_encoding();
    // Each length takes at most 20 digits; four of them, plus the separators.
    let capacity = KEY_FORMAT_VERSION.len()
        + parts.site.len()
        + parts.build_id.len()
        + variant.len()
        + encoding.len()
        + parts.path.len()
        + parts.query.len()
        + 4 * 20
        + 11;
    let mut raw = String::with_capacity(capacity);
    raw.push_str(KEY_FORMAT_VERSION);
    raw.push('|');
    push_counted(&mut raw, parts.site);
    raw.push('|');
    push_counted(&mut raw, parts.build_id);
    raw.push('|');
    raw.push_str(variant);
    raw.push('|');
    raw.push_str(encoding);
    raw.push('|');
    push_counted(&mut raw, parts.path);
    raw.push('|');
    push_counted(&mut raw, parts.query);
    raw
}

/// Append `<byte length of value>:<value>`.
fn push_counted(out: &mut String, value: &str) {
    // Written least significant digit first, from the end of `digits`.
    let mut digits = [0u8; 20];
    let mut n = value.len();
    let mut used = 0;
    for slot in digits.iter_mut().rev() {
        // `n % 10` is a single decimal digit.
        *slot = b'0' + (n % 10) as u8;
        used += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &digit in digits.iter().skip(digits.len() - used) {
        out.push(char::from(digit));
    }
    out.push(':');
    out.push_str(value);
}

/// Length in bytes of the hash prefix used in hashed storage keys (128 bits).
const HASHED_KEY_BYTES: usize = 16;

/// `h:` + lower-case hex of the first 128 bits of blake3(raw). Raw keys start with `v1|`,
/// so a hashed key can never equal a raw one.
fn hashed_storage_key(raw: &str) -> String {
    let hex = blake3::hash(raw.as_bytes()).to_hex();
    let mut key = String::with_capacity(2 + 2 * HASHED_KEY_BYTES);
    key.push_str("h:");
    key.push_str(hex.get(..2 * HASHED_KEY_BYTES).unwrap_or(&hex));
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    proptest! {
        /// The hand-built key is exactly the documented format.
        #[test]
        fn raw_keys_read_as_documented(
            site in ".{0,30}", build_id in ".{0,30}", path in "/.{0,300}", query in ".{0,40}",
        ) {
            let parts = KeyParts {
                site: &site,
                build_id: &build_id,
                variant: Variant::Rsc,
                encoding: EncodingClass::Gzip,
                path: &path,
                query: &query,
            };
            let expected = format!(
                "v1|{}:{site}|{}:{build_id}|rsc|gzip|{}:{path}|{}:{query}",
                site.len(),
                build_id.len(),
                path.len(),
                query.len(),
            );
            let key = CacheKey::new(&parts);
            prop_assert_eq!(key.raw(), expected.as_str());
            if expected.len() <= MAX_RAW_KEY_LEN {
                prop_assert_eq!(key.storage(), key.raw());
            } else {
                prop_assert!(key.storage().starts_with("h:"));
            }
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn encoding(accept_encoding: &[&'static str]) -> EncodingClass {
        let pairs: Vec<_> = accept_encoding
            .iter()
            .map(|value| ("accept-encoding", *value))
            .collect();
        EncodingClass::from_request(&headers(&pairs))
    }

    fn parts<'a>(path: &'a str, query: &'a str) -> KeyParts<'a> {
        KeyParts {
            site: "example.com",
            build_id: "b1",
            variant: Variant::Html,
            encoding: EncodingClass::Gzip,
            path,
            query,
        }
    }

    #[test]
    fn variant_defaults_to_html() {
        assert_eq!(Variant::from_request(&HeaderMap::new()), Variant::Html);
        assert_eq!(
            Variant::from_request(&headers(&[("rsc", "0")])),
            Variant::Html
        );
        assert_eq!(
            Variant::from_request(&headers(&[("rsc", "true")])),
            Variant::Html
        );
    }

    #[test]
    fn variant_rsc_and_prefetch() {
        assert_eq!(
            Variant::from_request(&headers(&[("rsc", "1")])),
            Variant::Rsc
        );
        assert_eq!(
            Variant::from_request(&headers(&[("RSC", " 1 ")])),
            Variant::Rsc
        );
        assert_eq!(
            Variant::from_request(&headers(&[("rsc", "1"), ("next-router-prefetch", "1")])),
            Variant::RscPrefetch
        );
        assert_eq!(
            Variant::from_request(&headers(&[("rsc", "1"), ("next-router-prefetch", "0")])),
            Variant::Rsc
        );
    }

    #[test]
    fn prefetch_without_rsc_is_html() {
        assert_eq!(
            Variant::from_request(&headers(&[("next-router-prefetch", "1")])),
            Variant::Html
        );
    }

    #[test]
    fn encoding_without_header_is_identity() {
        assert_eq!(encoding(&[]), EncodingClass::Identity);
        assert_eq!(encoding(&[""]), EncodingClass::Identity);
        assert_eq!(encoding(&["identity"]), EncodingClass::Identity);
        assert_eq!(encoding(&["deflate, zstd"]), EncodingClass::Identity);
    }

    #[test]
    fn encoding_prefers_br_then_gzip() {
        assert_eq!(encoding(&["gzip, deflate, br"]), EncodingClass::Br);
        assert_eq!(encoding(&["gzip, deflate"]), EncodingClass::Gzip);
        assert_eq!(encoding(&["br;q=0.1, gzip;q=1.0"]), EncodingClass::Br);
        assert_eq!(encoding(&["x-gzip"]), EncodingClass::Gzip);
        assert_eq!(encoding(&["GZIP", "BR"]), EncodingClass::Br);
    }

    #[test]
    fn encoding_q_zero_refuses() {
        assert_eq!(encoding(&["br;q=0, gzip"]), EncodingClass::Gzip);
        assert_eq!(
            encoding(&["br;q=0.000, gzip;q=0.0"]),
            EncodingClass::Identity
        );
        assert_eq!(
            encoding(&["br ; Q = 0 , gzip ; q=0.5"]),
            EncodingClass::Gzip
        );
        assert_eq!(encoding(&["gzip;q=0.001"]), EncodingClass::Gzip);
    }

    #[test]
    fn encoding_refusal_wins_over_acceptance() {
        assert_eq!(encoding(&["br, br;q=0"]), EncodingClass::Identity);
        assert_eq!(encoding(&["br;q=0", "br"]), EncodingClass::Identity);
    }

    #[test]
    fn encoding_wildcard_means_gzip_only() {
        assert_eq!(encoding(&["*"]), EncodingClass::Gzip);
        assert_eq!(encoding(&["*;q=0.5"]), EncodingClass::Gzip);
        assert_eq!(encoding(&["*;q=0"]), EncodingClass::Identity);
        assert_eq!(encoding(&["gzip;q=0, *"]), EncodingClass::Identity);
        assert_eq!(encoding(&["br, *;q=0"]), EncodingClass::Br);
    }

    #[test]
    fn encoding_is_total_on_garbage() {
        assert_eq!(encoding(&[",,,;;;==="]), EncodingClass::Identity);
        assert_eq!(encoding(&["br;q=abc"]), EncodingClass::Identity);
        assert_eq!(encoding(&["br;q=2, gzip;q=-1"]), EncodingClass::Identity);
        assert_eq!(encoding(&["br;q"]), EncodingClass::Br);
        assert_eq!(encoding(&["gzip;level=9"]), EncodingClass::Gzip);
        let mut map = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(b"br\xff") {
            map.append(ACCEPT_ENCODING, value);
        }
        map.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(EncodingClass::from_request(&map), EncodingClass::Gzip);
    }

    #[test]
    fn raw_key_is_readable_and_length_prefixed() {
        let key = CacheKey::new(&parts("/blog/a", "page=2"));
        assert_eq!(
            key.raw(),
            "v1|11:example.com|2:b1|html|gzip|7:/blog/a|6:page=2"
        );
        assert_eq!(key.storage(), key.raw());
    }

    #[test]
    fn raw_key_covers_every_field() {
        let base = parts("/p", "a=1");
        let variants = [
            KeyParts {
                site: "other.com",
                ..base
            },
            KeyParts {
                build_id: "b2",
                ..base
            },
            KeyParts {
                variant: Variant::Rsc,
                ..base
            },
            KeyParts {
                variant: Variant::RscPrefetch,
                ..base
            },
            KeyParts {
                encoding: EncodingClass::Br,
                ..base
            },
            KeyParts {
                encoding: EncodingClass::Identity,
                ..base
            },
            KeyParts { path: "/q", ..base },
            KeyParts { query: "", ..base },
        ];
        let base_key = CacheKey::new(&base);
        for other in &variants {
            assert_ne!(CacheKey::new(other), base_key, "{other:?}");
        }
    }

    #[test]
    fn separators_inside_fields_cannot_forge_a_key() {
        let a = KeyParts {
            site: "a|1:b",
            build_id: "c",
            ..parts("/", "")
        };
        let b = KeyParts {
            site: "a",
            build_id: "b|1:c",
            ..parts("/", "")
        };
        assert_ne!(CacheKey::new(&a).raw(), CacheKey::new(&b).raw());
        let c = parts("/p|1:x", "");
        let d = parts("/p", "x");
        assert_ne!(CacheKey::new(&c).raw(), CacheKey::new(&d).raw());
    }

    #[test]
    fn long_raw_keys_are_hashed() {
        let long_path = format!("/{}", "a".repeat(300));
        let key = CacheKey::new(&parts(&long_path, ""));
        assert!(key.raw().len() > MAX_RAW_KEY_LEN);
        assert!(key.raw().contains(&long_path));
        let storage = key.storage();
        assert_eq!(storage.len(), 2 + 32);
        assert!(storage.starts_with("h:"));
        assert!(
            storage[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let hash = blake3::hash(key.raw().as_bytes());
        assert_eq!(&storage[2..], &hash.to_hex()[..32]);
    }

    #[test]
    fn hash_threshold_is_inclusive() {
        // Paths of 100..=999 bytes all have a 3-digit length prefix: the overhead is fixed.
        let probe = CacheKey::new(&parts(&"a".repeat(100), "")).raw().len();
        let overhead = probe - 100;
        let path = "a".repeat(MAX_RAW_KEY_LEN - overhead);
        let at_limit = CacheKey::new(&parts(&path, ""));
        assert_eq!(at_limit.raw().len(), MAX_RAW_KEY_LEN);
        assert_eq!(at_limit.storage(), at_limit.raw());
        let over = CacheKey::new(&parts(&format!("{path}a"), ""));
        assert_eq!(over.raw().len(), MAX_RAW_KEY_LEN + 1);
        assert!(over.storage().starts_with("h:"));
    }

    #[test]
    fn different_long_keys_hash_differently() {
        let a = CacheKey::new(&parts(&format!("/{}", "a".repeat(300)), ""));
        let b = CacheKey::new(&parts(&format!("/{}", "b".repeat(300)), ""));
        assert_ne!(a.storage(), b.storage());
    }
}
