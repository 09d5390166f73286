//! The clock `isr serve` runs on: the system's, or, when the environment names a file in
//! [`TEST_CLOCK_FILE`], the system's plus the milliseconds written in that file. An
//! end-to-end test of the real binary (the Worker's shared scenarios,
//! `crates/isr-worker/test/native.test.mjs`) moves time forward by writing the file, the
//! way the Worker's tests move its clock, instead of sleeping.
//!
//! Invariants:
//! - Only the environment isr is started with can name the file: nothing a client sends
//!   moves the clock, and without the variable (every real deployment) the clock is the
//!   system's, read as before.
//! - The offset only adds. A missing or unreadable file counts as 0 (a test replaces the
//!   file by renaming, so it never reads half a number).

use std::path::PathBuf;
use std::sync::Arc;

use isr::{Clock, SystemClock};
use isr_core::UnixMillis;

/// The environment variable naming the test clock's offset file.
pub const TEST_CLOCK_FILE: &str = "ISR_TEST_CLOCK_FILE";

/// The clock to serve on: the system's, or the test clock when [`TEST_CLOCK_FILE`] is set.
pub fn from_env() -> Arc<dyn Clock> {
    match std::env::var_os(TEST_CLOCK_FILE) {
        Some(path) => {
            tracing::warn!(
                "{TEST_CLOCK_FILE} is set: the clock is moved by {}; this is for tests only",
                PathBuf::from(&path).display()
            );
            Arc::new(OffsetFileClock { path: path.into() })
        }
        None => Arc::new(SystemClock),
    }
}

/// The system's time plus the milliseconds in `path`, read at every tick.
#[derive(Debug)]
struct OffsetFileClock {
    path: PathBuf,
}

impl Clock for OffsetFileClock {
    fn now(&self) -> UnixMillis {
        let offset_ms = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(0);
        UnixMillis(SystemClock.now().0.saturating_add(offset_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_moves_the_clock_forward_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let clock = OffsetFileClock {
            path: dir.path().join("offset"),
        };
        // No file: the system's time.
        let before = SystemClock.now();
        let now = clock.now();
        assert!(now >= before && now <= SystemClock.now());

        std::fs::write(&clock.path, "86400000\n").unwrap();
        let day_ahead = clock.now();
        assert!(day_ahead.millis_since(SystemClock.now()) > 86_000_000);

        // What does not parse counts as no offset.
        std::fs::write(&clock.path, "-5").unwrap();
        assert!(clock.now() <= SystemClock.now());
    }
}
