//! A small HTTP/1.1 client for pouchd over its unix socket.
//!
//! One connection per request: pouchd's socket is local, so connecting is cheap, and a fresh
//! connection keeps upgraded (hijacked) exec streams and long event streams independent of
//! ordinary calls. Every path is sent under `/v1.24`, the API version pouchd serves; generated
//! Docker clients send newer or unversioned paths and strict models (see `models`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyctr_core::{Error, ErrorKind, Result};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::ENGINE;

/// The API version pouchd 1.x serves.
pub const API_VERSION: &str = "1.24";

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body: empty, a buffer, or a stream (archives, image tarballs).
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed_unsync()
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn json_body(value: &serde_json::Value) -> Body {
    full(serde_json::to_vec(value).unwrap_or_default())
}

pub fn stream_body(stream: anyctr_core::ByteStream) -> Body {
    let frames = stream.map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError);
    BodyExt::boxed_unsync(StreamBody::new(frames))
}

/// Percent-encodes a query value (paths in `?path=` may hold anything).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Percent-encodes one path segment (container names, exec ids).
pub fn encode_segment(value: &str) -> String {
    encode_query(value).replace('/', "%2F")
}

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    call_timeout: Duration,
}

impl Client {
    pub fn new(socket: PathBuf, call_timeout: Duration) -> Self {
        Client { socket, call_timeout }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// Sends one request on a fresh connection and returns the response head with its body
    /// unread. `path` is the API path without the version prefix (`/containers/json?all=1`).
    /// Upgrades are enabled, so a `101` response can be taken over with `hyper::upgrade::on`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        let stream = tokio::net::UnixStream::connect(&self.socket).await.map_err(|e| connect_error(&self.socket, e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
            .await
            .map_err(|e| unavailable("HTTP handshake with pouchd failed", e))?;
        let (conn_result_tx, conn_result) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            // Ends when the response (or the upgraded stream) is done with the connection; its
            // error explains a request that was cancelled because the connection failed.
            let _ = conn_result_tx.send(conn.with_upgrades().await);
        });
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            // Go's HTTP/1.1 server refuses requests without a Host header.
            .header(http::header::HOST, "pouchd");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(body).map_err(|e| Error::invalid_argument(format!("bad request {path}: {e}")))?;
        match sender.send_request(request).await {
            Ok(response) => Ok(response),
            Err(e) if e.is_canceled() => match tokio::time::timeout(Duration::from_secs(1), conn_result).await {
                Ok(Ok(Err(conn_error))) => Err(self.request_error(conn_error)),
                _ => Err(self.request_error(e)),
            },
            Err(e) => Err(self.request_error(e)),
        }
    }

    fn request_error(&self, e: hyper::Error) -> Error {
        if e.is_parse() {
            // Somebody answers, but not in HTTP/1.1 (containerd's gRPC socket, say): not pouchd.
            let message = format!("{} does not answer HTTP/1.1 like pouchd: {e}", self.socket.display());
            Error::invalid_argument(message).with_engine(ENGINE).with_source(e)
        } else {
            unavailable("request to pouchd failed", e)
        }
    }

    /// [`send`](Self::send) bounded by the call timeout; non-2xx answers become errors.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        let response = tokio::time::timeout(self.call_timeout, self.send(method, path, headers, body))
            .await
            .map_err(|_| Error::timeout("pouchd call", self.call_timeout))??;
        if response.status().is_success() || response.status() == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(response);
        }
        Err(self.error_from(response).await)
    }

    /// A call whose whole answer is read (bounded by the call timeout).
    pub async fn call_bytes(&self, method: Method, path: &str, body: Body) -> Result<(StatusCode, Bytes)> {
        let headers: &[(&str, &str)] =
            if method == Method::GET || method == Method::HEAD { &[] } else { &[("content-type", "application/json")] };
        let response = self.call(method, path, headers, body).await?;
        let status = response.status();
        let bytes = read_body(response.into_body(), self.call_timeout).await?;
        Ok((status, bytes))
    }

    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let (_, bytes) = self.call_bytes(Method::GET, path, empty()).await?;
        parse_json(&bytes, path)
    }

    pub async fn post_json<T: DeserializeOwned>(&self, path: &str, body: &serde_json::Value) -> Result<T> {
        let (_, bytes) = self.call_bytes(Method::POST, path, json_body(body)).await?;
        parse_json(&bytes, path)
    }

    /// Turns a non-2xx response into an error, reading pouch's `{"message": …}` body.
    pub async fn error_from(&self, response: Response<Incoming>) -> Error {
        let status = response.status();
        let body = tokio::time::timeout(self.call_timeout, response.into_body().collect())
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        status_error(status, &body)
    }
}

