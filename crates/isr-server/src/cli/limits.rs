//! `isr serve`'s flags for client connections and stopping: the limits of
//! [`ConnectionLimits`], each with its `ISR_*` environment variable.
//!
//! Invariant: a flag not given leaves the default of [`ConnectionLimits::for_this_process`].

use std::time::Duration;

use clap::Args;
use isr_server::connections::ConnectionLimits;

use super::parse::{parse_positive_count, parse_positive_duration_ms};

/// Flags of `isr serve` that limit client connections and say how it stops.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// How long a graceful stop (SIGTERM, Ctrl-C) waits for the requests in flight,
    /// downloads included, and the background renders, like 30s. [default: 30s]
    ///
    /// isr stops accepting connections at once; a second signal stops it without waiting.
    #[arg(long, env = "ISR_DRAIN_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration_ms)]
    pub(crate) drain_timeout: Option<u64>,

    /// How long a client has from connecting to sending a whole request head (and for each
    /// later head on the same connection), like 30s. [default: 30s]
    #[arg(long, env = "ISR_REQUEST_HEAD_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration_ms)]
    pub(crate) request_head_timeout: Option<u64>,

    /// How long a connection stays open with no request in flight and no byte moving,
    /// like 60s. [default: 60s]
    #[arg(long, env = "ISR_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_positive_duration_ms)]
    pub(crate) idle_timeout: Option<u64>,

    /// The most client connections open at once. [default: half of the open-files limit
    /// less 64]
    ///
    /// The other half is kept for the connections to the origin (one per client
    /// connection at most), and 64 descriptors for the stores and the rest. A
    /// connection arriving at the limit replaces the one idle longest (one that never sent
    /// a request first); when every connection is busy, it is closed.
    #[arg(long, env = "ISR_MAX_CONNECTIONS", value_name = "N", value_parser = parse_positive_count)]
    pub(crate) max_connections: Option<usize>,
}

impl LimitArgs {
    /// The limits: the flags given, the defaults for the rest.
    pub(crate) fn limits(&self) -> ConnectionLimits {
        let mut limits = ConnectionLimits::for_this_process();
        let millis = Duration::from_millis;
        if let Some(ms) = self.drain_timeout {
            limits.drain_timeout = millis(ms);
        }
        if let Some(ms) = self.request_head_timeout {
            limits.request_head_timeout = millis(ms);
        }
        if let Some(ms) = self.idle_timeout {
            limits.idle_timeout = millis(ms);
        }
        if let Some(max) = self.max_connections {
            limits.max_connections = max;
        }
        limits
    }
}
