//! The Redis (or Valkey) tier: entries, purge records and render locks shared by every
//! node, and the announcements that keep each node's memory tier in step.
//!
//! Invariants:
//! - Every operation is bounded by the configured timeout; a slow or absent Redis makes an
//!   operation fail with [`StoreError::Unavailable`], never hang a request.
//! - An entry is one Redis string in the core's checksummed format, written with its TTL
//!   in one command (and announced in the same script): a reader sees the old entry or
//!   the new one, and a corrupt value is a miss (and is removed, unless it was replaced
//!   meanwhile).
//! - A purge record only moves forward (a script compares and sets), and is announced in
//!   the same script, so no node hears of a record that was not stored.
//! - An entry written under purge records that Redis has since lost (evicted) is never
//!   served: entries carry the purge hash's epoch (see [`epoch`]). A Redis whose
//!   `maxmemory-policy` may evict keys without a TTL is reported by
//!   [`RedisStore::evicts_purge_records`].
//! - A lock is `SET NX PX` with a random token and is released by a script that deletes
//!   it only if it still holds that token.
//! - The connection comes back by itself: commands reconnect on their own, and the
//!   subscription is re-established in a loop that announces [`ClusterEvent::Resync`]
//!   each time it is (re)subscribed.
//! - With `cluster`, the same commands go to a Redis Cluster (`connection.rs`): each names
//!   one hash tag, and listing visits every primary. Announcements are heard through any
//!   one node (a cluster delivers `PUBLISH` to every node): the seed first, and when it
//!   cannot be reached, each primary the cluster reports, in turn.
//!
//! Key layout: see [`layout`].

mod connection;
mod epoch;
mod events;
#[cfg(test)]
mod fuzz;
mod health;
pub mod layout;
mod scripts;

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use isr_core::UnixMillis;
use isr_core::config::{RedisSettings, redact_url};
use isr_core::entry::Entry;
use isr_core::freshness::Invalidation;
use isr_core::policy::Lifetime;
use isr_core::store::{EntryStore, LockStore, LockToken, PurgeStore, StoreError};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, IntoConnectionInfo, RedisError};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, ClusterEvent, ClusterStatus};
use connection::{Connection, Server};
use epoch::KnownEpoch;
use events::{mode_digit, parse_record};
use health::Health;
use layout::Layout;

/// Kept in Redis past an entry's last servable instant, so a node's clock running a little
/// ahead of Redis's never loses an entry it may still serve.
const TTL_MARGIN_SECS: u64 = 60;

/// Keys looked at per `SCAN` step.
const SCAN_COUNT: usize = 1_000;

/// Announcements buffered per listener; one that falls further behind is told to resync.
const EVENT_BUFFER: usize = 4_096;

/// Why the Redis tier could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RedisTierError {
    #[error("invalid Redis URL {url}: {source}")]
    /// The Redis URL is not valid.
    Url {
        /// The URL as given.
        url: String,
        /// Why it is not valid.
        source: RedisError,
    },
    #[error("the Redis store must be created within a Tokio runtime (it runs a subscription task)")]
    /// Created outside a Tokio runtime.
    NoRuntime,
}

/// Redis did not answer an operation within the configured timeout.
#[derive(Debug, thiserror::Error)]
#[error("no answer within {timeout_ms} ms")]
pub struct NoAnswer {
    timeout_ms: u128,
}

