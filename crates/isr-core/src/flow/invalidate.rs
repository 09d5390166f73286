//! Invalidation after an unsafe request (RFC 9111 §4.4): which stored paths a successful
//! `POST`, `PUT`, `DELETE` (or any method that is not safe) makes unservable.
//!
//! Invariants:
//! - Only a non-error answer (2xx or 3xx) to a method that is not safe (RFC 9110 §9.2.1:
//!   anything but `GET`, `HEAD`, `OPTIONS`, `TRACE`) invalidates; a failed one changes
//!   nothing.
//! - It invalidates the request's own path, and the paths its answer's `Location` and
//!   `Content-Location` name when they are on the same origin: a path reference, or an
//!   absolute URI whose authority is the request's `Host`. Another origin's URI is never
//!   invalidated (an origin cannot purge what it does not serve).
//! - Every path is normalised as requests are, so the invalidation reaches the entries a
//!   later `GET` would be answered from; one that does not normalise is skipped.
//! - Only paths no route matches are invalidated: there isr is a standard shared cache. A
//!   route's pages are ISR pages, invalidated by the application through the purge API
//!   (as Next.js's server actions call `revalidatePath`), so no client's request can
//!   purge them.

use http::header::{self, HeaderMap};
use http::{Method, StatusCode};

use crate::config::Config;
use crate::path::normalize_path;

/// The normalised paths a `method` request to `path` (with `host`, the request's `Host`)
/// answered with `status` and `headers` invalidates under `config`'s routes; empty when it
/// invalidates nothing.
pub fn invalidated_paths(
    config: &Config,
    method: &Method,
    path: &str,
    host: Option<&str>,
    status: StatusCode,
    headers: &HeaderMap,
) -> Vec<String> {
    if is_safe(method) || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let named = [header::LOCATION, header::CONTENT_LOCATION]
        .into_iter()
        .filter_map(|name| headers.get(name)?.to_str().ok())
        .filter_map(|reference| same_origin_path(reference.trim(), host));
    let mut paths: Vec<String> = Vec::with_capacity(3);
    for candidate in std::iter::once(path).chain(named) {
        if let Ok(normalised) = normalize_path(candidate)
            && config.routes.at(&normalised).is_none()
            && !paths.contains(&normalised)
        {
            paths.push(normalised);
        }
    }
    paths
}

/// RFC 9110 §9.2.1.
fn is_safe(method: &Method) -> bool {
    [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE].contains(method)
}

/// The path of `reference` when it names the same origin: a path reference (`/x?q`), or
/// an `http(s)://host/x` URI whose authority is `host`. Query and fragment are dropped.
fn same_origin_path<'a>(reference: &'a str, host: Option<&str>) -> Option<&'a str> {
    let without_fragment = reference.split('#').next()?;
    let path_and_query = if without_fragment.starts_with('/') {
        // `//host/x` is a network-path reference: another origin unless the host matches.
        match without_fragment.strip_prefix("//") {
            Some(rest) => in_authority(rest, host?)?,
            None => without_fragment,
        }
    } else {
        let rest = without_fragment
            .strip_prefix("https://")
            .or_else(|| without_fragment.strip_prefix("http://"))?;
        in_authority(rest, host?)?
    };
    path_and_query.split('?').next()
}

/// The path of `authority/path`, when the authority is `host` (ASCII case-insensitive).
fn in_authority<'a>(rest: &'a str, host: &str) -> Option<&'a str> {
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    authority.eq_ignore_ascii_case(host).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn paths(method: Method, status: u16, answer: &[(&'static str, &'static str)]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for (name, value) in answer {
            headers.append(*name, HeaderValue::from_static(value));
        }
        let status = StatusCode::from_u16(status).unwrap();
        let config = routed();
        invalidated_paths(
            &config,
            &method,
            "/cart",
            Some("shop.example"),
            status,
            &headers,
        )
    }

    /// `/blog/...` is an ISR route; everything else is the shared cache's.
    fn routed() -> Config {
        Config::from_toml("[[route]]\npath = \"/blog/[slug]\"\n", "isr.toml").unwrap()
    }

    #[test]
    fn a_route_s_pages_are_never_invalidated_by_a_client() {
        let mut headers = HeaderMap::new();
        headers.insert("location", HeaderValue::from_static("/blog/other"));
        let paths = invalidated_paths(
            &routed(),
            &Method::POST,
            "/blog/a",
            None,
            StatusCode::OK,
            &headers,
        );
        assert!(paths.is_empty(), "{paths:?}");
    }

    #[test]
    fn a_successful_unsafe_request_invalidates_its_own_path() {
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(paths(method.clone(), 200, &[]), ["/cart"], "{method}");
        }
        let m_search = Method::from_bytes(b"M-SEARCH").unwrap();
        assert_eq!(paths(m_search, 204, &[]), ["/cart"]);
        assert_eq!(paths(Method::POST, 303, &[]), ["/cart"]);
    }

    #[test]
    fn safe_methods_and_failures_invalidate_nothing() {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE] {
            assert!(paths(method, 200, &[]).is_empty());
        }
        for status in [400, 404, 500, 503] {
            assert!(paths(Method::POST, status, &[]).is_empty(), "{status}");
        }
    }

    #[test]
    fn location_and_content_location_on_the_same_origin_are_invalidated() {
        let answer = [
            ("location", "/orders/7?x=1#top"),
            ("content-location", "http://SHOP.example/cart/summary"),
        ];
        assert_eq!(
            paths(Method::POST, 201, &answer),
            ["/cart", "/orders/7", "/cart/summary"]
        );
        let network_path = [("location", "//shop.example/a")];
        assert_eq!(paths(Method::POST, 201, &network_path), ["/cart", "/a"]);
    }

    #[test]
    fn another_origin_is_never_invalidated() {
        let answer = [
            ("location", "https://other.example/orders/7"),
            ("content-location", "//other.example/x"),
        ];
        assert_eq!(paths(Method::POST, 201, &answer), ["/cart"]);
        let relative = [("location", "orders/7"), ("content-location", "mailto:a@b")];
        assert_eq!(paths(Method::POST, 201, &relative), ["/cart"]);
        // Without a Host, only path references are the same origin.
        let mut headers = HeaderMap::new();
        headers.insert(
            "location",
            HeaderValue::from_static("http://shop.example/a"),
        );
        let without_host = invalidated_paths(
            &routed(),
            &Method::POST,
            "/cart",
            None,
            StatusCode::OK,
            &headers,
        );
        assert_eq!(without_host, ["/cart"]);
    }
}
