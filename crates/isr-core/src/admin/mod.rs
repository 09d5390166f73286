//! The admin API's contract, shared by every runtime and by the `isr` command line: every
//! request and answer type of `/_isr/...` (serde both ways, so a server writes and a client
//! reads the same type), the checks of what is sent, the error body and the token check.
//! (The routes, the stores and the HTTP plumbing are each runtime's own.)
//!
//! - [`revalidate`]: `POST /_isr/revalidate` and `DELETE /_isr/cache`.
//! - [`listing`]: `GET /_isr/entries`: its query, cursor, entries and page.
//! - [`stats`]: `GET /_isr/stats`.
//! - [`session`]: the dashboard's session cookie, which stands for the token in a browser.
//!
//! Invariants:
//! - A request is checked whole before anything is done: an unknown field, an empty or
//!   over-long list, or an invalid path or tag is an error naming the field, and a rejected
//!   request purges nothing.
//! - Tokens are compared in constant time, and an empty configured token matches nothing.
//! - Answers read leniently: a field an answer lacks reads as zero, empty or absent (where
//!   it has such a value), and a field the reader does not know is ignored, so a client
//!   and a server of different versions still understand each other.

pub mod listing;
pub mod revalidate;
pub mod session;
pub mod stats;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::plan::constant_time_eq;

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
/// What a caller without the right token is told.
pub const UNAUTHORIZED: &str =
    "missing or wrong admin token: send Authorization: Bearer <ISR_ADMIN_TOKEN>";

/// An admin API error: a status, and a message a person can act on. Answered as
/// [`ErrorBody`], never cached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The answer's status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
}

/// The body of every error answer: `{"error": "<message>"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// [`ApiError::message`].
    pub error: String,
}

impl ApiError {
    /// An error answered with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// A 400 saying what is wrong: a message, or a checked request's error
    /// ([`RevalidateError`], [`ListingError`]).
    pub fn bad_request(message: impl ToString) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message.to_string())
    }

    /// A 401 saying how to send the token ([`UNAUTHORIZED`]).
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: self.message.clone(),
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    authorization.strip_prefix("Bearer ").map(str::trim)
}

/// Does `given` match the configured `token`? (Constant time; an empty token matches
/// nothing.)
pub fn token_matches(token: &str, given: &str) -> bool {
    !token.is_empty() && constant_time_eq(given.as_bytes(), token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_json_with_their_message() {
        let error = ApiError::unauthorized();
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        let body: ErrorBody = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body.error, UNAUTHORIZED);
        let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap();
        assert_eq!(body, serde_json::json!({ "error": UNAUTHORIZED }));
    }

    #[test]
    fn tokens() {
        assert_eq!(bearer_token("Bearer abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert!(token_matches("secret", "secret"));
        assert!(!token_matches("secret", "secreT"));
        assert!(!token_matches("", ""));
    }
}
