//! Purges: what they target, how they are recorded, and which entries they reach.
//!
//! Every purge is one record, never a scan of entries: an invalidation time and mode per
//! *target* (a tag, a path, a path prefix, or everything). Readers compare the newest
//! record that reaches an entry with the entry's `created_at` ([`crate::freshness`]).
//!
//! Invariants:
//! - A target's record name is unambiguous: `t:<tag>`, `p:<path>`, `x:<prefix>`, `*`.
//! - A path target reaches every variant of that normalised path; a prefix target reaches
//!   the prefix itself and everything below it at a segment boundary (`/blog` reaches
//!   `/blog` and `/blog/a`, not `/blogs`); `*` reaches everything.
//! - [`PurgeState::newest_for`] allocates nothing: it runs on the hit path.
//! - Recording an older invalidation never undoes a newer one; at equal times hard wins.
//! - A record set is bounded by folding, defined once here ([`fold_rank`]) for every
//!   runtime (the native purge log through [`PurgeState::bound`], the Worker in SQL): when
//!   over its bound, every record up to and including the median instant becomes one
//!   record for everything at that instant, hard if any of them was. Folding can only make
//!   an old entry stale (or purged), never revive one.

use std::collections::HashMap;

use crate::UnixMillis;
use crate::freshness::{Invalidation, PurgeMode};
use crate::headers::MAX_TAG_LEN;
use crate::path::{MAX_TARGET_LEN, normalize_path};

/// Most purge records a runtime keeps by default; past it the set is folded.
pub const MAX_PURGE_RECORDS: usize = 100_000;

/// The fold of a record set over its bound: among its `named` records (every one but the
/// record for everything, which they fold into), the rank (0-based, in order of instant)
/// of the one whose instant is the cutoff, the median. Every named record at or before
/// that instant is folded into one record for everything at it, hard if any folded record
/// was. `None`: there is nothing to fold.
pub fn fold_rank(named: usize) -> Option<usize> {
    (named > 0).then_some(named / 2)
}

/// What one purge reaches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Every entry carrying this tag.
    Tag(String),
    /// Every variant of this normalised path.
    Path(String),
    /// This normalised path and everything below it.
    Prefix(String),
    /// The one entry stored under this raw cache key (one variant of one path).
    Key(String),
    /// Everything.
    All,
}

/// Why a purge target is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must not be empty")]
    /// The target is empty.
    Empty,
    #[error("is longer than {0} bytes")]
    /// The target is longer than this many bytes.
    TooLong(usize),
    #[error("contains a control character")]
    /// The target contains a control character.
    ControlCharacter,
    #[error("is not a valid path: {0}")]
    /// A path target is not a valid path.
    Path(#[from] crate::path::PathError),
}

impl Target {
    /// A tag target, validated like tags from the origin.
    pub fn tag(tag: &str) -> Result<Target, TargetError> {
        if tag.is_empty() {
            return Err(TargetError::Empty);
        }
        if tag.len() > MAX_TAG_LEN {
            return Err(TargetError::TooLong(MAX_TAG_LEN));
        }
        if tag.chars().any(char::is_control) {
            return Err(TargetError::ControlCharacter);
        }
        Ok(Target::Tag(tag.to_owned()))
    }

    /// A path target; the path is normalised exactly as requests are.
    pub fn path(path: &str) -> Result<Target, TargetError> {
        Ok(Target::Path(normalized(path)?))
    }

    /// A key target: a raw cache key as listed by the admin API.
    pub fn key(key: &str) -> Result<Target, TargetError> {
        if key.is_empty() {
            return Err(TargetError::Empty);
        }
        if key.len() > 2 * MAX_TARGET_LEN {
            return Err(TargetError::TooLong(2 * MAX_TARGET_LEN));
        }
        if key.chars().any(char::is_control) {
            return Err(TargetError::ControlCharacter);
        }
        Ok(Target::Key(key.to_owned()))
    }

    /// A prefix target; normalised, without a trailing slash (except `/` itself).
    pub fn prefix(prefix: &str) -> Result<Target, TargetError> {
        let mut prefix = normalized(prefix)?;
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        Ok(Target::Prefix(prefix))
    }

