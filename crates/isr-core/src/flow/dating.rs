//! The instants purges and renders are dated at, so that a purge reaches exactly the
//! renders that started before it, whatever the order in which they meet.
//!
//! A purge at or after an entry's `created_at` reaches it (at equal milliseconds isr
//! cannot tell whether the render saw the change the purge was about). So a render that
//! starts in the millisecond of a purge already visible, and certainly started after it,
//! would be purged by it, and stay stale (or be rendered again, if hard) until the clock
//! moves on. Such a render is dated just after the latest purge instead; and every purge
//! is dated no earlier than the latest render start (the *floor*), so it still reaches
//! every render that started before it.
//!
//! A runtime keeps two instants: the latest purge (`last_purge`) and the floor. Native:
//! atomics in its purge log; the Worker: rows in its Durable Object.
//!
//! Invariants:
//! - A render is dated strictly after every purge visible when it started.
//! - A purge is dated at or after every render start already dated, so it reaches them.
//! - Both are at least `now`: a clock that stands still cannot make them go backwards.

use crate::UnixMillis;

/// The instant a purge recorded at `now` is dated at, given the `floor`.
pub fn purge_instant(now: UnixMillis, floor: UnixMillis) -> UnixMillis {
    now.max(floor)
}

/// The instant a render starting at `now` is dated at, given the latest visible purge.
/// The runtime raises its floor to it (a runtime may skip that when it is `now`, since
/// every later purge is dated at a later `now` on its one clock).
pub fn render_instant(now: UnixMillis, last_purge: UnixMillis) -> UnixMillis {
    now.max(UnixMillis(last_purge.0.saturating_add(1)))
}

/// Does a render starting at `now` need dating after a purge (the slow path: a purge is
/// visible at or after `now`)?
pub fn needs_dating(now: UnixMillis, last_purge: UnixMillis) -> bool {
    last_purge >= now
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_in_a_purges_millisecond_dates_after_it_and_purges_respect_the_floor() {
        let purge = purge_instant(UnixMillis(100), UnixMillis(0));
        assert_eq!(purge, UnixMillis(100));
        assert!(needs_dating(UnixMillis(100), purge));
        let render = render_instant(UnixMillis(100), purge);
        assert_eq!(render, UnixMillis(101));
        // A purge recorded later, in the same millisecond by the clock, still reaches it.
        assert_eq!(purge_instant(UnixMillis(100), render), UnixMillis(101));
        assert!(!needs_dating(UnixMillis(102), purge));
        assert_eq!(render_instant(UnixMillis(102), purge), UnixMillis(102));
        assert_eq!(
            render_instant(UnixMillis(0), UnixMillis(u64::MAX)),
            UnixMillis(u64::MAX)
        );
    }
}
