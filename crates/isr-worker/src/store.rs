//! The two entry tiers on Workers: L1, the Cache API of this data centre; L2, Workers KV
//! (global, eventually consistent).
//!
//! Invariants:
//! - Both tiers hold the bytes of [`Entry::encode`] (versioned, checksummed), never text:
//!   a body round-trips byte for byte.
//! - A read never returns a torn, corrupt or foreign entry: a buffer that does not decode,
//!   or whose raw key differs from the one asked for (a hashed-key collision), is a miss.
//! - An entry whose encoding exceeds the KV value limit ([`KV_MAX_VALUE_BYTES`]) is stored
//!   nowhere ([`PutError::TooLarge`]).
//! - Neither tier decides freshness: every read is judged by the engine against the purge
//!   records, since a data centre's Cache API never learns of a purge.

use bytes::Bytes;
use isr_core::UnixMillis;
use isr_core::entry::Entry;
use isr_core::key::CacheKey;
use worker::{Cache, Headers, KvStore, Response};

/// Workers KV's limit on one value (25 MiB).
pub(crate) const KV_MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
/// KV refuses expirations shorter than a minute.
const KV_MIN_TTL_SECS: u64 = 60;
/// Longest time an entry is kept in either tier when it never expires.
const MAX_TTL_SECS: u64 = 365 * 24 * 3600;

/// Why an entry was not stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PutError {
    #[error("the entry is {0} bytes, over the Workers KV value limit of 25 MiB")]
    TooLarge(usize),
    #[error("Workers KV: {0}")]
    Kv(String),
}

/// The Cache API and the KV namespace, for one request.
pub(crate) struct Tiers {
    cache: Cache,
    kv: KvStore,
    /// `scheme://host` of the request: Cache API keys live under the zone's own host, in
    /// the reserved `/_isr/` space no page can use.
    base: String,
}

impl Tiers {
    pub(crate) fn new(kv: KvStore, base: String) -> Tiers {
        Tiers {
            cache: Cache::default(),
            kv,
            base,
        }
    }

    fn cache_url(&self, key: &CacheKey) -> String {
        let mut url = format!("{}/_isr/l1/", self.base);
        for byte in key.storage().bytes() {
            url.push_str(&format!("{byte:02x}"));
        }
        url
    }

    /// The entry in this data centre's Cache API, if any.
    pub(crate) async fn l1_get(&self, key: &CacheKey) -> Option<Entry> {
        let mut response = match self.cache.get(self.cache_url(key), true).await {
            Ok(Some(response)) => response,
            Ok(None) => return None,
            Err(error) => {
                worker::console_warn!("isr: Cache API read failed: {error}");
                return None;
            }
        };
        let bytes = response.bytes().await.ok()?;
        decoded(key, bytes)
    }

    /// The entry in KV, if any.
    pub(crate) async fn l2_get(&self, key: &CacheKey) -> Option<Entry> {
        match self.kv.get(key.storage()).bytes().await {
            Ok(Some(bytes)) => decoded(key, bytes),
            Ok(None) => None,
            Err(error) => {
                worker::console_warn!("isr: KV read failed: {error}");
                None
            }
        }
    }

    /// Up to `limit` (1 to 1,000) of KV's keys (storage keys) in order, from `cursor` (where
    /// the previous call ended), and the cursor of the next call (`None`: that was all).
    pub(crate) async fn l2_keys(
        &self,
        cursor: Option<String>,
        limit: u64,
    ) -> Result<(Vec<String>, Option<String>), worker::KvError> {
        let mut list = self.kv.list().limit(limit);
        if let Some(cursor) = cursor {
            list = list.cursor(cursor);
        }
        let page = list.execute().await?;
        let names = page.keys.into_iter().map(|key| key.name).collect();
        let next = if page.list_complete {
            None
        } else {
            page.cursor
        };
        Ok((names, next))
    }

    /// The entry in KV under storage key `name`, whatever it answers (for listing).
    pub(crate) async fn l2_get_stored(&self, name: &str) -> Option<Entry> {
        let bytes = self.kv.get(name).bytes().await.ok()??;
        Entry::decode(Bytes::from(bytes)).ok()
    }

    /// Store `entry` in KV and in this data centre's Cache API. A KV failure (such as its
    /// limit of one write per second per key) is reported, but the Cache API still gets
    /// the entry, so this data centre does not render it again at once.
    pub(crate) async fn put(
        &self,
        key: &CacheKey,
        entry: &Entry,
        now: UnixMillis,
    ) -> Result<(), PutError> {
        let bytes = entry.encode();
        if bytes.len() > KV_MAX_VALUE_BYTES {
            return Err(PutError::TooLarge(bytes.len()));
        }
        let ttl = ttl_secs(entry, now);
        let stored = match self.kv.put_bytes(key.storage(), &bytes) {
            Ok(put) => put
                .expiration_ttl(ttl.max(KV_MIN_TTL_SECS))
                .execute()
                .await
                .map_err(|e| PutError::Kv(e.to_string())),
            Err(error) => Err(PutError::Kv(error.to_string())),
        };
        self.l1_put(key, bytes, ttl).await;
        stored
    }

    /// Remove the entry of `key` from KV and from this data centre's Cache API (the origin
    /// no longer lets it be cached). A failure is logged: the entry then stays until it
    /// expires, judged like any other.
    pub(crate) async fn remove(&self, key: &CacheKey) {
        if let Err(error) = self.kv.delete(key.storage()).await {
            worker::console_warn!("isr: KV delete failed: {error}");
        }
        if let Err(error) = self.cache.delete(self.cache_url(key), true).await {
            worker::console_warn!("isr: Cache API delete failed: {error}");
        }
    }

    /// Copy an entry read from KV into this data centre's Cache API.
    pub(crate) async fn refill_l1(&self, key: &CacheKey, entry: &Entry, now: UnixMillis) {
        self.l1_put(key, entry.encode(), ttl_secs(entry, now)).await;
    }

    async fn l1_put(&self, key: &CacheKey, bytes: Vec<u8>, ttl: u64) {
        let headers = Headers::new();
        let stored = headers
            .set("content-type", "application/octet-stream")
            .and_then(|()| headers.set("cache-control", &format!("max-age={ttl}")))
            .and_then(|()| Response::from_bytes(bytes))
            .map(|response| response.with_headers(headers));
        let result = match stored {
            Ok(response) => self.cache.put(self.cache_url(key), response).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            worker::console_warn!("isr: Cache API write failed: {error}");
        }
    }
}

fn decoded(key: &CacheKey, bytes: Vec<u8>) -> Option<Entry> {
    Entry::decode(Bytes::from(bytes))
        .ok()
        .filter(|entry| entry.key == key.raw())
}

/// How long a tier keeps `entry`: until it can no longer be served (expire plus
/// stale-if-error, from its creation), at most [`MAX_TTL_SECS`], at least one second.
fn ttl_secs(entry: &Entry, now: UnixMillis) -> u64 {
    let lifetime = &entry.lifetime;
    let life = lifetime.expire.map_or(MAX_TTL_SECS, |expire| {
        expire.saturating_add(lifetime.stale_if_error)
    });
    life.saturating_sub(now.secs_since(entry.created_at))
        .clamp(1, MAX_TTL_SECS)
}
