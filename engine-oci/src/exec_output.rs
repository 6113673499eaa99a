//! The plumbing of a runtime exec's session: output read by a task of its own (a caller that only
//! waits still has the runtime's words read, and the runtime never writes into a closed pipe), the
//! first KiB kept to recognize a start failure, and a stdin whose `shutdown` is EOF.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyctr_core::Result;
use anyctr_core::model::OutputChunk;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

/// Output kept to recognize a start failure.
const SNIFF_LEN: usize = 4096;

/// How long a failed exec's wait lets the output reach its end before judging it.
pub const SNIFF_WAIT: Duration = Duration::from_secs(1);

/// Chunks in flight between the reader task and the session.
const FORWARD_DEPTH: usize = 16;

/// The first bytes of an exec's output, and whether it has ended.
#[derive(Default)]
pub struct Sniff {
    bytes: Mutex<Vec<u8>>,
    done: AtomicBool,
}

impl Sniff {
    fn push(&self, data: &[u8]) {
        let mut bytes = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        let room = SNIFF_LEN.saturating_sub(bytes.len());
        bytes.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn full(&self) -> bool {
        self.bytes.lock().unwrap_or_else(|p| p.into_inner()).len() >= SNIFF_LEN
    }

    /// The sniffed text once the output ended (or `within` passed).
    pub async fn text_when_read(&self, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        while !self.done.load(Ordering::Acquire) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Reads `output` in a task, sniffing it, and hands the chunks on. Once the session dropped its
/// output the task reads on only until the sniff is full.
pub fn forward(
    mut output: BoxStream<'static, Result<OutputChunk>>,
    sniff: std::sync::Arc<Sniff>,
) -> BoxStream<'static, Result<OutputChunk>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<OutputChunk>>(FORWARD_DEPTH);
    tokio::spawn(async move {
        let mut receiver_gone = false;
        while let Some(item) = output.next().await {
            if let Ok(chunk) = &item {
                sniff.push(&chunk.data);
            }
            if !receiver_gone {
                receiver_gone = tx.send(item).await.is_err();
            } else if sniff.full() {
                break;
            }
        }
        sniff.done.store(true, Ordering::Release);
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

/// The process's stdin: `shutdown` closes the pipe, so the process sees EOF (tokio's `ChildStdin`
/// closes only when dropped).
pub struct ClosingStdin(pub Option<tokio::process::ChildStdin>);

impl tokio::io::AsyncWrite for ClosingStdin {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.0.as_mut() {
            Some(pipe) => std::pin::Pin::new(pipe).poll_write(cx, buf),
            None => std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.0.as_mut() {
            Some(pipe) => std::pin::Pin::new(pipe).poll_flush(cx),
            None => std::task::Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.0 = None;
        std::task::Poll::Ready(Ok(()))
    }
}
