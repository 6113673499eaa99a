//! The attached exec stream: `POST /exec/{id}/start` with `Connection: Upgrade` hands the
//! connection over (pouchd answers `101 UPGRADED`), after which the client writes stdin and reads
//! stdout/stderr multiplexed in Docker's 8-byte frames. Shutting the write side down (a TCP-style
//! half-close of the unix socket) is how the process's stdin gets EOF.

use anyctr_core::model::{ExecStdin, OutputChunk, OutputStream};
use anyctr_core::{Error, Result};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use crate::client::{self, Client};

/// Output chunks waiting for a slow reader before the reading task pauses.
const OUTPUT_QUEUE: usize = 64;

/// A started, attached exec.
pub struct Attached {
    /// Present when the exec was created with `AttachStdin`.
    pub stdin: Option<ExecStdin>,
    pub output: BoxStream<'static, Result<OutputChunk>>,
    /// Becomes `true` once pouchd closed the stream: it does so when the exec's process has exited
    /// (it closes the process's IO on exit, even if a background child still holds the pipe).
    pub closed: watch::Receiver<bool>,
}

/// Starts exec `exec_id` attached and takes over the connection.
pub async fn start(client: &Client, exec_id: &str, open_stdin: bool) -> Result<Attached> {
    let path = format!("/exec/{}/start", client::encode_segment(exec_id));
    let body = serde_json::json!({ "Detach": false, "Tty": false });
    let headers = [("content-type", "application/json"), ("connection", "Upgrade"), ("upgrade", "tcp")];
    let response = client.call(Method::POST, &path, &headers, client::json_body(&body)).await?;
    let (closed_tx, closed) = watch::channel(false);
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upgraded = tokio::time::timeout(client.call_timeout(), hyper::upgrade::on(response))
            .await
            .map_err(|_| Error::timeout("exec start", client.call_timeout()))?
            .map_err(|e| client::unavailable("taking over the exec connection failed", e))?;
        let (read, write) = tokio::io::split(TokioIo::new(upgraded));
        let stdin: Option<ExecStdin> = if open_stdin { Some(Box::pin(write)) } else { None };
        let output = spawn_reader(read, closed_tx);
        return Ok(Attached { stdin, output, closed });
    }
    // A daemon that does not upgrade sends the same multiplexed stream as the body; there is no
    // way to write stdin then.
    let body = response.into_body().into_data_stream().map(|r| r.map_err(std::io::Error::other));
    let output = spawn_reader(tokio_util::io::StreamReader::new(body), closed_tx);
    if open_stdin {
        return Err(Error::unexpected("pouchd did not upgrade the exec connection, so stdin cannot be written"));
    }
    Ok(Attached { stdin: None, output, closed })
}

/// Reads the connection on a task of its own, so the exit can be observed (stream closed) even
/// when nobody reads the output; output for a reader that went away is dropped.
fn spawn_reader<R>(mut read: R, closed: watch::Sender<bool>) -> BoxStream<'static, Result<OutputChunk>>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<OutputChunk>>(OUTPUT_QUEUE);
    tokio::spawn(async move {
        let mut demux = Demux::default();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => {
                    for chunk in demux.push(&buf[..n]) {
                        // A dropped receiver is fine: keep reading until pouchd closes.
                        let _ = tx.send(Ok(chunk)).await;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(client::unavailable("reading the exec stream failed", e))).await;
                    break;
                }
            }
        }
        if demux.pending_header() > 0 {
            tracing::debug!(bytes = demux.pending_header(), "pouch exec stream ended inside a frame header");
        }
        let _ = closed.send(true);
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

/// Splits Docker's multiplexed stream (`[stream, 0, 0, 0, len: u32 BE]` + payload) into chunks,
/// passing payload on as it arrives rather than waiting for whole frames. A stream that does not
/// start with a valid header is taken as raw stdout (a TTY exec).
#[derive(Debug, Default)]
pub struct Demux {
    header: BytesMut,
    /// The stream of the frame being read and the payload bytes still to come.
    current: Option<(Option<OutputStream>, usize)>,
    raw: bool,
}

impl Demux {
    pub fn push(&mut self, mut data: &[u8]) -> Vec<OutputChunk> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.raw {
                out.push(OutputChunk { stream: OutputStream::Stdout, data: Bytes::copy_from_slice(data) });
                break;
            }
            match self.current {
                Some((stream, remaining)) => {
                    let take = remaining.min(data.len());
                    if let Some(stream) = stream {
                        out.push(OutputChunk { stream, data: Bytes::copy_from_slice(&data[..take]) });
                    }
                    data = &data[take..];
                    self.current = (remaining > take).then_some((stream, remaining - take));
                }
                None => {
                    let need = 8 - self.header.len();
                    let take = need.min(data.len());
                    self.header.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.header.len() < 8 {
                        break;
                    }
                    let h = std::mem::take(&mut self.header);
                    if h[0] > 3 || h[1..4] != [0, 0, 0] {
                        self.raw = true;
                        out.push(OutputChunk { stream: OutputStream::Stdout, data: h.freeze() });
                        continue;
                    }
                    let stream = match h[0] {
                        1 => Some(OutputStream::Stdout),
                        // 3 is Docker's "system error" stream: surface it where errors go.
                        2 | 3 => Some(OutputStream::Stderr),
                        _ => None,
                    };
                    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
                    self.current = (len > 0).then_some((stream, len));
                }
            }
        }
        out
    }

    /// Header bytes received but not yet a whole header.
    pub fn pending_header(&self) -> usize {
        self.header.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(d: &mut Demux, parts: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        for p in parts {
            for c in d.push(p) {
                match c.stream {
                    OutputStream::Stdout => o.extend_from_slice(&c.data),
                    OutputStream::Stderr => e.extend_from_slice(&c.data),
                }
            }
        }
        (o, e)
    }

    #[test]
    fn frames_split_anywhere_demux_the_same() {
        let wire = b"\x02\x00\x00\x00\x00\x00\x00\terr-line\n\x01\x00\x00\x00\x00\x00\x00\tout-line\n\x01\x00\x00\x00\x00\x00\x00\x00";
        for cut in 0..wire.len() {
            let mut d = Demux::default();
            let (o, e) = collect(&mut d, &[&wire[..cut], &wire[cut..]]);
            assert_eq!((o.as_slice(), e.as_slice()), (&b"out-line\n"[..], &b"err-line\n"[..]), "cut {cut}");
            assert_eq!(d.pending_header(), 0);
        }
        let mut d = Demux::default();
        let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(collect(&mut d, &bytewise).0, b"out-line\n");
    }

    #[test]
    fn unframed_stream_is_raw_stdout() {
        let mut d = Demux::default();
        let (o, e) = collect(&mut d, &[b"hello ", b"world"]);
        assert_eq!(o, b"hello world");
        assert!(e.is_empty());
    }
}
