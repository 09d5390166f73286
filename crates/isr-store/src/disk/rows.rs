//! The tables of the on-disk store, and [`Rows`]: the one way a write transaction changes
//! the stored entries.
//!
//! Invariants:
//! - Every insert and removal of an entry goes through [`Rows`], which keeps three things
//!   in step with [`ENTRIES`], in the same transaction:
//!   - [`DEADLINES`], the expiry index: `(servable until, key)` of every entry that can
//!     expire (past `expire + stale_if_error` nothing would serve it, not even an origin
//!     failure);
//!   - [`WRITTEN`], the write-order index: `(created at, key)` of every entry;
//!   - the byte count in [`META`]: the sum of `key + row` lengths over [`ENTRIES`].
//!
//!   So a crash never leaves an entry without its index rows, or a count that is off.
//! - An index row may outlive its entry (a row that no longer decodes cannot be
//!   un-indexed when it is replaced). Before removing an entry through an index, the
//!   entry's own instants are checked, so an index row never removes an entry it does not
//!   describe.
//! - [`Rows::evict_to`] removes entries oldest render first until the count is within a
//!   budget. Reads are never counted: the memory tier above answers the hot pages, so the
//!   disk tier sees only its misses and their order would say little about what is read.
//! - A file that has no byte count yet (new, or written before the indexes existed) gets
//!   its indexes and count built when it is opened ([`prepare`]), which reads every entry
//!   once.

use isr_core::UnixMillis;
use isr_core::entry::{Entry, Peek};
use redb::{ReadTransaction, ReadableTable, Table, TableDefinition, WriteTransaction};

/// Encoded entries, by storage key.
pub(super) const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// (servable until, in Unix millis; storage key) of every entry that can expire.
const DEADLINES: TableDefinition<(u64, &str), ()> = TableDefinition::new("deadlines");
/// (created at, in Unix millis; storage key) of every entry.
const WRITTEN: TableDefinition<(u64, &str), ()> = TableDefinition::new("written");
/// The store's counters, by name.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// [`META`]'s row with the bytes of all entries: `key + row` lengths summed.
const STORED_BYTES: &str = "stored_bytes";

type Index<'txn> = Table<'txn, (u64, &'static str), ()>;

/// The entries of one write transaction, with their indexes and byte count.
pub(super) struct Rows<'txn> {
    entries: Table<'txn, &'static str, &'static [u8]>,
    deadlines: Index<'txn>,
    written: Index<'txn>,
    meta: Table<'txn, &'static str, u64>,
    stored_bytes: u64,
}

impl<'txn> Rows<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Rows<'txn>, redb::Error> {
        let meta = txn.open_table(META)?;
        let stored_bytes = meta.get(STORED_BYTES)?.map_or(0, |count| count.value());
        Ok(Rows {
            entries: txn.open_table(ENTRIES)?,
            deadlines: txn.open_table(DEADLINES)?,
            written: txn.open_table(WRITTEN)?,
            meta,
            stored_bytes,
        })
    }

    /// Store `row`, an encoded entry, under `key`, in place of what the key held.
    pub(super) fn insert(&mut self, key: &str, row: &[u8]) -> Result<(), redb::Error> {
        let replaced = self
            .entries
            .insert(key, row)?
            .map(|old| describe(old.value()));
        if let Some(old) = replaced {
            self.forget(key, old)?;
        }
        index(
            &mut self.deadlines,
            &mut self.written,
            key,
            Entry::peek(row).ok(),
        )?;
        self.stored_bytes = self.stored_bytes.saturating_add(row_bytes(key, row.len()));
        self.save_count()
    }

    /// Remove `key`'s entry if `remove` says so of its row. Returns whether it was removed.
    pub(super) fn remove_if(
        &mut self,
        key: &str,
        remove: impl FnOnce(&[u8]) -> bool,
    ) -> Result<bool, redb::Error> {
        let chosen = self
            .entries
            .get(key)?
            .is_some_and(|row| remove(row.value()));
        if !chosen {
            return Ok(false);
        }
        let removed = self.entries.remove(key)?.map(|old| describe(old.value()));
        if let Some(old) = removed {
            self.forget(key, old)?;
            self.save_count()?;
        }
        Ok(true)
    }

    /// Take `key`'s old row, `(length, instants)`, out of the indexes and the count.
    fn forget(&mut self, key: &str, (len, peek): (usize, Option<Peek>)) -> Result<(), redb::Error> {
        unindex(&mut self.deadlines, &mut self.written, key, peek)?;
        self.stored_bytes = self.stored_bytes.saturating_sub(row_bytes(key, len));
        Ok(())
    }

    /// Remove `key`'s entry. Returns whether there was one.
    pub(super) fn remove(&mut self, key: &str) -> Result<bool, redb::Error> {
        self.remove_if(key, |_| true)
    }

    /// Remove up to `limit` entries that can never be served again at `now`, soonest
    /// deadline first. Returns how many were removed, and whether more are due.
    pub(super) fn sweep_expired(
        &mut self,
        now: UnixMillis,
        limit: usize,
    ) -> Result<(u64, bool), redb::Error> {
        // Index rows are ordered by deadline: the due ones come first.
        let mut due: Vec<(u64, String)> = Vec::new();
        for row in self.deadlines.iter()? {
            let (index, _) = row?;
            let (until, key) = index.value();
            if until > now.0 || due.len() > limit {
                break;
            }
            due.push((until, key.to_owned()));
        }
        let more = due.len() > limit;
        due.truncate(limit);
        let mut removed = 0;
        for (until, key) in &due {
            self.deadlines.remove((*until, key.as_str()))?;
            // The entry's own deadline decides: the key may hold a newer entry by now.
            let expired = |row: &[u8]| {
                Entry::peek(row).is_ok_and(|peek| peek.servable_until.is_some_and(|at| at <= now))
            };
            if self.remove_if(key, expired)? {
                removed += 1;
            }
        }
        Ok((removed, more))
    }

    /// Remove entries, oldest render first, until the entries take at most `max_bytes`
    /// or `limit` were removed. Returns how many were removed.
    pub(super) fn evict_to(&mut self, max_bytes: u64, limit: usize) -> Result<u64, redb::Error> {
        let mut evicted = 0;
        while self.stored_bytes > max_bytes && evicted < limit as u64 {
            let oldest = self.written.first()?.map(|(index, _)| {
                let (at, key) = index.value();
                (at, key.to_owned())
            });
            // Only rows that never decoded are left unindexed; nothing more to evict.
            let Some((at, key)) = oldest else { break };
            self.written.remove((at, key.as_str()))?;
            // The entry's own instant decides: the key may hold a newer entry by now.
            let described = |row: &[u8]| Entry::peek(row).is_ok_and(|peek| peek.created_at.0 == at);
            if self.remove_if(&key, described)? {
                evicted += 1;
            }
        }
        Ok(evicted)
    }

    fn save_count(&mut self) -> Result<(), redb::Error> {
        self.meta.insert(STORED_BYTES, self.stored_bytes)?;
        Ok(())
    }
}

