//! The on-disk tier: entries and purge records in one redb file (`isr.redb`).
//!
//! Invariants:
//! - Every write is part of a redb transaction committed with immediate durability: once a
//!   `put` (or `invalidate`) returns, it survives a crash or `kill -9`, and a crash
//!   mid-write leaves the previous value. redb's copy-on-write commits make each
//!   write atomic, so a reader never sees half of one. Concurrent puts share one
//!   transaction (`group_commit.rs`).
//! - Rows hold entries in [`Entry::encode`]'s checksummed format. A row that does not
//!   decode is reported as a miss and removed, never served.
//! - Every redb call runs on the blocking pool (`spawn_blocking`), never on a runtime
//!   worker thread.
//! - A file redb finds damaged at open is set aside ([`DAMAGED_FILE_NAME`]) and the store
//!   starts empty: the file holds only cached pages and their purge records, which go
//!   together, so nothing purged can come back.
//! - An I/O error takes the file out of service and the next operation opens it again; a
//!   full disk refuses entry writes until space returns, while purges go on in the room
//!   of a reserve file (`handle.rs`).
//! - Only one process opens the file: redb locks it, and a second open is reported as
//!   [`DiskError::Locked`].
//! - Entries change only through `rows.rs`, which keeps an expiry index, a write-order
//!   index and a byte count in step with them, in the same transaction.
//!   [`DiskStore::sweep`] removes through the first what can never be served again; with a
//!   byte budget ([`DiskStore::open_with_budget`]) every commit evicts through the second,
//!   oldest render first, so the entries never take more than the budget once a put
//!   returns.

use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::store::{EntryStore, PurgeStore, StoreError};
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};

use crate::memory::supersedes;

mod group_commit;
mod handle;
mod rows;

use group_commit::GroupCommit;
use handle::Handle;
pub use handle::RESERVE_FILE_NAME;
use rows::{ENTRIES, Rows};

/// Entries removed per sweep (or eviction at open) transaction, so that writers are not
/// held up for long and no transaction grows without bound.
const SWEEP_BATCH: usize = 1_000;

/// Purge record name → (invalidated at, in Unix millis; mode, see [`mode_to_byte`]). The
/// table keeps its first name, `tags`, so that existing cache files open unchanged.
const PURGES: TableDefinition<&str, (u64, u8)> = TableDefinition::new("tags");

/// The database file's name inside the store's directory.
pub const FILE_NAME: &str = "isr.redb";

/// Where a damaged database file is moved (replacing an earlier one), for inspection.
pub const DAMAGED_FILE_NAME: &str = "isr.redb.damaged";

/// redb's page cache. The hot set lives in the memory tier above this store, so the
/// disk tier's own cache stays modest.
const PAGE_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The on-disk store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("cannot create the cache directory {}: {source}", path.display())]
    /// The cache directory cannot be created.
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be created.
        source: std::io::Error,
    },
    /// The cache file is already open in another process.
    #[error(
        "the cache file {} is already open in another isr process (or twice in this one); \
         stop the other process or give this one its own cache directory",
        path.display()
    )]
    Locked {
        /// The cache file.
        path: PathBuf,
    },
    /// The cache file cannot be opened.
    #[error(
        "cannot open the cache file {}: {source}. It holds only cached pages: \
         deleting it is safe and starts with an empty cache",
        path.display()
    )]
    Open {
        /// The cache file.
        path: PathBuf,
        /// Why it cannot be opened.
        source: OpenFailure,
    },
}

/// Why redb could not open the cache file.
#[derive(Debug, thiserror::Error)]
pub enum OpenFailure {
    /// redb refused the file.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// Preparing its tables (or bringing it within its budget) failed.
    #[error(transparent)]
    Prepare(#[from] redb::Error),
    /// redb panicked on it: the file was damaged outside redb.
    #[error("the file is corrupt")]
    Corrupt,
    /// A damaged file could not be moved out of the way.
    #[error("the file is damaged, and cannot be set aside: {0}")]
    SetAside(std::io::Error),
}

impl OpenFailure {
    /// Is this the file's damage (rather than an I/O error, a lock or an old format)?
    fn is_damage(&self) -> bool {
        matches!(
            self,
            OpenFailure::Corrupt
                | OpenFailure::Database(DatabaseError::Storage(redb::StorageError::Corrupted(_)))
                | OpenFailure::Prepare(redb::Error::Corrupted(_))
        )
    }
}

/// What went wrong in the disk store besides redb's own errors.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiskFault {
    /// The writer task ended before answering this put.
    #[error("the writer stopped before committing this entry")]
    WriterStopped,
    /// redb panicked while writing.
    #[error("writing failed (is the cache file damaged?)")]
    WriteFailed,
    /// redb panicked while reading: a page of the file is damaged.
    #[error("the cache file is damaged here (deleting it is safe: it holds only cached pages)")]
    Damaged,
    /// The file is out of service after an I/O error, until it is open again.
    #[error("the cache file is being opened again after an I/O error")]
    Reopening,
    /// The disk is full: entries are not written until space returns.
    #[error("the disk holding the cache is full")]
    Full,
}

