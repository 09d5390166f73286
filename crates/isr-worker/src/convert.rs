//! Conversions between the `http` types isr-core speaks and the JS objects of the Workers
//! runtime.
//!
//! Invariant: no conversion panics, whatever a client or the origin sent. (workers-rs's
//! own `From` conversions unwrap; these skip what cannot be represented instead: a header
//! the other side cannot hold is dropped, never a reason to fail the request.)

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use worker::{Headers, Response, Result};

/// JS headers as a `HeaderMap` (entries that `http` rejects are skipped).
pub(crate) fn header_map(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.entries() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// A `HeaderMap` as JS headers (values that are not UTF-8 are converted lossily; entries
/// the runtime refuses are skipped).
pub(crate) fn js_headers(map: &HeaderMap) -> Headers {
    let headers = Headers::new();
    for (name, value) in map {
        let value = String::from_utf8_lossy(value.as_bytes());
        if headers.append(name.as_str(), &value).is_err() {
            worker::console_warn!("isr: header {name} could not be passed on");
        }
    }
    headers
}

/// A response with `status`, `headers` and `body` (none: empty).
pub(crate) fn response(
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<Bytes>,
) -> Result<Response> {
    let response = match body {
        // Not copied when the buffer is not shared.
        Some(body) if !body.is_empty() => Response::from_bytes(Vec::from(body))?,
        _ => Response::empty()?,
    };
    Ok(response
        .with_status(status.as_u16())
        .with_headers(js_headers(headers)))
}

/// The same response with other headers (the body is passed on as it is, streamed).
pub(crate) fn with_headers(response: Response, headers: &HeaderMap) -> Response {
    let status = response.status_code();
    let (builder, body) = response.into_parts();
    builder
        .with_status(status)
        .with_headers(js_headers(headers))
        .body(body)
}

/// The response's status as a `StatusCode` (an impossible one becomes 502).
pub(crate) fn status_of(response: &Response) -> StatusCode {
    StatusCode::from_u16(response.status_code()).unwrap_or(StatusCode::BAD_GATEWAY)
}
