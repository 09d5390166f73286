//! Group commit: the entries stored while a commit is running are written together by the
//! next one, so N concurrent renders cost one fsync instead of N in a row.
//!
//! Invariants:
//! - A put resolves only once the transaction holding its row has committed (durably, as
//!   every transaction of the store): grouping changes how many rows one fsync covers,
//!   never what a returned put promises.
//! - Rows for one key are written in the order their puts arrived: the last one wins, as
//!   it would with one transaction each.
//! - A group commits or fails as one: when its transaction fails, every put in it gets
//!   the error and none of its rows is written.
//! - A group holds at most [`MAX_GROUP_BYTES`] of bodies (or one put, if larger).
//! - With a byte budget, a group's transaction evicts what the budget requires before it
//!   commits (`rows.rs`), so the budget holds after every commit. A row larger than the
//!   whole budget is not stored, and the key's older row is removed with it: the disk
//!   never answers with a version older than the one the put was given.
//! - At most one writer runs, on the blocking pool. The put that finds no writer starts
//!   one, and the writer stops only when it finds the queue empty, under the same lock, so
//!   no put is left waiting. A write that panics (redb on a damaged file) fails its group
//!   with an error; the writer goes on.
//! - While the disk is full ([`Handle::accepts_entries`]) a group fails at once with
//!   [`DiskFault::Full`], without writing.
//! - The writer lets go of the database before answering its last puts, so a store
//!   dropped once its puts have returned closes its file and can be opened again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use isr_core::entry::Entry;
use isr_core::store::StoreError;
use redb::Database;
use tokio::sync::oneshot;

use super::DiskFault;
use super::handle::Handle;
use super::rows::Rows;

/// The most body bytes a group holds: the puts past it wait for the next commit, so that a
/// burst of large pages is not held in memory twice (entries and encoded rows) all at once.
const MAX_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Queues puts and writes them in groups.
pub(super) struct GroupCommit {
    handle: Arc<Handle>,
    /// The byte budget of the stored entries; `None`: unbounded.
    max_bytes: Option<u64>,
    /// Entries evicted for the budget since the store was opened.
    evicted: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: Vec<Put>,
    writing: bool,
}

struct Put {
    key: String,
    entry: Arc<Entry>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

impl GroupCommit {
    pub(super) fn new(handle: Arc<Handle>, max_bytes: Option<u64>) -> GroupCommit {
        GroupCommit {
            handle,
            max_bytes,
            evicted: AtomicU64::new(0),
            state: Mutex::default(),
        }
    }

    /// Entries evicted for the byte budget since the store was opened.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Store `entry` under `key`; returns once it is committed.
    pub(super) async fn put(
        self: &Arc<Self>,
        key: String,
        entry: Arc<Entry>,
    ) -> Result<(), StoreError> {
        let (done, committed) = oneshot::channel();
        let start_writer = {
            let mut state = self.state();
            state.queue.push(Put { key, entry, done });
            !std::mem::replace(&mut state.writing, true)
        };
        if start_writer {
            let this = Arc::clone(self);
            tokio::task::spawn_blocking(move || this.write_until_idle());
        }
        committed
            .await
            .unwrap_or_else(|_| Err(StoreError::backend("disk store", DiskFault::WriterStopped)))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change to the state is one push, one take or one flag write, so a panic
        // while it was locked cannot have left it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer: commit what is queued, group by group, until the queue is empty.
    fn write_until_idle(self: Arc<Self>) {
        loop {
            let group = {
                let mut state = self.state();
                let sizes = state.queue.iter().map(|put| put.entry.body.len());
                let len = group_len(sizes);
                state.queue.drain(..len).collect::<Vec<Put>>()
            };
            let result = self.write(&group);
            let more = {
                let mut state = self.state();
                state.writing = !state.queue.is_empty();
                state.writing
            };
            if !more {
                // Let go of the database before the last puts return: once they have, their
                // caller may drop the store and open the file again.
                drop(self);
                answer(group, &result);
                return;
            }
            answer(group, &result);
        }
    }

    fn write(&self, group: &[Put]) -> Result<(), StoreError> {
        if !self.handle.accepts_entries() {
            return Err(StoreError::unavailable("disk store", DiskFault::Full));
        }
        let db = self.handle.database()?;
        // redb may panic on a damaged file: that fails this group's puts, not the process.
        let written = catch_unwind(AssertUnwindSafe(|| {
            let rows: Vec<(&str, Vec<u8>)> = group
                .iter()
                .map(|put| (put.key.as_str(), put.entry.encode()))
                .collect();
            commit(&db, &rows, self.max_bytes)
        }));
        match written.map(|result| self.handle.check(&db, result)) {
            Ok(Ok(evicted)) => {
                if evicted > 0 {
                    self.evicted.fetch_add(evicted, Ordering::Relaxed);
                    tracing::debug!(
                        evicted,
                        "evicted entries from the disk cache for its budget"
                    );
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::backend("disk store", DiskFault::WriteFailed)),
        }
    }
}

/// How many of the queued puts, whose bodies have `sizes`, the next group takes: as many
/// as fit in [`MAX_GROUP_BYTES`], and always at least one.
fn group_len(sizes: impl Iterator<Item = usize>) -> usize {
    let mut total = 0usize;
    let fitting = sizes
        .take_while(|size| {
            total = total.saturating_add(*size);
            total <= MAX_GROUP_BYTES
        })
        .count();
    fitting.max(1)
}

fn answer(group: Vec<Put>, result: &Result<(), StoreError>) {
    for put in group {
        let _ = put.done.send(result.clone());
    }
}

/// Write `rows` (key, encoded entry) in one transaction, evicting what `max_bytes`
/// requires. Returns how many entries were evicted.
fn commit(
    db: &Database,
    rows: &[(&str, Vec<u8>)],
    max_bytes: Option<u64>,
) -> Result<u64, redb::Error> {
    let txn = db.begin_write()?;
    let evicted = {
        let mut stored = Rows::open(&txn)?;
        for (key, row) in rows {
            let fits = max_bytes.is_none_or(|max| (key.len() + row.len()) as u64 <= max);
            if fits {
                stored.insert(key, row)?;
            } else {
                tracing::warn!(
                    key = %key,
                    bytes = row.len(),
                    "a page is larger than the whole disk cache budget: not stored on disk"
                );
                stored.remove(key)?;
            }
        }
        match max_bytes {
            // Unlimited: a group evicts about what it added, which it holds anyway.
            Some(max) => stored.evict_to(max, usize::MAX)?,
            None => 0,
        }
    };
    txn.commit()?;
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_takes_what_fits_and_at_least_one_put() {
        let mib = 1024 * 1024;
        assert_eq!(group_len([1, 2, 3].into_iter()), 3);
        assert_eq!(group_len([40 * mib, 24 * mib, 1].into_iter()), 2);
        assert_eq!(group_len([40 * mib, 25 * mib, 1].into_iter()), 1);
        assert_eq!(
            group_len([100 * mib, 1].into_iter()),
            1,
            "a large page still goes"
        );
        assert_eq!(group_len([usize::MAX, usize::MAX].into_iter()), 1);
    }
}
