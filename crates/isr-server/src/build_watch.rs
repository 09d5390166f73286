//! Watching the build id file (`build_id_file`, `--build-id-file`): when its content
//! changes, the proxy switches to the build it names, without a restart
//! ([`isr::Isr::switch_build`], on every node sharing the store).
//!
//! Invariants:
//! - Only a change of the file's content switches: a build switched to another way (the
//!   admin API, an answer's header) is not undone while the file stays as it was.
//! - A file that cannot be read, or holds no valid build id, switches nothing and is
//!   reported once per change of state, never per poll.
//! - The task ends with the engine (it holds it weakly).

use std::time::Duration;

use isr::WeakIsr;
use isr_core::config::parse_build_id_file;

/// How often the file is read.
pub(crate) const POLL: Duration = Duration::from_millis(500);

/// Watch `path` (which held `initial` at start) and switch `isr` to each new build it names.
pub(crate) async fn watch(path: String, initial: String, isr: WeakIsr) {
    let mut seen = Ok(initial);
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(isr) = isr.upgrade() else {
            return;
        };
        let file = path.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(file)).await;
        let now = match read {
            Ok(Ok(text)) => parse_build_id_file(&text).map_err(|e| e.to_string()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if now == seen {
            continue;
        }
        match &now {
            Ok(build) => match isr.switch_build(build).await {
                Ok(_) => tracing::info!(path, build, "the build id file names a new build"),
                Err(error) => tracing::warn!(%error, path, build, "could not switch build"),
            },
            Err(error) => tracing::warn!(
                path,
                error,
                "the build id file has no valid build id; still serving the current build"
            ),
        }
        seen = now;
    }
}
