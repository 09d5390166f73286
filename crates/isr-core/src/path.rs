//! Request path and query normalisation: the same result is used for the cache key and
//! for the request forwarded to the origin, so what is rendered is what the key says.
//!
//! Invariants:
//! - Percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded; every other
//!   percent-encoding is kept, with upper-case hex. `%2F` stays encoded: it is not a separator.
//! - `.` and `..` segments are resolved (RFC 3986 §5.2.4) and `//` runs collapse to `/`,
//!   after decoding, so `/a/%2e%2e/b` and `/b` are one path; `..` never climbs above `/`.
//! - A path with a control character (raw or as `%00`–`%1F`, `%7F`), or one that is not
//!   absolute, is an error (the caller answers 400).

/// Why a path or query was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("request path must start with '/'")]
    /// The path does not start with `/`.
    NotAbsolute,
    #[error("request path contains a control character")]
    /// The path contains a control character.
    ControlCharacter,
    #[error("request path contains an invalid percent-encoding")]
    /// A `%` is not followed by two hex digits.
    BadPercentEncoding,
    #[error("request target is longer than {0} bytes")]
    /// The target is longer than this many bytes.
    TooLong(usize),
}

/// Longest request target (path plus query) accepted.
pub const MAX_TARGET_LEN: usize = 8 * 1024;

/// Normalise a request path (without the query).
///
/// Percent-encodings are normalised first (unreserved characters decoded, the rest kept
/// with upper-case hex; raw non-ASCII bytes, spaces, `#` and `?` are encoded so the result
/// can be forwarded as it is), then `.`/`..` segments are resolved and `//` runs collapse.
/// A trailing slash is kept (`/blog/` is not `/blog`), and a final `.` or `..` segment
/// leaves one, as RFC 3986 §5.2.4 does. The result is a fixed point: normalising it again
/// gives it back unchanged.
///
/// Errors: [`PathError::TooLong`] if the input or the result is longer than
/// [`MAX_TARGET_LEN`], [`PathError::NotAbsolute`], [`PathError::ControlCharacter`] (raw
/// or `%00`–`%1F`, `%7F`), and [`PathError::BadPercentEncoding`] (`%` not followed by two
/// hex digits).
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    check_length(raw)?;
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    // Most request paths are already normal: one copy, instead of two passes that rebuild it.
    if is_normal(raw) {
        return Ok(raw.to_owned());
    }
    let encoded = normalize_path_encoding(raw)?;
    let resolved = remove_dot_segments(&encoded);
    // Encoding can grow the text; checking the result too keeps every output a valid input.
    check_length(&resolved)?;
    Ok(resolved)
}

/// [`normalize_path`] without a copy when `raw` is already normal (most request paths):
/// for callers that only read the result, like the route a request is counted under.
pub fn normalized(raw: &str) -> Result<std::borrow::Cow<'_, str>, PathError> {
    check_length(raw)?;
    if raw.starts_with('/') && is_normal(raw) {
        return Ok(std::borrow::Cow::Borrowed(raw));
    }
    normalize_path(raw).map(std::borrow::Cow::Owned)
}

/// Would normalising `raw` (absolute) leave it as it is? True when it has no escape and
/// no byte to escape, and no empty (but a last), `.` or `..` segment.
fn is_normal(raw: &str) -> bool {
    let plain = |b: u8| b.is_ascii() && !is_control(b) && b != b'%' && !PATH_ESCAPED.contains(&b);
    if !raw.bytes().all(plain) {
        return false;
    }
    let mut segments = raw.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        match segment {
            "." | ".." => return false,
            "" if !last => return false,
            _ => {}
        }
    }
    true
}

/// Which query parameters are part of the key (and forwarded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryKeys {
    /// Every parameter (used when no route matched: the key is the full URL).
    All,
    /// Only these names; others are dropped from the key and from the forwarded request.
    Only(Vec<String>),
}

