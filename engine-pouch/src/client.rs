//! The pouchd client: the shared HTTP/1.1-over-unix-socket transport of
//! [`anyctr_docker_api::http`] (one connection per request, upgrades for hijacked exec streams),
//! every path under `/v1.24` (the API version pouchd serves; generated Docker clients send newer or
//! unversioned paths and strict models, see `models`), calls bounded by the call timeout, and
//! pouch's table from status and message to [`ErrorKind`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyctr_core::{Error, ErrorKind, Result};
use anyctr_docker_api::http::UnixHttp;
pub use anyctr_docker_api::http::{Body, BoxError, empty, json_body, stream_body};
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::ENGINE;

/// The API version pouchd 1.x serves.
pub const API_VERSION: &str = "1.24";

/// Percent-encodes a file path as a query value (`?path=`; `/` kept).
pub fn encode_query(value: &str) -> String {
    anyctr_docker_api::encode::path_value(value)
}

/// Percent-encodes one path segment (container names, exec ids).
pub fn encode_segment(value: &str) -> String {
    anyctr_docker_api::encode::component(value)
}

#[derive(Debug, Clone)]
pub struct Client {
    http: UnixHttp,
    call_timeout: Duration,
}

impl Client {
    pub fn new(socket: PathBuf, call_timeout: Duration) -> Self {
        Client { http: UnixHttp::new(socket, "pouchd", ENGINE), call_timeout }
    }

    pub fn socket(&self) -> &Path {
        self.http.socket()
    }

    pub fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// Sends one request on a fresh connection and returns the response head with its body
    /// unread. `path` is the API path without the version prefix (`/containers/json?all=1`).
    /// A `101` response can be taken over with `hyper::upgrade::on`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        self.http.send(method, &format!("/v{API_VERSION}{path}"), headers, body).await
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
        let body = read_body(response.into_body(), self.call_timeout).await.unwrap_or_default();
        status_error(status, &body)
    }
}

/// Reads a whole body, bounded by `timeout`.
pub async fn read_body(body: Incoming, timeout: Duration) -> Result<Bytes> {
    anyctr_docker_api::http::read_body(body, timeout, ENGINE).await
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| {
        let sample = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
        Error::unexpected(format!("pouchd's answer to {what} is not the JSON expected: {e}; body starts {sample:?}"))
            .with_source(e)
    })
}

/// What pouchd says of a container that is not running (a kill of an exited one, say).
const NOT_RUNNING: &str = "not running";

/// Whether `err` is pouchd saying the container is not running.
pub fn says_not_running(err: &Error) -> bool {
    err.kind() == ErrorKind::Conflict && err.message().to_ascii_lowercase().contains(NOT_RUNNING)
}

/// Maps a status and pouch's error message to an error kind (pouch's one table). pouchd answers many state
/// conflicts and missing paths with a bare 500, so the message decides there.
pub fn status_error(status: StatusCode, body: &[u8]) -> Error {
    let message = anyctr_docker_api::http::error_message(body);
    let lower = message.to_ascii_lowercase();
    let kind = match status.as_u16() {
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        400 => ErrorKind::InvalidArgument,
        401 | 403 => ErrorKind::PermissionDenied,
        _ if lower.contains(NOT_RUNNING) || lower.contains("is paused") || lower.contains("already in use") => {
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

pub fn unavailable(what: &str, e: impl Into<BoxError>) -> Error {
    anyctr_docker_api::http::unavailable(ENGINE, what, e)
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
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("/a b/c&d"), "/a%20b/c%26d");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
    }
}