/// Reads a whole body, bounded by `timeout`.
pub async fn read_body(body: Incoming, timeout: Duration) -> Result<Bytes> {
    let collected = tokio::time::timeout(timeout, body.collect())
        .await
        .map_err(|_| Error::timeout("reading pouchd's answer", timeout))?
        .map_err(|e| unavailable("reading pouchd's answer failed", e))?;
    Ok(collected.to_bytes())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let sample = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        Error::unexpected(format!("pouchd's answer to {what} is not the JSON expected: {e}; body starts {sample:?}"))
            .with_source(e)
    })
}

/// The daemon's message from an error body: `{"message": …}` or plain text.
pub fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Message {
        message: String,
    }
    match serde_json::from_slice::<Message>(body) {
        Ok(m) => m.message,
        Err(_) => String::from_utf8_lossy(body).trim().to_owned(),
    }
}

/// Maps a status and pouch's error message to an error kind. pouchd answers many state
/// conflicts and missing paths with a bare 500, so the message decides there.
pub fn status_error(status: StatusCode, body: &[u8]) -> Error {
    let message = error_message(body);
    let lower = message.to_ascii_lowercase();
    let kind = match status.as_u16() {
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400 => ErrorKind::InvalidArgument,
        401 | 403 => ErrorKind::PermissionDenied,
        _ if lower.contains("not running") || lower.contains("is paused") || lower.contains("already in use") => {
            ErrorKind::Conflict
        }
        _ if lower.contains("no such file or directory") || lower.contains(": not found") => ErrorKind::NotFound,
        _ if lower.contains("not a directory") || lower.contains("too many") => ErrorKind::InvalidArgument,
        _ if lower.contains("permission denied") => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unexpected,
    };
    let text = if message.is_empty() { format!("pouchd answered {status}") } else { message };
    Error::new(kind, text).with_engine(ENGINE)
}

fn connect_error(socket: &Path, e: std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        // A missing socket file means no daemon, not a missing container.
        _ => ErrorKind::EngineUnavailable,
    };
    Error::new(kind, format!("cannot connect to pouchd at {}: {e}", socket.display()))
        .with_engine(ENGINE)
        .with_source(e)
}

pub fn unavailable(what: &str, e: impl Into<BoxError>) -> Error {
    let e = e.into();
    Error::new(ErrorKind::EngineUnavailable, format!("{what}: {e}")).with_engine(ENGINE).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_table() {
        let cases: &[(u16, &str, ErrorKind)] = &[
            (404, r#"{"message":"container doesnotexist: not found"}"#, ErrorKind::NotFound),
            (500, r#"{"message":"container 408b is not running"}"#, ErrorKind::Conflict),
            (500, r#"{"message":"lstat /x/rootfs/no/such/file: no such file or directory"}"#, ErrorKind::NotFound),
            (500, r#"{"message":"container ab: too many containers"}"#, ErrorKind::InvalidArgument),
            (409, r#"{"message":"name pk already exists"}"#, ErrorKind::Conflict),
            (400, "bad", ErrorKind::InvalidArgument),
            (500, r#"{"message":"boom"}"#, ErrorKind::Unexpected),
        ];
        for (status, body, kind) in cases {
            let e = status_error(StatusCode::from_u16(*status).unwrap(), body.as_bytes());
            assert_eq!(e.kind(), *kind, "{status} {body}");
            assert_eq!(e.engine(), Some("pouch"));
        }
        assert_eq!(error_message(b"404 page not found\n"), "404 page not found");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("/a b/c&d"), "/a%20b/c%26d");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
    }
}
