//! A throwaway `redis-server` for tests: on a free loopback port, without persistence,
//! stopped (by its PID) when dropped. Needs `redis-server` on `PATH`
//! (`apt-get install -y redis-server`). It can require a password, or speak only TLS.

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
