//! The HTTP server loop: accepts connections and serves the router on each
//! with hyper's HTTP/1, within limits that keep slow, idle or too many
//! clients from holding the daemon's file descriptors or its shutdown:
//!
//! - a connection whose request headers have not all arrived within the
//!   header timeout is closed, with 408 if part of a request had arrived;
//!   hyper starts that clock when a connection opens and again when it has
//!   answered a request, so it is also how long an idle keep-alive
//!   connection stays open;
//! - at most `max_connections` are served at once; the next ones are
//!   answered 503 with `Retry-After`, [`REFUSING_AT_ONCE`] of them at a
//!   time, and any past that are closed as they come, so that the daemon
//!   never runs out of file descriptors and never stops accepting;
//! - at the first stop signal the listener closes, idle connections close
//!   at once, connections without a request in flight (a client still
//!   sending headers) after [`SHUTDOWN_DRAIN`], and connections with a
//!   request in flight once it is answered. The caller bounds that last wait.
//!
//! A request head that hyper refuses to read (a target over
//! [`MAX_URI_BYTES`](crate::api::MAX_URI_BYTES), a head past its 400 KiB
//! buffer, more than [`MAX_HEADERS`](crate::api::MAX_HEADERS) headers) it
//! answers itself, with an empty body; [`Connection`] holds that answer back
//! so that the client gets the daemon's JSON error instead.

use std::convert::Infallible;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use logstream_shared::api::ErrorBody;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

use crate::api::ApiError;

/// Connections past `max_connections` answered 503 at once; each takes a
/// file descriptor for up to [`REFUSAL_HEADER_TIMEOUT`].
pub const REFUSING_AT_ONCE: usize = 64;

/// How long a refused connection may take to send its request headers: a
/// client that is not idle sends them right after connecting.
const REFUSAL_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// After a stop signal, how long a connection without a request in flight
/// stays open: long enough to flush an answer already written.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(1);

/// Limits on the connections of the HTTP API.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a request's headers may take to arrive, and an idle
    /// keep-alive connection may stay open.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: u32,
}

/// Serves `router` on `listener` until the first stop signal counted by
/// `stop`, then until every connection has closed (see the module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: watch::Receiver<u32>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let serving = Arc::new(Semaphore::new(limits.max_connections as usize));
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let mut stopping = stop.clone();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = stop_signal(&mut stopping) => break,
        };
        if let Ok(permit) = Arc::clone(&serving).try_acquire_owned() {
            tokio::spawn(serve_connection(
                stream,
                router.clone(),
                builder.clone(),
                limits.header_timeout,
                stop.clone(),
                permit,
            ));
        } else if let Ok(permit) = Arc::clone(&refusing).try_acquire_owned() {
            tokio::spawn(refuse_connection(stream, limits, permit));
        } else {
            tracing::debug!("too many connections, even to refuse; closing a new one");
        }
    }
    tracing::info!("shutdown requested");
    drop(listener);
    // Each connection holds a permit until it closes.
    let _ = serving.acquire_many(limits.max_connections).await;
    let _ = refusing.acquire_many(REFUSING_AT_ONCE as u32).await;
}

/// Resolves at the first stop signal.
async fn stop_signal(stop: &mut watch::Receiver<u32>) {
    // The guard that `wait_for` returns must not be held across an await.
    let _ = stop.wait_for(|n| *n >= 1).await;
}

/// What to do when `accept` fails: a connection that was reset before it
/// was accepted is nobody's problem; anything else (out of file
/// descriptors) lasts a while, and retrying at once would spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    builder: http1::Builder,
    header_timeout: Duration,
    mut stop: watch::Receiver<u32>,
    _permit: OwnedSemaphorePermit,
) {
    let in_flight = Arc::new(watch::Sender::new(0usize));
    let mut requests = in_flight.subscribe();
    let stream = Connection::new(stream, in_flight.subscribe());
    let service = service_fn(move |request: Request<Incoming>| {
        let started = InFlight::start(&in_flight);
        let response = router.clone().oneshot(request.map(Body::new));
        async move {
            let Ok(response) = response.await;
            Ok::<_, Infallible>(response.map(|body| TrackedBody {
                body,
                _in_flight: started,
            }))
        }
    });
    let mut connection = builder.serve_connection(TokioIo::new(stream), service);
    let served = tokio::select! {
        served = &mut connection => served,
        () = stop_signal(&mut stop) => {
            Pin::new(&mut connection).graceful_shutdown();
            tokio::select! {
                served = &mut connection => served,
                // Dropping the connection closes it.
                () = quiet_for(&mut requests, SHUTDOWN_DRAIN) => return,
            }
        }
    };
    match served {
        Ok(()) => {}
        Err(e) if e.is_timeout() => {
            let parts = connection.into_parts();
            // Bytes of a request that did not end; none on a connection
            // that stayed idle, which closes without a word.
            if !parts.read_buf.is_empty() {
                let error = ApiError::Timeout(format!(
                    "the request headers did not arrive within {} (--header-timeout)",
                    humantime::format_duration(header_timeout)
                ));
                answer_and_close(parts.io.into_inner().stream, error).await;
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "connection ended with an error");
            let connection = connection.into_parts().io.into_inner();
            if let Some(error) = connection.held_answer() {
                answer_and_close(connection.stream, error).await;
            }
        }
    }
}