/// Entries, purge records and locks in Redis, shared by every node with the same prefix.
pub struct RedisStore {
    connection: Connection,
    layout: Layout,
    timeout: Duration,
    max_ttl_secs: u64,
    node: u64,
    health: Arc<Health>,
    events: broadcast::Sender<ClusterEvent>,
    subscriber: JoinHandle<()>,
    /// The purge epoch this node last read (see [`epoch`]).
    epoch: KnownEpoch,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("layout", &self.layout)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis `settings` names. Connects lazily and in the background: a
    /// Redis that is down at start is a degraded node, not a failed start. Must be called
    /// within a Tokio runtime.
    pub fn connect(settings: &RedisSettings) -> Result<Arc<RedisStore>, RedisTierError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RedisTierError::NoRuntime)?;
        let address = redact_url(&settings.url);
        let url_error = |source| RedisTierError::Url {
            url: address.clone(),
            source,
        };
        if settings.url.starts_with("rediss://") {
            // rustls needs a process-wide crypto provider; another one may already be set.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut info = settings
            .url
            .as_str()
            .into_connection_info()
            .map_err(url_error)?;
        if let Some(password) = &settings.password
            && info.redis_settings().password().is_none()
        {
            let with_password = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(with_password);
        }
        let timeout = Duration::from_millis(settings.timeout_ms);
        let (connection, subscriptions) = if settings.cluster {
            let cluster = Connection::cluster(info.clone(), timeout).map_err(url_error)?;
            let subscriptions = Subscriptions::Cluster {
                seed: info,
                cluster: cluster.clone(),
                known: std::sync::Mutex::default(),
            };
            (cluster, subscriptions)
        } else {
            let client = redis::Client::open(info).map_err(url_error)?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
                .map_err(url_error)?;
            (Connection::Single(manager), Subscriptions::Single(client))
        };
        let layout = Layout::new(&settings.prefix);
        let health = Arc::new(Health::new(address));
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let subscriber = runtime.spawn(listen(
            subscriptions,
            layout.channel.clone(),
            events.clone(),
            Arc::clone(&health),
        ));
        Ok(Arc::new(RedisStore {
            connection,
            layout,
            timeout,
            max_ttl_secs: settings.max_ttl_secs,
            node: rand::random(),
            health,
            events,
            subscriber,
            epoch: KnownEpoch::default(),
        }))
    }

    /// The `maxmemory-policy` of the Redis this store uses, when it may evict keys that
    /// have no TTL (`allkeys-*`), such as the purge records; `None` for a policy that
    /// leaves them (`noeviction`, `volatile-*`) or a Redis that does not say (managed
    /// services may refuse `CONFIG`).
    pub async fn evicts_purge_records(&self) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        let mut config = redis::cmd("CONFIG");
        config.arg("GET").arg("maxmemory-policy");
        let answer = self
            .run(config.query_async::<Vec<String>>(&mut connection))
            .await;
        let policy = match answer {
            Ok(pair) => pair.into_iter().nth(1),
            // Answered, but refused: no policy to report.
            Err(StoreError::Backend(_)) => None,
            Err(error) => return Err(error),
        };
        Ok(policy.filter(|policy| policy.starts_with("allkeys-")))
    }

    /// Read the purge epoch from Redis (creating it if the purge hash has none: first use,
    /// or the hash was evicted), and remember it.
    async fn read_epoch(&self) -> Result<String, StoreError> {
        let mut connection = self.connection.clone();
        let purges = &self.layout.purges;
        let mut created = redis::cmd("HSETNX");
        created
            .arg(purges)
            .arg(layout::PURGE_EPOCH)
            .arg(epoch::new_epoch());
        self.run(created.query_async::<i64>(&mut connection))
            .await?;
        let epoch: Option<String> = self
            .run(connection.hget(purges, layout::PURGE_EPOCH))
            .await?;
        let epoch = epoch.unwrap_or_default();
        self.epoch.set(epoch.clone());
        Ok(epoch)
    }

    /// Run one operation within the timeout, and note what it says of Redis's health.
    async fn run<T>(
        &self,
        operation: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => {
                self.health.succeeded();
                Ok(value)
            }
            Ok(Err(error)) if is_unavailable(&error) => {
                self.health.failed(&error);
                Err(StoreError::unavailable("redis", error))
            }
            Ok(Err(error)) => {
                // Redis answered: it is up, the command itself was refused.
                self.health.succeeded();
                Err(StoreError::backend("redis", error))
            }
            Err(_) => {
                let silent = NoAnswer {
                    timeout_ms: self.timeout.as_millis(),
                };
                self.health.failed(&silent);
                Err(StoreError::unavailable("redis", silent))
            }
        }
    }

    /// How long Redis keeps an entry: until it can no longer be served, plus a margin.
    fn ttl_secs(&self, lifetime: &Lifetime) -> u64 {
        lifetime
            .servable_for_secs()
            .map_or(self.max_ttl_secs, |secs| {
                secs.saturating_add(TTL_MARGIN_SECS)
            })
    }

    fn announce(&self, event: &ClusterEvent) -> redis::Cmd {
        let mut publish = redis::cmd("PUBLISH");
        publish
            .arg(&self.layout.channel)
            .arg(events::encode(event).unwrap_or_default());
        publish
    }

    /// Every entry's Redis key under this prefix, via `SCAN` (never `KEYS`, which would
    /// block Redis) of every server that holds keys.
    async fn entry_keys(&self) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        for server in self.run(self.connection.servers()).await? {
            let mut cursor: u64 = 0;
            loop {
                let mut scan = redis::cmd("SCAN");
                scan.arg(cursor)
                    .arg("MATCH")
                    .arg(&self.layout.entry_pattern)
                    .arg("COUNT")
                    .arg(SCAN_COUNT);
                let step = self
                    .connection
                    .query_on::<(u64, Vec<String>)>(&server, scan);
                let (next, batch) = self.run(step).await?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys)
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

/// Errors that mean "Redis cannot be used", as opposed to "Redis refused this command":
/// unreachable, or refusing this client (no or wrong password).
fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || error.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// Where announcements can be heard.
enum Subscriptions {
    /// The one server.
    Single(redis::Client),
    /// Any node of a cluster: `seed` (the configured one) first, then the primaries
    /// `cluster` reports, reached with the seed's settings (password, TLS). `known`: the
    /// primaries it reported last, for when it cannot say (its own connection may still
    /// lead to the node that just went down).
    Cluster {
        seed: redis::ConnectionInfo,
        cluster: Connection,
        known: std::sync::Mutex<Vec<Server>>,
    },
}

impl Subscriptions {
    /// The servers to try subscribing to, in order.
    async fn candidates(&self) -> Vec<redis::Client> {
        match self {
            Subscriptions::Single(client) => vec![client.clone()],
            Subscriptions::Cluster {
                seed,
                cluster,
                known,
            } => {
                let reported = tokio::time::timeout(SUBSCRIBE_TIMEOUT, cluster.servers()).await;
                let mut known = known.lock().unwrap_or_else(PoisonError::into_inner);
                if let Ok(Ok(primaries)) = reported {
                    *known = primaries;
                }
                let others = known.clone().into_iter().filter_map(|server| match server {
                    Server::Primary { host, port } => Some(at_address(seed, host, port)),
                    Server::Any => None,
                });
                std::iter::once(seed.clone())
                    .chain(others)
                    .filter_map(|info| redis::Client::open(info).ok())
                    .collect()
            }
        }
    }
}

/// `seed`'s settings (password, TLS) for the node at `host:port`.
fn at_address(seed: &redis::ConnectionInfo, host: String, port: u16) -> redis::ConnectionInfo {
    let addr = match seed.addr() {
        redis::ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => redis::ConnectionAddr::TcpTls {
            host,
            port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => redis::ConnectionAddr::Tcp(host, port),
    };
    seed.clone().set_addr(addr)
}

/// How long one attempt to subscribe (or to learn a cluster's nodes) may take.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Hear announcements for as long as the store lives: subscribe, pass on what arrives,
/// and when the connection is lost, subscribe again (to the first candidate that answers,
/// with backoff once none does), then announce [`ClusterEvent::Resync`]: whatever was
/// said meanwhile was missed.
async fn listen(
    subscriptions: Subscriptions,
    channel: String,
    events: broadcast::Sender<ClusterEvent>,
    health: Arc<Health>,
) {
    const MIN_WAIT: Duration = Duration::from_millis(50);
    const MAX_WAIT: Duration = Duration::from_secs(2);
    let mut wait = MIN_WAIT;
    loop {
        for client in subscriptions.candidates().await {
            let subscribed = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, RedisError>(pubsub)
            };
            match tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribed).await {
                Ok(Ok(pubsub)) => {
                    wait = MIN_WAIT;
                    health.succeeded();
                    let _ = events.send(ClusterEvent::Resync);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(text) = message.get_payload::<String>() else {
                            continue;
                        };
                        if let Some(event) = events::decode(&text) {
                            health.heard();
                            let _ = events.send(event);
                        }
                    }
                    health.failed(&"the subscription to announcements was lost");
                }
                Ok(Err(error)) => health.failed(&error),
                Err(_) => health.failed(&"subscribing timed out"),
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT);
    }
}

