//! Which build's pages are served, and how a running isr moves to a new build: the
//! current build id and the builds it replaced ([`Builds`]), what an origin's answer
//! naming a build means ([`Builds::judge_answer`]), and the warm request that fills a
//! build's pages before it is switched to ([`warm_build`]).
//!
//! The build id is part of every key ([`crate::key`]), so switching it is the whole
//! deploy: from the switch on, every request is looked up under the new build, and the
//! old build's entries are simply never addressed again (they are evicted as usual).
//!
//! Invariants:
//! - A build id is never empty, at most [`MAX_BUILD_ID_BYTES`] long, and has no control
//!   character ([`check_build_id`]); a switch to anything else is refused.
//! - An answer that names a build other than the one its key is under is never stored.
//!   Only an answer to a request of the current build can switch; a build that was
//!   switched away from never comes back by an answer (a rolling deploy, where old and new
//!   origins answer for a while, moves forward once), only by an explicit switch.
//! - A warm request is keyed under the build it names only with the admin token; without
//!   it (or with a wrong one) the header is ignored.

use std::collections::VecDeque;

use http::HeaderMap;

use crate::secret::constant_time_eq;

/// The longest build id accepted.
pub const MAX_BUILD_ID_BYTES: usize = 256;
/// Builds remembered as switched away from (the oldest is forgotten first).
pub const RETIRED_KEPT: usize = 32;
/// The request header naming the build a warm request fills (`isr warm --build`).
pub const WARM_BUILD_HEADER: &str = "x-isr-warm-build";
/// The request header carrying the admin token that makes [`WARM_BUILD_HEADER`] count.
pub const WARM_TOKEN_HEADER: &str = "x-isr-warm-token";

/// Why a build id is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildIdError {
    /// Empty (or only white space).
    #[error("the build id is empty")]
    Empty,
    /// Longer than [`MAX_BUILD_ID_BYTES`].
    #[error("the build id is longer than {MAX_BUILD_ID_BYTES} bytes")]
    TooLong,
    /// Holds a control character (a new line, a tab).
    #[error("the build id holds a control character")]
    Control,
}

/// Check a build id given to switch to (admin call, build id file, answer header).
pub fn check_build_id(id: &str) -> Result<(), BuildIdError> {
    if id.trim().is_empty() {
        Err(BuildIdError::Empty)
    } else if id.len() > MAX_BUILD_ID_BYTES {
        Err(BuildIdError::TooLong)
    } else if id.chars().any(char::is_control) {
        Err(BuildIdError::Control)
    } else {
        Ok(())
    }
}

/// What a switch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Switch {
    /// The build was already the current one.
    Unchanged,
    /// The current build is now the new one; `from` was replaced.
    Switched {
        /// The build switched away from.
        from: String,
    },
}

/// What an answer naming a build (`build_id_header`) means for its render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamedBuild {
    /// It names no build, or the build its key is under: judge it as usual.
    Keep,
    /// It names a build never seen: switch to it. Not stored (its key is the old build's).
    Switch(String),
    /// It names another build that may not be switched to (a retired one, or the answer
    /// is to a warm request): passed on, never stored.
    Unstored,
}

/// The current build and the builds it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Builds {
    current: String,
    /// Switched away from, newest first.
    retired: VecDeque<String>,
}

impl Builds {
    /// Start at `current` (the configured build id, which may be empty).
    pub fn new(current: impl Into<String>) -> Builds {
        Builds {
            current: current.into(),
            retired: VecDeque::new(),
        }
    }

    /// The build every request is keyed under.
    pub fn current(&self) -> &str {
        &self.current
    }

    /// The builds switched away from, newest first.
    pub fn retired(&self) -> impl Iterator<Item = &str> {
        self.retired.iter().map(String::as_str)
    }

    /// Was `id` switched away from?
    pub fn is_retired(&self, id: &str) -> bool {
        self.retired.iter().any(|retired| retired == id)
    }

    /// Make `to` the current build (checked first). Switching back to a retired build
    /// (a rollback) is allowed here: only answers may not do it.
    pub fn switch(&mut self, to: &str) -> Result<Switch, BuildIdError> {
        check_build_id(to)?;
        if to == self.current {
            return Ok(Switch::Unchanged);
        }
        self.retired.retain(|retired| retired != to);
        let from = std::mem::replace(&mut self.current, to.to_owned());
        self.retired.push_front(from.clone());
        self.retired.truncate(RETIRED_KEPT);
        Ok(Switch::Switched { from })
    }

