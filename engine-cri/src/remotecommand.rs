//! Streaming exec through CRI's `Exec`: the runtime answers with a URL of its streaming server;
//! this client upgrades an HTTP/1.1 connection to it to SPDY/3.1 ([`crate::spdy`]) and speaks
//! the Kubernetes remotecommand protocol `v4.channel.k8s.io` on it: one stream each for error,
//! stdin, stdout and stderr (no tty, so no resize stream). stdin is half-closed with FIN when the
//! caller shuts its writer down; the error stream carries the end as a `metav1.Status` JSON:
//! `Success`, `NonZeroExitCode` with the code as the cause `ExitCode`, or the runtime's words for
//! an exec that could not start.
//!
//! What the protocol cannot do: end the process. CRI has no call for it and the streaming server
//! keeps running the exec when the connection closes (containerd 1.6 runs it on a context of its
//! own), so [`ExecControl::kill`] closes the connection and answers `Unsupported`, and the engine
//! does not claim `exec_kill`. A `tls` streaming server (`https://` URLs) is not spoken.

use anyctr_core::exec_failure::runtime_message_kind;
use anyctr_core::model::{ExecControl, ExecSession, ExecStdin, OutputChunk, OutputStream};
use anyctr_core::{Error, ErrorKind, Result};
use anyctr_engine_containerd::Client;
use bytes::BytesMut;
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::api::Cri;
use crate::spdy::{self, Frame};

/// The remotecommand protocol version asked for (the server picks among those offered).
const PROTOCOL: &str = "v4.channel.k8s.io";
/// Client stream ids (odd, in the order opened).
const ERROR: u32 = 1;
const STDIN: u32 = 3;
const STDOUT: u32 = 5;
const STDERR: u32 = 7;
/// The most of an HTTP response head read before the upgrade is refused.
const HEAD_LIMIT: usize = 16 << 10;
/// The most of the error stream kept (a Status is a few hundred bytes).
const STATUS_LIMIT: usize = 64 << 10;
/// stdin is sent in pieces of this size.
const STDIN_PIECE: usize = 32 << 10;

/// Starts `argv` in container `id` (a full CRI id) through `Exec` and the streaming server.
pub async fn exec_stream(
    client: &Client,
    cri: &Cri,
    id: &str,
    argv: Vec<String>,
    open_stdin: bool,
) -> Result<ExecSession> {
    let req = k8s_cri::v1::ExecRequest {
        container_id: id.to_owned(),
        cmd: argv,
        tty: false,
        stdin: open_stdin,
        stdout: true,
        stderr: true,
    };
    let url = client.call("exec_stream", cri.exec(client.request(None, req))).await?.url;
    let engine = client.engine().to_owned();
    let bound = client.call_timeout();
    let connected = tokio::time::timeout(bound, upgrade(&url)).await;
    let (stream, early) = match connected {
        Ok(r) => r.map_err(|e| e.with_engine(&engine).with_operation("exec_stream"))?,
        Err(_) => return Err(Error::timeout("exec_stream (streaming server upgrade)", bound).with_engine(&engine)),
    };
    let (read, write) = stream.into_split();
    let (frames, frames_rx) = mpsc::channel::<Vec<u8>>(16);
    let mut headers = spdy::HeaderWriter::default();
    let mut open = vec![(ERROR, "error")];
    if open_stdin {
        open.push((STDIN, "stdin"));
    }
    open.extend([(STDOUT, "stdout"), (STDERR, "stderr")]);
    let writer = tokio::spawn(write_frames(write, frames_rx));
    for (stream, kind) in open {
        let syn = headers.syn_stream(stream, &[("streamtype", kind)]);
        frames.send(syn).await.map_err(|_| lost(&engine, "the connection closed while opening streams"))?;
    }
    let (output, output_rx) = mpsc::channel::<Result<OutputChunk>>(16);
    let (outcome, outcome_rx) = oneshot::channel();
    let reader = tokio::spawn(read_frames(read, early, frames.clone(), output, outcome, engine.clone()));
    let (stdin, pump) = if open_stdin {
        let (user, ours) = tokio::io::duplex(STDIN_PIECE * 2);
        (Some(Box::pin(user) as ExecStdin), Some(tokio::spawn(pump_stdin(ours, frames))))
    } else {
        drop(frames);
        (None, None)
    };
    let output = futures_util::stream::unfold(output_rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let control = StreamControl { outcome: Some(outcome_rx), tasks: [Some(writer), Some(reader), pump], engine };
    Ok(ExecSession::new(stdin, Box::pin(output), Box::new(control)))
}

fn lost(engine: &str, what: &str) -> Error {
    Error::new(ErrorKind::EngineUnavailable, format!("CRI streaming exec: {what}"))
        .with_engine(engine)
        .with_operation("exec_stream")
}

/// `http://host:port/path` as the address to dial and the request target.
fn split_url(url: &str) -> Result<(String, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("the runtime's streaming server is at {url:?}; only plain http:// streaming servers are spoken"),
        ));
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    if authority.is_empty() {
        return Err(Error::unexpected(format!("the runtime's streaming URL {url:?} names no host")));
    }
    let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| !port.contains(']'));
    let address = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    Ok((address, path.to_owned()))
}

