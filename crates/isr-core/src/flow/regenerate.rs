//! Regenerating a path on request (the admin API's `"regenerate": true`): which variants
//! are rendered, and what the caller is told.
//!
//! Invariants:
//! - Every variant of the path that is cached is regenerated (HTML and RSC; each holds
//!   every content coding); when none is, the HTML variant is, unless `if_cached`.
//! - A path that cannot be cached, or is not a valid request path, renders nothing.

use crate::admin::SkipReason;
use crate::config::Config;
use crate::job::{Job, PathJobsError, jobs_for_path_in};

/// What became of a request to regenerate a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Regeneration {
    /// A background regeneration started.
    Started,
    /// One was already running; it will do.
    AlreadyRunning,
    /// `if_cached` was asked and the path is not cached.
    NotCached,
    /// The path is not cacheable (method, route with `revalidate = 0`, ...).
    NotCacheable,
    /// The path is not a valid request path.
    Invalid(String),
    /// The state that coordinates renders could not be reached (the Worker's Durable
    /// Object; a native engine coordinates in process and never answers this).
    Unavailable,
}

impl Regeneration {
    /// Started if any variant started, else one was running already.
    pub fn of_starts(any_started: bool) -> Regeneration {
        if any_started {
            Regeneration::Started
        } else {
            Regeneration::AlreadyRunning
        }
    }
}

impl Regeneration {
    /// Why the path was skipped, as the admin API says it (`None`: it was not).
    pub fn skipped(&self) -> Option<SkipReason> {
        match self {
            Regeneration::Started | Regeneration::AlreadyRunning => None,
            Regeneration::NotCached => Some(SkipReason::NotCached),
            Regeneration::NotCacheable => Some(SkipReason::NotCacheable),
            Regeneration::Invalid(_) => Some(SkipReason::InvalidPath),
            Regeneration::Unavailable => Some(SkipReason::StateUnavailable),
        }
    }
}

/// The jobs of every variant of `path` (see [`crate::job::jobs_for_path`]), or why there are none.
pub fn path_jobs(config: &Config, path: &str) -> Result<Vec<Job>, Regeneration> {
    path_jobs_in(config, &config.build_id, path)
}

/// [`path_jobs`] under `build` (the build served now).
pub fn path_jobs_in(config: &Config, build: &str, path: &str) -> Result<Vec<Job>, Regeneration> {
    jobs_for_path_in(config, build, path).map_err(|error| match error {
        PathJobsError::NotCacheable => Regeneration::NotCacheable,
        PathJobsError::Invalid(error) => Regeneration::Invalid(error.to_string()),
    })
}

/// The variants to regenerate, from every job of the path with what the runtime found
/// cached for it (`T`: the entry, or `()`): the cached ones, or else the first (HTML, as
/// browsers ask for it) with nothing, unless `if_cached`.
pub fn to_regenerate<T>(
    found: Vec<(Job, Option<T>)>,
    if_cached: bool,
) -> Result<Vec<(Job, Option<T>)>, Regeneration> {
    if found.iter().any(|(_, entry)| entry.is_some()) {
        return Ok(found
            .into_iter()
            .filter(|(_, entry)| entry.is_some())
            .collect());
    }
    if if_cached {
        return Err(Regeneration::NotCached);
    }
    Ok(found.into_iter().take(1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
origin = "http://127.0.0.1:3000"

[[route]]
path = "/live"
revalidate = 0
"#;

    #[test]
    fn cached_variants_or_the_html_one_unless_if_cached() {
        let config = Config::from_toml(CONFIG, "isr.toml").unwrap();
        let jobs = path_jobs(&config, "/blog/a").unwrap();
        let html = jobs[0].key.clone();
        let rsc = jobs[1].key.clone();
        let none: Vec<(Job, Option<()>)> = jobs.iter().cloned().map(|j| (j, None)).collect();
        assert_eq!(
            to_regenerate(none.clone(), true).unwrap_err(),
            Regeneration::NotCached
        );
        let first = to_regenerate(none, false).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0.key, html);
        let some: Vec<(Job, Option<()>)> = jobs
            .into_iter()
            .map(|j| {
                let cached = j.key == rsc;
                (j, cached.then_some(()))
            })
            .collect();
        let chosen = to_regenerate(some, true).unwrap();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].0.key, rsc);
        assert_eq!(
            path_jobs(&config, "/live").unwrap_err(),
            Regeneration::NotCacheable
        );
        assert!(matches!(
            path_jobs(&config, "no-slash"),
            Err(Regeneration::Invalid(_))
        ));
        assert_eq!(Regeneration::of_starts(false), Regeneration::AlreadyRunning);
        assert_eq!(Regeneration::of_starts(true), Regeneration::Started);
        assert_eq!(Regeneration::AlreadyRunning.skipped(), None);
        assert_eq!(
            Regeneration::Invalid(String::new()).skipped(),
            Some(SkipReason::InvalidPath)
        );
    }
}
