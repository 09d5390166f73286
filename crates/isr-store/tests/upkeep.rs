//! What the disk store removes by itself, and the bookkeeping behind it:
//! - the sweep: entries past `expire + stale_if_error` are removed, nothing still servable
//!   is, and the expiry index follows every write, removal, clear and reopen, including of
//!   a file written before the index existed;
//! - the byte budget: the stored bytes never exceed it once a put returns, the oldest
//!   renders go first, and the byte count stays exact through every kind of removal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

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

/// What the entries present count against the budget, computed from the entries.
async fn counted(store: &DiskStore) -> u64 {
    let scanned = store.scan(None, 10_000).await.unwrap();
    let bytes = scanned.iter().map(|(key, e)| key.len() + e.encode().len());
    bytes.sum::<usize>() as u64
}

/// The bytes `entry` takes in the store.
fn size(entry: &Entry) -> u64 {
    (entry.key.len() + entry.encode().len()) as u64
}

/// Entry `i` of a run written in render order, each the same size.
fn nth(i: u64) -> Entry {
    entry(&format!("k{i:03}"), 1_000 + i, None)
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
    // Counted at open, corrupt row included; reading the corrupt row removes it and its
    // bytes.
    assert!(store.get("corrupt").await.unwrap().is_none());
    assert_eq!(
        store.stats().await.unwrap().stored_bytes,
        counted(&store).await
    );
    assert_eq!(counted(&store).await, size(&entry("forever", 1_000, None)));
}

#[tokio::test]
async fn a_budget_keeps_the_newest_renders_within_it_after_every_put() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 5 * size(&nth(0));
    let store = DiskStore::open_with_budget(dir.path(), budget).unwrap();
    for i in 0..20 {
        put(&store, nth(i)).await;
        let stats = store.stats().await.unwrap();
        assert!(stats.stored_bytes <= budget, "after put {i}: {stats:?}");
        assert_eq!(stats.stored_bytes, counted(&store).await, "after put {i}");
    }
    assert_eq!(keys(&store).await, ["k015", "k016", "k017", "k018", "k019"]);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.entries, stats.evicted), (5, 15));
    assert_eq!(
        (stats.stored_bytes, stats.max_bytes),
        (budget, Some(budget))
    );
}

#[tokio::test]
async fn eviction_goes_by_render_time_not_by_write_order() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 2 * size(&nth(0));
    let store = DiskStore::open_with_budget(dir.path(), budget).unwrap();
    put(&store, nth(5)).await;
    put(&store, nth(6)).await;
    // Written last, rendered first: it is the oldest page, so it goes.
    put(&store, nth(1)).await;
    assert_eq!(keys(&store).await, ["k005", "k006"]);
    // A re-render of a key moves it to the back of the line.
    put(&store, nth(5)).await;
    put(&store, entry("k005", 2_000, None)).await;
    put(&store, nth(7)).await;
    assert_eq!(keys(&store).await, ["k005", "k007"]);
}

#[tokio::test]
async fn a_page_larger_than_the_whole_budget_is_not_stored_nor_its_older_version_kept() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 3 * size(&nth(0));
    let store = DiskStore::open_with_budget(dir.path(), budget).unwrap();
    put(&store, nth(1)).await;
    put(&store, nth(2)).await;
    let mut huge = nth(1);
    huge.created_at = UnixMillis(9_000);
    huge.body = Bytes::from(vec![b'x'; budget as usize]);
    put(&store, huge).await;
    // A disk that still had the older k001 would answer it after a restart, though a
    // newer render exists.
    assert_eq!(keys(&store).await, ["k002"]);
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.stored_bytes, stats.evicted), (size(&nth(2)), 0));
}

#[tokio::test]
async fn a_lowered_budget_is_enforced_when_the_store_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        join_all((0..10).map(|i| put(&store, nth(i)))).await;
        assert_eq!(store.stats().await.unwrap().max_bytes, None);
    }
    {
        let store = DiskStore::open_with_budget(dir.path(), 10 * size(&nth(0))).unwrap();
        assert_eq!(
            keys(&store).await.len(),
            10,
            "a budget that fits evicts nothing"
        );
    }
    let store = DiskStore::open_with_budget(dir.path(), 3 * size(&nth(0))).unwrap();
    assert_eq!(keys(&store).await, ["k007", "k008", "k009"]);
    assert_eq!(
        store.stats().await.unwrap().stored_bytes,
        counted(&store).await
    );
}

#[tokio::test]
async fn a_budget_lowered_far_below_the_file_is_met_at_open_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        join_all((0..2_500).map(|i| put(&store, nth(i)))).await;
    }
    // Pages 1000 to 2499 have the same size: 2,400 go, over three transactions.
    let store = DiskStore::open_with_budget(dir.path(), 100 * size(&nth(2_400))).unwrap();
    let kept = keys(&store).await;
    assert_eq!(kept.len(), 100);
    assert_eq!((kept[0].as_str(), kept[99].as_str()), ("k2400", "k2499"));
    assert_eq!(
        store.stats().await.unwrap().stored_bytes,
        counted(&store).await
    );
}

#[tokio::test]
async fn the_byte_count_follows_every_removal_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        for i in 0..6 {
            put(&store, entry(&format!("k{i}"), 1_000 + i, Some(600))).await;
        }
        put(&store, entry("forever", 1_000, None)).await;
        // Replaced by a larger page, removed, swept (three due at once).
        let mut larger = entry("k0", 5_000_000, Some(600));
        larger.body = Bytes::from(vec![b'y'; 5_000]);
        put(&store, larger).await;
        assert!(store.remove("k1").await.unwrap());
        assert!(!store.remove("k1").await.unwrap());
        assert_eq!(store.sweep(UnixMillis(662_000)).await.unwrap(), 4);
        assert_eq!(keys(&store).await, ["forever", "k0"]);
        assert_eq!(
            store.stats().await.unwrap().stored_bytes,
            counted(&store).await
        );
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(
        store.stats().await.unwrap().stored_bytes,
        counted(&store).await
    );
    store.clear().await.unwrap();
    assert_eq!(store.stats().await.unwrap().stored_bytes, 0);
    put(&store, nth(1)).await;
    assert_eq!(store.stats().await.unwrap().stored_bytes, size(&nth(1)));
}

#[tokio::test]
async fn under_a_budget_the_file_stops_growing() {
    let dir = tempfile::tempdir().unwrap();
    let budget: u64 = 4 * 1024 * 1024;
    let store = DiskStore::open_with_budget(dir.path(), budget).unwrap();
    let mut written = 0;
    // 60 groups of 20 pages of 5-45 KB: about 7 times the budget in all.
    for group in 0..60u64 {
        let pages: Vec<Entry> = (0..20u64)
            .map(|i| {
                let mut page = entry(&format!("g{group}p{i}"), group * 100 + i, None);
                page.body = Bytes::from(vec![b'z'; 5_000 + (i as usize * 2_003) % 40_000]);
                page
            })
            .collect();
        written += pages.iter().map(size).sum::<u64>();
        join_all(pages.into_iter().map(|page| put(&store, page))).await;
    }
    let stats = store.stats().await.unwrap();
    assert!(written > 6 * budget, "{written}");
    assert!(stats.stored_bytes <= budget, "{stats:?}");
    // redb reuses freed pages but grows the file by doubling, and a commit's old pages are
    // free only after the next one: measured here, the file settles at 2.1 times the
    // budget, after the second doubling.
    assert!(stats.file_bytes <= 3 * budget, "{stats:?}");
}