#[async_trait::async_trait]
impl EntryStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, StoreError> {
        let redis_key = self.layout.entry(key);
        let mut connection = self.connection.clone();
        let value: Option<Vec<u8>> = self.run(connection.get(&redis_key)).await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let Some((written_under, encoded)) = epoch::open(&value) else {
            return Ok(None);
        };
        if !self.epoch.is(written_under) && self.read_epoch().await? != written_under {
            // Written under purge records that are gone: not trusted.
            return Ok(None);
        }
        match Entry::decode(Bytes::copy_from_slice(encoded)) {
            Ok(entry) => Ok(Some(Arc::new(entry))),
            Err(error) => {
                tracing::warn!(%error, key, "corrupt entry in redis; removing it");
                let mut invocation = scripts::eval(scripts::REMOVE_IF_UNCHANGED, &redis_key);
                invocation.arg(value);
                let removed = invocation.query_async::<i64>(&mut connection);
                self.run(removed).await?;
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &str, entry: Arc<Entry>) -> Result<(), StoreError> {
        let stored = ClusterEvent::Stored {
            node: self.node,
            key: key.to_owned(),
            created_at: entry.created_at,
        };
        let ttl_ms = self.ttl_secs(&entry.lifetime).saturating_mul(1_000);
        let epoch = match self.epoch.get() {
            Some(epoch) => epoch,
            None => self.read_epoch().await?,
        };
        let mut invocation = scripts::eval(scripts::STORE, self.layout.entry(key));
        invocation
            .arg(epoch::seal(&epoch, &entry.encode()))
            .arg(ttl_ms)
            .arg(&self.layout.channel)
            .arg(events::encode(&stored).unwrap_or_default());
        let mut connection = self.connection.clone();
        self.run(invocation.query_async::<i64>(&mut connection))
            .await?;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let removed: i64 = self.run(connection.del(self.layout.entry(key))).await?;
        Ok(removed > 0)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let keys = self.entry_keys().await?;
        let mut connection = self.connection.clone();
        for batch in keys.chunks(SCAN_COUNT) {
            let mut unlink = redis::cmd("UNLINK");
            unlink.arg(batch);
            self.run(unlink.query_async::<i64>(&mut connection)).await?;
        }
        let cleared = self.announce(&ClusterEvent::Cleared { node: self.node });
        self.run(cleared.query_async::<i64>(&mut connection))
            .await?;
        Ok(())
    }

    /// Lists by `SCAN`ning every entry key, then sorting: O(entries) per page. Meant for
    /// administration, as the trait says.
    async fn scan(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Arc<Entry>)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut keys: Vec<String> = self
            .entry_keys()
            .await?
            .iter()
            .filter_map(|redis_key| self.layout.key_of_entry(redis_key))
            .filter(|key| after.is_none_or(|after| *key > after))
            .map(str::to_owned)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut page = Vec::with_capacity(limit);
        for key in keys {
            // Entries that expired or were removed since the scan are skipped.
            if let Some(entry) = self.get(&key).await? {
                page.push((key, entry));
                if page.len() == limit {
                    break;
                }
            }
        }
        Ok(page)
    }
}

