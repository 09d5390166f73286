//! Property tests for path normalisation, route matching and cache keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::cmp::Ordering;

use http::HeaderMap;
use isr_core::key::{CacheKey, EncodingClass, KeyParts, Variant};
use isr_core::path::{QueryKeys, canonical_query, normalize_path};
use isr_core::route::{Pattern, Router};
use proptest::prelude::*;
use proptest::sample::select;

// ---------------------------------------------------------------- paths and queries

/// Raw paths built from the pieces that make normalisation interesting.
fn raw_path() -> impl Strategy<Value = String> {
    let piece = select(vec![
        "/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%", "%4", "%41", "%7e", "%c3%a9", "%00",
        "%7f", "a", "b", "~", "é", " ", "?", "#", "\n", ":", "+",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| format!("/{}", pieces.concat()))
}

/// Raw queries built from the pieces that make canonicalisation interesting.
fn raw_query() -> impl Strategy<Value = String> {
    let piece = select(vec![
        "&", "=", ";", "a", "b", "c", "%", "%4", "%41", "%2f", "%zz", "%25", "+", "é", "\n", " ",
        "#", "?", "%00",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn normalize_path_is_idempotent_and_clean(raw in prop_oneof![raw_path(), any::<String>()]) {
        if let Ok(once) = normalize_path(&raw) {
            prop_assert_eq!(normalize_path(&once), Ok(once.clone()));
            prop_assert!(once.starts_with('/'));
            prop_assert!(!once.contains("//"), "{:?} -> {:?}", raw, once);
            prop_assert!(
                once.split('/').all(|segment| segment != "." && segment != ".."),
                "{:?} -> {:?}", raw, once
            );
            prop_assert!(once.bytes().all(|b| b.is_ascii_graphic()), "{:?}", once);
        }
    }

    #[test]
    fn canonical_query_is_idempotent(raw in prop_oneof![raw_query(), any::<String>()]) {
        let only = QueryKeys::Only(vec!["a".to_owned(), "b".to_owned()]);
        for keys in [QueryKeys::All, only] {
            let once = canonical_query(Some(&raw), &keys);
            prop_assert_eq!(canonical_query(Some(&once), &keys), once.clone());
            prop_assert!(once.bytes().all(|b| b.is_ascii_graphic()), "{:?}", once);
        }
    }
}

// ---------------------------------------------------------------- routing

/// A pattern segment, described independently of the router's own parser.
#[derive(Clone, Debug, PartialEq)]
enum Spec {
    Static(&'static str),
    Param { bracket: bool },
    CatchAll { bracket: bool },
    OptionalCatchAll,
    Wildcard,
}

impl Spec {
    fn is_catch_all(&self) -> bool {
        matches!(
            self,
            Spec::CatchAll { .. } | Spec::OptionalCatchAll | Spec::Wildcard
        )
    }

    /// The kind of segment, ignoring the syntax used and treating `*` as a catch-all.
    fn shape(&self) -> (u8, &'static str) {
        match self {
            Spec::Static(text) => (0, text),
            Spec::Param { .. } => (1, ""),
            Spec::CatchAll { .. } | Spec::Wildcard => (2, ""),
            Spec::OptionalCatchAll => (3, ""),
        }
    }
}

fn segment_spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        3 => select(vec!["a", "b"]).prop_map(Spec::Static),
        2 => any::<bool>().prop_map(|bracket| Spec::Param { bracket }),
        1 => any::<bool>().prop_map(|bracket| Spec::CatchAll { bracket }),
        1 => Just(Spec::OptionalCatchAll),
        1 => Just(Spec::Wildcard),
    ]
}

/// A valid pattern: catch-alls only in last place.
fn pattern_spec() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(segment_spec(), 0..4).prop_filter("catch-all must be last", |specs| {
        specs
            .split_last()
            .is_none_or(|(_, before)| !before.iter().any(Spec::is_catch_all))
    })
}

fn param_name(position: usize) -> String {
    format!("p{position}")
}

fn render(specs: &[Spec], trailing_slash: bool) -> String {
    let mut out = String::new();
    for (position, spec) in specs.iter().enumerate() {
        let name = param_name(position);
        out.push('/');
        match spec {
            Spec::Static(text) => out.push_str(text),
            Spec::Param { bracket: true } => out.push_str(&format!("[{name}]")),
            Spec::Param { bracket: false } => out.push_str(&format!(":{name}")),
            Spec::CatchAll { bracket: true } => out.push_str(&format!("[...{name}]")),
            Spec::CatchAll { bracket: false } => out.push_str(&format!(":{name}*")),
            Spec::OptionalCatchAll => out.push_str(&format!("[[...{name}]]")),
            Spec::Wildcard => out.push('*'),
        }
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// Naive recursive matcher: the captures if `specs` matches `path` (segments).
fn reference_match(specs: &[Spec], path: &[&str], offset: usize) -> Option<Vec<(String, String)>> {
    let Some((spec, rest_specs)) = specs.split_first() else {
        return path.is_empty().then(Vec::new);
    };
    let name = param_name(offset);
    let one = |value: Option<&&str>| -> Option<Vec<(String, String)>> {
        let mut captures = Vec::new();
        if let Some(value) = value {
            captures.push((name.clone(), (*value).to_owned()));
        }
        let tail = path.get(1..)?;
        let mut rest = reference_match(rest_specs, tail, offset + 1)?;
        captures.append(&mut rest);
        Some(captures)
    };
    match spec {
        Spec::Static(text) => (path.first() == Some(text)).then(|| one(None)).flatten(),
        Spec::Param { .. } => path
            .first()
            .filter(|s| !s.is_empty())
            .and_then(|s| one(Some(s))),
        Spec::CatchAll { .. } => (!path.is_empty()).then(|| vec![(name, path.join("/"))]),
        Spec::Wildcard => (!path.is_empty()).then(|| vec![("*".to_owned(), path.join("/"))]),
        Spec::OptionalCatchAll => Some(vec![(name, path.join("/"))]),
    }
}

/// Specificity as the spec states it: from the left, static beats param beats catch-all
/// (and `*`) beats optional catch-all; when one pattern runs out first, the longer wins unless what it
/// has left is an optional catch-all.
fn reference_cmp(a: &[Spec], b: &[Spec]) -> Ordering {
    fn rank(spec: &Spec) -> u8 {
        match spec {
            Spec::Static(_) => 3,
            Spec::Param { .. } => 2,
            Spec::CatchAll { .. } | Spec::Wildcard => 1,
            Spec::OptionalCatchAll => 0,
        }
    }
    for position in 0.. {
        match (a.get(position), b.get(position)) {
            (None, None) => return Ordering::Equal,
            (Some(Spec::OptionalCatchAll), None) => return Ordering::Less,
            (None, Some(Spec::OptionalCatchAll)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(x), Some(y)) => match rank(x).cmp(&rank(y)) {
                Ordering::Equal => {}
                decided => return decided,
            },
        }
    }
    Ordering::Equal
}

fn same_shape(a: &[Spec], b: &[Spec]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.shape() == y.shape())
}

fn path_spec() -> impl Strategy<Value = (Vec<&'static str>, bool)> {
    (
        prop::collection::vec(select(vec!["a", "b", "c"]), 0..5),
        any::<bool>(),
    )
}

fn render_path(segments: &[&str], trailing_slash: bool) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

/// The route specs with later same-shape duplicates removed, each with its index.
fn without_conflicts(specs: &[(Vec<Spec>, bool)]) -> Vec<(usize, &[Spec], bool)> {
    let mut kept: Vec<(usize, &[Spec], bool)> = Vec::new();
    for (index, (spec, trailing)) in specs.iter().enumerate() {
        if !kept.iter().any(|(_, other, _)| same_shape(spec, other)) {
            kept.push((index, spec, *trailing));
        }
    }
    kept
}

fn build_router(routes: &[(usize, &[Spec], bool)]) -> Result<Router<usize>, String> {
    let mut parsed = Vec::new();
    for (index, spec, trailing) in routes {
        let source = render(spec, *trailing);
        let pattern = Pattern::parse(&source).map_err(|e| format!("{source:?}: {e}"))?;
        parsed.push((pattern, *index));
    }
    Router::new(parsed).map_err(|conflict| conflict.to_string())
}

type Captures = Vec<(String, String)>;

/// The brute-force answer: every matching route, and the most specific one, which must
/// be the only one of its specificity.
fn reference_best(
    routes: &[(usize, &[Spec], bool)],
    path: &[&str],
) -> Result<Option<(usize, Captures)>, String> {
    let matching: Vec<(usize, &[Spec], Captures)> = routes
        .iter()
        .filter_map(|(index, spec, _)| {
            reference_match(spec, path, 0).map(|captures| (*index, *spec, captures))
        })
        .collect();
    let Some(best) = matching
        .iter()
        .max_by(|(_, a, _), (_, b, _)| reference_cmp(a, b))
    else {
        return Ok(None);
    };
    let ties = matching
        .iter()
        .filter(|(_, spec, _)| reference_cmp(spec, best.1) == Ordering::Equal)
        .count();
    if ties != 1 {
        return Err(format!("{ties} equally specific matches for {path:?}"));
    }
    Ok(Some((best.0, best.2.clone())))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn router_conflicts_are_same_shape_pairs(
        specs in prop::collection::vec((pattern_spec(), any::<bool>()), 1..8),
    ) {
        let all: Vec<(usize, &[Spec], bool)> = specs
            .iter()
            .enumerate()
            .map(|(index, (spec, trailing))| (index, spec.as_slice(), *trailing))
            .collect();
        let has_conflict = without_conflicts(&specs).len() != specs.len();
        prop_assert_eq!(build_router(&all).is_err(), has_conflict);
    }

    #[test]
    fn router_agrees_with_brute_force(
        specs in prop::collection::vec((pattern_spec(), any::<bool>()), 1..10),
        paths in prop::collection::vec(path_spec(), 1..16),
    ) {
        let routes = without_conflicts(&specs);
        let router = build_router(&routes);
        prop_assert!(router.is_ok(), "{:?}", router.err());
        let Ok(router) = router else { return Ok(()) };
        for (segments, trailing) in &paths {
            let path = render_path(segments, *trailing);
            let expected = reference_best(&routes, segments);
            prop_assert!(expected.is_ok(), "{:?}", expected);
            let found = router.at(&path).map(|m| (*m.value, m.params.0));
            prop_assert_eq!(found, expected.ok().flatten(), "path {}", path);
        }
    }
}

// ---------------------------------------------------------------- cache keys

fn variant() -> impl Strategy<Value = Variant> {
    select(vec![Variant::Html, Variant::Rsc, Variant::RscPrefetch])
}

fn encoding() -> impl Strategy<Value = EncodingClass> {
    select(vec![
        EncodingClass::Identity,
        EncodingClass::Gzip,
        EncodingClass::Br,
    ])
}

/// Short strings over an alphabet of the key format's own separators and digits.
fn field() -> impl Strategy<Value = String> {
    "[|:0-9a]{0,6}"
}

#[derive(Clone, Debug, PartialEq)]
struct OwnedParts {
    site: String,
    build_id: String,
    variant: Variant,
    encoding: EncodingClass,
    path: String,
    query: String,
}

impl OwnedParts {
    fn key(&self) -> CacheKey {
        CacheKey::new(&KeyParts {
            site: &self.site,
            build_id: &self.build_id,
            variant: self.variant,
            encoding: self.encoding,
            path: &self.path,
            query: &self.query,
        })
    }

    fn raw(&self) -> String {
        self.key().raw().to_owned()
    }
}

fn owned_parts() -> impl Strategy<Value = OwnedParts> {
    (field(), field(), variant(), encoding(), field(), field()).prop_map(
        |(site, build_id, variant, encoding, path, query)| OwnedParts {
            site,
            build_id,
            variant,
            encoding,
            path,
            query,
        },
    )
}

/// Read a raw key back into its parts: if this always succeeds and gives the parts back,
/// the key is injective.
fn decode(raw: &str) -> Option<OwnedParts> {
    let rest = raw.strip_prefix("v1|")?;
    let (site, rest) = length_prefixed(rest)?;
    let (build_id, rest) = length_prefixed(rest.strip_prefix('|')?)?;
    let (variant, rest) = rest.strip_prefix('|')?.split_once('|')?;
    let variant = [Variant::Html, Variant::Rsc, Variant::RscPrefetch]
        .into_iter()
        .find(|v| v.as_str() == variant)?;
    let (encoding, rest) = rest.split_once('|')?;
    let encoding = [
        EncodingClass::Identity,
        EncodingClass::Gzip,
        EncodingClass::Br,
    ]
    .into_iter()
    .find(|e| e.accept_encoding() == encoding)?;
    let (path, rest) = length_prefixed(rest)?;
    let (query, rest) = length_prefixed(rest.strip_prefix('|')?)?;
    rest.is_empty().then(|| OwnedParts {
        site: site.to_owned(),
        build_id: build_id.to_owned(),
        variant,
        encoding,
        path: path.to_owned(),
        query: query.to_owned(),
    })
}

fn length_prefixed(text: &str) -> Option<(&str, &str)> {
    let (len, rest) = text.split_once(':')?;
    let len: usize = len.parse().ok()?;
    Some((rest.get(..len)?, rest.get(len..)?))
}

proptest! {
    #[test]
    fn raw_key_decodes_back_to_its_parts(parts in owned_parts()) {
        prop_assert_eq!(decode(&parts.raw()), Some(parts));
    }

    #[test]
    fn different_parts_give_different_raw_keys(a in owned_parts(), b in owned_parts()) {
        prop_assert_eq!(a == b, a.raw() == b.raw());
    }

    #[test]
    fn moving_a_separator_between_fields_changes_the_key(
        parts in owned_parts(),
        extra in "[|:0-9]{1,3}",
    ) {
        // Move text from the end of one field to the start of the next.
        let mut moved = parts.clone();
        moved.site.push_str(&extra);
        let mut shifted = parts.clone();
        shifted.build_id.insert_str(0, &extra);
        prop_assert_ne!(moved.raw(), shifted.raw());
        let mut path_heavy = parts.clone();
        path_heavy.path.push_str(&extra);
        let mut query_heavy = parts;
        query_heavy.query.insert_str(0, &extra);
        prop_assert_ne!(path_heavy.raw(), query_heavy.raw());
    }

    #[test]
    fn storage_key_is_raw_or_hash(parts in owned_parts(), padding in 0usize..400) {
        let mut parts = parts;
        parts.path.push_str(&"x".repeat(padding));
        let key = parts.key();
        if key.raw().len() <= isr_core::key::MAX_RAW_KEY_LEN {
            prop_assert_eq!(key.storage(), key.raw());
        } else {
            prop_assert_eq!(key.storage().len(), 34);
            prop_assert!(key.storage().starts_with("h:"));
        }
    }

    #[test]
    fn header_parsing_is_total(value in "[ -~]{0,40}") {
        let mut headers = HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(http::header::ACCEPT_ENCODING, value.clone());
            headers.insert("rsc", value.clone());
            headers.insert("next-router-prefetch", value);
        }
        let _ = EncodingClass::from_request(&headers);
        let _ = Variant::from_request(&headers);
    }
}
