//! The origin: where renders and bypassed requests go. A URL (`origin` in the config, or
//! `ISR_ORIGIN`), a service binding to another Worker (`ORIGIN`), or, when isr is used as a
//! library, the app's own render function.
//!
//! Invariants:
//! - A render is a `GET` of exactly the job's target, with the headers isr-core built for
//!   it plus the recursion guard; redirects are not followed (a 301 is a page like any other).
//! - A render never takes longer than the render timeout to produce a verdict, and its body
//!   is read at most up to the size limit: a larger answer is handed back as a stream and
//!   never buffered whole.
//! - A `Host` the engine sends (the keyed host, with `key_host`) reaches the origin: as
//!   `Host` through a service binding or the app's function; as `X-Forwarded-Host` to a
//!   URL, since the platform sends a fetch to a URL with that URL's authority as `Host`,
//!   whatever the headers say.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::{Either, select};
use futures_util::{StreamExt, stream};
use http::header;
use http::{HeaderMap, StatusCode};
use isr_core::flow::bypass::X_FORWARDED_HOST;
use worker::{AbortController, Delay, Fetch, Fetcher, Request, Response, ResponseBody, Result};

use crate::convert::{header_map, js_headers, status_of};

/// Why the origin gave no answer (isr-core's, with the Worker's reasons it was unreachable).
pub(crate) type OriginError = isr_core::flow::render::OriginError<Unreachable>;

