//! What a finished render changes besides the answer: whether it is stored, whether the
//! entry it replaces goes, the key's backoff, and its hit-for-pass mark.
//!
//! Hit-for-pass: a key whose render was uncacheable is marked for [`PASS_MARK`]; while
//! marked, its requests go to the origin directly (each renders its own answer, stored
//! only if it turns storable) instead of queueing behind each other in single flight for
//! an answer none of them may share. A runtime stores marks its own way, bounded.
//!
//! Invariants:
//! - A storable render is stored and clears the key's backoff and pass mark.
//! - An uncacheable render clears the backoff (the origin answered), marks the key, and
//!   removes the entry it replaces (the origin no longer lets it be cached).
//! - A failed render stores and removes nothing, and extends the backoff.
//! - An entry another node stored changes nothing here (that node settled its render).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::flow::render::Rendered;

/// How long a key whose render was uncacheable skips single flight.
pub const PASS_MARK: Duration = Duration::from_secs(30);

/// What happens to the key's backoff. (Serialized for a runtime that keeps it elsewhere,
/// like the Worker's Durable Object.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffChange {
    /// The origin answered: the key is not failing.
    Clear,
    /// The render failed: back off longer.
    Fail,
    /// Nothing changes.
    Keep,
}

/// What happens to the key's pass mark (serialized as [`BackoffChange`] is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassMark {
    /// Remove it.
    Clear,
    /// Mark the key until this instant.
    Set(UnixMillis),
    /// Nothing changes.
    Keep,
}

/// Everything a finished render changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    /// Store the render's entry.
    pub store: bool,
    /// Remove the entry stored under the key.
    pub remove: bool,
    /// How the key's failure backoff changes.
    pub backoff: BackoffChange,
    /// Whether the key is marked hit-for-pass, or no longer.
    pub pass_mark: PassMark,
}

/// What `rendered` changes, finished at `now`; `had_entry`: an entry is stored under the
/// key (an uncacheable answer removes it).
pub fn settle<R, E>(rendered: &Rendered<R, E>, had_entry: bool, now: UnixMillis) -> Settled {
    match rendered {
        Rendered::Storable(_) => Settled {
            store: true,
            remove: false,
            backoff: BackoffChange::Clear,
            pass_mark: PassMark::Clear,
        },
        Rendered::Uncacheable { .. } => Settled {
            store: false,
            remove: had_entry,
            backoff: BackoffChange::Clear,
            pass_mark: PassMark::Set(now.plus(PASS_MARK)),
        },
        Rendered::FailedStatus(_) | Rendered::Failed(_) => Settled {
            store: false,
            remove: false,
            backoff: BackoffChange::Fail,
            pass_mark: PassMark::Keep,
        },
        Rendered::Found(_) => Settled {
            store: false,
            remove: false,
            backoff: BackoffChange::Keep,
            pass_mark: PassMark::Keep,
        },
    }
}

/// Does a pass mark set until `until` (if any) still hold at `now`?
pub fn is_passing(until: Option<UnixMillis>, now: UnixMillis) -> bool {
    until.is_some_and(|until| until > now)
}
