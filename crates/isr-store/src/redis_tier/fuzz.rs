//! Fuzzing the Redis tier's decoders of what other nodes (or anyone who can write to the
//! Redis) leave there: announcements from pub/sub, purge hash values, and entry values
//! behind their epoch. Fed the corpus in `fuzz/corpus/` (redis_event, purge_record,
//! redis_value), mutations of it, and arbitrary bytes: an answer or `None`, never a panic.

use std::path::PathBuf;

use proptest::prelude::*;

use super::epoch;
use super::events::{decode, parse_record};

fn corpus(decoder: &str) -> Vec<Vec<u8>> {
    let dir: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "..",
        "fuzz",
        "corpus",
        decoder,
    ]
    .iter()
    .collect();
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("corpus {}: {error}", dir.display()))
        .map(|file| std::fs::read(file.expect("corpus file").path()).expect("read seed"))
        .collect();
    seeds.sort();
    seeds
}

/// A seed, mutated (bytes flipped, inserted, removed, or the input cut), or arbitrary
/// bytes.
fn input(decoder: &str) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<usize>(), 0u8..4, any::<u8>()), 0..8);
    let mutated =
        (proptest::sample::select(corpus(decoder)), edits).prop_map(|(mut input, edits)| {
            for (at, action, byte) in edits {
                let at = at % (input.len() + 1);
                match action {
                    0 => input.insert(at, byte),
                    1 if at < input.len() => {
                        input.remove(at);
                    }
                    2 if at < input.len() => input[at] ^= byte | 1,
                    _ => input.truncate(at),
                }
            }
            input
        });
    prop_oneof![mutated, proptest::collection::vec(any::<u8>(), 0..256)]
}

proptest! {
    #[test]
    fn announcements(bytes in input("redis_event")) {
        let _ = decode(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn purge_hash_values(bytes in input("purge_record")) {
        for line in String::from_utf8_lossy(&bytes).lines() {
            let _ = parse_record(line);
        }
    }

    #[test]
    fn entry_values(bytes in input("redis_value")) {
        if let Some((_, entry)) = epoch::open(&bytes) {
            let _ = isr_core::entry::Entry::decode(bytes::Bytes::copy_from_slice(entry));
        }
    }
}