/// Answers `error` with its JSON body on a connection that hyper has left,
/// then closes it.
async fn answer_and_close(mut stream: TcpStream, error: ApiError) {
    let status = error.status_code();
    let body = serde_json::to_vec(&ErrorBody {
        error: error.message(),
        details: Vec::new(),
    })
    .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    );
    // Bounded: the client may not read either.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        // Read what the client still sends, so that closing does not reset
        // the connection before the answer is read.
        tokio::io::copy(&mut stream, &mut tokio::io::sink()).await
    })
    .await;
}

/// Answers every request of a connection past the limit 503, and closes it.
async fn refuse_connection(
    stream: TcpStream,
    limits: ConnectionLimits,
    _permit: OwnedSemaphorePermit,
) {
    let service = service_fn(move |_request: Request<Incoming>| async move {
        Ok::<_, Infallible>(too_many_connections(limits.max_connections))
    });
    let _ = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_HEADER_TIMEOUT.min(limits.header_timeout))
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn too_many_connections(max_connections: u32) -> Response {
    ApiError::Unavailable {
        error: format!(
            "too many connections: the daemon serves at most {max_connections} at once \
             (--max-connections); retry shortly"
        ),
        retry_after: Duration::from_secs(1),
    }
    .into_response()
}

/// Resolves once no request has been in flight on a connection for `quiet`.
async fn quiet_for(requests: &mut watch::Receiver<usize>, quiet: Duration) {
    loop {
        if requests.wait_for(|n| *n == 0).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(quiet) => return,
            changed = requests.changed() => if changed.is_err() { return },
        }
    }
}

/// Counts a request as in flight on its connection from the moment its
/// headers have arrived until its answer's body is dropped (sent or not).
#[derive(Debug)]
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn start(count: &Arc<watch::Sender<usize>>) -> InFlight {
        count.send_modify(|n| *n += 1);
        InFlight(Arc::clone(count))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// An answer's body that keeps its request in flight until it is dropped.
#[derive(Debug)]
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A served TCP connection as hyper sees it. The answer hyper writes by
/// itself to a head it refuses (see the module docs) is held back, not
/// sent, and so is the shutdown after it: [`Connection::held_answer`] then
/// tells which JSON error to send in its place. Hyper writes that answer
/// only while no request is in flight, and our own answers always have a
/// body, so an answer of hyper's is told from ours without doubt.
#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    /// Requests of this connection in flight (see [`InFlight`]).
    in_flight: watch::Receiver<usize>,
    held: Option<StatusCode>,
}

impl Connection {
    fn new(stream: TcpStream, in_flight: watch::Receiver<usize>) -> Connection {
        Connection {
            stream,
            in_flight,
            held: None,
        }
    }

    /// What to answer in place of the held answer of hyper's, if any.
    fn held_answer(&self) -> Option<ApiError> {
        match self.held? {
            StatusCode::URI_TOO_LONG => Some(ApiError::uri_too_long()),
            _ => Some(ApiError::headers_too_large()),
        }
    }

    /// Whether `bytes` are hyper's own answer to a refused head, which is
    /// then held back instead of written.
    fn holds(&mut self, bytes: &[u8]) -> bool {
        if self.held.is_none() && *self.in_flight.borrow() == 0 {
            self.held = refusal_of(bytes);
        }
        self.held.is_some()
    }
}

/// The status of hyper's answer to a head it refuses: a status line,
/// `content-length: 0` and `date`, no body.
fn refusal_of(bytes: &[u8]) -> Option<StatusCode> {
    let head_only = bytes.ends_with(b"\r\n\r\n")
        && bytes
            .windows(b"\r\ncontent-length: 0\r\n".len())
            .any(|w| w == b"\r\ncontent-length: 0\r\n");
    [
        StatusCode::URI_TOO_LONG,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    ]
    .into_iter()
    .find(|status| {
        head_only && bytes.starts_with(format!("HTTP/1.1 {} ", status.as_u16()).as_bytes())
    })
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.holds(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        // Hyper writes a head as one buffer.
        let holds = match bufs {
            [head] => self.holds(head),
            _ => self.held.is_some(),
        };
        if holds {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The JSON answer is still to be written.
        if self.held.is_some() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
