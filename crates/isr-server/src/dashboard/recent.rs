//! The purges the dashboard lists: the most recent ones recorded by this node, newest
//! first, bounded.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use isr::PurgeObserver;
use isr_core::UnixMillis;
use isr_core::freshness::PurgeMode;
use isr_core::purge::Target;
use isr_core::telemetry::purge_kind;
use serde::Serialize;

/// Purges remembered at most.
const KEPT: usize = 50;

/// One purge, as the dashboard shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecentPurge {
    /// When it was recorded, in Unix milliseconds.
    pub at: u64,
    /// `tag`, `path`, `prefix`, `key` or `all`.
    pub kind: &'static str,
    /// The tag, path, prefix or key (empty for `all`).
    pub target: String,
    /// `soft` or `hard`.
    pub mode: &'static str,
}

/// The last [`KEPT`] purges.
#[derive(Default)]
pub struct RecentPurges {
    purges: Mutex<VecDeque<RecentPurge>>,
}

impl RecentPurges {
    /// Newest first.
    pub fn list(&self) -> Vec<RecentPurge> {
        let purges = self.purges.lock().unwrap_or_else(PoisonError::into_inner);
        purges.iter().rev().cloned().collect()
    }
}

impl PurgeObserver for RecentPurges {
    fn purged(&self, targets: &[Target], mode: PurgeMode, at: UnixMillis) {
        let mut purges = self.purges.lock().unwrap_or_else(PoisonError::into_inner);
        for target in targets {
            let text = match target {
                Target::Tag(text)
                | Target::Path(text)
                | Target::Prefix(text)
                | Target::Key(text) => text.clone(),
                Target::All => String::new(),
            };
            if purges.len() == KEPT {
                purges.pop_front();
            }
            purges.push_back(RecentPurge {
                at: at.0,
                kind: purge_kind(target),
                target: text,
                mode: match mode {
                    PurgeMode::Soft => "soft",
                    PurgeMode::Hard => "hard",
                },
            });
        }
    }
}
