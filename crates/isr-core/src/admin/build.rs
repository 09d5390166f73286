//! `GET /_isr/build` (which build is served) and `POST /_isr/build` (switch to another one,
//! made by a deploy script or `isr build switch ID`).
//!
//! Invariant: a switch request is checked whole before anything changes: it must be
//! `{"id": "<build id>"}` with a valid build id ([`crate::build::check_build_id`]) and no
//! other field.

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::build::check_build_id;

/// The body of `POST /_isr/build`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSwitchRequest {
    /// The build to serve from now on.
    pub id: String,
}

impl BuildSwitchRequest {
    /// Parse and check a request body (a 400 naming what is wrong otherwise).
    pub fn parse(body: &[u8]) -> Result<BuildSwitchRequest, ApiError> {
        let request: BuildSwitchRequest = serde_json::from_slice(body).map_err(|error| {
            ApiError::bad_request(format!("expected {{\"id\": \"<build id>\"}}: {error}"))
        })?;
        check_build_id(&request.id)
            .map_err(|error| ApiError::bad_request(format!("id: {error}")))?;
        Ok(request)
    }
}

/// The answer of `GET /_isr/build` and `POST /_isr/build`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildAnswer {
    /// The build every request is keyed under now.
    pub current: String,
    /// The builds switched away from, newest first.
    pub retired: Vec<String>,
    /// Did this request switch (`POST` only; `false` when the build was already current).
    pub switched: bool,
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    #[test]
    fn switch_requests_are_checked() {
        let request = BuildSwitchRequest::parse(br#"{"id": "b2"}"#).unwrap();
        assert_eq!(request.id, "b2");
        for bad in [
            &br#"{"id": ""}"#[..],
            br#"{"id": "b", "x": 1}"#,
            b"[]",
            br#"{"id":"a\nb"}"#,
        ] {
            let error = BuildSwitchRequest::parse(bad).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST);
        }
        let answer: BuildAnswer = serde_json::from_str(r#"{"current": "b2", "new": 1}"#).unwrap();
        assert_eq!(answer.current, "b2");
        assert!(answer.retired.is_empty() && !answer.switched);
    }
}