    /// The record name this target is stored under.
    pub fn record_name(&self) -> String {
        match self {
            Target::Tag(tag) => format!("t:{tag}"),
            Target::Path(path) => format!("p:{path}"),
            Target::Prefix(prefix) => format!("x:{prefix}"),
            Target::Key(key) => format!("k:{key}"),
            Target::All => "*".to_owned(),
        }
    }

    /// The target a record name stands for (`None` for a name isr did not write).
    pub fn from_record_name(name: &str) -> Option<Target> {
        if name == "*" {
            return Some(Target::All);
        }
        let (kind, value) = name.split_once(':')?;
        match kind {
            "t" => Some(Target::Tag(value.to_owned())),
            "p" => Some(Target::Path(value.to_owned())),
            "x" => Some(Target::Prefix(value.to_owned())),
            "k" => Some(Target::Key(value.to_owned())),
            _ => None,
        }
    }
}

fn normalized(path: &str) -> Result<String, TargetError> {
    if path.is_empty() {
        return Err(TargetError::Empty);
    }
    if path.len() > MAX_TARGET_LEN {
        return Err(TargetError::TooLong(MAX_TARGET_LEN));
    }
    Ok(normalize_path(path)?)
}

/// The kinds of named targets: one map each in [`PurgeState`].
#[derive(Clone, Copy)]
enum Kind {
    Tag,
    Path,
    Prefix,
    Key,
}

impl Target {
    /// Which map a named target lives in, and its name there; `None` for [`Target::All`].
    fn slot(&self) -> Option<(Kind, &str)> {
        match self {
            Target::Tag(tag) => Some((Kind::Tag, tag)),
            Target::Path(path) => Some((Kind::Path, path)),
            Target::Prefix(prefix) => Some((Kind::Prefix, prefix)),
            Target::Key(key) => Some((Kind::Key, key)),
            Target::All => None,
        }
    }
}

/// Every recorded invalidation, by target, for answering "what reaches this entry?".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PurgeState {
    /// One map per kind of named target, in [`Kind`]'s order.
    named: [HashMap<String, Invalidation>; 4],
    all: Option<Invalidation>,
}

impl PurgeState {
    fn map(&self, kind: Kind) -> &HashMap<String, Invalidation> {
        let [tag, path, prefix, key] = &self.named;
        match kind {
            Kind::Tag => tag,
            Kind::Path => path,
            Kind::Prefix => prefix,
            Kind::Key => key,
        }
    }

    fn map_mut(&mut self, kind: Kind) -> &mut HashMap<String, Invalidation> {
        let [tag, path, prefix, key] = &mut self.named;
        match kind {
            Kind::Tag => tag,
            Kind::Path => path,
            Kind::Prefix => prefix,
            Kind::Key => key,
        }
    }

    /// Record `invalidation` for `target`, unless a newer one is already recorded.
    pub fn record(&mut self, target: &Target, invalidation: Invalidation) {
        let slot = match target.slot() {
            Some((kind, name)) => self
                .map_mut(kind)
                .entry(name.to_owned())
                .or_insert(invalidation),
            None => self.all.get_or_insert(invalidation),
        };
        *slot = newer(*slot, invalidation);
    }

    /// The newest invalidation that reaches the entry stored under the raw `key`, for
    /// `path`, with `tags`.
    pub fn newest_for(&self, key: &str, path: &str, tags: &[String]) -> Option<Invalidation> {
        let mut newest = self.all;
        let mut consider = |kind: Kind, name: &str| {
            if let Some(&found) = self.map(kind).get(name) {
                newest = Some(newest.map_or(found, |n| newer(n, found)));
            }
        };
        if !self.map(Kind::Key).is_empty() {
            consider(Kind::Key, key);
        }
        if !self.map(Kind::Path).is_empty() {
            consider(Kind::Path, path);
        }
        if !self.map(Kind::Prefix).is_empty() {
            for prefix in prefixes_of(path) {
                consider(Kind::Prefix, prefix);
            }
        }
        if !self.map(Kind::Tag).is_empty() {
            for tag in tags {
                consider(Kind::Tag, tag);
            }
        }
        newest
    }