/// What [`DiskStore::stats`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Number of entries stored (corrupt rows not yet found included).
    pub entries: u64,
    /// Bytes of the stored entries (keys and encoded entries), what the budget bounds.
    pub stored_bytes: u64,
    /// The byte budget of the stored entries; `None`: unbounded.
    pub max_bytes: Option<u64>,
    /// Entries evicted for the budget since the store was opened.
    pub evicted: u64,
    /// Size of the database file on disk, in bytes: the entries plus redb's own pages and
    /// its free pages (redb reuses them, but never shrinks the file).
    pub file_bytes: u64,
}

/// Entries and purge records persisted in a redb database.
#[derive(Clone)]
pub struct DiskStore {
    handle: Arc<Handle>,
    puts: Arc<GroupCommit>,
    max_bytes: Option<u64>,
    path: PathBuf,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DiskStore {
    /// Open (or create) the store in `dir`, creating the directory if needed, with no
    /// byte budget: entries stay until they expire ([`DiskStore::sweep`]) or are removed.
    ///
    /// Blocking: call it at startup, or from `spawn_blocking`. After an unclean shutdown
    /// redb repairs the file here, which may take a while on a large file.
    pub fn open(dir: &Path) -> Result<DiskStore, DiskError> {
        DiskStore::open_bounded(dir, None)
    }

    /// [`DiskStore::open`], with the stored entries (keys and encoded entries) kept within
    /// `max_bytes`: each commit evicts entries, oldest render first, until they fit, and
    /// a page larger than the whole budget is not stored. A file over the budget (it was
    /// lowered) is brought within it here.
    pub fn open_with_budget(dir: &Path, max_bytes: u64) -> Result<DiskStore, DiskError> {
        DiskStore::open_bounded(dir, Some(max_bytes))
    }

    fn open_bounded(dir: &Path, max_bytes: Option<u64>) -> Result<DiskStore, DiskError> {
        std::fs::create_dir_all(dir).map_err(|source| DiskError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = match open_file(&path, max_bytes) {
            Err(DiskError::Open { source, .. }) if source.is_damage() => {
                // The file holds only cached pages (and purge records for them): a damaged
                // one is set aside, and the store starts empty, rather than isr not starting.
                let aside = dir.join(DAMAGED_FILE_NAME);
                tracing::warn!(
                    error = %source,
                    file = %path.display(),
                    moved_to = %aside.display(),
                    "the cache file is damaged: set aside, starting with an empty cache"
                );
                std::fs::rename(&path, &aside).map_err(|error| DiskError::Open {
                    path: path.clone(),
                    source: OpenFailure::SetAside(error),
                })?;
                open_file(&path, max_bytes)?
            }
            opened => opened?,
        };
        let handle = Arc::new(Handle::new(db, &path, max_bytes));
        Ok(DiskStore {
            puts: Arc::new(GroupCommit::new(Arc::clone(&handle), max_bytes)),
            handle,
            max_bytes,
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many entries the store holds and how large its file is.
    pub async fn stats(&self) -> Result<DiskStats, StoreError> {
        let path = self.path.clone();
        let max_bytes = self.max_bytes;
        let evicted = self.puts.evicted();
        self.blocking(move |db| {
            let (entries, stored_bytes) = {
                let txn = db.begin_read()?;
                (txn.open_table(ENTRIES)?.len()?, rows::stored_bytes(&txn)?)
            };
            let file_bytes = std::fs::metadata(&path)?.len();
            Ok(DiskStats {
                entries,
                stored_bytes,
                max_bytes,
                evicted,
                file_bytes,
            })
        })
        .await
    }

    /// Remove the entries that can never be served again at `now` (past their `expire`
    /// plus `stale_if_error`), and return how many. Entries that never expire stay. Cheap
    /// when little is due: it reads the expiry index, not the entries. `isr serve` runs
    /// it at start and every 10 minutes; a program using the store directly should too.
    pub async fn sweep(&self, now: UnixMillis) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let mut removed = 0;
            loop {
                let txn = db.begin_write()?;
                let (batch, more) = Rows::open(&txn)?.sweep_expired(now, SWEEP_BATCH)?;
                txn.commit()?;
                removed += batch;
                if !more {
                    return Ok(removed);
                }
            }
        })
        .await
    }

    /// Run `op` against the database on the blocking pool.
    async fn blocking<T, F>(&self, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let handle = Arc::clone(&self.handle);
        let op = move || {
            let db = handle.database()?;
            // A panic of redb (on a page damaged outside it) is the file's damage, reported
            // as such; the binary's panic hook says so once instead of printing a panic.
            match catch_unwind(AssertUnwindSafe(|| op(&db))) {
                Ok(result) => handle.check(&db, result),
                Err(_) => Err(StoreError::backend("disk store", DiskFault::Damaged)),
            }
        };
        match tokio::task::spawn_blocking(op).await {
            Ok(result) => result,
            Err(e) => Err(StoreError::backend("disk store task failed", e)),
        }
    }
}

/// Open (or create) the database at `path`, its tables prepared and within `max_bytes`.
fn open_file(path: &Path, max_bytes: Option<u64>) -> Result<Database, DiskError> {
    let path = path.to_path_buf();
    let open_error = |source: OpenFailure| DiskError::Open {
        path: path.clone(),
        source,
    };
    // redb may panic on a file that was damaged outside redb; that must be an error
    // a person can act on, not a crash of the proxy.
    let opened = catch_unwind(AssertUnwindSafe(|| {
        Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(&path)
    }));
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch)) => {
            return Err(DiskError::Locked { path });
        }
        Ok(Err(e)) => return Err(open_error(e.into())),
        Err(_) => return Err(open_error(OpenFailure::Corrupt)),
    };
    // Create the tables up front so read transactions always find them.
    // A budget lowered far below the file's contents is met in batches, so that no one
    // transaction holds millions of removals; the first batch shares the transaction
    // that prepares the tables.
    let evict = |txn: &WriteTransaction| match max_bytes {
        Some(max) => Rows::open(txn)?.evict_to(max, SWEEP_BATCH),
        None => Ok(0),
    };
    let prepared = catch_unwind(AssertUnwindSafe(|| -> Result<u64, redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(PURGES)?;
        rows::prepare(&txn)?;
        let mut batch = evict(&txn)?;
        txn.commit()?;
        let mut evicted = batch;
        while batch == SWEEP_BATCH as u64 {
            let txn = db.begin_write()?;
            batch = evict(&txn)?;
            txn.commit()?;
            evicted += batch;
        }
        Ok(evicted)
    }));
    let evicted = match prepared {
        Ok(prepared) => prepared.map_err(|e| open_error(e.into()))?,
        Err(_) => return Err(open_error(OpenFailure::Corrupt)),
    };
    if evicted > 0 {
        tracing::info!(
            evicted,
            "evicted entries from the disk cache to fit its budget"
        );
    }
    Ok(db)
}

