//! The disk store across process lifetimes: what was committed is there after a
//! reopen, corrupt rows read as misses and are removed, and bad paths are clear errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::store::{EntryStore, PurgeStore};
use isr_store::{DiskError, DiskStore, disk::FILE_NAME};
use redb::{ReadableDatabase, TableDefinition};

/// The store's table, reached directly to plant corrupt rows.
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

fn entry(key: &str, seed: u8) -> Entry {
    Entry {
        key: key.to_owned(),
        path: format!("/p/{seed}"),
        status: StatusCode::OK,
        headers: vec![(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("text/html"),
        )],
        body: Bytes::from(vec![seed; 10_000]),
        created_at: UnixMillis(1_000 + u64::from(seed)),
        lifetime: Lifetime {
            revalidate: Revalidate::After(30),
            expire: Some(600),
            stale_if_error: 60,
        },
        tags: vec!["t".to_owned()],
        build_id: "b".to_owned(),
        etag: format!("\"{seed}\""),
    }
}

#[tokio::test]
async fn entries_and_tags_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<(String, Entry)> = (0..5u8)
        .map(|i| (format!("key/{i}"), entry(&format!("key/{i}"), i)))
        .collect();
    let hard = Invalidation {
        at: UnixMillis(5_000),
        mode: PurgeMode::Hard,
    };
    {
        let store = DiskStore::open(dir.path()).unwrap();
        for (key, entry) in &written {
            store.put(key, Arc::new(entry.clone())).await.unwrap();
        }
        assert!(store.remove("key/4").await.unwrap());
        store.invalidate("blog", hard).await.unwrap();
    }
    let store = DiskStore::open(dir.path()).unwrap();
    for (key, entry) in &written[..4] {
        assert_eq!(*store.get(key).await.unwrap().unwrap(), *entry);
    }
    assert!(store.get("key/4").await.unwrap().is_none());
    assert_eq!(store.all().await.unwrap(), [("blog".to_owned(), hard)]);
}

#[tokio::test]
async fn a_corrupt_row_reads_as_a_miss_and_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let good = entry("good", 1);
    {
        let store = DiskStore::open(dir.path()).unwrap();
        store.put("good", Arc::new(good.clone())).await.unwrap();
    }
    // Plant rows the store did not write: garbage, and a valid encoding with one bit
    // flipped in its body.
    {
        let db = redb::Database::create(dir.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(ENTRIES).unwrap();
            table.insert("garbage", b"not an entry".as_slice()).unwrap();
            let mut flipped = entry("flipped", 2).encode();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x10;
            table.insert("flipped", flipped.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    {
        let store = DiskStore::open(dir.path()).unwrap();
        assert!(store.get("garbage").await.unwrap().is_none());
        assert!(store.get("flipped").await.unwrap().is_none());
        assert_eq!(*store.get("good").await.unwrap().unwrap(), good);
    }
    let db = redb::Database::create(dir.path().join(FILE_NAME)).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(ENTRIES).unwrap();
    assert!(
        table.get("garbage").unwrap().is_none(),
        "corrupt row removed"
    );
    assert!(
        table.get("flipped").unwrap().is_none(),
        "corrupt row removed"
    );
    assert!(table.get("good").unwrap().is_some());
}

#[tokio::test]
async fn purge_records_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let at = |ms: u64, mode: PurgeMode| Invalidation {
        at: UnixMillis(ms),
        mode,
    };
    let expected: Vec<(String, Invalidation)> = [
        ("*", at(10, PurgeMode::Soft)),
        ("p:/a", at(30, PurgeMode::Hard)),
        ("t:blog", at(20, PurgeMode::Soft)),
        ("x:/docs", at(40, PurgeMode::Hard)),
    ]
    .into_iter()
    .map(|(name, invalidation)| (name.to_owned(), invalidation))
    .collect();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        for (name, invalidation) in expected.iter().rev() {
            store.invalidate(name, *invalidation).await.unwrap();
        }
        // Older ones do not undo them.
        store
            .invalidate("t:blog", at(5, PurgeMode::Hard))
            .await
            .unwrap();
        store
            .invalidate("t:gone", at(1, PurgeMode::Hard))
            .await
            .unwrap();
        assert_eq!(store.forget_before(UnixMillis(2)).await.unwrap(), 1);
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(store.all().await.unwrap(), expected);
}

#[tokio::test]
async fn a_scan_skips_and_removes_corrupt_rows() {
    let dir = tempfile::tempdir().unwrap();
    let good: Vec<Entry> = (0..4u8).map(|i| entry(&format!("k{i}"), i)).collect();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        for e in &good {
            store.put(&e.key, Arc::new(e.clone())).await.unwrap();
        }
    }
    {
        let db = redb::Database::create(dir.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(ENTRIES).unwrap();
            // Sorted between the good keys, and at the end.
            table.insert("k0-bad", b"not an entry".as_slice()).unwrap();
            table.insert("k2-bad", b"".as_slice()).unwrap();
            table.insert("k9-bad", b"nope".as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(store.stats().await.unwrap().entries, 7);
    // Pages stay full across the corrupt rows.
    let first = store.scan(None, 2).await.unwrap();
    let second = store.scan(Some(&first[1].0), 2).await.unwrap();
    let rest = store.scan(Some(&second[1].0), 2).await.unwrap();
    let seen: Vec<Entry> = first
        .iter()
        .chain(&second)
        .chain(&rest)
        .map(|(_, e)| (**e).clone())
        .collect();
    assert_eq!(seen, good);
    assert!(rest.is_empty(), "only a corrupt row is left after k3");
    assert_eq!(
        store.stats().await.unwrap().entries,
        4,
        "corrupt rows removed"
    );
}

#[tokio::test]
async fn stats_count_entries_and_measure_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let empty = store.stats().await.unwrap();
    assert_eq!(empty.entries, 0);
    for i in 0..20u8 {
        let key = format!("key/{i}");
        store.put(&key, Arc::new(entry(&key, i))).await.unwrap();
    }
    assert!(store.remove("key/0").await.unwrap());
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.entries, 19);
    let on_disk = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len();
    assert_eq!(stats.file_bytes, on_disk);
    // 19 bodies of 10 KB.
    assert!(stats.file_bytes >= 19 * 10_000, "{stats:?}");
}

#[test]
fn opening_a_file_as_the_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    let err = DiskStore::open(&file).unwrap_err();
    assert!(matches!(err, DiskError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[test]
fn a_database_file_that_is_not_redb_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE_NAME), vec![0xAB; 64 * 1024]).unwrap();
    let err = DiskStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, DiskError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(FILE_NAME), "{err}");
}

#[test]
fn a_second_open_of_the_same_directory_is_reported_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _first = DiskStore::open(dir.path()).unwrap();
    let err = DiskStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, DiskError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("another isr process"), "{err}");
}
