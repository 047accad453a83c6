//! Accepts TCP connections until shutdown, each in its own task, up to a connection limit.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::connection;
use super::http::{Response, linger_close};
use super::{NetContext, stopping};

/// Runs the accept loop. Every connection task holds a permit of `permits`; over the limit, a
/// connection gets 503 and is closed.
pub async fn accept_loop(listener: TcpListener, ctx: Arc<NetContext>, permits: Arc<Semaphore>) {
    let shutdown = stopping(ctx.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, addr)) => {
                // Inputs and snapshots are latency-bound; never wait to coalesce them.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%addr, "set_nodelay failed: {e}");
                }
                // A bounded kernel send buffer: a client that stops reading blocks our writes
                // within one keyframe, so it is dropped after the write timeout instead of
                // soaking up megabytes of stale snapshots (loopback autotunes to 4 MB).
                if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(ctx.limits.send_buffer_bytes) {
                    tracing::debug!(%addr, "SO_SNDBUF failed: {e}");
                }
                match permits.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let ctx = ctx.clone();
                        tokio::spawn(async move {
                            connection::serve(stream, addr, ctx).await;
                            drop(permit);
                        });
                    }
                    Err(_) => {
                        tokio::spawn(refuse_busy(stream));
                    }
                }
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tracing::info!("stopped accepting connections");
}

async fn refuse_busy(mut stream: TcpStream) {
    let response =
        Response::text(503, "server at its connection limit, try again later\n").with_header("Retry-After", "5");
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), response.write(&mut stream, false, false)).await {
        linger_close(stream).await;
    }
}