fn store_error(e: redb::Error) -> StoreError {
    match e {
        redb::Error::Io(io) => StoreError::unavailable("disk store I/O", io),
        other => StoreError::backend("disk store", other),
    }
}

fn read_row(db: &Database, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ENTRIES)?;
    Ok(table.get(key)?.map(|row| row.value().to_vec()))
}

/// Remove each `(key, corrupt row)` only if the key still holds that row, so a valid
/// entry written since it was read is kept. One transaction for all of them.
fn remove_corrupt_rows<'a>(
    db: &Database,
    rows: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut stored = Rows::open(&txn)?;
        for (key, corrupt) in rows {
            stored.remove_if(key, |row| row == corrupt)?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// What one read of [`scan_rows`] found.
struct Scanned {
    /// Decoded entries, in key order.
    page: Vec<(String, Arc<Entry>)>,
    /// `(key, row)` of the rows that did not decode, to remove once the read is over.
    corrupt: Vec<(String, Bytes)>,
}

/// Up to `limit` decodable entries with keys after `after`, in key order, plus the
/// corrupt rows met on the way.
fn scan_rows(db: &Database, after: Option<&str>, limit: usize) -> Result<Scanned, redb::Error> {
    let mut page = Vec::new();
    let mut corrupt = Vec::new();
    if limit == 0 {
        return Ok(Scanned { page, corrupt });
    }
    let txn = db.begin_read()?;
    let table = txn.open_table(ENTRIES)?;
    let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut rows = table.range::<&str>((lower, Bound::Unbounded))?;
    loop {
        // redb panics on some damaged pages (a key that is not UTF-8, say): the listing
        // ends there, with what it found before, rather than failing whole.
        let next = catch_unwind(AssertUnwindSafe(|| {
            rows.next().map(|row| {
                row.map(|(key, value)| {
                    (
                        key.value().to_owned(),
                        Bytes::copy_from_slice(value.value()),
                    )
                })
            })
        }));
        let Ok(next) = next else {
            tracing::debug!("a damaged page of the cache file ends this listing");
            break;
        };
        let Some(row) = next else { break };
        let (key, row) = row?;
        match Entry::decode(row.clone()) {
            Ok(entry) => {
                page.push((key, Arc::new(entry)));
                if page.len() >= limit {
                    break;
                }
            }
            Err(reason) => {
                tracing::warn!(key = %key, %reason, "removing a corrupt entry from the disk cache");
                corrupt.push((key, row));
            }
        }
    }
    Ok(Scanned { page, corrupt })
}

fn mode_to_byte(mode: PurgeMode) -> u8 {
    match mode {
        PurgeMode::Soft => 0,
        PurgeMode::Hard => 1,
    }
}

fn mode_from_byte(byte: u8) -> PurgeMode {
    match byte {
        0 => PurgeMode::Soft,
        // Unknown modes are treated as the stricter one: never serve what may be purged.
        _ => PurgeMode::Hard,
    }
}

fn invalidation_from_row((at, mode): (u64, u8)) -> Invalidation {
    Invalidation {
        at: UnixMillis(at),
        mode: mode_from_byte(mode),
    }
}

#[async_trait::async_trait]
impl EntryStore for DiskStore {
    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let Some(row) = read_row(db, &key)? else {
                return Ok(None);
            };
            let row = Bytes::from(row);
            match Entry::decode(row.clone()) {
                Ok(entry) => Ok(Some(Arc::new(entry))),
                Err(reason) => {
                    tracing::warn!(key = %key, %reason, "removing a corrupt entry from the disk cache");
                    if let Err(e) = remove_corrupt_rows(db, [(key.as_str(), &row[..])]) {
                        tracing::warn!(key = %key, error = %e, "could not remove a corrupt entry");
                    }
                    Ok(None)
                }
            }
        })
        .await
    }

    async fn put(&self, key: &str, entry: Arc<Entry>) -> Result<(), StoreError> {
        self.puts.put(key.to_owned(), entry).await
    }

    async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let key = key.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let removed = Rows::open(&txn)?.remove(&key)?;
            txn.commit()?;
            Ok(removed)
        })
        .await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.blocking(|db| {
            let txn = db.begin_write()?;
            rows::clear(&txn)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let after = after.map(str::to_owned);
        self.blocking(move |db| {
            let Scanned { page, corrupt } = scan_rows(db, after.as_deref(), limit)?;
            if !corrupt.is_empty() {
                let rows = corrupt.iter().map(|(key, row)| (key.as_str(), &row[..]));
                if let Err(e) = remove_corrupt_rows(db, rows) {
                    tracing::warn!(error = %e, "could not remove corrupt entries");
                }
            }
            Ok(page)
        })
        .await
    }
}

