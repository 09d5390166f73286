//! The purge epoch: which generation of the purge records an entry in Redis was written
//! under, so that entries older than the records in Redis are never trusted.
//!
//! A Redis whose `maxmemory-policy` evicts any key (`allkeys-*`) may evict the purge hash
//! like any cache key, and a hard purge recorded only there is then forgotten. So the hash
//! holds a random epoch ([`super::layout::PURGE_EPOCH`]), created when it is first read
//! and gone with the records if the hash is evicted; every entry value starts with the
//! epoch it was written under. A node reading an entry of another epoch looks the epoch
//! up again: an entry of an epoch the hash no longer holds was written under records that
//! are lost, and is a miss (rendered again), never served.
//!
//! Invariants:
//! - An entry is served only if it was written under the epoch the purge hash holds now,
//!   or the one this node last read (whose records this node still holds in memory).
//! - A value without an epoch (written before epochs existed) is a miss.
//! - The epoch value has no `:`: no purge record parses as it, and no fold removes it.

use std::sync::{Mutex, PoisonError};

/// Marks the start and the end of an epoch at the front of an entry value.
const MARK: u8 = b'#';

/// The epoch's length: 32 hexadecimal digits.
const EPOCH_LEN: usize = 32;

/// A new random epoch.
pub(super) fn new_epoch() -> String {
    let epoch: u128 = rand::random();
    format!("{epoch:032x}")
}

/// `encoded` (an entry in core's format) as stored: behind its `epoch`.
pub(super) fn seal(epoch: &str, encoded: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(encoded.len() + EPOCH_LEN + 2);
    value.push(MARK);
    value.extend_from_slice(epoch.as_bytes());
    value.push(MARK);
    value.extend_from_slice(encoded);
    value
}

/// The epoch a stored value was written under, and the entry behind it; `None` for a
/// value without one.
pub(super) fn open(value: &[u8]) -> Option<(&str, &[u8])> {
    let (&first, rest) = value.split_first()?;
    if first != MARK {
        return None;
    }
    let epoch = rest.get(..EPOCH_LEN)?;
    let (&last, entry) = rest.get(EPOCH_LEN..)?.split_first()?;
    if last != MARK || !epoch.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    Some((std::str::from_utf8(epoch).ok()?, entry))
}

/// The epoch this node last read from the purge hash.
#[derive(Debug, Default)]
pub(super) struct KnownEpoch(Mutex<Option<String>>);

impl KnownEpoch {
    pub(super) fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(super) fn set(&self, epoch: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(epoch);
    }

    /// Is `epoch` the one this node last read?
    pub(super) fn is(&self, epoch: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_deref()
            == Some(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_to_its_epoch_and_entry() {
        let epoch = new_epoch();
        let value = seal(&epoch, b"\x00entry");
        assert_eq!(open(&value), Some((epoch.as_str(), &b"\x00entry"[..])));
        for unsealed in [
            &b""[..],
            b"#",
            b"entry bytes",
            b"#0123#entry",
            b"#0123456789abcdef0123456789abcdefXentry",
            b"#0123456789abcdef0123456789abcdeg#entry",
        ] {
            assert_eq!(open(unsealed), None, "{unsealed:?}");
        }
    }
}
