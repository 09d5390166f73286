//! Client connections: their limits ([`ConnectionLimits`]), the set of open ones
//! ([`Connections`]), and how one is served within those limits ([`Connections::serve`]).
//!
//! Invariants:
//! - A connection has [`ConnectionLimits::request_head_timeout`] from its accept to a
//!   complete first request head, whatever the protocol (the read that tells HTTP/1 from
//!   HTTP/2 included); each later HTTP/1 head has the same time (hyper's header timeout).
//! - A connection with no request in flight and no byte read or written for
//!   [`ConnectionLimits::idle_timeout`] is closed (idle keep-alive, idle HTTP/2, a client
//!   that stopped reading).
//! - At most [`ConnectionLimits::max_connections`] are open. A connection arriving at the
//!   limit takes the place of the idle one quiet the longest (silent connections first),
//!   so a flood of silent connections cannot lock real clients out; when every open one is
//!   busy, the newcomer is closed at once. The default limit keeps half the process's file
//!   descriptors (less a fixed reserve) for the origin and the stores, since every client
//!   connection may hold one origin connection.
//! - On a graceful stop every connection finishes the request it is answering (the
//!   download included) and then closes; an idle one closes at once.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// File descriptors kept for everything but client connections and their origin
/// connections: the listener, the stores' files and connections, logs, DNS.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The most bytes of request headers (HTTP/2's header list; HTTP/1's head is bounded by
/// hyper's read buffer and [`MAX_HEADERS`]).
const MAX_HEADER_BYTES: u32 = 64 * 1024;

/// The most header fields of one HTTP/1 request.
const MAX_HEADERS: usize = 100;

/// The most concurrent streams of one HTTP/2 connection.
const MAX_STREAMS: u32 = 128;

/// The most streams an HTTP/2 client may open and reset before they are served (the
/// "rapid reset" attack) before its connection is closed.
const MAX_PENDING_RESETS: usize = 32;

/// How often an HTTP/2 connection is pinged, and how long the answer may take, so a peer
/// that vanished is noticed.
const HTTP2_PING: Duration = Duration::from_secs(20);

/// How a client connection is limited. [`ConnectionLimits::for_this_process`] sizes the
/// connection limit from the file descriptors the process may open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From accept to a complete first request head, and for each later HTTP/1 head.
    pub request_head_timeout: Duration,
    /// How long a connection may stay open with no request in flight and no byte moving.
    pub idle_timeout: Duration,
    /// The most client connections open at once.
    pub max_connections: usize,
    /// How long a graceful stop waits for requests and background renders to finish.
    pub drain_timeout: Duration,
}

impl ConnectionLimits {
    /// The default request head timeout.
    pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default idle timeout (nginx's `send_timeout`, and about its keep-alive's).
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default drain deadline (Kubernetes' default termination grace period).
    pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

    /// The defaults, with a connection limit of half the descriptors this process may
    /// open, less [`RESERVED_DESCRIPTORS`] (at least 1).
    pub fn for_this_process() -> ConnectionLimits {
        ConnectionLimits {
            request_head_timeout: Self::REQUEST_HEAD_TIMEOUT,
            idle_timeout: Self::IDLE_TIMEOUT,
            max_connections: connections_for_descriptors(open_files_limit()),
            drain_timeout: Self::DRAIN_TIMEOUT,
        }
    }
}

/// The soft limit on open files; `None` when unlimited.
fn open_files_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The client connections `descriptors` allow: each may hold one origin connection, and
/// [`RESERVED_DESCRIPTORS`] are kept for the rest.
fn connections_for_descriptors(descriptors: Option<u64>) -> usize {
    let Some(descriptors) = descriptors else {
        return usize::MAX;
    };
    let half = descriptors.saturating_sub(RESERVED_DESCRIPTORS) / 2;
    usize::try_from(half).unwrap_or(usize::MAX).max(1)
}

/// What one connection has done, as its watchdog and the limit see it.
struct Activity {
    accepted: Instant,
    /// When a byte last moved either way, in milliseconds since `accepted`.
    last_io_ms: AtomicU64,
    /// Requests whose answer is not complete yet (the head: the body is counted by
    /// `last_io_ms`).
    in_flight: AtomicUsize,
    /// Requests whose head arrived.
    requests: AtomicU64,
    /// Woken when the connection must close now (it made room for another).
    shed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            accepted: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            shed: Notify::new(),
        }
    }

    fn touch(&self) {
        let since = Instant::now().saturating_duration_since(self.accepted);
        let millis = u64::try_from(since.as_millis()).unwrap_or(u64::MAX);
        self.last_io_ms.store(millis, Ordering::Relaxed);
    }

    fn last_io(&self) -> Instant {
        self.accepted + Duration::from_millis(self.last_io_ms.load(Ordering::Relaxed))
    }

    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When the connection must close if nothing happens meanwhile; `None`: not while a
    /// request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.requests.load(Ordering::Acquire) == 0 {
            return Some(self.accepted + limits.request_head_timeout);
        }
        self.is_idle().then(|| self.last_io() + limits.idle_timeout)
    }
}

