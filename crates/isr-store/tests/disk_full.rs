//! A full disk, for real: a small tmpfs that the test mounts (root only, as in CI) and
//! fills ([`Tmpfs`]). The store keeps reading, refuses entry writes at once without growing its file,
//! purges and removals go on in the room its reserve file gives back, and storing resumes
//! by itself once space returns; nothing committed is lost across all of it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: a failed step panics, and the panic is the report"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::freshness::{Invalidation, PurgeMode};
use isr_core::policy::{Lifetime, Revalidate};
use isr_core::store::{EntryStore, PurgeStore, StoreError};
use isr_store::DiskStore;
use isr_store::disk::{FILE_NAME, RESERVE_FILE_NAME};
use isr_store::testing::Tmpfs;

fn entry(key: &str, bytes: usize, seed: u8) -> Arc<Entry> {
    Arc::new(Entry {
        key: key.to_owned(),
        path: format!("/{key}"),
        status: StatusCode::OK,
        headers: Vec::new(),
        body: Bytes::from(vec![seed; bytes]),
        created_at: UnixMillis(1_000),
        lifetime: Lifetime {
            revalidate: Revalidate::After(60),
            expire: None,
            stale_if_error: 0,
        },
        tags: Vec::new(),
        build_id: String::new(),
        etag: format!("\"{seed}\""),
        representations: Vec::new(),
    })
}

fn hard(at: u64) -> Invalidation {
    Invalidation {
        at: UnixMillis(at),
        mode: PurgeMode::Hard,
    }
}

fn file_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(FILE_NAME)).unwrap().len()
}

#[tokio::test]
async fn a_full_disk_keeps_reads_and_purges_and_storing_resumes_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount(48 * 1024 * 1024) else {
        return;
    };
    let dir = tmpfs.path();
    let store = DiskStore::open(dir).unwrap();
    assert!(
        dir.join(RESERVE_FILE_NAME).exists(),
        "the reserve is written at open"
    );
    for i in 0..5u8 {
        store
            .put(&format!("kept/{i}"), entry("kept", 10_000, i))
            .await
            .unwrap();
    }
    store.invalidate("tag:before", hard(2_000)).await.unwrap();

    let filler = tmpfs.fill();
    // redb may still have room inside its file: write until the disk says it is full.
    let mut refused = None;
    for i in 0..1_000 {
        if let Err(error) = store
            .put(&format!("big/{i}"), entry("big", 256 * 1024, 1))
            .await
        {
            refused = Some(error);
            break;
        }
    }
    let refused = refused.expect("a full disk refuses a write");
    assert!(
        matches!(refused, StoreError::Unavailable(_)),
        "a full disk is a store that cannot take writes for now, not a broken one: {refused}"
    );
    assert!(
        !dir.join(RESERVE_FILE_NAME).exists(),
        "the reserve is given back when the disk fills"
    );

    // Full: entry writes are refused at once and the file does not grow.
    let len = file_len(dir);
    for i in 0..20 {
        let refused = store
            .put(&format!("while-full/{i}"), entry("w", 256 * 1024, 2))
            .await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))));
    }
    assert_eq!(file_len(dir), len, "refused writes never touch the file");

    // Reads, purges and removals go on.
    assert_eq!(
        store.get("kept/1").await.unwrap().unwrap().body,
        entry("kept", 10_000, 1).body
    );
    store
        .invalidate("tag:while-full", hard(3_000))
        .await
        .unwrap();
    store.invalidate("path:/kept", hard(3_001)).await.unwrap();
    assert!(store.remove("kept/0").await.unwrap());
    let purges = store.all().await.unwrap();
    for name in ["tag:before", "tag:while-full", "path:/kept"] {
        assert!(purges.iter().any(|(n, _)| n == name), "{name} is recorded");
    }

    // Space returns: storing resumes by itself (the store probes for space once a second).
    std::fs::remove_file(filler).unwrap();
    let mut stored = false;
    for _ in 0..200 {
        if store.put("after", entry("after", 10_000, 3)).await.is_ok() {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "storing on disk resumes once space returns");
    assert!(dir.join(RESERVE_FILE_NAME).exists(), "the reserve is back");

    // Everything committed is there after a restart; nothing removed or purged came back.
    drop(store);
    let store = DiskStore::open(dir).unwrap();
    assert!(store.get("kept/0").await.unwrap().is_none());
    for i in 1..5u8 {
        assert!(store.get(&format!("kept/{i}")).await.unwrap().is_some());
    }
    assert!(store.get("after").await.unwrap().is_some());
    let purges = store.all().await.unwrap();
    for name in ["tag:before", "tag:while-full", "path:/kept"] {
        assert!(
            purges.iter().any(|(n, _)| n == name),
            "{name} survives a restart"
        );
    }
}