    /// The newest invalidation of one of `tags` (their own records only: not everything,
    /// no path or prefix).
    pub fn newest_for_tags(&self, tags: &[String]) -> Option<Invalidation> {
        let records = self.map(Kind::Tag);
        tags.iter()
            .filter_map(|tag| records.get(tag.as_str()).copied())
            .reduce(newer)
    }

    /// Is a record held for exactly `target`?
    pub fn contains(&self, target: &Target) -> bool {
        match target.slot() {
            Some((kind, name)) => self.map(kind).contains_key(name),
            None => self.all.is_some(),
        }
    }

    /// Record every record of `other` here (see [`PurgeState::record`]).
    pub fn merge(&mut self, other: &PurgeState) {
        for (mine, theirs) in self.named.iter_mut().zip(&other.named) {
            for (name, &inv) in theirs {
                let slot = mine.entry(name.clone()).or_insert(inv);
                *slot = newer(*slot, inv);
            }
        }
        if let Some(all) = other.all {
            self.record(&Target::All, all);
        }
    }

    /// Forget records older than `before`, folding them into one record for everything:
    /// an entry created before them is still reached (soft, or hard if any forgotten
    /// record was hard), so forgetting never revives a purged entry. Returns how many
    /// records were forgotten.
    pub fn forget_before(&mut self, before: UnixMillis) -> usize {
        self.fold(before, before)
    }

    /// Forget records older than `before`, folding them into one record for everything
    /// at `fold_at` (which must not be older than any of them).
    fn fold(&mut self, before: UnixMillis, fold_at: UnixMillis) -> usize {
        let mut folded: Option<Invalidation> = None;
        let mut forget = |map: &mut HashMap<String, Invalidation>| {
            let count = map.len();
            map.retain(|_, inv| {
                let keep = inv.at >= before;
                if !keep {
                    let mode = match folded {
                        Some(f) if f.mode == PurgeMode::Hard => PurgeMode::Hard,
                        _ => inv.mode,
                    };
                    folded = Some(Invalidation { at: fold_at, mode });
                }
                keep
            });
            count - map.len()
        };
        let forgotten: usize = self.named.iter_mut().map(&mut forget).sum();
        if let Some(folded) = folded {
            self.record(&Target::All, folded);
        }
        forgotten
    }

    /// Keep at most `max` records: when over, forget the older half (folded as by
    /// [`PurgeState::forget_before`]). Returns the instant every forgotten record is older
    /// than (for the durable store's `forget_before`), if any were.
    pub fn bound(&mut self, max: usize) -> Option<UnixMillis> {
        if self.len() <= max {
            return None;
        }
        let mut times: Vec<UnixMillis> = self
            .named
            .iter()
            .flat_map(HashMap::values)
            .map(|inv| inv.at)
            .collect();
        let rank = fold_rank(times.len())?;
        let (_, cutoff, _) = times.select_nth_unstable(rank);
        let cutoff = *cutoff;
        // Everything up to and including the cutoff: at least half the records, even
        // when many share one instant (folding only those strictly older could forget
        // nothing, and the state would grow without bound).
        let before = UnixMillis(cutoff.0.saturating_add(1));
        self.fold(before, cutoff);
        Some(before)
    }

