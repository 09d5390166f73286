//! The admin API's contract, shared by every runtime and by the `isr` command line: every
//! request and answer type of `/_isr/...` (serde both ways, so a server writes and a client
//! reads the same type), the checks of what is sent, the error body and the token check.
//! (The routes, the stores and the HTTP plumbing are each runtime's own.)
//!
//! - [`revalidate`]: `POST /_isr/revalidate` and `DELETE /_isr/cache`.
//! - [`listing`]: `GET /_isr/entries`: its query, cursor, entries and page.
//! - [`stats`]: `GET /_isr/stats`.
//! - [`data`]: `GET`/`PUT`/`DELETE /_isr/data` (an app's shared data cache) and
//!   `POST /_isr/tags` (the tags a page carries).
//! - [`build`]: `GET` and `POST /_isr/build`: the build served, and switching it.
//! - [`session`]: the dashboard's session cookie, which stands for the token in a browser.
//! - the error answer ([`ApiError`]) and the token check ([`token_matches`]), which every
//!   endpoint shares.
//!
//! Invariants:
//! - A request is checked whole before anything is done: an unknown field, an empty or
//!   over-long list, or an invalid path or tag is an error naming the field, and a rejected
//!   request purges nothing.
//! - Tokens are compared in constant time, and an empty configured token matches nothing.
//! - Answers read leniently: a field an answer lacks reads as zero, empty or absent (where
//!   it has such a value), and a field the reader does not know is ignored, so a client
//!   and a server of different versions still understand each other.

mod auth;
pub mod build;
pub mod data;
mod error;
pub mod listing;
pub mod revalidate;
pub mod session;
pub mod stats;

pub use auth::{bearer_token, token_matches};
pub use build::{BuildAnswer, BuildSwitchRequest};
pub use error::{ApiError, ErrorBody, UNAUTHORIZED};
pub use listing::{
    DEFAULT_PAGE, EntriesPage, EntriesQuery, EntryInfo, EntryState, Listing, ListingError,
    MAX_PAGE, encode_cursor,
};
pub use revalidate::{
    ClearAnswer, MAX_ITEMS, Purged, RevalidateAnswer, RevalidateError, RevalidateRequest,
    Revalidation, SkipReason, Skipped,
};
pub use stats::{
    ClusterStats, Evictions, RegenerationCounts, RequestCounts, StatsAnswer, TierBytes, TierCounts,
};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
