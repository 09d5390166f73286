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
//! - At most one writer runs, on the blocking pool. The put that finds no writer starts
//!   one, and the writer stops only when it finds the queue empty, under the same lock, so
//!   no put is left waiting. A write that panics (redb on a damaged file) fails its group
//!   with an error; the writer goes on.
//! - The writer lets go of the database before answering its last puts, so a store
//!   dropped once its puts have returned closes its file and can be opened again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use isr_core::entry::Entry;
use isr_core::store::StoreError;
use redb::Database;
use tokio::sync::oneshot;

use super::{ENTRIES, store_error};

/// Queues puts and writes them in groups.
pub(super) struct GroupCommit {
    db: Arc<Database>,
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
    pub(super) fn new(db: Arc<Database>) -> GroupCommit {
        GroupCommit {
            db,
            state: Mutex::default(),
        }
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
        committed.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "disk store: the writer stopped before committing this entry".to_owned(),
            ))
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change to the state is one push, one take or one flag write, so a panic
        // while it was locked cannot have left it half-updated.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer: commit what is queued, group by group, until the queue is empty.
    fn write_until_idle(self: Arc<Self>) {
        loop {
            let group = std::mem::take(&mut self.state().queue);
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
        // redb may panic on a damaged file: that fails this group's puts, not the process.
        let written = catch_unwind(AssertUnwindSafe(|| {
            let rows: Vec<(&str, Vec<u8>)> = group
                .iter()
                .map(|put| (put.key.as_str(), put.entry.encode()))
                .collect();
            commit(&self.db, &rows)
        }));
        match written {
            Ok(result) => result.map_err(store_error),
            Err(_) => Err(StoreError::Backend(
                "disk store: writing failed (is the cache file damaged?)".to_owned(),
            )),
        }
    }
}

fn answer(group: Vec<Put>, result: &Result<(), StoreError>) {
    for put in group {
        let _ = put.done.send(result.clone());
    }
}

/// Write `rows` in one transaction.
fn commit(db: &Database, rows: &[(&str, Vec<u8>)]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut table = txn.open_table(ENTRIES)?;
        for (key, row) in rows {
            table.insert(*key, row.as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}
