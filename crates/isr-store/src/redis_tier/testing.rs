//! A throwaway `redis-server` for tests: on a free loopback port, without persistence,
//! stopped (by its PID) when dropped. Needs `redis-server` on `PATH`
//! (`apt-get install -y redis-server`). It can require a password, or speak only TLS.
//! [`RedisCluster`] starts three of them as one Redis Cluster (with `redis-cli`, which
//! comes with `redis-server`).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
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
        for _ in 0..20 {
            let mut server = RedisServer {
                port: free_port(),
                process: None,
                settings: settings.clone(),
                tls,
            };
            if server.launch() {
                return server;
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
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
        let listen: [&str; 4] = if self.tls {
            ["--port", "0", "--tls-port", &port]
        } else {
            ["--port", &port, "--enable-debug-command", "local"]
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
            // A cluster node also listens on its port + 10,000 (the cluster bus).
            let port = (0..20)
                .map(|_| free_port())
                .find(|&port| port > 0 && port < 55_000 && bus_port_free(port))?;
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
            if !server.launch() {
                return None;
            }
            nodes.push(server);
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

/// A loopback port nobody listens on right now (0 if none could be found).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(0)
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
