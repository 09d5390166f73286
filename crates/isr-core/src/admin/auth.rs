//! Who may call the admin API: the bearer token of an `Authorization` header, and the
//! token check.
//!
//! Invariant: tokens are compared in constant time, and an empty configured token matches
//! nothing.

use crate::secret::constant_time_eq;

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
    fn tokens() {
        assert_eq!(bearer_token("Bearer abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert!(token_matches("secret", "secret"));
        assert!(!token_matches("secret", "secreT"));
        assert!(!token_matches("", ""));
    }
}
