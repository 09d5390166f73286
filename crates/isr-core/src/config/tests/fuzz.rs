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