/// Dials the streaming server and upgrades to SPDY/3.1 with the remotecommand protocol; returns
/// the connection and any bytes read past the response head.
async fn upgrade(url: &str) -> Result<(TcpStream, BytesMut)> {
    let (address, path) = split_url(url)?;
    let mut stream = TcpStream::connect(&address).await.map_err(|e| {
        Error::new(ErrorKind::EngineUnavailable, format!("cannot reach the streaming server {address}: {e}"))
    })?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
         X-Stream-Protocol-Version: {PROTOCOL}\r\nContent-Length: 0\r\n\r\n"
    );
    let io = |e: std::io::Error| Error::new(ErrorKind::EngineUnavailable, format!("streaming server {address}: {e}"));
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await.map_err(io)? == 0 {
            return Err(Error::new(ErrorKind::EngineUnavailable, "the streaming server closed before answering"));
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response.parse(&buf).map_err(|e| Error::unexpected(format!("streaming server answer: {e}")))?;
        match parsed {
            httparse::Status::Partial if buf.len() < HEAD_LIMIT => continue,
            httparse::Status::Partial => return Err(Error::unexpected("streaming server answer head is too long")),
            httparse::Status::Complete(len) => {
                let code = response.code.unwrap_or(0);
                let header = |name: &str| {
                    response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.to_vec())
                };
                let protocol = header("X-Stream-Protocol-Version").unwrap_or_default();
                if code != 101 {
                    let body = String::from_utf8_lossy(&buf[len..]).trim().to_owned();
                    let kind = if code == 404 { ErrorKind::NotFound } else { ErrorKind::Unexpected };
                    return Err(Error::new(
                        kind,
                        format!("the streaming server answered {code} to the upgrade: {body}"),
                    ));
                }
                if protocol != PROTOCOL.as_bytes() {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "the streaming server chose remotecommand protocol {:?}, not {PROTOCOL}",
                            String::from_utf8_lossy(&protocol)
                        ),
                    ));
                }
                let rest = buf.split_off(len);
                return Ok((stream, rest));
            }
        }
    }
}