/// The canonical query for keying and forwarding: the selected parameters (split on `&`
/// only), each with normalised percent-encoding, stably sorted by name; `""` if none.
///
/// Splitting on `&` only is deliberate: `utm_x=a;cb=evil` is one parameter named `utm_x`,
/// so a parameter the key ignores cannot smuggle another one to an origin that also splits
/// on `;` (the forwarded query is rebuilt from this output, never from the raw one).
///
/// Names and values are normalised like paths, except that nothing is an error: unreserved
/// characters are decoded, other escapes get upper-case hex, a malformed `%` becomes `%25`,
/// and control characters, non-ASCII bytes, spaces and `#` are percent-encoded. `+` is kept
/// as it is. `a` and `a=` stay distinct. [`QueryKeys::Only`] names are compared with the
/// normalised parameter name (and are normalised the same way first).
pub fn canonical_query(raw: Option<&str>, keys: &QueryKeys) -> String {
    let Some(raw) = raw else {
        return String::new();
    };
    let wanted = WantedNames::new(keys);
    let mut params: Vec<QueryParam> = raw
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(QueryParam::parse)
        .filter(|param| wanted.contains(&param.name))
        .collect();
    // `sort_by` is stable: duplicates keep their relative order, which origins may rely on.
    params.sort_by(|a, b| a.name.cmp(&b.name));
    join_params(&params)
}

/// Normalise one static path segment written in configuration (a route pattern) the way
/// [`normalize_path`] normalises request paths, so the two compare byte for byte.
pub(crate) fn normalize_segment(raw: &str) -> Result<String, PathError> {
    normalize_path_encoding(raw)
}

fn check_length(text: &str) -> Result<(), PathError> {
    if text.len() > MAX_TARGET_LEN {
        return Err(PathError::TooLong(MAX_TARGET_LEN));
    }
    Ok(())
}

/// Bytes that are legal in a `&str` but must not travel raw in a forwarded path: a space
/// would split the request line, `#` and `?` would end the path early.
const PATH_ESCAPED: &[u8] = b" #?";
/// In a query `?` is an ordinary character; a space or `#` is not.
const QUERY_ESCAPED: &[u8] = b" #";

/// Percent-encoding normalisation of a path (or a path segment), rejecting what a path may
/// not contain.
fn normalize_path_encoding(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let value = escaped_value(bytes, index).ok_or(PathError::BadPercentEncoding)?;
            if is_control(value) {
                return Err(PathError::ControlCharacter);
            }
            push_decoded_or_escaped(&mut out, value);
            index += 3;
        } else if is_control(byte) {
            return Err(PathError::ControlCharacter);
        } else {
            push_raw(&mut out, byte, PATH_ESCAPED);
            index += 1;
        }
    }
    Ok(out)
}

/// Percent-encoding normalisation of a query name or value: total, never an error.
fn normalize_query_component(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            match escaped_value(bytes, index) {
                Some(value) => {
                    push_decoded_or_escaped(&mut out, value);
                    index += 3;
                }
                None => {
                    // A lone `%` means itself; `%25` is a complete escape, so the bytes
                    // after it can never merge with it into a new escape next time.
                    push_escaped(&mut out, b'%');
                    index += 1;
                }
            }
        } else if is_control(byte) {
            push_escaped(&mut out, byte);
            index += 1;
        } else {
            push_raw(&mut out, byte, QUERY_ESCAPED);
            index += 1;
        }
    }
    out
}

/// The byte encoded by the `%XX` starting at `percent_index`, if both digits are hex.
fn escaped_value(bytes: &[u8], percent_index: usize) -> Option<u8> {
    let high = hex_digit_value(*bytes.get(percent_index + 1)?)?;
    let low = hex_digit_value(*bytes.get(percent_index + 2)?)?;
    Some(high << 4 | low)
}

fn hex_digit_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7F
}

/// RFC 3986 §2.3: these mean the same encoded or not, so they are kept decoded.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn push_decoded_or_escaped(out: &mut String, value: u8) {
    if is_unreserved(value) {
        out.push(char::from(value));
    } else {
        push_escaped(out, value);
    }
}

/// Push a raw (unescaped) input byte: as itself if it may travel raw, else escaped.
fn push_raw(out: &mut String, byte: u8, escaped: &[u8]) {
    if byte.is_ascii() && !escaped.contains(&byte) {
        out.push(char::from(byte));
    } else {
        push_escaped(out, byte);
    }
}

