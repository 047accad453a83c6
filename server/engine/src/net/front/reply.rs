//! The answers the front sends: small in-memory bodies (text, JSON, a refused upgrade) and the
//! headers an answer may add.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use super::upgrade::Refusal;

/// A response with a small in-memory body.
pub type HttpResponse = Response<Full<Bytes>>;

/// The HTTP answer for a refused upgrade.
pub fn refused(refusal: Refusal) -> HttpResponse {
    let mut response = text(refusal.status, &refusal.body);
    for (name, value) in refusal.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// A plain-text response.
pub fn text(status: StatusCode, message: &str) -> HttpResponse {
    body(status, "text/plain; charset=utf-8", Bytes::copy_from_slice(message.as_bytes()))
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> HttpResponse {
    body(status, "application/json", serde_json::to_vec(value).unwrap_or_default().into())
}

/// A response of `content_type`.
pub fn body(status: StatusCode, content_type: &'static str, bytes: Bytes) -> HttpResponse {
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A refused upgrade's answer: its client sends no other request on this connection.
pub fn closing(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Headers an answer may add.
pub trait ResponseExt {
    /// Adds `Allow`.
    fn with_allow(self, methods: &'static str) -> Self;
    /// Adds `Cache-Control: no-store`.
    fn no_store(self) -> Self;
    /// Adds `Retry-After`.
    fn with_retry_after(self, seconds: &'static str) -> Self;
}

impl ResponseExt for HttpResponse {
    fn with_retry_after(mut self, seconds: &'static str) -> Self {
        self.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        self
    }

    fn with_allow(mut self, methods: &'static str) -> Self {
        self.headers_mut().insert(header::ALLOW, HeaderValue::from_static(methods));
        self
    }

    fn no_store(mut self) -> Self {
        self.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self
    }
}
