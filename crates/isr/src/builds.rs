//! The build served now, switchable while running ([`isr_core::build`] decides; this
//! holds the state): by the admin call, by the proxy's build-id-file watch, by an answer
//! naming a new build (`build_id_header`), or by another node's announcement.
//!
//! Invariants:
//! - The hit path reads the current build without a lock or an allocation
//!   ([`BuildState::current`]); a switch is visible to every request planned after it.
//! - With a cluster, a switch made on one node is recorded in the shared store and
//!   announced, and every node that hears it (or reads it back after a resync) switches.

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use isr_core::admin::BuildAnswer;
use isr_core::build::{BuildIdError, Builds, NamedBuild, Switch};
use isr_core::store::StoreError;

/// Why a switch failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildSwitchError {
    /// The build id is not valid.
    #[error("invalid build id: {0}")]
    Invalid(#[from] BuildIdError),
    /// This node switched, but the other nodes could not be told.
    #[error("switched on this node, but the other nodes could not be told: {0}")]
    Cluster(#[from] StoreError),
}

/// The current build, and the builds it replaced.
pub(crate) struct BuildState {
    current: ArcSwap<String>,
    history: Mutex<Builds>,
}

impl BuildState {
    pub(crate) fn new(initial: &str) -> BuildState {
        BuildState {
            current: ArcSwap::from_pointee(initial.to_owned()),
            history: Mutex::new(Builds::new(initial)),
        }
    }

    /// The build every request is keyed under now.
    pub(crate) fn current(&self) -> Guard<Arc<String>> {
        self.current.load()
    }

    /// Switch this node to `to`.
    pub(crate) fn switch(&self, to: &str) -> Result<Switch, BuildIdError> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        let switch = history.switch(to)?;
        if let Switch::Switched { from } = &switch {
            self.current.store(Arc::new(to.to_owned()));
            tracing::info!(build = to, from, "switched to a new build");
        }
        Ok(switch)
    }

    /// What an answer to a render keyed under `keyed` naming `named` means.
    pub(crate) fn judge_answer(&self, keyed: &str, named: Option<&str>) -> NamedBuild {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.judge_answer(keyed, named)
    }

    /// The admin API's view (`switched`: this request switched).
    pub(crate) fn answer(&self, switched: bool) -> BuildAnswer {
        let history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        BuildAnswer {
            current: history.current().to_owned(),
            retired: history.retired().map(str::to_owned).collect(),
            switched,
        }
    }
}
