//! Time as the core sees it: milliseconds since the Unix epoch, always passed in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An instant, in milliseconds since the Unix epoch. The core never reads a clock;
/// every caller passes the current `UnixMillis` in.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Milliseconds from `earlier` to `self`, or 0 if `earlier` is later.
    pub fn millis_since(self, earlier: UnixMillis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Whole seconds from `earlier` to `self`, or 0 if `earlier` is later.
    pub fn secs_since(self, earlier: UnixMillis) -> u64 {
        self.millis_since(earlier) / 1000
    }

    /// This instant moved forward by `d` (saturating).
    pub fn plus(self, d: Duration) -> UnixMillis {
        UnixMillis(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// This instant moved forward by `secs` seconds (saturating).
    pub fn add_secs(self, secs: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}