/// Why the origin could not be asked, or its answer cannot be passed on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unreachable {
    /// The platform refused the request or its answer.
    #[error(transparent)]
    Platform(#[from] worker::Error),
    /// The Durable Object did not give the recursion guard's secret, which every render
    /// carries.
    #[error("no recursion-guard secret: {0}")]
    NoGuardSecret(#[source] worker::Error),
    /// The answer was not kept to be passed on.
    #[error("the answer is gone")]
    AnswerGone,
}

/// A boxed local future (JS values are not `Send`).
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// The app's render function, when isr runs inside an app's own Worker.
pub(crate) type Render = Rc<dyn Fn(Request) -> BoxFuture<Result<Response>>>;

/// Where isr sends renders and bypassed requests.
#[derive(Clone)]
pub(crate) enum Origin {
    /// An origin base URL (`https://app.example.com`, no trailing slash).
    Url(String),
    /// A service binding; `base` is the URL the requests are addressed to.
    Service { fetcher: Fetcher, base: String },
    /// The app's own render function (library use).
    App { render: Render, base: String },
}

/// An origin answer, read.
pub(crate) enum Fetched {
    /// The whole body, within the size limit.
    Complete {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// The body is larger than the limit: the answer, streamed on as it came.
    TooLarge(Response),
}

impl Origin {
    fn base(&self) -> &str {
        match self {
            Origin::Url(base) | Origin::Service { base, .. } | Origin::App { base, .. } => base,
        }
    }

    /// Send `request` (built for [`Origin::url`]); `signal` aborts a fetch.
    fn dispatch(
        &self,
        request: web_sys::Request,
        signal: worker::AbortSignal,
    ) -> BoxFuture<Result<Response>> {
        let request = Request::from(request);
        match self {
            Origin::Url(_) => {
                Box::pin(async move { Fetch::Request(request).send_with_signal(&signal).await })
            }
            Origin::Service { fetcher, .. } => {
                let fetcher = fetcher.clone();
                Box::pin(async move { fetcher.fetch_request(request).await })
            }
            Origin::App { render, .. } => render(request),
        }
    }

    /// Send `request` and run `then` on the answer, all within `timeout` (past it, the
    /// fetch is aborted).
    async fn within<T>(
        &self,
        request: web_sys::Request,
        timeout: Duration,
        then: impl AsyncFnOnce(Response) -> Result<T> + 'static,
    ) -> Result<T, OriginError>
    where
        T: 'static,
    {
        let controller = AbortController::default();
        let sent = self.dispatch(request, controller.signal());
        let work: BoxFuture<Result<T>> = Box::pin(async move { then(sent.await?).await });
        match select(work, Delay::from(timeout)).await {
            Either::Left((Ok(answer), _)) => Ok(answer),
            Either::Left((Err(error), _)) => Err(OriginError::Unreachable(error.into())),
            Either::Right(((), _)) => {
                controller.abort();
                Err(OriginError::Timeout(timeout))
            }
        }
    }

    /// `headers` as sent to this origin (see the module invariants on `Host`).
    fn request_headers(&self, headers: &HeaderMap) -> worker::Headers {
        match self {
            Origin::Url(_) if headers.contains_key(header::HOST) => {
                let mut headers = headers.clone();
                if let Some(host) = headers.remove(header::HOST) {
                    headers.insert(X_FORWARDED_HOST, host);
                }
                js_headers(&headers)
            }
            _ => js_headers(headers),
        }
    }

    /// The URL of `target` (`/path?query`) at the origin.
    fn url(&self, target: &str) -> String {
        format!("{}{target}", self.base())
    }

    /// Render `target` with `headers`; read the body up to `limit` bytes.
    pub(crate) async fn render(
        &self,
        target: &str,
        headers: &HeaderMap,
        timeout: Duration,
        limit: u64,
    ) -> Result<Fetched, OriginError> {
        crate::counters::rendered();
        let init = web_sys::RequestInit::new();
        init.set_method("GET");
        init.set_headers(&self.request_headers(headers).0);
        init.set_redirect(web_sys::RequestRedirect::Manual);
        let request = web_sys::Request::new_with_str_and_init(&self.url(target), &init)
            .map_err(|e| OriginError::Unreachable(worker::Error::from(e).into()))?;
        self.within(request, timeout, async move |response| {
            collect(response, limit).await
        })
        .await
    }

    /// Forward a client's request as it is (method, body), to `target`, with `headers`.
    #[cfg(feature = "entry")]
    pub(crate) async fn forward(
        &self,
        client: &Request,
        target: &str,
        headers: &HeaderMap,
        timeout: Duration,
    ) -> Result<Response, OriginError> {
        let init = web_sys::RequestInit::new();
        let inner = client.inner();
        init.set_method(&inner.method());
        init.set_headers(&self.request_headers(headers).0);
        init.set_redirect(web_sys::RequestRedirect::Manual);
        if let Some(body) = inner.body() {
            init.set_body(&body);
        }
        let request = web_sys::Request::new_with_str_and_init(&self.url(target), &init)
            .map_err(|e| OriginError::Unreachable(worker::Error::from(e).into()))?;
        self.within(request, timeout, async |response| Ok(response))
            .await
    }
}

/// Read `response`'s body up to `limit` bytes.
async fn collect(mut response: Response, limit: u64) -> Result<Fetched> {
    let declared = response
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Ok(Fetched::TooLarge(response));
    }
    let status = status_of(&response);
    let headers = header_map(response.headers());
    if !matches!(response.body(), ResponseBody::Stream(_)) {
        // Built in Rust (an app's render function): already in memory.
        let body = Bytes::from(response.bytes().await?);
        if body.len() as u64 > limit {
            return Ok(Fetched::TooLarge(response));
        }
        return Ok(Fetched::Complete {
            status,
            headers,
            body,
        });
    }
    let mut body = response.stream()?;
    let mut buffer = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        buffer.extend_from_slice(&chunk);
        if buffer.len() as u64 > limit {
            // Hand back what was read, then the rest, as one stream.
            let prefix =
                stream::once(async move { Ok::<Vec<u8>, worker::Error>(Vec::from(buffer)) });
            let rebuilt = Response::from_stream(prefix.chain(body))?
                .with_status(status.as_u16())
                .with_headers(js_headers(&headers));
            return Ok(Fetched::TooLarge(rebuilt));
        }
    }
    Ok(Fetched::Complete {
        status,
        headers,
        body: buffer.freeze(),
    })
}
