//! `isr-core`: every decision isr makes, and none of its I/O.
//!
//! This crate is shared by every runtime (the native proxy, the tower layer, the
//! Cloudflare Worker). It never touches a socket, a file or a clock: callers pass
//! the current time in as [`UnixMillis`]. It builds for `wasm32-unknown-unknown`.
//!
//! - [`path`]: request path and query normalisation, the same for keying and forwarding.
//! - [`route`]: route patterns (`/blog/[slug]`, `/docs/[...rest]`, `/assets/*`) and matching.
//! - [`key`]: cache keys built only from what is keyed.
//! - [`build`]: the build served, switching it while running, and warming a new one.
//! - [`cache_control`]: `Cache-Control` / `CDN-Cache-Control` parsing.
//! - [`granted`]: the freshness lifetime and age an origin's headers grant.
//! - [`cache_status`]: the RFC 9211 `Cache-Status` header every answer carries.
//! - [`lifetime`]: how long one entry lives (fresh, stale, servable on error).
//! - [`policy`]: what may be cached, and for how long.
//! - [`freshness`]: fresh, stale, expired or purged, at a given instant.
//! - [`coding`]: content codings, and the `Accept-Encoding` negotiation that picks the
//!   representation each request is sent.
//! - [`compression`]: which compressed representations of a page are made when it is
//!   stored (the compressing is a native runtime's).
//! - [`entry`]: the stored entry and its versioned, checksummed binary format.
//! - [`framing`]: whether an origin's answer says where its body ends (an answer cut
//!   short by a closed connection is never stored).
//! - [`headers`]: the headers isr stores, forwards and answers with.
//! - [`config`]: the configuration model shared by every runtime, parsed from TOML.
//! - [`session`]: the cookies that mean "logged in" (`bypass_cookies`).
//! - [`plan`]: what to do with one request: bypass, or which key to look up and render.
//! - [`job`]: a render of one key: the request sent to the origin, and the entry its
//!   answer becomes.
//! - [`serve`]: the answer sent from a cached entry.
//! - [`flow`]: every decision of the request flow between lookup and answer (actions,
//!   render verdicts, answers, bypass, backoff, joiners, regeneration, purge dating).
//! - [`purge`]: purge targets (tag, path, prefix, all) and which entries they reach.
//! - [`store`]: the async storage traits every native backend implements.
//! - [`cdn`]: the tag header for a CDN in front, and the purge requests forwarded to it.
//! - [`telemetry`]: what is counted and logged, under which names and labels.
//! - [`admin`]: the admin API's contract: every request and answer of `/_isr/...`, shared
//!   by the runtimes and the command line.

pub mod admin;
pub mod build;
pub mod cache_control;
pub mod cache_status;
pub mod cdn;
pub mod coding;
pub mod compression;
pub mod config;
pub mod entry;
pub mod flow;
pub mod framing;
pub mod freshness;
pub mod granted;
pub mod headers;
pub mod job;
pub mod key;
pub mod lifetime;
pub mod path;
pub mod plan;
pub mod policy;
pub mod purge;
pub mod route;
pub mod secret;
pub mod serve;
pub mod session;
pub mod store;
pub mod telemetry;
mod time;

pub use time::UnixMillis;
