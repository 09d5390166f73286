//! Content codings (RFC 9110 §8.4.1): the names isr reads in `Content-Encoding`, and the
//! `Accept-Encoding` negotiation that picks which stored representation of a page a
//! request gets ([`negotiate_accept_encoding`]).
//!
//! `Accept-Encoding` is isr's to answer, never a Vary secondary key: a page is rendered
//! and stored once, as identity, with its compressed representations beside it, and every
//! request is served one of them. Code that handles `Vary` defers to this module for
//! `Accept-Encoding` ([`is_negotiated_here`]).
//!
//! Invariants:
//! - Negotiation is total: any header, however malformed, picks a representation; an item
//!   whose q-value cannot be read is ignored, never an error.
//! - A client is never sent a coding it did not accept: a coding refused anywhere in its
//!   header (`q=0`) stays refused, and no header at all means identity (curl, probes and
//!   old clients send none and cannot decode anything).
//! - `*` accepts gzip (and identity) only, never `br` or `zstd`: some clients that send
//!   `*` cannot decode them, and gzip is what every HTTP client can.
//! - When nothing offered is acceptable, identity is sent, even against `identity;q=0`: a
//!   cached page always has an answer (RFC 9110 §12.5.3 lets a server do so).

use http::HeaderMap;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, HeaderName};

/// A content coding isr can decode, and (all but [`Coding::Deflate`]) make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    /// Brotli (RFC 7932).
    Br,
    /// Zstandard (RFC 8878).
    Zstd,
    /// gzip (RFC 1952); `x-gzip` is read as this.
    Gzip,
    /// zlib-wrapped deflate (RFC 1950); decoded from origins, never made.
    Deflate,
}

/// The codings isr makes at store time, in the order it prefers them when a client
/// accepts several equally: smallest first.
pub const MADE: [Coding; 3] = [Coding::Br, Coding::Zstd, Coding::Gzip];

impl Coding {
    /// The coding's name in `Content-Encoding` and `Accept-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }

    /// The coding a token names (case-insensitive; `x-gzip` is gzip), if isr knows it.
    pub fn from_token(token: &str) -> Option<Coding> {
        [Coding::Br, Coding::Zstd, Coding::Gzip, Coding::Deflate]
            .into_iter()
            .find(|coding| token.eq_ignore_ascii_case(coding.as_str()))
            .or_else(|| token.eq_ignore_ascii_case("x-gzip").then_some(Coding::Gzip))
    }

    /// The byte the entry format stores this coding as.
    pub fn to_byte(self) -> u8 {
        match self {
            Coding::Br => 1,
            Coding::Zstd => 2,
            Coding::Gzip => 3,
            Coding::Deflate => 4,
        }
    }

    /// The coding [`Coding::to_byte`] wrote, if `byte` is one.
    pub fn from_byte(byte: u8) -> Option<Coding> {
        [Coding::Br, Coding::Zstd, Coding::Gzip, Coding::Deflate]
            .into_iter()
            .find(|coding| coding.to_byte() == byte)
    }

    /// The strong (or weak) validator of this coding's representation of a page whose
    /// identity validator is `etag`: `"abc"` gives `"abc-br"`, `W/"abc"` gives
    /// `W/"abc-br"`. Distinct per coding, so `If-None-Match` matches one representation.
    pub fn representation_etag(self, etag: &str) -> String {
        let (weak, opaque) = etag.strip_prefix("W/").map_or(("", etag), |o| ("W/", o));
        let inner = opaque
            .strip_prefix('"')
            .and_then(|o| o.strip_suffix('"'))
            .unwrap_or_else(|| opaque.trim_matches('"'));
        format!("{weak}\"{inner}-{}\"", self.as_str())
    }
}

/// Is `name` a request header this module answers (so `Vary` on it needs no secondary
/// key)? Only `Accept-Encoding`.
pub fn is_negotiated_here(name: &HeaderName) -> bool {
    name == ACCEPT_ENCODING
}

/// The `Content-Encoding` of a response names a coding isr cannot decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported Content-Encoding `{0}`")]
pub struct UnknownCoding(pub String);