/// Writes queued frames until every sender is gone, then closes the connection's write side.
async fn write_frames(mut write: OwnedWriteHalf, mut frames: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = frames.recv().await {
        if write.write_all(&frame).await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

/// Sends what the caller writes to stdin as data frames; FIN when the caller shuts it down.
async fn pump_stdin(mut from: tokio::io::DuplexStream, frames: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; STDIN_PIECE];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = frames.send(spdy::data(STDIN, &[], true)).await;
                return;
            }
            Ok(n) => {
                if frames.send(spdy::data(STDIN, &buf[..n], false)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads frames until the connection ends: output to `output`, the status into the outcome.
async fn read_frames(
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    frames: mpsc::Sender<Vec<u8>>,
    output: mpsc::Sender<Result<OutputChunk>>,
    outcome: oneshot::Sender<Result<i64>>,
    engine: String,
) {
    let mut status = Vec::new();
    let mut output = Some(output);
    let mut open_outputs = 2;
    let mut trouble: Option<String> = None;
    'read: loop {
        loop {
            let frame = match spdy::parse(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    trouble = Some(e);
                    break 'read;
                }
            };
            match frame {
                Frame::Data { stream: ERROR, data, .. } => {
                    let room = STATUS_LIMIT.saturating_sub(status.len());
                    status.extend_from_slice(&data[..data.len().min(room)]);
                }
                Frame::Data { stream: which @ (STDOUT | STDERR), fin, data } => {
                    let stream = if which == STDOUT { OutputStream::Stdout } else { OutputStream::Stderr };
                    // A caller that stopped reading (dropped the output) must not stall the status.
                    if !data.is_empty()
                        && let Some(tx) = &output
                        && tx.send(Ok(OutputChunk { stream, data })).await.is_err()
                    {
                        output = None;
                    }
                    if fin {
                        open_outputs -= 1;
                        if open_outputs == 0 {
                            output = None;
                        }
                    }
                }
                Frame::Data { .. } => {}
                Frame::Control { kind: spdy::PING, payload, .. } => {
                    let _ = frames.send(spdy::ping_reply(&payload)).await;
                }
                Frame::Control { kind: spdy::GOAWAY, .. } => break 'read,
                f @ Frame::Control { kind: spdy::RST_STREAM, .. } => {
                    if f.control_stream() == Some(ERROR) {
                        trouble = Some("the streaming server reset the error stream".into());
                        break 'read;
                    }
                }
                Frame::Control { .. } => {}
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                trouble = Some(format!("reading from the streaming server: {e}"));
                break;
            }
        }
    }
    drop(output);
    let result = if status.is_empty() {
        let why = trouble.unwrap_or_else(|| "the streaming server closed without an exit status".into());
        Err(lost(&engine, &why))
    } else {
        exit_from_status(&status).map_err(|e| e.with_engine(&engine).with_operation("exec_stream"))
    };
    let _ = outcome.send(result);
}

/// The exit code from the error stream's `metav1.Status`; an exec that could not start is the
/// error its words name.
fn exit_from_status(raw: &[u8]) -> Result<i64> {
    let status: Value = serde_json::from_slice(raw).map_err(|e| {
        Error::unexpected(format!("the exec's status is not JSON ({e}): {:?}", String::from_utf8_lossy(raw)))
    })?;
    if status.get("status").and_then(Value::as_str) == Some("Success") {
        return Ok(0);
    }
    if status.get("reason").and_then(Value::as_str) == Some("NonZeroExitCode") {
        let causes = status.pointer("/details/causes").and_then(Value::as_array);
        let code = causes
            .into_iter()
            .flatten()
            .find(|c| c.get("reason").and_then(Value::as_str) == Some("ExitCode"))
            .and_then(|c| c.get("message").and_then(Value::as_str))
            .and_then(|m| m.trim().parse::<i64>().ok());
        if let Some(code) = code {
            return Ok(code);
        }
    }
    let message = status.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    let kind = runtime_message_kind(&message).unwrap_or(ErrorKind::Unexpected);
    Err(Error::new(kind, if message.is_empty() { status.to_string() } else { message }))
}

/// The exit comes from the error stream; there is nothing to kill with.
struct StreamControl {
    outcome: Option<oneshot::Receiver<Result<i64>>>,
    /// The frame writer, the frame reader and the stdin pump.
    tasks: [Option<JoinHandle<()>>; 3],
    engine: String,
}

impl StreamControl {
    fn close(&mut self) {
        for task in self.tasks.iter_mut().filter_map(Option::take) {
            task.abort();
        }
    }
}

impl ExecControl for StreamControl {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            let Some(rx) = self.outcome.as_mut() else {
                return Err(Error::unexpected("the exec was already ended").with_operation("exec_stream"));
            };
            let outcome = rx.await;
            self.outcome = None;
            outcome.unwrap_or_else(|_| Err(lost(&self.engine, "the connection's reader ended without a status")))
        })
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        self.close();
        self.outcome = None;
        let engine = self.engine.clone();
        Box::pin(async move {
            Err(Error::new(
                ErrorKind::Unsupported,
                "CRI cannot end an exec's process: the connection is closed, the process runs on",
            )
            .with_engine(engine)
            .with_operation("exec_kill"))
        })
    }

    fn abandon(&mut self) {
        self.close();
    }

    fn release(&mut self) -> BoxFuture<'_, Result<()>> {
        self.close();
        Box::pin(async { Ok(()) })
    }
}

impl Drop for StreamControl {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_target() {
        let (a, p) = split_url("http://127.0.0.1:36789/exec/AbC").unwrap();
        assert_eq!((a.as_str(), p.as_str()), ("127.0.0.1:36789", "/exec/AbC"));
        assert_eq!(split_url("http://[::1]:10010/exec/x").unwrap().0, "[::1]:10010");
        assert_eq!(split_url("http://[::1]/exec/x").unwrap().0, "[::1]:80");
        assert_eq!(split_url("http://node").unwrap(), ("node:80".to_owned(), "/".to_owned()));
        assert_eq!(split_url("https://127.0.0.1:1/exec/x").unwrap_err().kind(), ErrorKind::Unsupported);
        assert!(split_url("http:///exec").is_err());
    }

    #[test]
    fn statuses_give_exit_codes_or_errors() {
        assert_eq!(exit_from_status(br#"{"metadata":{},"status":"Success"}"#).unwrap(), 0);
        let failed = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        assert_eq!(exit_from_status(failed).unwrap(), 3);
        let missing = br#"{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"x\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown","reason":"InternalError","code":500}"#;
        assert_eq!(exit_from_status(missing).unwrap_err().kind(), ErrorKind::CommandNotFound);
        assert!(exit_from_status(b"not json").is_err());
    }
}
