//! The HTTP/1.1 we speak before a WebSocket upgrade: read one request head, write one small
//! response. Enough for static files and the upgrade; no request bodies, no chunking.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head accepted (answered 431 beyond).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most headers in a request.
const MAX_HEADERS: usize = 48;

/// A parsed request head.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// Minor HTTP version: 1 for HTTP/1.1.
    pub minor_version: u8,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token`, case-insensitively.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the client wants the connection kept open after the response.
    pub fn keep_alive(&self) -> bool {
        if self.minor_version == 0 {
            self.header_has_token("connection", "keep-alive")
        } else {
            !self.header_has_token("connection", "close")
        }
    }
}

/// Why no request was read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (or sent nothing) before a request began; not an error.
    Closed,
    /// Head larger than [`MAX_HEAD_BYTES`] (431).
    TooLarge,
    /// Not HTTP (400).
    Malformed,
    /// The head did not arrive in time.
    TimedOut,
}

/// Reads one request head from `stream`, using and refilling `buf`. On success the head's bytes
/// are removed from `buf`; anything after it (a pipelined request, or the first WebSocket
/// frame) stays there.
pub async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>, timeout: Duration) -> Result<Request, ReadError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let request = Request {
                        method: parsed.method.unwrap_or_default().to_owned(),
                        path: parsed.path.unwrap_or("/").split('?').next().unwrap_or("/").to_owned(),
                        minor_version: parsed.version.unwrap_or(1),
                        headers: parsed
                            .headers
                            .iter()
                            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                            .collect(),
                    };
                    buf.drain(..len);
                    return Ok(request);
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => return Err(ReadError::TooLarge),
                Err(_) => return Err(ReadError::Malformed),
            }
        }
        if buf.len() >= MAX_HEAD_BYTES {
            return Err(ReadError::TooLarge);
        }
        let mut chunk = [0u8; 2048];
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) if buf.is_empty() => return Err(ReadError::Closed),
            Err(_) => return Err(ReadError::TimedOut),
            Ok(Err(_)) | Ok(Ok(0)) if buf.is_empty() => return Err(ReadError::Closed),
            Ok(Err(_)) | Ok(Ok(0)) => return Err(ReadError::Malformed),
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A complete small response.
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Length and Connection are added).
    pub headers: Vec<(&'static str, String)>,
    /// Body (not sent for HEAD).
    pub body: &'a [u8],
}

impl<'a> Response<'a> {
    /// A plain-text response with a short explanation.
    pub fn text(status: u16, body: &'a str) -> Self {
        Response { status, headers: vec![("Content-Type", "text/plain; charset=utf-8".into())], body: body.as_bytes() }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response; `head_only` for HEAD requests, `keep_alive` decides `Connection`.
    pub async fn write(&self, stream: &mut TcpStream, head_only: bool, keep_alive: bool) -> std::io::Result<()> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        out.push_str(if keep_alive { "Connection: keep-alive\r\n\r\n" } else { "Connection: close\r\n\r\n" });
        let mut bytes = out.into_bytes();
        if !head_only {
            bytes.extend_from_slice(self.body);
        }
        stream.write_all(&bytes).await?;
        stream.flush().await
    }
}

/// Ends a connection after an error response without losing that response: closing a socket
/// with unread input makes the kernel send RST, which can destroy the response in flight. So
/// send FIN first, then read and discard what the peer still sends, briefly and boundedly.
pub async fn linger_close(mut stream: TcpStream) {
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

fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}
