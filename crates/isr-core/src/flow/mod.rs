//! The request flow: every decision between "a request arrived" and "this answer goes
//! out", as pure functions and small state machines driven by values. Each runtime (the
//! native engine, the data cache, the Cloudflare Worker) calls these and does only its own
//! I/O: reading and writing its tiers, taking its locks, spawning work, calling the origin.
//!
//! One request, in order:
//! 1. [`guard`]: a request carrying this deployment's recursion guard is refused (508).
//! 2. [`crate::plan`]: bypass, or the key to look up. A bypass is forwarded with the
//!    headers [`bypass`] prepares, and its answer finished there.
//! 3. [`lookup`]: what the entry found (if any) means: serve it (a hit, or stale with a
//!    background regeneration), or render in the foreground, keeping it as a fallback if
//!    it is still servable on error. The backoff ([`backoff`]) and the hit-for-pass mark
//!    ([`settle`]) steer this.
//! 4. A render: one per key at a time (the runtime's flights and locks). Before rendering,
//!    an entry stored meanwhile ([`joiners::replaces`]) makes it unnecessary; a request
//!    that joined another's render answers as [`joiners::joined`] says.
//! 5. [`render`]: what the origin's answer is (a `304` to the validators of the entry it
//!    revalidates refreshes that entry, [`conditional`]) (storable, uncacheable, a failure); [`settle`]:
//!    what it changes (store, backoff, pass mark); [`answer`]: what the request gets (the
//!    entry, the last good page on failure, the origin's answer marked, or an error).
//!
//! A bypassed unsafe request that succeeded invalidates what it may have changed
//! ([`invalidate`], RFC 9111 §4.4).
//!
//! Also here: [`regenerate`] (which variants of a path an admin regeneration renders) and
//! [`dating`] (the instants purges and renders are dated at, so a purge reaches exactly the
//! renders that started before it).
//!
//! Invariants (each file states its own):
//! - Nothing here reads a clock or does I/O: time comes in as [`crate::UnixMillis`].
//! - Every decision exists once, here; a runtime never re-derives one.
//! - The files import one another in one direction only (`joiners`/`conditional` ←
//!   `render` ← `answer` ← `bypass`/`guard`, `render` ← `settle`); this file re-exports
//!   nothing.

pub mod answer;
pub mod backoff;
pub mod bypass;
pub mod conditional;
pub mod dating;
pub mod guard;
pub mod invalidate;
pub mod joiners;
pub mod lookup;
pub mod regenerate;
pub mod render;
pub mod settle;

#[cfg(test)]
mod tests;
