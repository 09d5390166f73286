//! The HTTP client the proxy renders through: a pooled hyper client bound to one origin,
//! over http or https.
//!
//! Invariants:
//! - Every request goes to the configured origin, whatever its URI says: only the path and
//!   query of the request are used.
//! - The origin sees its own authority as `Host` unless the engine set one (`key_host`).
//! - An https origin's certificate is verified against the system's CA store (or the
//!   `SSL_CERT_FILE` / `SSL_CERT_DIR` it names) for the origin's host name; there is no
//!   switch to skip the check.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::HOST;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::TokioExecutor;
use tower::Service;

use crate::body::Body;

/// Why an origin URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("origin {0:?} is not a valid URL")]
    /// The origin is not a valid URL.
    Invalid(String),
    #[error("origin {0:?}: the scheme must be http or https")]
    /// The scheme is neither http nor https.
    Scheme(String),
    #[error("origin {0:?} has no host")]
    /// The URL has no host.
    NoHost(String),
    #[error("origin {url:?}: {source}")]
    /// TLS for an https origin cannot be set up.
    Tls {
        /// The origin URL.
        url: String,
        /// Why TLS cannot be set up.
        source: TlsError,
    },
}

/// TLS for https URLs cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot load the CA certificates that https certificates are checked against \
         ({0}); install the system's CA certificates (ca-certificates) or name a file of \
         them in SSL_CERT_FILE"
    )]
    /// The CA certificates cannot be loaded.
    CaCertificates(std::io::Error),
    #[error("cannot set up TLS: {0}")]
    /// TLS cannot be set up.
    Setup(#[source] rustls::Error),
}

/// A client for one origin.
#[derive(Clone, Debug)]
pub struct HttpOrigin {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
}

impl HttpOrigin {
    /// A client for the origin at `url` (`http://host:port` or `https://host:port`, no
    /// path).
    pub fn new(url: &str) -> Result<HttpOrigin, OriginError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| OriginError::Invalid(url.to_owned()))?;
        let scheme = match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP || *scheme == Scheme::HTTPS => scheme.clone(),
            _ => return Err(OriginError::Scheme(url.to_owned())),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| OriginError::NoHost(url.to_owned()))?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| OriginError::Invalid(url.to_owned()))?;
        let connector = connector(scheme == Scheme::HTTPS).map_err(|source| OriginError::Tls {
            url: url.to_owned(),
            source,
        })?;
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(HttpOrigin {
            client,
            scheme,
            authority,
            host,
        })
    }
}

/// A connector for http and https URLs: TCP with no Nagle delay and 5 s to connect, and TLS
/// that checks certificates against the system's CA certificates (or `SSL_CERT_FILE`).
/// Without `https`, no CA certificates are loaded (a container without any still reaches
/// http URLs) and every https handshake fails.
pub fn connector(https: bool) -> Result<HttpsConnector<HttpConnector>, TlsError> {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(5)));
    tcp.enforce_http(false);
    let provider = rustls::crypto::ring::default_provider();
    let tls = if https {
        HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(TlsError::CaCertificates)?
    } else {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        HttpsConnectorBuilder::new().with_tls_config(config)
    };
    Ok(tls.https_or_http().enable_http1().wrap_connector(tcp))
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
        parts.scheme = Some(self.scheme.clone());
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
