//! The expiry index of the on-disk store, and the sweep that removes what can never be
//! served again.
//!
//! Invariants:
//! - [`DEADLINES`] holds `(servable until, key)` for every stored entry that can expire
//!   (past `expire + stale_if_error` it is useless: not even an origin failure would serve
//!   it). It is updated in the transaction that writes or removes the entry, so a crash
//!   never leaves one without the other.
//! - An index row may outlive its entry's expiry (the entry was replaced or was corrupt):
//!   the sweep reads the entry's own deadline before removing it, so an index row never
//!   removes an entry that is still servable.
//! - An entry that never expires has no index row and is never swept.
//! - A file written before the index existed is indexed once, when it is opened (which
//!   reads every entry once).
//! - A sweep reads the index and the entries it names as due, never the others, and
//!   commits in batches so that writers are not held up for long.

use isr_core::UnixMillis;
use isr_core::entry::Entry;
use redb::{ReadableTable, Table, TableDefinition, TableHandle, WriteTransaction};

use super::ENTRIES;

/// (servable until, in Unix millis; storage key) of every entry that can expire.
pub(super) const DEADLINES: TableDefinition<(u64, &str), ()> = TableDefinition::new("deadlines");

/// Entries removed per sweep transaction.
const SWEEP_BATCH: usize = 1_000;

/// Index `key`, whose row was `replaced` (if there was one) by an entry servable until
/// `until`.
pub(super) fn index_write(
    deadlines: &mut Table<'_, (u64, &'static str), ()>,
    key: &str,
    replaced: Option<&[u8]>,
    until: Option<UnixMillis>,
) -> Result<(), redb::Error> {
    if let Some(old) = replaced {
        index_remove(deadlines, key, old)?;
    }
    if let Some(until) = until {
        deadlines.insert((until.0, key), ())?;
    }
    Ok(())
}

/// Drop the index row of `key`'s `removed` row.
pub(super) fn index_remove(
    deadlines: &mut Table<'_, (u64, &'static str), ()>,
    key: &str,
    removed: &[u8],
) -> Result<(), redb::Error> {
    if let Ok(Some(until)) = Entry::peek_servable_until(removed) {
        deadlines.remove((until.0, key))?;
    }
    Ok(())
}

/// Open the index in `txn`, building it from the entries if the file has none yet.
pub(super) fn open_index(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let exists = txn
        .list_tables()?
        .any(|table| table.name() == DEADLINES.name());
    let mut deadlines = txn.open_table(DEADLINES)?;
    if exists {
        return Ok(());
    }
    let entries = txn.open_table(ENTRIES)?;
    for row in entries.iter()? {
        let (key, value) = row?;
        if let Ok(Some(until)) = Entry::peek_servable_until(value.value()) {
            deadlines.insert((until.0, key.value()), ())?;
        }
    }
    Ok(())
}

/// Remove up to [`SWEEP_BATCH`] entries that can no longer be served at `now`, in `txn`.
/// Returns how many were removed and whether more index rows are due.
pub(super) fn sweep_batch(
    txn: &WriteTransaction,
    now: UnixMillis,
) -> Result<(u64, bool), redb::Error> {
    let mut deadlines = txn.open_table(DEADLINES)?;
    let mut entries = txn.open_table(ENTRIES)?;
    // Index rows are ordered by deadline: the due ones come first.
    let mut due: Vec<(u64, String)> = Vec::new();
    for row in deadlines.iter()? {
        let (index, _) = row?;
        let (until, key) = index.value();
        if until > now.0 || due.len() > SWEEP_BATCH {
            break;
        }
        due.push((until, key.to_owned()));
    }
    let more = due.len() > SWEEP_BATCH;
    due.truncate(SWEEP_BATCH);
    let mut removed = 0;
    for (until, key) in &due {
        deadlines.remove((*until, key.as_str()))?;
        // The entry's own deadline decides: the key may hold a newer entry by now.
        let expired = match entries.get(key.as_str())? {
            Some(row) => {
                matches!(Entry::peek_servable_until(row.value()), Ok(Some(at)) if at <= now)
            }
            None => false,
        };
        if expired {
            entries.remove(key.as_str())?;
            removed += 1;
        }
    }
    Ok((removed, more))
}