/// The open client connections, within [`ConnectionLimits::max_connections`].
pub(crate) struct Connections {
    limits: ConnectionLimits,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next_id: AtomicU64,
    /// How many are open.
    count: watch::Sender<usize>,
    /// `true` once a graceful stop began.
    stopping: watch::Sender<bool>,
}

/// One admitted connection; leaving the set when dropped.
struct Admitted {
    id: u64,
    activity: Arc<Activity>,
    connections: Arc<Connections>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.forget(self.id);
    }
}

impl Connections {
    pub(crate) fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            count: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
        })
    }

    /// Admit a new connection: within the limit, or in the place of the idle connection
    /// quiet the longest. `None` when every open connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= self.limits.max_connections {
            let quietest = open
                .iter()
                .filter(|(_, activity)| activity.is_idle())
                .min_by_key(|(_, activity)| {
                    (
                        activity.requests.load(Ordering::Relaxed) > 0,
                        activity.last_io(),
                    )
                })
                .map(|(id, _)| *id)?;
            if let Some(shed) = open.remove(&quietest) {
                shed.shed.notify_one();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        open.insert(id, Arc::clone(&activity));
        self.count.send_replace(open.len());
        Some(Admitted {
            id,
            activity,
            connections: Arc::clone(self),
        })
    }

    fn forget(&self, id: u64) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.remove(&id).is_some() {
            self.count.send_replace(open.len());
        }
    }

    /// Begin a graceful stop: every connection finishes what it is answering and closes.
    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Wait until no connection is open.
    pub(crate) async fn closed(&self) {
        let mut count = self.count.subscribe();
        let _ = count.wait_for(|open| *open == 0).await;
    }

    /// Serve `stream` with `service` within the limits, in a task of its own; a stream
    /// arriving when every connection is busy is closed at once.
    pub(crate) fn serve<S>(self: &Arc<Self>, stream: TcpStream, service: S)
    where
        S: tower::Service<
                http::Request<hyper::body::Incoming>,
                Response = http::Response<isr::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send + Unpin + 'static,
    {
        let Some(admitted) = self.admit() else {
            tracing::warn!(
                max_connections = self.limits.max_connections,
                "every connection is busy: a new one is closed"
            );
            return;
        };
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        let limits = self.limits.clone();
        let mut stopping = self.stopping.subscribe();
        tokio::spawn(async move {
            let activity = Arc::clone(&admitted.activity);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.request_head_timeout)
                .max_headers(MAX_HEADERS);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_concurrent_streams(MAX_STREAMS)
                .max_header_list_size(MAX_HEADER_BYTES)
                .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
                .keep_alive_interval(HTTP2_PING)
                .keep_alive_timeout(HTTP2_PING);
            let io = TokioIo::new(Watched {
                stream,
                activity: Arc::clone(&activity),
            });
            let service = TowerToHyperService::new(Counted {
                inner: service,
                activity: Arc::clone(&activity),
            });
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let mut draining = false;
            loop {
                // Nothing wakes this loop when a request arrives or is answered, which moves
                // the deadline: it looks again at least every shorter timeout.
                let recheck = Instant::now() + limits.idle_timeout.min(limits.request_head_timeout);
                let deadline = activity
                    .deadline(&limits)
                    .map_or(recheck, |deadline| deadline.min(recheck));
                tokio::select! {
                    ended = connection.as_mut() => {
                        if let Err(error) = ended {
                            tracing::debug!(%error, ?peer, "connection ended with an error");
                        }
                        break;
                    }
                    () = activity.shed.notified() => {
                        tracing::debug!(?peer, "connection closed to make room for another");
                        break;
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        // The deadline may have moved meanwhile (a byte moved, a request
                        // arrived): only a deadline still passed closes the connection.
                        if activity.deadline(&limits).is_some_and(|due| due <= Instant::now()) {
                            tracing::debug!(?peer, "connection closed: idle or no request in time");
                            break;
                        }
                    }
                    stop = stopping.wait_for(|stop| *stop), if !draining => {
                        draining = true;
                        if stop.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
            drop(admitted);
        });
    }
}

/// A client's stream, recording when a byte last moved.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The service of one connection, counting its requests in flight.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        self.activity.requests.fetch_add(1, Ordering::AcqRel);
        CountedFuture {
            inner: self.inner.call(request),
            in_flight: InFlight(Arc::clone(&self.activity)),
        }
    }
}

/// One request in flight; no longer when dropped (answered, or abandoned).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The answer of a [`Counted`] service (unboxed: hits stay allocation-free).
struct CountedFuture<F> {
    inner: F,
    in_flight: InFlight,
}

impl<F: Future + Unpin> Future for CountedFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let polled = Pin::new(&mut self.inner).poll(cx);
        if polled.is_ready() {
            // Answered: the connection is idle again unless another request is in flight.
            self.in_flight.0.touch();
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_descriptors_less_the_reserve_are_for_clients() {
        assert_eq!(connections_for_descriptors(Some(256)), 96);
        assert_eq!(connections_for_descriptors(Some(1_048_576)), 524_256);
        assert_eq!(connections_for_descriptors(Some(10)), 1);
        assert_eq!(connections_for_descriptors(None), usize::MAX);
    }
}
