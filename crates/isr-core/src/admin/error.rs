//! The admin API's error answer: a status and a message a person can act on, answered as
//! `{"error": "<message>"}` and never cached.

use http::StatusCode;
use serde::{Deserialize, Serialize};

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
    /// ([`super::RevalidateError`], [`super::ListingError`]).
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
}
