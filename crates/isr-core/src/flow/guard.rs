//! The recursion guard: every request isr sends to the origin carries this deployment's
//! secret in [`X_ISR_RENDER`]; a request that arrives carrying it is isr's own render
//! coming back (the origin points at isr), and is refused instead of rendered again.
//!
//! Invariants:
//! - The comparison takes the same time wherever the first difference is (no oracle for
//!   the secret); a client-sent guard is never forwarded ([`crate::headers::forwardable`]).
//! - The refusal is a `508 Loop Detected`, marked `BYPASS`, that no cache keeps.

use http::{HeaderMap, StatusCode};

use crate::flow::answer::ErrorAnswer;
use crate::headers::{CacheStatus, X_ISR_RENDER};
use crate::secret::constant_time_eq;

/// Does this request carry the guard with `secret`?
pub fn is_own_render(headers: &HeaderMap, secret: &[u8]) -> bool {
    headers
        .get(X_ISR_RENDER)
        .is_some_and(|value| constant_time_eq(value.as_bytes(), secret))
}

/// The refusal of an own render; `instance` names what the origin must not point at
/// ("this isr instance", "this Worker").
pub fn loop_detected(instance: &str) -> ErrorAnswer {
    ErrorAnswer::new(
        StatusCode::LOOP_DETECTED,
        CacheStatus::Bypass,
        format!(
            "isr: this request is one of isr's own renders coming back to it; \
             the origin must not point at {instance}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_right_secret_is_an_own_render() {
        let mut headers = HeaderMap::new();
        assert!(!is_own_render(&headers, b"s3cret"));
        headers.insert(X_ISR_RENDER, HeaderValue::from_static("s3cret"));
        assert!(is_own_render(&headers, b"s3cret"));
        assert!(!is_own_render(&headers, b"s3cre"));
        let refusal = loop_detected("this Worker");
        assert_eq!(refusal.code, StatusCode::LOOP_DETECTED);
        assert!(refusal.message.ends_with("must not point at this Worker"));
        assert_eq!(refusal.headers()["cache-control"], "no-store");
    }
}
