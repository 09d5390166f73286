//! The disk store's sweep: entries past `expire + stale_if_error` are removed, nothing
//! still servable is, and the expiry index follows every write, removal, clear and
//! reopen, including of a file written before the index existed.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use http::StatusCode;
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::store::EntryStore;
use isr_store::{DiskStore, disk::FILE_NAME};
use redb::TableDefinition;

/// The store's tables, reached directly to write a file as an older isr did.
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
const TAGS: TableDefinition<&str, (u64, u8)> = TableDefinition::new("tags");

/// An entry created at `created_ms`, expiring after `expire` seconds (`None`: never),
/// then servable on error for 60 s more.
fn entry(key: &str, created_ms: u64, expire: Option<u64>) -> Entry {
    Entry {
        key: key.to_owned(),
        path: format!("/{key}"),
        status: StatusCode::OK,
        headers: Vec::new(),
        body: Bytes::from(format!("page {key} of {created_ms}")),
        created_at: UnixMillis(created_ms),
        lifetime: Lifetime {
            revalidate: Revalidate::After(10),
            expire,
            stale_if_error: 60,
        },
        tags: Vec::new(),
        build_id: String::new(),
        etag: "\"e\"".to_owned(),
    }
}

async fn put(store: &DiskStore, entry: Entry) {
    let key = entry.key.clone();
    store.put(&key, Arc::new(entry)).await.unwrap();
}

async fn keys(store: &DiskStore) -> Vec<String> {
    let scanned = store.scan(None, 10_000).await.unwrap();
    scanned.into_iter().map(|(key, _)| key).collect()
}

#[tokio::test]
async fn a_sweep_removes_only_what_can_never_be_served_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    // Servable until 1 s + 600 s + 60 s, and until 100 s + 600 s + 60 s.
    put(&store, entry("early", 1_000, Some(600))).await;
    put(&store, entry("late", 100_000, Some(600))).await;
    put(&store, entry("forever", 1_000, None)).await;

    assert_eq!(store.sweep(UnixMillis(660_999)).await.unwrap(), 0);
    assert_eq!(keys(&store).await, ["early", "forever", "late"]);
    // Stale and past expire, but still servable if the origin fails: kept until then.
    assert_eq!(store.sweep(UnixMillis(661_000)).await.unwrap(), 1);
    assert_eq!(keys(&store).await, ["forever", "late"]);
    assert!(store.get("early").await.unwrap().is_none());

    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 1);
    assert_eq!(keys(&store).await, ["forever"]);
    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 0);
}

#[tokio::test]
async fn a_replaced_entry_is_swept_by_the_deadline_of_its_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    put(&store, entry("k", 1_000, Some(600))).await;
    put(&store, entry("k", 500_000, Some(600))).await; // servable until 1,160 s
    put(&store, entry("never", 1_000, Some(600))).await;
    put(&store, entry("never", 2_000, None)).await;

    assert_eq!(store.sweep(UnixMillis(700_000)).await.unwrap(), 0);
    let kept = store
        .get("k")
        .await
        .unwrap()
        .expect("the newer entry stays");
    assert_eq!(kept.created_at, UnixMillis(500_000));
    assert_eq!(store.sweep(UnixMillis(1_160_000)).await.unwrap(), 1);
    assert_eq!(keys(&store).await, ["never"]);
    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 0);
}

#[tokio::test]
async fn removed_and_cleared_entries_leave_nothing_to_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    put(&store, entry("removed", 1_000, Some(1))).await;
    assert!(store.remove("removed").await.unwrap());
    put(&store, entry("cleared", 1_000, Some(1))).await;
    store.clear().await.unwrap();
    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 0);

    // The index works again after a clear.
    put(&store, entry("after", 1_000, Some(1))).await;
    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 1);
    assert!(keys(&store).await.is_empty());
}

#[tokio::test]
async fn thousands_due_at_once_are_swept_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let puts = (0..2_500).map(|i| put(&store, entry(&format!("k{i:04}"), 1_000, Some(600))));
    join_all(puts).await;
    put(&store, entry("forever", 1_000, None)).await;
    assert_eq!(store.sweep(UnixMillis(661_000)).await.unwrap(), 2_500);
    assert_eq!(keys(&store).await, ["forever"]);
    assert_eq!(store.stats().await.unwrap().entries, 1);
}

#[tokio::test]
async fn the_index_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        put(&store, entry("due", 1_000, Some(600))).await;
        put(&store, entry("forever", 1_000, None)).await;
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 1);
    assert_eq!(keys(&store).await, ["forever"]);
}

#[tokio::test]
async fn a_file_from_before_the_index_is_indexed_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    {
        // What an isr without the index left: the entries and tags tables only.
        let db = redb::Database::create(dir.path().join(FILE_NAME)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut entries = txn.open_table(ENTRIES).unwrap();
            for e in [
                entry("due", 1_000, Some(600)),
                entry("forever", 1_000, None),
            ] {
                entries
                    .insert(e.key.as_str(), e.encode().as_slice())
                    .unwrap();
            }
            entries
                .insert("corrupt", b"not an entry".as_slice())
                .unwrap();
            txn.open_table(TAGS).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(store.sweep(UnixMillis(u64::MAX)).await.unwrap(), 1);
    assert!(store.get("due").await.unwrap().is_none());
    assert!(store.get("forever").await.unwrap().is_some());
}