#[async_trait::async_trait]
impl PurgeStore for RedisStore {
    async fn invalidate(&self, name: &str, invalidation: Invalidation) -> Result<(), StoreError> {
        let announcement = events::encode(&ClusterEvent::Purged {
            name: name.to_owned(),
            invalidation,
        })
        .unwrap_or_default();
        let mut invocation = scripts::eval(scripts::INVALIDATE, &self.layout.purges);
        invocation
            .arg(name)
            .arg(invalidation.at.0)
            .arg(mode_digit(invalidation.mode))
            .arg(&self.layout.channel)
            .arg(announcement);
        let mut connection = self.connection.clone();
        self.run(invocation.query_async::<i64>(&mut connection))
            .await?;
        Ok(())
    }

    async fn forget_before(&self, before: UnixMillis) -> Result<u64, StoreError> {
        let mut invocation = scripts::eval(scripts::FORGET_BEFORE, &self.layout.purges);
        invocation.arg(before.0);
        let mut connection = self.connection.clone();
        let forgotten = self
            .run(invocation.query_async::<u64>(&mut connection))
            .await?;
        Ok(forgotten)
    }

    async fn all(&self) -> Result<Vec<(String, Invalidation)>, StoreError> {
        // The records read are those of the epoch read first: an entry of an older epoch
        // is not trusted by them.
        self.read_epoch().await?;
        let mut connection = self.connection.clone();
        let records: Vec<(String, String)> =
            self.run(connection.hgetall(&self.layout.purges)).await?;
        let mut records: Vec<(String, Invalidation)> = records
            .into_iter()
            .filter_map(|(name, value)| Some((name, parse_record(&value)?)))
            .collect();
        records.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(records)
    }
}

