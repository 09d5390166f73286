//! `kill -9` safety of the disk store, in the manner of redb's own crash tests.
//!
//! The test re-executes its own binary as a child that writes entries in a loop, from one
//! task or from several at once (so that puts are committed in groups), and prints
//! `committed <i>` after each `put` returns. The parent reads those lines (they
//! are the only synchronisation: no sleeps), SIGKILLs the child mid-stream, reopens the
//! store and checks that every reported commit is there byte for byte and that nothing
//! present is torn. With a byte budget, where commits also evict, it checks instead that
//! what is left is exactly the newest renders that fit, and that the byte count the
//! budget is enforced by matches the rows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::store::EntryStore;
use isr_store::{DiskStore, disk::FILE_NAME};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

const DIR_ENV: &str = "ISR_STORE_CRASH_DIR";
const WRITERS_ENV: &str = "ISR_STORE_CRASH_WRITERS";
const BUDGET_ENV: &str = "ISR_STORE_CRASH_BUDGET";
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

fn key_for(index: u64) -> String {
    format!("crash/{index}")
}

/// A deterministic entry for `index`, with a 10–500 KB body of pseudo-random bytes.
fn entry_for(index: u64) -> Entry {
    let len = 10_000 + (index.wrapping_mul(7_919) % 490_000) as usize;
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let body: Vec<u8> = (0..len)
        .map(|_| {
            // xorshift64: cheap, deterministic, not compressible by accident.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Entry {
        key: key_for(index),
        path: format!("/crash/{index}"),
        status: StatusCode::OK,
        headers: vec![(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/octet-stream"),
        )],
        body: Bytes::from(body),
        created_at: UnixMillis(index),
        lifetime: Lifetime {
            revalidate: Revalidate::After(60),
            expire: None,
            stale_if_error: 0,
        },
        tags: vec![format!("t{}", index % 7)],
        build_id: "crash".to_owned(),
        etag: format!("\"{index}\""),
    }
}

/// The child: writes until killed. Does nothing unless started by a parent test.
#[test]
#[ignore = "child process of the crash tests, which start it themselves"]
fn crash_writer_child() {
    let Some(dir) = std::env::var_os(DIR_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let writers: u64 = std::env::var(WRITERS_ENV).unwrap().parse().unwrap();
    let budget: Option<u64> = std::env::var(BUDGET_ENV).ok().map(|b| b.parse().unwrap());
    runtime.block_on(async {
        let store = match budget {
            Some(budget) => DiskStore::open_with_budget(Path::new(&dir), budget).unwrap(),
            None => DiskStore::open(Path::new(&dir)).unwrap(),
        };
        // Writer `w` of `writers` puts entries w, w + writers, w + 2 × writers...
        let tasks: Vec<_> = (0..writers)
            .map(|writer| {
                let store = store.clone();
                tokio::spawn(async move {
                    for index in (writer..).step_by(writers as usize) {
                        store
                            .put(&key_for(index), Arc::new(entry_for(index)))
                            .await
                            .unwrap();
                        let mut stdout = std::io::stdout().lock();
                        writeln!(stdout, "committed {index}").unwrap();
                        stdout.flush().unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Run the child with `writers` concurrent writers (and a byte budget, if any) until it
/// has reported `kill_after` commits, SIGKILL it, and return the store's directory and
/// the reported commits.
fn kill_after_commits(
    writers: u64,
    budget: Option<u64>,
    kill_after: u64,
) -> (tempfile::TempDir, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--ignored", "--exact", "crash_writer_child", "--nocapture"])
        .env(DIR_ENV, dir.path())
        .env(WRITERS_ENV, writers.to_string());
    if let Some(budget) = budget {
        child.env(BUDGET_ENV, budget.to_string());
    }
    let mut child = child
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed: Vec<u64> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest prints its own lines too; only ours count.
        if let Some(index) = line.strip_prefix("committed ") {
            committed.push(index.parse().unwrap());
            if committed.len() as u64 >= kill_after {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        committed.len() as u64 >= kill_after,
        "the child stopped after {} commits",
        committed.len()
    );
    (dir, committed)
}

/// Crash amid unbounded writes: every reported commit is there and nothing is torn.
fn kill_amid_writes(writers: u64, kill_after: u64) {
    let (dir, committed) = kill_after_commits(writers, None, kill_after);
    // Every reported commit survived, byte for byte, through the store's own reads
    // (which also runs redb's recovery of the killed process's file).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = DiskStore::open(dir.path()).unwrap();
        for &index in &committed {
            let got = store.get(&key_for(index)).await.unwrap();
            let got = got.unwrap_or_else(|| panic!("committed entry {index} is missing"));
            assert!(*got == entry_for(index), "entry {index} differs");
        }
    });

    let rows = untorn_rows(dir.path());
    assert!(
        rows.len() >= committed.len(),
        "{} rows < {} commits",
        rows.len(),
        committed.len()
    );
}

/// Crash amid writes that evict for `budget`, from one writer, so that renders are
/// committed in index order: what is left is a run of the newest entries, as long as fits
/// and no shorter, ending at or after the last reported commit; nothing is torn; the byte
/// count matches the rows.
fn kill_amid_evictions(budget: u64, kill_after: u64) {
    let (dir, committed) = kill_after_commits(1, Some(budget), kill_after);
    let rows = untorn_rows(dir.path());
    let bytes = |index: u64| (key_for(index).len() + entry_for(index).encode().len()) as u64;
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    assert_eq!(rows, (first..=last).collect::<Vec<_>>(), "not one run");
    assert!(last >= *committed.last().unwrap());
    let stored: u64 = rows.iter().map(|&index| bytes(index)).sum();
    assert!(stored <= budget, "{stored} > {budget}");
    assert!(
        first == 0 || stored + bytes(first - 1) > budget,
        "evicted too much"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stats = runtime.block_on(async { DiskStore::open(dir.path()).unwrap().stats().await });
    assert_eq!(stats.unwrap().stored_bytes, stored);
}

/// The indexes of the rows in the store at `dir`, in order, having checked that every
/// one (including any written after the last line the parent read) decodes to exactly
/// the entry its writer meant.
fn untorn_rows(dir: &Path) -> Vec<u64> {
    let db = redb::Database::create(dir.join(FILE_NAME)).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(ENTRIES).unwrap();
    let mut rows = Vec::new();
    for row in table.iter().unwrap() {
        let (key, value) = row.unwrap();
        let key = key.value().to_owned();
        let entry = Entry::decode(Bytes::copy_from_slice(value.value()))
            .unwrap_or_else(|e| panic!("row {key} is torn: {e}"));
        let index: u64 = key.strip_prefix("crash/").unwrap().parse().unwrap();
        assert!(entry == entry_for(index), "row {key} differs");
        rows.push(index);
    }
    rows.sort_unstable();
    rows
}

#[test]
fn kill_9_after_40_commits_loses_nothing_committed() {
    kill_amid_writes(1, 40);
}

#[test]
fn kill_9_after_80_commits_loses_nothing_committed() {
    kill_amid_writes(1, 80);
}

#[test]
fn kill_9_amid_grouped_commits_of_8_writers_loses_nothing_committed() {
    kill_amid_writes(8, 60);
}

#[test]
fn kill_9_amid_grouped_commits_of_32_writers_loses_nothing_committed() {
    kill_amid_writes(32, 150);
}

#[test]
fn kill_9_amid_evictions_leaves_the_newest_that_fit_and_an_exact_count() {
    // Entries are 10-500 KB: some 8 fit, so nearly every commit evicts.
    kill_amid_evictions(2 * 1024 * 1024, 60);
}
