//! Where isr keeps things in Redis. With prefix `P` (default `isr`) and a storage key `K`
//! ([`isr_core::key::CacheKey::storage`], which holds the site, the build id, the variant
//! and the path):
//!
//! | Redis key / channel | Type    | Holds                                                |
//! |---------------------|---------|------------------------------------------------------|
//! | `P:e:{K}`           | string  | `#<epoch>#` and one entry in the core's binary format; TTL from its expire |
//! | `P:l:{K}`           | string  | the render lock of `K`: its holder's token; TTL `lock_ttl` |
//! | `{P}:purges`        | hash    | purge record name → `"<at ms>:<0 soft / 1 hard>"`, and [`PURGE_EPOCH`] → the epoch |
//! | `P:events`          | channel | announcements (see `events.rs`)                      |
//! | `P:build`           | string  | the build last switched to (`isr build switch`)      |
//!
//! An entry and its lock share the hash tag `{K}`, so in a Redis Cluster they live in one
//! slot (and entries spread over the shards); the purge records are one hash, in one slot. Purge records are shared by every
//! build under the prefix: a purge made under one deploy still reaches a rolled-back one.

/// The field of the purge hash holding its epoch (see `epoch.rs`): created with the
/// hash, gone with its records if Redis evicts it. No record name is spelt like it
/// (`isr_core::purge::Target::record_name`).
pub(crate) const PURGE_EPOCH: &str = "#epoch";

/// The names of one prefix's keys.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    entry_prefix: String,
    lock_prefix: String,
    pub(crate) purges: String,
    pub(crate) channel: String,
    pub(crate) entry_pattern: String,
    pub(crate) build: String,
}

impl Layout {
    /// `prefix` is validated by [`isr_core::config::parse_redis_prefix`] (no `:`, braces or
    /// glob characters), so every name below parses back unambiguously.
    pub(crate) fn new(prefix: &str) -> Layout {
        Layout {
            entry_prefix: format!("{prefix}:e:{{"),
            lock_prefix: format!("{prefix}:l:{{"),
            purges: format!("{{{prefix}}}:purges"),
            channel: format!("{prefix}:events"),
            entry_pattern: format!("{prefix}:e:*"),
            build: format!("{prefix}:build"),
        }
    }

    pub(crate) fn entry(&self, key: &str) -> String {
        format!("{}{key}}}", self.entry_prefix)
    }

    pub(crate) fn lock(&self, key: &str) -> String {
        format!("{}{key}}}", self.lock_prefix)
    }

    /// The storage key of an entry's Redis key (`None` for a key isr did not write).
    pub(crate) fn key_of_entry<'a>(&self, redis_key: &'a str) -> Option<&'a str> {
        redis_key
            .strip_prefix(self.entry_prefix.as_str())?
            .strip_suffix('}')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_share_a_hash_tag() {
        let layout = Layout::new("shop");
        let key = "v1|site|build|html|br|/a b}{c";
        assert_eq!(layout.entry(key), "shop:e:{v1|site|build|html|br|/a b}{c}");
        assert_eq!(layout.key_of_entry(&layout.entry(key)), Some(key));
        assert_eq!(layout.key_of_entry("shop:l:{x}"), None);
        assert_eq!(layout.key_of_entry("other:e:{x}"), None);
        // The hash tag is what lies between the first `{` and the next `}`: the same for
        // an entry and its lock.
        let tag = |name: &str| {
            let open = name.find('{').unwrap();
            let close = open + name[open..].find('}').unwrap();
            name[open + 1..close].to_owned()
        };
        assert_eq!(tag(&layout.entry(key)), tag(&layout.lock(key)));
        assert_eq!(layout.purges, "{shop}:purges");
    }
}
