//! Properties over random input: no text makes the parser panic, and any value for any
//! key either loads or is an error naming that key.

use super::*;
use crate::route::Params;
use proptest::prelude::*;

/// Apply `edits` (position, action, byte) to `source`, keeping it valid UTF-8.
fn mutate(source: &str, edits: &[(usize, u8, char)]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for &(position, action, c) in edits {
        let at = position % (chars.len() + 1);
        match action % 3 {
            0 => chars.insert(at, c),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ if at < chars.len() => chars[at] = c,
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('"'),
        Just('['),
        Just(']'),
        Just('{'),
        Just('}'),
        Just('='),
        Just('\n'),
        Just('0'),
        Just('9'),
        Just('-'),
        Just('.'),
        Just(':'),
        Just('/'),
        Just('é'),
        any::<char>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(source in ".{0,200}") {
        let _ = Config::from_toml(&source, "fuzz.toml");
    }

    #[test]
    fn mutated_configs_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), interesting_char()), 1..6)
    ) {
        let source = mutate(FULL, &edits);
        if let Err(error) = Config::from_toml(&source, "fuzz.toml") {
            // Positions, when present, are inside the text.
            let lines = source.split('\n').count();
            prop_assert!(error.line <= lines, "{error} beyond {lines} lines");
        }
    }

    #[test]
    fn value_parsers_never_panic(text in ".{0,40}") {
        let _ = parse_bytes(&text);
        let _ = parse_duration_ms(&text);
        let _ = parse_origin(&text);
        let _ = parse_listen(&text);
        let _ = TagTemplate::parse(&text).map(|t| t.render(&Params::default()));

    }
}

/// Where a key goes, and its name in messages: every key of every table of the schema.
fn every_key() -> Vec<(&'static str, String)> {
    use crate::config::schema::{CACHE_KEYS, COMPRESSION_KEYS, REDIS_KEYS, ROUTE_KEYS, TOP_KEYS};
    let mut keys = Vec::new();
    for &key in TOP_KEYS {
        keys.push(("", key.to_owned()));
    }
    for &key in CACHE_KEYS {
        keys.push(("[cache]\n", format!("cache.{key}")));
    }
    for &key in COMPRESSION_KEYS {
        keys.push(("[compression]\n", format!("compression.{key}")));
    }
    for &key in REDIS_KEYS {
        let table = if key == "url" {
            "[redis]\n"
        } else {
            "[redis]\nurl = \"redis://h\"\n"
        };
        keys.push((table, format!("redis.{key}")));
    }
    for &key in ROUTE_KEYS {
        let table = if key == "path" {
            "[[route]]\n"
        } else {
            "[[route]]\npath = \"/a/[id]\"\n"
        };
        keys.push((table, format!("route.{key}")));
    }
    keys
}

/// A TOML value of any type, biased towards the edges: huge and negative numbers,
/// durations and sizes with any unit, the limits, secrets of every length, templates.
fn any_value() -> impl Strategy<Value = String> {
    let units = prop::sample::select(vec![
        "", "ms", "s", "m", "h", "d", "w", "B", "k", "KB", "KiB", "MiB", "GB", "TiB", "PB", " s",
    ]);
    let text = |s: String| toml::Value::String(s).to_string();
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "1024",
            "1025",
            "65536",
            "65537",
            "3153600000",
            "3153600001",
            "99999999999999999999",
            "0x10",
            "1.5",
            "nan",
            "inf",
            "true",
            "false",
            "[]",
            "{}",
            "[1, 2]",
            "[\"a\", \"a\"]",
            "[\"\"]",
            "[\"x:{id}\", \"{slug}\"]",
            "{ \"404\" = 5 }",
            "{ \"200\" = 5 }",
            "{ \"404\" = \"1y\" }",
            "{ \"404\" = 0 }",
            "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_owned),
        (any::<u64>(), units.clone()).prop_map(move |(n, unit)| text(format!("{n}{unit}"))),
        (0u64..40_000, units).prop_map(move |(n, unit)| text(format!("{n}{unit}"))),
        prop::sample::select(vec![
            "false",
            "",
            "/",
            "/a/[id]",
            "/[...a]/b",
            "blog",
            "http://127.0.0.1:3000",
            "https://x/app",
            "redis://h",
            "redis://:pw@h:1/0",
            "rediss://",
            "127.0.0.1:80",
            "[::1]:0",
            "0123456789abcdef",
            "short",
            "a{b}",
            "x:{id}",
            "36500d",
            "36501d",
        ])
        .prop_map(move |s| text(s.to_owned())),
        ".{0,24}".prop_map(text),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Any value for any key either loads, into a configuration that passes
    /// `Config::validate` (so it starts), or is an error naming that key, at its line.
    #[test]
    fn any_value_for_any_key_loads_or_names_the_key(
        (table, name) in prop::sample::select(every_key()),
        value in any_value(),
    ) {
        let key = name.rsplit('.').next().unwrap_or(&name);
        let source = format!("{table}{key} = {value}\n");
        match Config::from_toml(&source, "prop.toml") {
            Ok(config) => {
                if let Err(invalid) = config.validate() {
                    prop_assert!(false, "{source:?} loads but does not validate: {invalid}");
                }
            }
            Err(error) => {
                let named = format!("`{name}");
                prop_assert!(error.message.contains(&named), "{source:?}: {error}");
                prop_assert!(
                    error.key.as_deref().is_some_and(|k| k.starts_with(&name)),
                    "{source:?}: {error} has key {:?}", error.key
                );
                prop_assert_eq!(error.line, source.lines().count(), "{}", error);
            }
        }
    }
}
