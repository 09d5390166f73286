//! A throwaway `redis-server` for tests: on a free loopback port, without persistence,
//! stopped (by its PID) when dropped. Needs `redis-server` on `PATH`
//! (`apt-get install -y redis-server`). It can require a password, or speak only TLS.
//! [`RedisCluster`] starts three of them as one Redis Cluster (with `redis-cli`, which
//! comes with `redis-server`).
//!
//! Invariants: a server is started on a port only it holds (one that was taken meanwhile
//! makes it exit, and it is started again on another, see [`on_free_port`]); and it is
//! stopped, by its PID, whatever happened to the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use isr_core::config::RedisSettings;
use redis::aio::ConnectionLike;

use super::ports::on_free_port;
use crate::redis_tier::layout::Layout;

/// Ages a key as if `ARGV[1]` ms passed on Redis's clock: its TTL shrinks by that much,
/// and it is deleted when that was all it had left. Returns the TTL it had (negative: no
/// such key, or no expiry).
const AGE: &str = r"
local left = redis.call('PTTL', KEYS[1])
if left < 0 then return left end
local by = tonumber(ARGV[1])
if left > by then
  redis.call('PEXPIRE', KEYS[1], left - by)
else
  redis.call('DEL', KEYS[1])
end
return left
";

/// Age the key `redis_key` by `by_ms` through `connection` (see [`AGE`]).
async fn age(connection: &mut impl ConnectionLike, redis_key: &str, by_ms: u64) {
    redis::cmd("EVAL")
        .arg(AGE)
        .arg(1)
        .arg(redis_key)
        .arg(by_ms)
        .query_async::<i64>(connection)
        .await
        .expect("age a key");
}

/// A running `redis-server` owned by the test.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    process: Option<Child>,
    /// Extra settings it was started with.
    settings: Vec<String>,
    tls: bool,
}

/// The files of a TLS server: its certificate chain and key, and the CA that signed it.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The server certificate.
    pub cert: std::path::PathBuf,
    /// The server's private key.
    pub key: std::path::PathBuf,
    /// The certificate authority that signed `cert`.
    pub ca: std::path::PathBuf,
}

impl RedisServer {
    /// Start one on a free port and wait until it answers.
    ///
    /// # Panics
    /// If `redis-server` is not installed or does not come up: the test cannot run.
    pub fn start() -> RedisServer {
        RedisServer::start_with(Vec::new(), false)
    }

    /// One that requires `password` (`requirepass`).
    pub fn with_password(password: &str) -> RedisServer {
        RedisServer::start_with(vec!["--requirepass".into(), password.into()], false)
    }

    /// One that speaks only TLS, with these files (no client certificates required).
    pub fn with_tls(files: &TlsFiles) -> RedisServer {
        let path = |p: &std::path::Path| p.display().to_string();
        let settings = vec![
            "--tls-cert-file".into(),
            path(&files.cert),
            "--tls-key-file".into(),
            path(&files.key),
            "--tls-ca-cert-file".into(),
            path(&files.ca),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        RedisServer::start_with(settings, true)
    }

    fn start_with(settings: Vec<String>, tls: bool) -> RedisServer {
        on_free_port("redis-server", |port| {
            let mut server = RedisServer {
                port,
                process: None,
                settings: settings.clone(),
                tls,
            };
            server.launch().then_some(server)
        })
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The store settings for it: its URL, every other setting the default.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            url: self.url(),
            ..RedisSettings::default()
        }
    }

