//! HTTP/1.1 over a unix socket, as dockerd and pouchd serve it.
//!
//! One connection per request: the socket is local, so connecting is cheap, and a fresh
//! connection keeps upgraded (hijacked) exec streams and long event streams independent of
//! ordinary calls. Bounding a call is the caller's (each engine has its own call timeout), as is
//! mapping a non-2xx status to an error kind (one table per engine).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyctr_core::{ByteStream, Error, ErrorKind, Result};
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body: empty, a buffer, or a stream (archives, image tarballs).
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn json_body(value: &serde_json::Value) -> Body {
    full(serde_json::to_vec(value).unwrap_or_default())
}

pub fn stream_body(stream: ByteStream) -> Body {
    let frames = stream.map_ok(Frame::data).map_err(|e| Box::new(e) as BoxError);
    BodyExt::boxed_unsync(StreamBody::new(frames))
}

/// A daemon on a unix socket.
#[derive(Debug, Clone)]
pub struct UnixHttp {
    socket: PathBuf,
    /// The daemon's name in messages (`dockerd`, `pouchd`) and the `Host` header.
    daemon: &'static str,
    /// The engine errors are attributed to.
    engine: &'static str,
}

impl UnixHttp {
    pub fn new(socket: PathBuf, daemon: &'static str, engine: &'static str) -> UnixHttp {
        UnixHttp { socket, daemon, engine }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request on a fresh connection and returns the response head with its body
    /// unread, whatever its status. Upgrades are enabled, so a `101` response can be taken over
    /// with `hyper::upgrade::on`. Unbounded: the caller bounds it.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Response<Incoming>> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| anyctr_core::socket_check::connect_error(&self.socket, e).with_engine(self.engine))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
            .await
            .map_err(|e| unavailable(self.engine, &format!("HTTP handshake with {} failed", self.daemon), e))?;
        let (conn_result_tx, conn_result) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            // Ends when the response (or the upgraded stream) is done with the connection; its
            // error explains a request that was cancelled because the connection failed.
            let _ = conn_result_tx.send(conn.with_upgrades().await);
        });
        let mut request = Request::builder()
            .method(method)
            .uri(path_and_query)
            // Go's HTTP/1.1 server refuses requests without a Host header.
            .header(http::header::HOST, self.daemon);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(body).map_err(|e| {
            Error::invalid_argument(format!("bad request {path_and_query}: {e}")).with_engine(self.engine)
        })?;
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
        if e.is_parse() || spoke_first(&e) {
            // Somebody answers, but not in HTTP/1.1 (containerd's gRPC socket, say).
            let message = format!("{} does not answer HTTP/1.1 like {}: {e}", self.socket.display(), self.daemon);
            Error::invalid_argument(message).with_engine(self.engine).with_source(e)
        } else {
            unavailable(self.engine, &format!("request to {} failed", self.daemon), e)
        }
    }
}

/// Whether the server sent bytes before any answer was due (containerd's gRPC socket sends its
/// HTTP/2 settings at once): no HTTP/1.1 server speaks first. Depending on whether hyper reads
/// those bytes before or after writing the request, it reports a parse error or "received
/// unexpected message from connection" (for which hyper has no predicate, hence its words).
fn spoke_first(e: &hyper::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains("unexpected message") {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Reads a whole body for `engine`, bounded by `timeout`.
pub async fn read_body(body: Incoming, timeout: Duration, engine: &'static str) -> Result<Bytes> {
    let collected = tokio::time::timeout(timeout, body.collect())
        .await
        .map_err(|_| Error::timeout("reading the daemon's answer", timeout).with_engine(engine))?
        .map_err(|e| unavailable(engine, "reading the daemon's answer failed", e))?;
    Ok(collected.to_bytes())
}

/// `EngineUnavailable` for `engine`: talking to its daemon failed (`what`, then the cause).
pub fn unavailable(engine: &'static str, what: &str, e: impl Into<BoxError>) -> Error {
    let e = e.into();
    Error::new(ErrorKind::EngineUnavailable, format!("{what}: {e}")).with_engine(engine).with_source(e)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages() {
        assert_eq!(error_message(br#"{"message":"No such container: x"}"#), "No such container: x");
        assert_eq!(error_message(b"404 page not found\n"), "404 page not found");
    }

    #[tokio::test]
    async fn a_missing_socket_is_engine_unavailable() {
        let http = UnixHttp::new("/nonexistent/anyctr-test.sock".into(), "dockerd", "docker");
        let e = http.send(Method::GET, "/version", &[], empty()).await.unwrap_err();
        assert_eq!((e.kind(), e.engine()), (ErrorKind::EngineUnavailable, Some("docker")), "{e}");
    }

    /// A server on a fresh socket that answers every connection with `garbage`, sent at once or
    /// after reading the request, and keeps it open for a while. Returns the client for it.
    async fn not_http_server(name: &str, garbage: &'static [u8], first: bool) -> (UnixHttp, std::path::PathBuf) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = std::env::temp_dir().join(format!("anyctr-http-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("s.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if !first {
                        let _ = s.read(&mut [0u8; 1024]).await;
                    }
                    let _ = s.write_all(garbage).await;
                    tokio::time::sleep(Duration::from_secs(2)).await;
                });
            }
        });
        (UnixHttp::new(socket, "pouchd", "pouch"), dir)
    }

    #[tokio::test]
    async fn a_server_that_speaks_first_is_refused_as_not_http() {
        // An HTTP/2 settings frame, sent before any request (as gRPC servers do).
        let (http, dir) = not_http_server("first", b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", true).await;
        for delay_ms in [0, 50] {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let e = http.send(Method::GET, "/v1.24/version", &[], empty()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_server_that_is_not_http_is_refused_as_such() {
        let (http, dir) = not_http_server("answer", b"\x00\x00\x18\x04garbage, not HTTP\r\n\r\n", false).await;
        let e = http.send(Method::GET, "/v1.24/version", &[], empty()).await.unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.message().contains("does not answer HTTP/1.1 like pouchd"), "{e}");
    }
}