#[async_trait::async_trait]
impl LockStore for RedisStore {
    /// Redis keeps the time: `now` is not used.
    async fn try_lock(
        &self,
        key: &str,
        ttl_ms: u64,
        _now: UnixMillis,
    ) -> Result<Option<LockToken>, StoreError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let mut connection = self.connection.clone();
        let mut set = redis::cmd("SET");
        set.arg(self.layout.lock(key))
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms.max(1));
        let taken = set.query_async::<Option<String>>(&mut connection);
        Ok(self.run(taken).await?.map(|_| LockToken(token)))
    }

    async fn extend(
        &self,
        key: &str,
        token: &LockToken,
        ttl_ms: u64,
        _now: UnixMillis,
    ) -> Result<bool, StoreError> {
        let mut invocation = scripts::eval(scripts::EXTEND, self.layout.lock(key));
        invocation.arg(&token.0).arg(ttl_ms.max(1));
        let mut connection = self.connection.clone();
        let extended = self
            .run(invocation.query_async::<i64>(&mut connection))
            .await?;
        Ok(extended > 0)
    }

    async fn unlock(&self, key: &str, token: &LockToken) -> Result<bool, StoreError> {
        let mut invocation = scripts::eval(scripts::UNLOCK, self.layout.lock(key));
        invocation.arg(&token.0);
        let mut connection = self.connection.clone();
        let released = self
            .run(invocation.query_async::<i64>(&mut connection))
            .await?;
        Ok(released > 0)
    }
}

#[async_trait::async_trait]
impl Cluster for RedisStore {
    fn node_id(&self) -> u64 {
        self.node
    }

    fn events(&self) -> broadcast::Receiver<ClusterEvent> {
        self.events.subscribe()
    }

    fn status(&self) -> ClusterStatus {
        self.health.status()
    }

    async fn switch_build(&self, build: &str) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let mut set = redis::cmd("SET");
        set.arg(&self.layout.build).arg(build);
        self.run(set.query_async::<()>(&mut connection)).await?;
        let switched = self.announce(&ClusterEvent::BuildSwitched {
            node: self.node,
            build: build.to_owned(),
        });
        self.run(switched.query_async::<i64>(&mut connection))
            .await?;
        Ok(())
    }

    async fn shared_build(&self) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection.clone();
        let mut get = redis::cmd("GET");
        get.arg(&self.layout.build);
        self.run(get.query_async::<Option<String>>(&mut connection))
            .await
    }
}