#[async_trait::async_trait]
impl PurgeStore for DiskStore {
    async fn invalidate(&self, name: &str, invalidation: Invalidation) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            {
                let mut table = txn.open_table(PURGES)?;
                let current = table
                    .get(name.as_str())?
                    .map(|row| invalidation_from_row(row.value()));
                if current.is_none_or(|current| supersedes(invalidation, current)) {
                    table.insert(
                        name.as_str(),
                        (invalidation.at.0, mode_to_byte(invalidation.mode)),
                    )?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn forget_before(&self, before: UnixMillis) -> Result<u64, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_write()?;
            let forgotten = {
                let mut table = txn.open_table(PURGES)?;
                let len = table.len()?;
                table.retain(|_, (at, _)| at >= before.0)?;
                len.saturating_sub(table.len()?)
            };
            txn.commit()?;
            Ok(forgotten)
        })
        .await
    }

    async fn all(&self) -> Result<Vec<(String, Invalidation)>, StoreError> {
        self.blocking(|db| {
            let txn = db.begin_read()?;
            let table = txn.open_table(PURGES)?;
            let mut all = Vec::new();
            for row in table.iter()? {
                let (name, invalidation) = row?;
                all.push((
                    name.value().to_owned(),
                    invalidation_from_row(invalidation.value()),
                ));
            }
            Ok(all)
        })
        .await
    }
}