/// The codings a response's `Content-Encoding` says were applied, in the order they were
/// applied (decode in reverse); `identity` is skipped and an absent header gives none.
pub fn content_codings(headers: &HeaderMap) -> Result<Vec<Coding>, UnknownCoding> {
    let mut codings = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let text = value
            .to_str()
            .map_err(|_| UnknownCoding(String::from_utf8_lossy(value.as_bytes()).into_owned()))?;
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if token.eq_ignore_ascii_case("identity") {
                continue;
            }
            codings.push(Coding::from_token(token).ok_or_else(|| UnknownCoding(token.to_owned()))?);
        }
    }
    Ok(codings)
}

/// A q-value in thousandths (RFC 9110 §12.4.2: at most three decimals), 0 to 1000.
type Weight = u16;

/// What one request's `Accept-Encoding` says about each coding: `None` if unmentioned.
#[derive(Debug, Default)]
struct Accepted {
    br: Option<Weight>,
    zstd: Option<Weight>,
    gzip: Option<Weight>,
    deflate: Option<Weight>,
    identity: Option<Weight>,
    any: Option<Weight>,
}

impl Accepted {
    fn from_request(headers: &HeaderMap) -> Accepted {
        let mut accepted = Accepted::default();
        for value in headers.get_all(ACCEPT_ENCODING) {
            let Ok(text) = value.to_str() else {
                continue;
            };
            for item in text.split(',') {
                accepted.record(item);
            }
        }
        accepted
    }

    /// Record one item, like `gzip;q=0.8`. A refusal wins over any acceptance of the same
    /// coding; otherwise the highest weight counts.
    fn record(&mut self, item: &str) {
        let mut parts = item.split(';');
        let token = parts.next().unwrap_or_default().trim();
        let Some(weight) = item_weight(parts) else {
            return;
        };
        let slot = if token == "*" {
            &mut self.any
        } else if token.eq_ignore_ascii_case("identity") {
            &mut self.identity
        } else {
            match Coding::from_token(token) {
                Some(Coding::Br) => &mut self.br,
                Some(Coding::Zstd) => &mut self.zstd,
                Some(Coding::Gzip) => &mut self.gzip,
                Some(Coding::Deflate) => &mut self.deflate,
                None => return,
            }
        };
        *slot = Some(match *slot {
            Some(0) => 0,
            Some(_) if weight == 0 => 0,
            Some(old) => old.max(weight),
            None => weight,
        });
    }

    /// The weight of `coding`: as listed, or (gzip only) by `*`, or 0.
    fn weight(&self, coding: Coding) -> Weight {
        let (listed, by_wildcard) = match coding {
            Coding::Br => (self.br, None),
            Coding::Zstd => (self.zstd, None),
            Coding::Gzip => (self.gzip, self.any),
            Coding::Deflate => (self.deflate, None),
        };
        listed.or(by_wildcard).unwrap_or(0)
    }
}

/// The weight of an item with these parameters: 1000 without a `q`, `None` when the
/// first `q` cannot be read.
fn item_weight<'a>(mut params: impl Iterator<Item = &'a str>) -> Option<Weight> {
    let q = params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("q")
            .then_some(value.trim())
    });
    match q {
        None => Some(1000),
        Some(value) => parse_qvalue(value),
    }
}

/// RFC 9110 `qvalue` in thousandths, read leniently (more than three decimals are cut):
/// anything but a `0` or `1` integer part, or a non-digit decimal, is unreadable.
fn parse_qvalue(value: &str) -> Option<Weight> {
    let (integer, fraction) = value.split_once('.').unwrap_or((value, ""));
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match integer {
        "1" => Some(1000),
        "0" => {
            let mut thousandths: Weight = 0;
            for (place, digit) in fraction.bytes().take(3).enumerate() {
                let scale = [100, 10, 1].get(place).copied().unwrap_or(0);
                thousandths += Weight::from(digit - b'0') * scale;
            }
            // `0.0001` is not a refusal: only an all-zero value is.
            if thousandths == 0 && fraction.bytes().any(|b| b != b'0') {
                thousandths = 1;
            }
            Some(thousandths)
        }
        _ => None,
    }
}