    /// An answer to a render keyed under build `keyed` names build `named` (the value of
    /// `build_id_header`, if the answer has it).
    pub fn judge_answer(&self, keyed: &str, named: Option<&str>) -> NamedBuild {
        let Some(named) = named.map(str::trim).filter(|named| !named.is_empty()) else {
            return NamedBuild::Keep;
        };
        if named == keyed {
            NamedBuild::Keep
        } else if keyed == self.current && !self.is_retired(named) && check_build_id(named).is_ok()
        {
            NamedBuild::Switch(named.to_owned())
        } else {
            NamedBuild::Unstored
        }
    }
}

/// The build a warm request fills: the valid build id of its [`WARM_BUILD_HEADER`], if it
/// also carries the admin token in [`WARM_TOKEN_HEADER`] (compared in constant time).
pub fn warm_build<'h>(admin_token: Option<&str>, headers: &'h HeaderMap) -> Option<&'h str> {
    let build = headers.get(WARM_BUILD_HEADER)?.to_str().ok()?;
    let token = admin_token.filter(|token| !token.is_empty())?;
    let given = headers.get(WARM_TOKEN_HEADER)?;
    let valid = constant_time_eq(given.as_bytes(), token.as_bytes());
    (valid && check_build_id(build).is_ok()).then_some(build)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn build_ids_are_checked() {
        assert_eq!(check_build_id("b-2"), Ok(()));
        assert_eq!(check_build_id(" "), Err(BuildIdError::Empty));
        assert_eq!(check_build_id("a\nb"), Err(BuildIdError::Control));
        let long = "x".repeat(MAX_BUILD_ID_BYTES + 1);
        assert_eq!(check_build_id(&long), Err(BuildIdError::TooLong));
    }

    #[test]
    fn switching_retires_the_old_build() {
        let mut builds = Builds::new("");
        assert_eq!(
            builds.switch("b1"),
            Ok(Switch::Switched {
                from: String::new()
            })
        );
        assert_eq!(builds.switch("b1"), Ok(Switch::Unchanged));
        assert!(builds.switch("").is_err());
        builds.switch("b2").ok();
        assert_eq!(builds.current(), "b2");
        assert_eq!(builds.retired().collect::<Vec<_>>(), ["b1", ""]);
        // A rollback takes b1 out of the retired builds.
        builds.switch("b1").ok();
        assert_eq!(builds.retired().collect::<Vec<_>>(), ["b2", ""]);
        for n in 0..100 {
            builds.switch(&format!("n{n}")).ok();
        }
        assert_eq!(builds.retired().count(), RETIRED_KEPT);
    }

    #[test]
    fn answers_move_forward_only() {
        let mut builds = Builds::new("b1");
        assert_eq!(builds.judge_answer("b1", None), NamedBuild::Keep);
        assert_eq!(builds.judge_answer("b1", Some("b1")), NamedBuild::Keep);
        assert_eq!(builds.judge_answer("b1", Some(" ")), NamedBuild::Keep);
        assert_eq!(
            builds.judge_answer("b1", Some("b2")),
            NamedBuild::Switch("b2".into())
        );
        // A warm render (keyed under another build) never switches.
        assert_eq!(builds.judge_answer("b3", Some("b2")), NamedBuild::Unstored);
        assert_eq!(builds.judge_answer("b3", Some("b3")), NamedBuild::Keep);
        builds.switch("b2").ok();
        // An old origin still answering: passed on, not stored, no switch back.
        assert_eq!(builds.judge_answer("b2", Some("b1")), NamedBuild::Unstored);
        assert_eq!(
            builds.judge_answer("b2", Some("a\u{0}")),
            NamedBuild::Unstored
        );
    }

    #[test]
    fn warm_requests_need_the_token() {
        let mut headers = HeaderMap::new();
        headers.insert(WARM_BUILD_HEADER, HeaderValue::from_static("b2"));
        assert_eq!(warm_build(Some("secret-token"), &headers), None);
        headers.insert(WARM_TOKEN_HEADER, HeaderValue::from_static("wrong"));
        assert_eq!(warm_build(Some("secret-token"), &headers), None);
        headers.insert(WARM_TOKEN_HEADER, HeaderValue::from_static("secret-token"));
        assert_eq!(warm_build(Some("secret-token"), &headers), Some("b2"));
        assert_eq!(warm_build(None, &headers), None);
        assert_eq!(warm_build(Some(""), &headers), None);
    }
}