    /// A connection of the test's own, to look at or change what is stored.
    ///
    /// # Panics
    /// If it cannot connect (not for a TLS server).
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis")
    }

    /// The time to live (ms) of every key matching `pattern`.
    pub async fn ttls_ms(&self, pattern: &str) -> Vec<i64> {
        let mut connection = self.connection().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut connection)
            .await
            .expect("KEYS");
        let mut ttls = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .expect("PTTL");
            ttls.push(ttl);
        }
        ttls
    }

    /// Make the render lock of storage key `key` (under the default prefix) `by_ms`
    /// older, as if that much time had passed on Redis's clock: its expiry comes that much
    /// sooner, and it is gone if it would have expired by then. A lock's expiry is tested
    /// this way, without waiting for it.
    pub async fn age_lock(&self, key: &str, by_ms: u64) {
        let lock = Layout::new(&RedisSettings::default().prefix).lock(key);
        age(&mut self.connection().await, &lock, by_ms).await;
    }

    /// Freeze the process (SIGSTOP): it keeps its connections and answers nothing, as a
    /// Redis stuck on a slow command would, until [`RedisServer::resume`].
    ///
    /// # Panics
    /// If it is not running, or the signal cannot be sent.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Let a paused process go on (SIGCONT).
    ///
    /// # Panics
    /// If it is not running, or the signal cannot be sent.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let process = self.process.as_ref().expect("redis-server is running");
        let sent = Command::new("kill")
            .arg(signal)
            .arg(process.id().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} redis-server");
    }

    /// Kill it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Start it again on the same port, empty (nothing was persisted).
    ///
    /// # Panics
    /// If it does not come up.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.launch() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Spawn on `self.port`; `true` once it answers (a TLS server: once it accepts).
    fn launch(&mut self) -> bool {
        let port = self.port.to_string();
        let listen: &[&str] = if self.tls {
            &["--port", "0", "--tls-port", &port]
        } else {
            &["--port", &port]
        };
        let spawned = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .args(&self.settings)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut process = match spawned {
            Ok(process) => process,
            Err(error) => panic!(
                "cannot run redis-server ({error}); install it: apt-get install -y redis-server"
            ),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = process.try_wait() {
                return false; // exited: most likely the port was taken
            }
            let up = if self.tls {
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                answers(self.port)
            };
            if up {
                self.process = Some(process);
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = process.kill();
        let _ = process.wait();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three `redis-server`s in cluster mode, the 16,384 slots spread over them, no replicas:
/// a Redis Cluster on loopback, stopped (by PID) when dropped. The slots of a node that is
/// down stay down, and the others go on serving (`cluster-require-full-coverage no`).
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// Holds each node's `nodes.conf`.
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Start the three nodes, join them (`redis-cli --cluster create`), and wait until
    /// every node reports `cluster_state:ok`.
    ///
    /// # Panics
    /// If the cluster does not come up: the test cannot run.
    pub fn start() -> RedisCluster {
        for _ in 0..5 {
            if let Some(cluster) = RedisCluster::try_start() {
                return cluster;
            }
        }
        panic!("could not start a Redis Cluster on loopback");
    }

    fn try_start() -> Option<RedisCluster> {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let node = on_free_port("a Redis Cluster node", |port| {
                // A cluster node also listens on its port + 10,000 (the cluster bus).
                if port >= 55_000 || !bus_port_free(port) {
                    return None;
                }
                let conf = dir.path().join(format!("nodes-{port}.conf"));
                let mut server = RedisServer {
                    port,
                    process: None,
                    settings: vec![
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        conf.display().to_string(),
                        "--cluster-node-timeout".into(),
                        "2000".into(),
                        "--cluster-require-full-coverage".into(),
                        "no".into(),
                    ],
                    tls: false,
                };
                server.launch().then_some(server)
            });
            nodes.push(node);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match created {
            Ok(status) if status.success() => {}
            Ok(_) => return None,
            Err(error) => panic!(
                "cannot run redis-cli ({error}); install it: apt-get install -y redis-server"
            ),
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes.iter().all(|node| cluster_ok(node.port)) {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(RedisCluster { nodes, _dir: dir })
    }

    /// `redis://127.0.0.1:<port>` of the first node (any node leads to the others).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The store settings for it: its URL, `cluster`, every other setting the default.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            url: self.url(),
            cluster: true,
            ..RedisSettings::default()
        }
    }

    /// [`RedisServer::age_lock`], on whichever node holds the lock.
    pub async fn age_lock(&self, key: &str, by_ms: u64) {
        let lock = Layout::new(&RedisSettings::default().prefix).lock(key);
        let mut connection = redis::cluster::ClusterClient::new(vec![self.url()])
            .expect("cluster url")
            .get_async_connection()
            .await
            .expect("connect to the cluster");
        age(&mut connection, &lock, by_ms).await;
    }

    /// Kill node `index` (0 to 2) at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// The index of the node holding `key`'s slot.
    ///
    /// # Panics
    /// If the cluster cannot say (node 0 must be up).
    pub fn node_of(&self, key: &str) -> usize {
        let ask = |args: &[&str]| {
            let port = self.nodes[0].port.to_string();
            let out = Command::new("redis-cli")
                .args(["-p", &port])
                .args(args)
                .output()
                .expect("redis-cli");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let slot: u16 = ask(&["cluster", "keyslot", key])
            .trim()
            .parse()
            .expect("a slot");
        let nodes = ask(&["cluster", "nodes"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(port) = fields
                .get(1)
                .and_then(|address| address.split('@').next()?.rsplit_once(':'))
                .and_then(|(_, port)| port.parse::<u16>().ok())
            else {
                continue;
            };
            let holds = fields.iter().skip(8).any(|range| {
                let (low, high) = range.split_once('-').unwrap_or((range, range));
                matches!((low.parse::<u16>(), high.parse::<u16>()), (Ok(low), Ok(high)) if (low..=high).contains(&slot))
            });
            if holds && let Some(index) = self.nodes.iter().position(|n| n.port == port) {
                return index;
            }
        }
        panic!("no node holds slot {slot}");
    }
}

/// Is `port + 10000` free for a cluster node's bus?
fn bus_port_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
}

/// Does the node on `port` report `cluster_state:ok`?
fn cluster_ok(port: u16) -> bool {
    let info = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output();
    info.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
}

/// Does a server on `port` answer `PING` (`+PONG`, or `-NOAUTH` when it wants a password)?
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 1];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && matches!(&reply, b"+" | b"-")
}
