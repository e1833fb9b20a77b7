//! The local HTTP server: every route group on one listener (tests start it on port 0).
//!
//! A hand-rolled accept loop over hyper's HTTP/1 connection builder rather than a bare
//! `axum::serve`, so that nothing a client does without credentials can exhaust the process:
//! - a header-read timeout (also the idle keep-alive timeout: hyper starts it whenever a
//!   connection waits for a request head) and a cap on the head's size;
//! - a cap on open connections, kept below the open-file limit: a connection beyond it is
//!   not accepted until another closes (it waits in the listen backlog), so a flood never
//!   makes `accept` fail for everyone else;
//! - a cap on requests in flight (503 + `Retry-After` beyond it) and a request timeout
//!   (request head to response head); a server-sent events stream is bounded by its own
//!   maximum life once its head is sent, so its heartbeats keep flowing;
//! - graceful shutdown that waits a bounded time for open connections.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::api::app;
use crate::app::State;
use crate::error::ApiError;
use crate::limits::Limits;

/// Largest request head accepted (request line and headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long shutdown waits for open connections (streams never end on their own).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Connection counts, for tests and the abuse check.
#[derive(Debug, Default)]
pub struct ConnStats {
    active: AtomicUsize,
    high_water: AtomicUsize,
    accepted: AtomicUsize,
}

impl ConnStats {
    /// Connections open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
    /// Most connections ever open at once.
    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::SeqCst)
    }
    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    fn opened(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.high_water.fetch_max(now, Ordering::SeqCst);
    }
    fn closed(&self) {
        self.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves every route until `shutdown` resolves, with the limits of the state's config.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: State,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    serve_router(
        listener,
        app(state),
        &limits,
        Arc::new(ConnStats::default()),
        shutdown,
    )
    .await
}

/// Serves `router` with `limits` until `shutdown` resolves, counting connections in `stats`.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &Limits,
    stats: Arc<ConnStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = guarded(router, limits);
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let (closing_tx, closing_rx) = watch::channel(());
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    'serve: loop {
        // A free slot first: beyond the cap, connections wait in the kernel's backlog.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break 'serve,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break 'serve,
            },
        };
        let (stream, peer) = loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break 'serve,
                accepted = listener.accept() => match accepted {
                    Ok(a) => break a,
                    Err(e) => accept_failed(&e).await,
                },
            }
        };
        let _ = stream.set_nodelay(true);
        stats.opened();
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req)
        });
        let builder = builder.clone();
        let stats = stats.clone();
        let mut closing = closing_rx.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.as_mut().await;
                }
            }
            stats.closed();
            drop(slot);
        });
    }
    drop(listener);
    drop(closing_tx);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = stats.active(),
            "shutdown: connections still open after the grace period"
        );
    }
    Ok(())
}

/// Accept errors are per connection (reset before accept) or resource exhaustion (file
/// limit): neither ends the server; the latter backs off briefly.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::warn!(error = %e, "accept failed; backing off");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[derive(Clone)]
struct Guard {
    in_flight: Arc<Semaphore>,
    request_timeout: Duration,
    stream_max: Duration,
}

/// `router` behind the in-flight cap, the request timeout and the stream life bound.
pub fn guarded(router: Router, limits: &Limits) -> Router {
    let guard = Guard {
        in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
        request_timeout: limits.request_timeout,
        stream_max: limits.stream_max,
    };
    router.layer(axum::middleware::from_fn_with_state(guard, guard_request))
}

fn unavailable(detail: &str) -> Response {
    let mut resp = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, detail).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

async fn guard_request(
    axum::extract::State(g): axum::extract::State<Guard>,
    req: Request,
    next: Next,
) -> Response {
    let Ok(permit) = g.in_flight.clone().try_acquire_owned() else {
        return unavailable("Server busy, retry shortly");
    };
    let resp = match tokio::time::timeout(g.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("request timed out");
            return unavailable("Request timed out");
        }
    };
    drop(permit);
    let streaming = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !streaming {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let end = tokio::time::sleep(g.stream_max);
    let body = Body::from_stream(body.into_data_stream().take_until(end));
    Response::from_parts(parts, body)
}
