//! The HTTP client the proxy renders through: a pooled hyper client bound to one origin.
//!
//! Invariants:
//! - Every request goes to the configured origin, whatever its URI says: only the path and
//!   query of the request are used.
//! - The origin sees its own authority as `Host` unless the engine set one (`key_host`).

use std::task::{Context, Poll};
use std::time::Duration;

use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use tower::Service;

use crate::body::Body;

/// Why an origin URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("origin {0:?} is not a valid URL")]
    Invalid(String),
    #[error("origin {0:?}: only http:// origins are supported (put isr next to the app)")]
    Scheme(String),
    #[error("origin {0:?} has no host")]
    NoHost(String),
}

/// A client for one origin.
#[derive(Clone, Debug)]
pub struct HttpOrigin {
    client: Client<HttpConnector, Body>,
    authority: Authority,
    host: HeaderValue,
}

impl HttpOrigin {
    /// A client for the origin at `url` (`http://host:port`, no path).
    pub fn new(url: &str) -> Result<HttpOrigin, OriginError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| OriginError::Invalid(url.to_owned()))?;
        if uri.scheme() != Some(&Scheme::HTTP) {
            return Err(OriginError::Scheme(url.to_owned()));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| OriginError::NoHost(url.to_owned()))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| OriginError::Invalid(url.to_owned()))?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(HttpOrigin {
            client,
            authority,
            host,
        })
    }
}

impl Service<Request<Body>> for HttpOrigin {
    type Response = Response<hyper::body::Incoming>;
    type Error = hyper_util::client::legacy::Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.client.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> ResponseFuture {
        let path_and_query = request.uri().path_and_query().cloned();
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = path_and_query.or_else(|| Some("/".parse().ok()).flatten());
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        *request.version_mut() = http::Version::HTTP_11;
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, self.host.clone());
        }
        self.client.call(request)
    }
}