fn push_escaped(out: &mut String, byte: u8) {
    out.push('%');
    out.push(upper_hex_digit(byte >> 4));
    out.push(upper_hex_digit(byte & 0x0F));
}

/// The upper-case hex digit for a nibble (a value below 16).
fn upper_hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + nibble - 10
    })
}

/// Resolve `.` and `..` (RFC 3986 §5.2.4) and collapse empty segments. `path` starts
/// with `/` and is already percent-normalised, so `%2E%2E` has become `..` and is resolved,
/// while `..%2F` is one ordinary segment.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    // The first piece is the empty text before the leading '/'.
    for segment in path.split('/').skip(1) {
        // Only the last segment decides: `/a/` and `/a/.` end in a slash, `/a//b` does not.
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            _ => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// The configured names to keep, normalised like parameter names; `None` keeps all.
struct WantedNames(Option<Vec<String>>);

impl WantedNames {
    fn new(keys: &QueryKeys) -> WantedNames {
        match keys {
            QueryKeys::All => WantedNames(None),
            QueryKeys::Only(names) => WantedNames(Some(
                names
                    .iter()
                    .map(|name| normalize_query_component(name))
                    .collect(),
            )),
        }
    }

    fn contains(&self, name: &str) -> bool {
        match &self.0 {
            None => true,
            Some(names) => names.iter().any(|wanted| wanted == name),
        }
    }
}

/// One normalised parameter; `value` is `None` when the piece had no `=`.
struct QueryParam {
    name: String,
    value: Option<String>,
}

impl QueryParam {
    fn parse(piece: &str) -> QueryParam {
        match piece.split_once('=') {
            Some((name, value)) => QueryParam {
                name: normalize_query_component(name),
                value: Some(normalize_query_component(value)),
            },
            None => QueryParam {
                name: normalize_query_component(piece),
                value: None,
            },
        }
    }
}

fn join_params(params: &[QueryParam]) -> String {
    let mut out = String::new();
    for (position, param) in params.iter().enumerate() {
        if position > 0 {
            out.push('&');
        }
        out.push_str(&param.name);
        if let Some(value) = &param.value {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fast path is taken only where the full normalisation would change nothing.
        #[test]
        fn the_fast_path_agrees_with_the_full_normalisation(raw in "/[a-z./%2E ?#~_\\-]{0,24}") {
            let full = normalize_path_encoding(&raw).map(|encoded| remove_dot_segments(&encoded));
            if is_normal(&raw) {
                prop_assert_eq!(full.as_deref(), Ok(raw.as_str()));
            }
            prop_assert_eq!(normalize_path(&raw), full);
        }
    }

    fn norm(raw: &str) -> String {
        match normalize_path(raw) {
            Ok(path) => path,
            Err(error) => panic!("{raw:?} was rejected: {error}"),
        }
    }

    fn only(names: &[&str]) -> QueryKeys {
        QueryKeys::Only(names.iter().map(|name| (*name).to_owned()).collect())
    }

    fn all(raw: &str) -> String {
        canonical_query(Some(raw), &QueryKeys::All)
    }

    #[test]
    fn plain_paths_are_unchanged() {
        for path in [
            "/",
            "/about",
            "/blog/hello-world",
            "/a/b/c.html",
            "/~user/_x-y",
        ] {
            assert_eq!(norm(path), path);
        }
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(norm("/blog/"), "/blog/");
        assert_eq!(norm("/blog"), "/blog");
        assert_ne!(norm("/blog/"), norm("/blog"));
    }

    #[test]
    fn slash_runs_collapse() {
        assert_eq!(norm("//a///b//"), "/a/b/");
        assert_eq!(norm("//"), "/");
        assert_eq!(norm("/a//b"), "/a/b");
    }

    #[test]
    fn dot_segments_resolve() {
        assert_eq!(norm("/a/./b"), "/a/b");
        assert_eq!(norm("/a/b/../c"), "/a/c");
        assert_eq!(norm("/assets/../account"), "/account");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/a/."), "/a/");
        assert_eq!(norm("/a/.."), "/");
        assert_eq!(norm("/."), "/");
    }

    #[test]
    fn dot_dot_never_climbs_above_root() {
        assert_eq!(norm("/.."), "/");
        assert_eq!(norm("/../../etc/passwd"), "/etc/passwd");
        assert_eq!(norm("/a/../../../b"), "/b");
    }

    #[test]
    fn encoded_dots_resolve_after_decoding() {
        assert_eq!(norm("/a/%2e%2e/b"), "/b");
        assert_eq!(norm("/a/%2E%2E/b"), "/b");
        assert_eq!(norm("/a/.%2e/b"), "/b");
        assert_eq!(norm("/a/%2e/b"), "/a/b");
    }

    #[test]
    fn encoded_slash_is_not_a_separator() {
        assert_eq!(norm("/static/..%2faccount"), "/static/..%2Faccount");
        assert_eq!(norm("/static/..%2Faccount"), "/static/..%2Faccount");
        assert_eq!(norm("/a%2fb"), "/a%2Fb");
        assert_eq!(norm("/a/%2e%2e%2fb"), "/a/..%2Fb");
    }

    #[test]
    fn unreserved_escapes_decode_and_others_get_upper_hex() {
        assert_eq!(norm("/%41%62%7e%2d%5f%30"), "/Ab~-_0");
        assert_eq!(norm("/a%3ab"), "/a%3Ab");
        assert_eq!(norm("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(norm("/100%25"), "/100%25");
        assert_eq!(norm("/a%20b"), "/a%20b");
    }

    #[test]
    fn raw_characters_that_cannot_travel_are_encoded() {
        assert_eq!(norm("/café"), "/caf%C3%A9");
        assert_eq!(norm("/a b"), "/a%20b");
        assert_eq!(norm("/a?b#c"), "/a%3Fb%23c");
        assert_eq!(norm("/café"), norm("/caf%C3%A9"));
    }

    #[test]
    fn sub_delims_stay_raw() {
        assert_eq!(norm("/a:b@c!$&'()*+,;="), "/a:b@c!$&'()*+,;=");
    }

    #[test]
    fn must_be_absolute() {
        assert_eq!(normalize_path(""), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("*"), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("http://x/a"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn control_characters_are_rejected() {
        for raw in [
            "/a%00b",
            "/%0a",
            "/%0D%0Aset-cookie:x",
            "/%1f",
            "/%7F",
            "/%7f",
        ] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::ControlCharacter),
                "{raw}"
            );
        }
        for raw in ["/a\0b", "/a\nb", "/a\rb", "/\t", "/\x7f"] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::ControlCharacter),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        for raw in ["/%zz", "/%4", "/%", "/a%g1", "/%%41", "/%4%41"] {
            assert_eq!(
                normalize_path(raw),
                Err(PathError::BadPercentEncoding),
                "{raw}"
            );
        }
    }

    #[test]
    fn overlong_paths_are_rejected() {
        let limit = format!("/{}", "a".repeat(MAX_TARGET_LEN - 1));
        assert_eq!(normalize_path(&limit).map(|p| p.len()), Ok(MAX_TARGET_LEN));
        let over = format!("/{}", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(
            normalize_path(&over),
            Err(PathError::TooLong(MAX_TARGET_LEN))
        );
    }

    #[test]
    fn paths_that_grow_past_the_limit_are_rejected() {
        // Fits raw, but each 2-byte character becomes 6 bytes of escapes.
        let raw = format!("/{}", "é".repeat(MAX_TARGET_LEN / 4));
        assert!(raw.len() <= MAX_TARGET_LEN);
        assert_eq!(
            normalize_path(&raw),
            Err(PathError::TooLong(MAX_TARGET_LEN))
        );
    }

    #[test]
    fn normalisation_is_idempotent_on_examples() {
        for raw in [
            "/a/%2e%2e/b",
            "/static/..%2faccount",
            "//x/./y/../z/",
            "/caf%c3%a9/",
            "/a b?c",
            "/a/..",
        ] {
            let once = norm(raw);
            assert_eq!(norm(&once), once, "{raw}");
        }
    }

    #[test]
    fn normalize_segment_matches_path_rules() {
        assert_eq!(normalize_segment("caf%c3%a9"), Ok("caf%C3%A9".to_owned()));
        assert_eq!(normalize_segment("%7e"), Ok("~".to_owned()));
        assert_eq!(normalize_segment("%00"), Err(PathError::ControlCharacter));
    }

    #[test]
    fn query_none_or_empty_is_empty() {
        assert_eq!(canonical_query(None, &QueryKeys::All), "");
        assert_eq!(canonical_query(Some(""), &QueryKeys::All), "");
        assert_eq!(canonical_query(Some("&&&"), &QueryKeys::All), "");
    }

    #[test]
    fn query_is_sorted_by_name_stably() {
        assert_eq!(all("b=2&a=1&c=3"), "a=1&b=2&c=3");
        assert_eq!(all("b=2&a=z&a=y&a=x"), "a=z&a=y&a=x&b=2");
    }

    #[test]
    fn query_drops_empty_pieces() {
        assert_eq!(all("&a=1&&b=2&"), "a=1&b=2");
    }

    #[test]
    fn query_unreserved_escapes_are_decoded() {
        assert_eq!(all("a=1"), all("a=%31"));
        assert_eq!(all("%61=%7e"), "a=~");
    }

    #[test]
    fn query_other_escapes_get_upper_hex() {
        assert_eq!(all("q=a%2fb%3d"), "q=a%2Fb%3D");
        assert_eq!(all("q=%c3%a9"), "q=%C3%A9");
        assert_eq!(all("q=%00"), "q=%00");
    }

    #[test]
    fn query_malformed_percent_becomes_25() {
        assert_eq!(all("q=100%"), "q=100%25");
        assert_eq!(all("q=%zz"), "q=%25zz");
        assert_eq!(all("q=%4"), "q=%254");
        assert_eq!(all("q=%%41"), "q=%25A");
    }

    #[test]
    fn query_control_and_non_ascii_are_encoded() {
        assert_eq!(all("q=a\nb"), "q=a%0Ab");
        assert_eq!(all("q=é"), "q=%C3%A9");
        assert_eq!(all("q=a b#c"), "q=a%20b%23c");
        assert_eq!(all("q=\x7f"), "q=%7F");
    }

    #[test]
    fn query_keeps_plus_and_equals_in_values() {
        assert_eq!(all("q=a+b"), "q=a+b");
        assert_eq!(all("q=a=b"), "q=a=b");
    }

    #[test]
    fn query_name_without_value_differs_from_empty_value() {
        assert_eq!(all("a"), "a");
        assert_eq!(all("a="), "a=");
    }

    #[test]
    fn query_splits_on_ampersand_only() {
        // One parameter named `utm_x`: dropping it drops the `;cb=evil` rider too.
        assert_eq!(all("utm_x=a;cb=evil"), "utm_x=a;cb=evil");
        assert_eq!(
            canonical_query(Some("utm_x=a;cb=evil&page=2"), &only(&["page", "cb"])),
            "page=2"
        );
    }

    #[test]
    fn query_only_keeps_listed_names() {
        let keys = only(&["page", "sort"]);
        assert_eq!(
            canonical_query(Some("utm_source=x&sort=asc&page=2&fbclid=y"), &keys),
            "page=2&sort=asc"
        );
        assert_eq!(canonical_query(Some("utm_source=x"), &keys), "");
        assert_eq!(canonical_query(Some("page=1"), &only(&[])), "");
    }

    #[test]
    fn query_only_compares_normalised_names() {
        assert_eq!(
            canonical_query(Some("p%61ge=2"), &only(&["page"])),
            "page=2"
        );
        assert_eq!(canonical_query(Some("a%20b=1"), &only(&["a b"])), "a%20b=1");
    }

    #[test]
    fn query_is_idempotent_on_examples() {
        for raw in ["b=%zz&a=%%41", "q=é&x", "z=1;y=2&a=%2f", "%=%", "a=%4%41"] {
            let once = all(raw);
            assert_eq!(all(&once), once, "{raw}");
        }
    }
}