/// The coding of the representation to send a request with `headers`, among `offered`
/// (the codings a page is stored in besides identity); `None`: identity.
///
/// The highest q-value wins; among equal ones, the order of [`MADE`] (br, zstd, gzip),
/// and any coding over identity unless the client gave identity a higher q-value itself.
/// See the module invariants for `*`, refusals and requests without the header.
pub fn negotiate_accept_encoding(
    headers: &HeaderMap,
    offered: impl IntoIterator<Item = Coding>,
) -> Option<Coding> {
    if !headers.contains_key(ACCEPT_ENCODING) {
        return None;
    }
    let accepted = Accepted::from_request(headers);
    let mut best: Option<(Coding, Weight)> = None;
    for coding in offered {
        let weight = accepted.weight(coding);
        if weight == 0 {
            continue;
        }
        let rank = |c: Coding| MADE.iter().position(|&m| m == c).unwrap_or(MADE.len());
        let better = match best {
            None => true,
            Some((held, held_weight)) => {
                weight > held_weight || (weight == held_weight && rank(coding) < rank(held))
            }
        };
        if better {
            best = Some((coding, weight));
        }
    }
    let (coding, weight) = best?;
    let identity = accepted.identity.or(accepted.any);
    match identity {
        Some(identity_weight) if identity_weight > weight => None,
        _ => Some(coding),
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const ALL: [Coding; 3] = MADE;

    fn pick(values: &[&'static str]) -> Option<Coding> {
        pick_from(values, &ALL)
    }

    fn pick_from(values: &[&'static str], offered: &[Coding]) -> Option<Coding> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_static(value));
        }
        negotiate_accept_encoding(&headers, offered.iter().copied())
    }

    #[test]
    fn browsers_get_br_and_the_server_order_breaks_ties() {
        assert_eq!(pick(&["gzip, deflate, br, zstd"]), Some(Coding::Br));
        assert_eq!(pick(&["gzip, zstd"]), Some(Coding::Zstd));
        assert_eq!(pick(&["gzip, deflate"]), Some(Coding::Gzip));
        assert_eq!(pick(&["GZIP", "BR"]), Some(Coding::Br));
        assert_eq!(pick(&["x-gzip"]), Some(Coding::Gzip));
    }

    #[test]
    fn the_highest_q_value_wins() {
        assert_eq!(pick(&["br;q=0.1, gzip;q=1.0"]), Some(Coding::Gzip));
        assert_eq!(
            pick(&["br;q=0.5, zstd;q=0.8, gzip;q=0.7"]),
            Some(Coding::Zstd)
        );
        assert_eq!(pick(&["gzip;q=0.001"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br;q=0.0001, gzip;q=0.0001"]), Some(Coding::Br));
        assert_eq!(pick(&["br ; Q = 0.3 , gzip ; q=0.5"]), Some(Coding::Gzip));
    }

    #[test]
    fn identity_is_chosen_only_when_preferred_or_nothing_else_fits() {
        assert_eq!(pick(&[]), None);
        assert_eq!(pick(&[""]), None);
        assert_eq!(pick(&["identity"]), None);
        assert_eq!(pick(&["gzip;q=0.5, identity"]), None);
        assert_eq!(pick(&["gzip, identity"]), Some(Coding::Gzip));
        assert_eq!(pick(&["deflate"]), None);
        assert_eq!(pick_from(&["br"], &[]), None);
        assert_eq!(pick_from(&["br"], &[Coding::Gzip]), None);
    }

    #[test]
    fn identity_refused_still_gets_a_coding_when_one_is_offered() {
        assert_eq!(pick(&["identity;q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["*;q=0, br"]), Some(Coding::Br));
        // Nothing acceptable is offered: identity all the same (the page has an answer).
        assert_eq!(pick(&["identity;q=0"]), None);
    }

    #[test]
    fn a_refusal_wins_over_any_acceptance() {
        assert_eq!(pick(&["br;q=0, gzip"]), Some(Coding::Gzip));
        assert_eq!(pick(&["br, br;q=0"]), None);
        assert_eq!(pick(&["br;q=0", "br"]), None);
        assert_eq!(pick(&["br;q=0.000, gzip;q=0.0"]), None);
    }

    #[test]
    fn a_wildcard_accepts_gzip_only() {
        assert_eq!(pick(&["*"]), Some(Coding::Gzip));
        assert_eq!(pick(&["*;q=0.5"]), Some(Coding::Gzip));
        assert_eq!(pick(&["*;q=0"]), None);
        assert_eq!(pick(&["gzip;q=0, *"]), None);
        assert_eq!(pick(&["br, *;q=0"]), Some(Coding::Br));
        assert_eq!(pick_from(&["*"], &[Coding::Br, Coding::Zstd]), None);
    }

    #[test]
    fn garbage_is_ignored_never_an_error() {
        assert_eq!(pick(&[",,,;;;==="]), None);
        assert_eq!(pick(&["br;q=abc"]), None);
        assert_eq!(pick(&["br;q=2, gzip;q=-1"]), None);
        assert_eq!(pick(&["br;q"]), Some(Coding::Br));
        assert_eq!(pick(&["gzip;level=9"]), Some(Coding::Gzip));
        let mut headers = HeaderMap::new();
        headers.append(ACCEPT_ENCODING, HeaderValue::from_bytes(b"br\xff").unwrap());
        headers.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(negotiate_accept_encoding(&headers, ALL), Some(Coding::Gzip));
    }

    proptest::proptest! {
        /// Whatever the header, the coding chosen was accepted (by name, its alias, or
        /// `*` for gzip) and never refused by name.
        #[test]
        fn a_client_is_never_sent_a_coding_it_did_not_accept(
            items in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["br", "zstd", "gzip", "x-gzip", "deflate", "identity", "*", "foo"]),
                    proptest::sample::select(vec!["", ";q=0", ";q=0.000", ";q=0.5", ";q=1", ";q=0.001", ";q=x"]),
                ),
                0..6,
            )
        ) {
            let value: Vec<String> = items.iter().map(|(t, q)| format!("{t}{q}")).collect();
            let value = value.join(", ");
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(&value).unwrap());
            let Some(chosen) = negotiate_accept_encoding(&headers, MADE) else {
                return Ok(());
            };
            let names = |token: &str| {
                Coding::from_token(token) == Some(chosen)
                    || (token == "*" && chosen == Coding::Gzip)
            };
            let refused = |q: &str| q == ";q=0" || q == ";q=0.000";
            let readable = |q: &str| q != ";q=x";
            proptest::prop_assert!(
                items.iter().any(|(t, q)| names(t) && readable(q) && !refused(q)),
                "{value}: {chosen:?} was not accepted"
            );
            proptest::prop_assert!(
                !items.iter().any(|(t, q)| Coding::from_token(t) == Some(chosen) && refused(q)),
                "{value}: {chosen:?} was refused"
            );
        }
    }

    #[test]
    fn content_codings_are_read_in_order_and_unknown_ones_are_named() {
        let mut headers = HeaderMap::new();
        assert_eq!(content_codings(&headers), Ok(vec![]));
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
        assert_eq!(content_codings(&headers), Ok(vec![]));
        headers.insert(
            CONTENT_ENCODING,
            HeaderValue::from_static("deflate, X-GZIP"),
        );
        assert_eq!(
            content_codings(&headers),
            Ok(vec![Coding::Deflate, Coding::Gzip])
        );
        headers.append(CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(
            content_codings(&headers),
            Ok(vec![Coding::Deflate, Coding::Gzip, Coding::Br])
        );
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("compress"));
        assert_eq!(
            content_codings(&headers),
            Err(UnknownCoding("compress".to_owned()))
        );
    }

    #[test]
    fn every_representation_has_its_own_validator() {
        assert_eq!(Coding::Br.representation_etag("\"abc\""), "\"abc-br\"");
        assert_eq!(
            Coding::Gzip.representation_etag("W/\"abc\""),
            "W/\"abc-gzip\""
        );
        assert_eq!(Coding::Zstd.representation_etag("abc"), "\"abc-zstd\"");
        assert_eq!(Coding::Zstd.representation_etag("\""), "\"-zstd\"");
        for coding in [Coding::Br, Coding::Zstd, Coding::Gzip, Coding::Deflate] {
            assert_eq!(Coding::from_byte(coding.to_byte()), Some(coding));
            assert_eq!(Coding::from_token(coding.as_str()), Some(coding));
        }
        assert_eq!(Coding::from_byte(0), None);
    }
}
