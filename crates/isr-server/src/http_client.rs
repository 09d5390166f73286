//! The HTTP/1 client of the client commands (`purge`, `stats`, `entries`, `warm`): one
//! exchange under a deadline, its answer read whole.
//!
//! Invariants:
//! - An exchange never outlasts its deadline, the body included: a server that stops
//!   sending midway is an error, not a hang.
//! - Without `https`, no CA certificates are loaded, so a machine without any still
//!   reaches isr's own http address.

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// An HTTP/1 client of http URLs, and of https ones when built for them.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client; with `https`, it also reaches https URLs, checking their certificates.
pub(crate) fn http_client(https: bool) -> Result<HttpClient, isr::TlsError> {
    Ok(Client::builder(TokioExecutor::new()).build(isr::connector(https)?))
}

/// An answer, read whole.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why an exchange brought no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
    #[error(transparent)]
    Send(#[from] hyper_util::client::legacy::Error),
    #[error(transparent)]
    Body(#[from] hyper::Error),
}

/// Send `request` and read the whole answer, all within `deadline`.
pub(crate) async fn exchange(
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    deadline: Duration,
) -> Result<Answer, ExchangeError> {
    let exchange = async {
        let response = client.request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| ExchangeError::Timeout(deadline))?
}

/// `error` and each of its causes, joined by `: ` (how `isr` prints an error on one line).
pub(crate) fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read sitemap a.xml")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_are_joined_on_one_line() {
        let error = Outer(std::io::Error::other("refused"));
        assert_eq!(with_causes(&error), "cannot read sitemap a.xml: refused");
    }
}
