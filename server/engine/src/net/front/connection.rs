//! One TCP (or TLS) connection before it becomes a game session: hyper's HTTP/1.1 with its
//! caps on the request head and the handshake timeout, serving [`super::http::route`] until
//! the connection closes or upgrades.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::Front;
use super::access::ConnInfo;
use super::http::route;
use crate::net::stopping;

/// Largest request head (request line and headers) accepted; 431 beyond.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers in a request; 431 beyond.
pub const MAX_HEADERS: usize = 48;
/// How long a connection may take to finish its response once the server is shutting down.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Serves HTTP on `io` until it closes, fails, or upgrades (the session then runs in its own
/// task, holding the connection's slot).
pub async fn serve<I>(io: I, conn: ConnInfo, front: Arc<Front>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let addr = conn.addr;
    let conn = Arc::new(conn);
    let service = {
        let front = front.clone();
        service_fn(move |request| route(request, conn.clone(), front.clone()))
    };
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        // Slowloris: the whole head, or the next one on a kept-alive connection, arrives in
        // time or the connection is closed.
        .header_read_timeout(front.shared.limits.handshake_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let shutdown = stopping(front.shared.shutdown.clone());
    tokio::pin!(shutdown);
    let result = tokio::select! {
        result = &mut connection => result,
        _ = &mut shutdown => {
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(SHUTDOWN_GRACE, connection).await.unwrap_or(Ok(()))
        }
    };
    if let Err(e) = result {
        tracing::debug!(%addr, "HTTP connection ended: {e}");
    }
}
