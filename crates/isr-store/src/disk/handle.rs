//! The open database, taken out of service after an I/O error and opened again, and the
//! full-disk state.
//!
//! Invariants:
//! - After an I/O error redb fails every later operation ("previous I/O error") until the
//!   file is closed. The handle then retires the database; the next operation opens the
//!   file again once every operation still holding the old one has let go (redb allows
//!   one open of a file), and after a failed attempt at most once per [`REOPEN_EVERY`].
//!   What was committed before the error is what the reopened file holds.
//! - A full disk (`ENOSPC`, or a quota) puts the store in its full state: entry writes are
//!   refused at once, without touching the file (they would fail, and could grow it),
//!   while reads, removals and purges go on.
//! - Purges never wait for free space: the store keeps [`RESERVE_BYTES`] of real blocks in
//!   a reserve file beside the database, and deletes it when the disk fills, which gives
//!   the purges and removals that follow room to commit.
//! - Writing the reserve again is the probe that space has returned (at most once per
//!   [`PROBE_EVERY`]): when it succeeds, entry writes resume. The full state is logged
//!   when it begins, every [`REMIND_EVERY`] while it lasts, and when it ends.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use isr_core::store::StoreError;
use redb::Database;

use super::{DiskFault, open_file, store_error};

/// Bytes of the reserve file: room for the purges made while the disk is full.
pub(super) const RESERVE_BYTES: usize = 4 * 1024 * 1024;

/// The reserve file's name inside the store's directory.
pub const RESERVE_FILE_NAME: &str = "isr.reserve";

/// How often a retired database is opened again after an attempt failed.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// How often a full store tries to write its reserve again (the probe for free space).
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// How often a full store says again that it is full.
const REMIND_EVERY: Duration = Duration::from_secs(300);

/// The database of a [`DiskStore`](super::DiskStore), reopened after an I/O error.
pub(super) struct Handle {
    path: PathBuf,
    reserve: PathBuf,
    max_bytes: Option<u64>,
    state: Mutex<State>,
}

struct State {
    /// The database in service; `None` after an I/O error, until it is open again.
    db: Option<Arc<Database>>,
    /// The database retired after an I/O error, until its last user lets go.
    retired: Option<Arc<Database>>,
    /// When opening it again last failed.
    failed_reopen: Option<Instant>,
    /// Set while the disk is full.
    full: Option<Full>,
}

struct Full {
    since: Instant,
    probed: Instant,
    reminded: Instant,
}

impl Handle {
    /// A handle for `db`, opened from `path`; writes the reserve beside it.
    pub(super) fn new(db: Database, path: &Path, max_bytes: Option<u64>) -> Handle {
        let reserve = path.with_file_name(RESERVE_FILE_NAME);
        if let Err(error) = write_reserve(&reserve) {
            tracing::warn!(
                %error,
                file = %reserve.display(),
                "cannot write the cache's reserve file: purges made while the disk is full may fail"
            );
        }
        Handle {
            path: path.to_path_buf(),
            reserve,
            max_bytes,
            state: Mutex::new(State {
                db: Some(Arc::new(db)),
                retired: None,
                failed_reopen: None,
                full: None,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change to the state is a few field writes that cannot panic half-way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The database for one operation, opened again if an I/O error retired it.
    /// Blocking: call it on the blocking pool.
    pub(super) fn database(&self) -> Result<Arc<Database>, StoreError> {
        let mut state = self.state();
        if let Some(db) = &state.db {
            return Ok(Arc::clone(db));
        }
        let in_use = state
            .retired
            .as_ref()
            .is_some_and(|old| Arc::strong_count(old) > 1);
        let too_soon = state
            .failed_reopen
            .is_some_and(|at| at.elapsed() < REOPEN_EVERY);
        if in_use || too_soon {
            return Err(StoreError::unavailable("disk store", DiskFault::Reopening));
        }
        // The last user has let go: closing the old database releases the file's lock.
        drop(state.retired.take());
        match open_file(&self.path, self.max_bytes) {
            Ok(db) => {
                tracing::info!(file = %self.path.display(), "the cache file is open again");
                let db = Arc::new(db);
                state.db = Some(Arc::clone(&db));
                state.failed_reopen = None;
                Ok(db)
            }
            Err(error) => {
                if state.failed_reopen.is_none() {
                    tracing::warn!(%error, "cannot open the cache file again; retrying");
                }
                state.failed_reopen = Some(Instant::now());
                Err(StoreError::unavailable("disk store", DiskFault::Reopening))
            }
        }
    }

    /// The outcome of an operation on `db`: an I/O error retires `db` (and a full disk
    /// starts the full state) before it is reported.
    pub(super) fn check<T>(
        &self,
        db: &Arc<Database>,
        result: Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let disk_full = match &error {
            redb::Error::Io(io) => Some(is_disk_full(io)),
            redb::Error::PreviousIo => Some(false),
            _ => None,
        };
        if let Some(disk_full) = disk_full {
            let mut state = self.state();
            if state.db.as_ref().is_some_and(|open| Arc::ptr_eq(open, db)) {
                state.retired = state.db.take();
                if !disk_full {
                    tracing::warn!(%error, file = %self.path.display(), "an I/O error on the cache file: opening it again");
                }
            }
            if disk_full && state.full.is_none() {
                self.begin_full(&mut state);
            }
        }
        Err(store_error(error))
    }

    fn begin_full(&self, state: &mut State) {
        let freed = match std::fs::remove_file(&self.reserve) {
            Ok(()) => "its reserve file is deleted, which leaves purges room",
            Err(_) => "there is no reserve file to delete",
        };
        tracing::warn!(
            file = %self.path.display(),
            "the disk holding the cache is full: new pages are kept in memory only until space \
             returns, and purges go on ({freed}); storing on disk resumes by itself"
        );
        let now = Instant::now();
        state.full = Some(Full {
            since: now,
            probed: now,
            reminded: now,
        });
    }

    /// May an entry be written now? Not while the disk is full; at most once per
    /// [`PROBE_EVERY`] a full store writes its reserve again, and is no longer full if
    /// that succeeds. Blocking: call it on the blocking pool.
    pub(super) fn accepts_entries(&self) -> bool {
        let mut state = self.state();
        let Some(full) = &mut state.full else {
            return true;
        };
        if full.probed.elapsed() < PROBE_EVERY {
            return false;
        }
        full.probed = Instant::now();
        if write_reserve(&self.reserve).is_ok() {
            tracing::info!(
                full_for_s = full.since.elapsed().as_secs(),
                "the disk holding the cache has space again: storing pages on disk again"
            );
            state.full = None;
            return true;
        }
        if full.reminded.elapsed() >= REMIND_EVERY {
            full.reminded = Instant::now();
            tracing::warn!(
                full_for_s = full.since.elapsed().as_secs(),
                "the disk holding the cache is still full: new pages are kept in memory only"
            );
        }
        false
    }
}

/// Is this I/O error a full disk (no space, or over a quota)?
fn is_disk_full(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded
    )
}

/// Write the reserve file whole (real blocks, not a sparse file), durably; a partial one is
/// removed, so that a failed probe gives back what it took.
fn write_reserve(path: &Path) -> std::io::Result<()> {
    let written = (|| {
        let mut file = std::fs::File::create(path)?;
        let zeros = vec![0u8; 64 * 1024];
        for _ in 0..RESERVE_BYTES / zeros.len() {
            file.write_all(&zeros)?;
        }
        file.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written
}
