//! Accepts TCP connections until shutdown, each in its own task: admits it under the
//! connection limits ([`super::admission`]), completes TLS when the port speaks it, and hands
//! it to [`super::connection`].
//!
//! Answers before HTTP: 503 over `--max-connections`, 429 over `--max-connections-per-ip`
//! (both with `Retry-After`; on a TLS port these connections are closed instead, as an HTTP
//! answer in clear text would not reach a TLS client), 429 over `--connect-rate-per-ip`
//! (written at once, no task, no wait: a flood costs an accept and a write), and 400 for plain
//! HTTP sent to a TLS port. A TLS handshake must complete within the handshake timeout.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::Front;
use super::access::ConnInfo;
use super::admission::{Admission, Refused};
use super::connection;
use crate::net::stopping;

/// The first byte of a TLS record carrying a handshake.
const TLS_HANDSHAKE: u8 = 0x16;
/// The answer to a connection over the rate of its address, written without waiting.
const TOO_FAST: &str = concat!(
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\n",
    "Content-Length: 54\r\nConnection: close\r\n\r\n",
    "too many new connections from your address: slow down\n"
);

/// Runs the accept loop; `tls` makes the port speak https and wss only.
pub async fn accept_loop(
    listener: TcpListener,
    front: Arc<Front>,
    admission: Arc<Admission>,
    tls: Option<TlsAcceptor>,
) {
    let shutdown = stopping(front.shared.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // A trusted proxy carries many clients: it takes a slot in the total only, and each
        // upgrade it forwards is counted against the client it names (see `http::websocket`).
        let via_proxy = front.proxies.trusts(addr.ip());
        let admitted = if via_proxy { admission.admit_proxy() } else { admission.admit(addr.ip()) };
        let slot = match admitted {
            Ok(slot) => slot,
            Err(Refused::TooFast) => {
                // Under a connection flood, answer without a task or a wait: what the socket
                // takes at once, then close. (The client may see a reset instead.)
                tracing::debug!(%addr, "connections from one address too fast");
                if tls.is_none() {
                    let _ = stream.try_write(TOO_FAST.as_bytes());
                }
                drop(stream);
                continue;
            }
            Err(_) if tls.is_some() => {
                drop(stream);
                continue;
            }
            Err(Refused::Full) => {
                let body = "server at its connection limit, try again later\n";
                tokio::spawn(refuse(stream, "503 Service Unavailable", body, true));
                continue;
            }
            Err(Refused::TooManyFromAddress) => {
                tracing::debug!(%addr, limit = admission.max_per_ip(), "too many connections from one address");
                let body = "too many connections from your address, try again later\n";
                tokio::spawn(refuse(stream, "429 Too Many Requests", body, true));
                continue;
            }
        };
        // Inputs and snapshots are latency-bound; never wait to coalesce them.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%addr, "set_nodelay failed: {e}");
        }
        // A bounded kernel send buffer: a client that stops reading blocks our writes within
        // one keyframe, so it is dropped after the write timeout instead of soaking up
        // megabytes of stale snapshots (loopback autotunes to 4 MB).
        if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(front.shared.limits.send_buffer_bytes) {
            tracing::debug!(%addr, "SO_SNDBUF failed: {e}");
        }
        let conn = ConnInfo { addr, slot: Arc::new(slot), tls: tls.is_some(), via_proxy };
        let front = front.clone();
        match tls.clone() {
            None => tokio::spawn(connection::serve(stream, conn, front)),
            Some(acceptor) => tokio::spawn(serve_tls(stream, acceptor, conn, front)),
        };
    }
    tracing::info!("stopped accepting connections");
}

/// Completes the TLS handshake in time, then serves HTTP over it. Plain HTTP gets a 400 in
/// clear text naming the https URL scheme.
async fn serve_tls(stream: TcpStream, acceptor: TlsAcceptor, conn: ConnInfo, front: Arc<Front>) {
    let timeout = front.shared.limits.handshake_timeout;
    let mut first = [0u8; 1];
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {}
        Ok(Ok(1)) => {
            refuse(stream, "400 Bad Request", "this port speaks HTTPS: use https:// and wss://\n", false).await;
            return;
        }
        _ => return,
    }
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => connection::serve(tls, conn, front).await,
        Ok(Err(e)) => tracing::debug!(addr = %conn.addr, "TLS handshake failed: {e}"),
        Err(_) => tracing::debug!(addr = %conn.addr, "TLS handshake timed out"),
    }
}

/// Answers a connection with a short response outside hyper (it holds no slot) and closes it.
async fn refuse(mut stream: TcpStream, status: &str, body: &str, retry: bool) {
    let retry = if retry { "Retry-After: 5\r\n" } else { "" };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response.as_bytes())).await {
        linger_close(stream).await;
    }
}

/// Ends a connection after an error response without losing that response: closing a socket
/// with unread input makes the kernel send RST, which can destroy the response in flight. So
/// send FIN first, then read and discard what the peer still sends, briefly and boundedly.
async fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let mut sink = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_too_fast_answer_is_well_formed() {
        let (head, body) = TOO_FAST.split_once("\r\n\r\n").expect("a head and a body");
        let length = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).expect("a length");
        assert_eq!(length.parse::<usize>().expect("a number"), body.len());
    }
}