    /// The record for everything, if any (a purge-all, or the fold of forgotten records).
    pub fn all(&self) -> Option<Invalidation> {
        self.all
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.named.iter().map(HashMap::len).sum::<usize>() + usize::from(self.all.is_some())
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The later invalidation; hard wins at equal times.
pub fn newer(a: Invalidation, b: Invalidation) -> Invalidation {
    match a.at.cmp(&b.at) {
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Equal if b.mode == PurgeMode::Hard => b,
        std::cmp::Ordering::Equal => a,
    }
}

/// `/`, then each ancestor at a segment boundary, then the path itself (without a
/// trailing slash): `/a/b/` gives `/`, `/a`, `/a/b`.
fn prefixes_of(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let boundaries = trimmed
        .char_indices()
        .filter(|&(i, c)| c == '/' && i > 0)
        .map(|(i, _)| i)
        .chain(std::iter::once(trimmed.len()));
    std::iter::once("/").chain(
        boundaries
            .filter_map(move |end| trimmed.get(..end))
            .filter(|p| *p != "/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(at: u64, mode: PurgeMode) -> Invalidation {
        Invalidation {
            at: UnixMillis(at),
            mode,
        }
    }

    #[test]
    fn record_names_round_trip() {
        for target in [
            Target::Tag("post:1".into()),
            Target::Path("/a:b".into()),
            Target::Prefix("/docs".into()),
            Target::Key("v1|0:|0:|html|br|2:/a|0:".into()),
            Target::All,
        ] {
            assert_eq!(
                Target::from_record_name(&target.record_name()),
                Some(target)
            );
        }
        assert_eq!(Target::from_record_name("q:x"), None);
        assert_eq!(Target::from_record_name("nocolon"), None);
    }

    #[test]
    fn targets_are_validated_and_normalised() {
        assert_eq!(
            Target::path("/blog/%61"),
            Ok(Target::Path("/blog/a".into()))
        );
        assert_eq!(Target::prefix("/blog/"), Ok(Target::Prefix("/blog".into())));
        assert_eq!(Target::prefix("/"), Ok(Target::Prefix("/".into())));
        assert_eq!(Target::path(""), Err(TargetError::Empty));
        assert!(matches!(Target::path("blog"), Err(TargetError::Path(_))));
        assert_eq!(Target::tag(""), Err(TargetError::Empty));
        assert_eq!(
            Target::tag(&"x".repeat(300)),
            Err(TargetError::TooLong(MAX_TAG_LEN))
        );
        assert_eq!(Target::tag("a\nb"), Err(TargetError::ControlCharacter));
    }

    #[test]
    fn prefixes_stop_at_segment_boundaries() {
        assert_eq!(prefixes_of("/").collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(
            prefixes_of("/a/b/").collect::<Vec<_>>(),
            vec!["/", "/a", "/a/b"]
        );
        assert_eq!(prefixes_of("/blog").collect::<Vec<_>>(), vec!["/", "/blog"]);
    }

    #[test]
    fn each_target_reaches_what_it_names_and_nothing_else() {
        let mut state = PurgeState::default();
        state.record(&Target::Prefix("/blog".into()), inv(10, PurgeMode::Soft));
        state.record(&Target::Path("/about".into()), inv(20, PurgeMode::Hard));
        state.record(&Target::Tag("news".into()), inv(30, PurgeMode::Soft));
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            state.newest_for("", "/blog", &[]),
            Some(inv(10, PurgeMode::Soft))
        );
        assert_eq!(
            state.newest_for("", "/blog/a/b", &[]),
            Some(inv(10, PurgeMode::Soft))
        );
        assert_eq!(state.newest_for("", "/blogs", &[]), None);
        assert_eq!(
            state.newest_for("", "/about", &[]),
            Some(inv(20, PurgeMode::Hard))
        );
        assert_eq!(
            state.newest_for("", "/about/x", &[]),
            None,
            "a path target is exact"
        );
        assert_eq!(
            state.newest_for("", "/x", &tags(&["news"])),
            Some(inv(30, PurgeMode::Soft))
        );
        assert_eq!(
            state.newest_for("", "/blog/a", &tags(&["news"])),
            Some(inv(30, PurgeMode::Soft)),
            "the newest of several wins"
        );
        state.record(&Target::All, inv(5, PurgeMode::Hard));
        assert_eq!(
            state.newest_for("", "/x", &[]),
            Some(inv(5, PurgeMode::Hard))
        );
    }

    #[test]
    fn older_records_never_undo_newer_ones_and_hard_wins_ties() {
        let mut state = PurgeState::default();
        let tag = Target::Tag("a".into());
        state.record(&tag, inv(20, PurgeMode::Soft));
        state.record(&tag, inv(10, PurgeMode::Hard));
        assert_eq!(
            state.newest_for("", "/", &["a".into()]),
            Some(inv(20, PurgeMode::Soft))
        );
        state.record(&tag, inv(20, PurgeMode::Hard));
        assert_eq!(
            state.newest_for("", "/", &["a".into()]),
            Some(inv(20, PurgeMode::Hard))
        );
        state.record(&tag, inv(20, PurgeMode::Soft));
        assert_eq!(
            state.newest_for("", "/", &["a".into()]),
            Some(inv(20, PurgeMode::Hard))
        );
    }

    #[test]
    fn forgetting_folds_old_records_so_no_purge_is_undone() {
        let mut state = PurgeState::default();
        state.record(&Target::Tag("old-hard".into()), inv(10, PurgeMode::Hard));
        state.record(&Target::Tag("old-soft".into()), inv(20, PurgeMode::Soft));
        state.record(&Target::Tag("new".into()), inv(200, PurgeMode::Soft));
        assert_eq!(state.forget_before(UnixMillis(100)), 2);
        assert_eq!(state.len(), 2, "one record left, plus the fold");
        // An entry created before the forgotten purges is still reached, as hard as the
        // hardest of them; an entry created after the fold is not.
        assert_eq!(
            state.newest_for("", "/x", &[]),
            Some(inv(100, PurgeMode::Hard))
        );
        assert_eq!(
            state.newest_for("", "/x", &["new".into()]),
            Some(inv(200, PurgeMode::Soft))
        );
    }

    #[test]
    fn bounding_keeps_the_state_small_under_many_purges() {
        let mut state = PurgeState::default();
        for i in 0..10_000u64 {
            state.record(&Target::Tag(format!("t{i}")), inv(i, PurgeMode::Soft));
            state.bound(1_000);
            assert!(state.len() <= 1_001);
        }
        assert_eq!(
            state.newest_for("", "/", &["t9999".into()]),
            Some(inv(9_999, PurgeMode::Soft))
        );
        assert!(
            state.newest_for("", "/", &["t0".into()]).is_some(),
            "forgotten, but folded"
        );
    }

    #[test]
    fn bounding_works_when_every_record_has_the_same_instant() {
        let mut state = PurgeState::default();
        for i in 0..5_000u64 {
            state.record(&Target::Tag(format!("t{i}")), inv(7, PurgeMode::Soft));
            let before = state.bound(1_000);
            assert!(state.len() <= 1_001, "{} records", state.len());
            assert!(before.is_none_or(|b| b == UnixMillis(8)));
        }
        // Forgotten or not, every record still reaches an entry created up to its instant.
        assert_eq!(
            state.newest_for("", "/", &["t0".into()]),
            Some(inv(7, PurgeMode::Soft))
        );
        assert_eq!(
            state.newest_for("", "/", &[]),
            Some(inv(7, PurgeMode::Soft))
        );
    }

    #[test]
    fn merging_keeps_the_newest_of_each() {
        let mut base = PurgeState::default();
        base.record(&Target::Tag("a".into()), inv(10, PurgeMode::Soft));
        base.record(&Target::Path("/p".into()), inv(30, PurgeMode::Hard));
        let mut recent = PurgeState::default();
        recent.record(&Target::Tag("a".into()), inv(20, PurgeMode::Soft));
        recent.record(&Target::Path("/p".into()), inv(20, PurgeMode::Soft));
        recent.record(&Target::Prefix("/x".into()), inv(25, PurgeMode::Soft));
        recent.record(&Target::All, inv(1, PurgeMode::Hard));
        base.merge(&recent);
        assert_eq!(base.len(), 4);
        assert!(base.contains(&Target::Prefix("/x".into())));
        assert!(!base.contains(&Target::Tag("b".into())));
        assert_eq!(
            base.newest_for("", "/q", &["a".into()]),
            Some(inv(20, PurgeMode::Soft))
        );
        assert_eq!(
            base.newest_for("", "/p", &[]),
            Some(inv(30, PurgeMode::Hard))
        );
        assert_eq!(base.all(), Some(inv(1, PurgeMode::Hard)));
    }

    #[test]
    fn a_key_target_reaches_that_one_entry_only() {
        let mut state = PurgeState::default();
        state.record(&Target::key("key-br").unwrap(), inv(10, PurgeMode::Hard));
        assert_eq!(
            state.newest_for("key-br", "/a", &[]),
            Some(inv(10, PurgeMode::Hard))
        );
        assert_eq!(state.newest_for("key-identity", "/a", &[]), None);
        assert_eq!(Target::key(""), Err(TargetError::Empty));
        assert_eq!(Target::key("a\nb"), Err(TargetError::ControlCharacter));
    }
}
