//! Loopback ports for test servers.
//!
//! A port the kernel hands out and [`free_port`] releases may be bound by another process
//! before the test's server binds it: a server started on it fails, and is started again
//! on a new port ([`on_free_port`]), never assumed to have come up.

use std::net::TcpListener;

/// Ports [`on_free_port`] tries before giving up.
const ATTEMPTS: usize = 20;

/// A loopback port nothing listens on right now (0 if none could be found). To start a
/// server on one, use [`on_free_port`], which tries again when it is taken meanwhile.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or(0)
}

/// Start `what` on a free loopback port: `start(port)` returns `None` when the server
/// could not take the port (it was taken meanwhile), and then a new port is tried.
///
/// # Panics
/// When no port worked after 20 tries: the test cannot run.
pub fn on_free_port<T>(what: &str, mut start: impl FnMut(u16) -> Option<T>) -> T {
    for _ in 0..ATTEMPTS {
        let port = free_port();
        if port == 0 {
            continue;
        }
        if let Some(started) = start(port) {
            return started;
        }
    }
    panic!("could not start {what} on a free port ({ATTEMPTS} tries)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_replaced_by_another() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut tries = 0;
        let bound = on_free_port("a listener", |port| {
            tries += 1;
            // The first pick is made to collide, as if another process bound it first.
            let port = if tries == 1 { taken_port } else { port };
            TcpListener::bind(("127.0.0.1", port)).ok()
        });
        assert_eq!(tries, 2);
        assert_ne!(bound.local_addr().unwrap().port(), taken_port);
    }
}