/// The bytes of all entries, read in a read transaction.
pub(super) fn stored_bytes(txn: &ReadTransaction) -> Result<u64, redb::Error> {
    let meta = txn.open_table(META)?;
    Ok(meta.get(STORED_BYTES)?.map_or(0, |count| count.value()))
}

/// Create the tables (so read transactions always find them), and build the indexes and
/// the byte count of a file that has no count yet.
pub(super) fn prepare(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let counted = txn.open_table(META)?.get(STORED_BYTES)?.is_some();
    if counted {
        return Ok(());
    }
    // Rebuilt from the entries alone, whatever an earlier version left in these two.
    txn.delete_table(DEADLINES)?;
    txn.delete_table(WRITTEN)?;
    let mut deadlines = txn.open_table(DEADLINES)?;
    let mut written = txn.open_table(WRITTEN)?;
    let entries = txn.open_table(ENTRIES)?;
    let mut stored_bytes = 0u64;
    for row in entries.iter()? {
        let (key, value) = row?;
        let (key, value) = (key.value(), value.value());
        index(&mut deadlines, &mut written, key, Entry::peek(value).ok())?;
        stored_bytes = stored_bytes.saturating_add(row_bytes(key, value.len()));
    }
    txn.open_table(META)?.insert(STORED_BYTES, stored_bytes)?;
    Ok(())
}

/// Remove every entry, and with them the indexes and the count.
pub(super) fn clear(txn: &WriteTransaction) -> Result<(), redb::Error> {
    // Dropping a table frees its pages at once, unlike removing row by row.
    txn.delete_table(ENTRIES)?;
    txn.delete_table(DEADLINES)?;
    txn.delete_table(WRITTEN)?;
    txn.open_table(ENTRIES)?;
    txn.open_table(DEADLINES)?;
    txn.open_table(WRITTEN)?;
    txn.open_table(META)?.insert(STORED_BYTES, 0)?;
    Ok(())
}

/// A row's length and, if it decodes that far, its instants.
fn describe(row: &[u8]) -> (usize, Option<Peek>) {
    (row.len(), Entry::peek(row).ok())
}

/// What a row counts against the budget.
fn row_bytes(key: &str, row_len: usize) -> u64 {
    (key.len() as u64).saturating_add(row_len as u64)
}

fn index(
    deadlines: &mut Index<'_>,
    written: &mut Index<'_>,
    key: &str,
    peek: Option<Peek>,
) -> Result<(), redb::Error> {
    let Some(peek) = peek else { return Ok(()) };
    written.insert((peek.created_at.0, key), ())?;
    if let Some(until) = peek.servable_until {
        deadlines.insert((until.0, key), ())?;
    }
    Ok(())
}

fn unindex(
    deadlines: &mut Index<'_>,
    written: &mut Index<'_>,
    key: &str,
    peek: Option<Peek>,
) -> Result<(), redb::Error> {
    let Some(peek) = peek else { return Ok(()) };
    written.remove((peek.created_at.0, key))?;
    if let Some(until) = peek.servable_until {
        deadlines.remove((until.0, key))?;
    }
    Ok(())
}
