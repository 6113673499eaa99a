//! The moving parts of a started exec: its output as a stream, its stdin as a writer whose
//! shutdown is `Tasks.CloseIO`, and its control (wait, kill, abandon) that always ends with
//! `DeleteProcess` so no exec id is left in the task.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use anyctr_core::exec_marker::ExecMarker;
use anyctr_core::model::{ExecControl, OutputChunk, OutputStream, SHIM_OUTPUT_GRACE};
use anyctr_core::{Error, Result};
use bytes::Bytes;
use containerd_client::services::v1::{CloseIoRequest, DeleteProcessRequest, KillRequest, WaitResponse};
use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};
use tonic::Status;

use crate::ContainerdEngine;
use crate::client::{Client, status_error};

const SIGKILL: u32 = 9;
const READ_CHUNK: usize = 64 << 10;

type Waiter = JoinHandle<std::result::Result<WaitResponse, Status>>;

/// Names one exec process.
#[derive(Debug)]
pub struct ExecIds {
    client: Client,
    namespace: String,
    container_id: String,
    exec_id: String,
    /// The engine that runs the reaper, and the exec's marker (see `exec`'s module docs).
    reaper: Option<(ContainerdEngine, ExecMarker)>,
}

impl ExecIds {
    /// SIGKILL to the exec process. A process that is gone already is fine.
    async fn kill(&self) -> Result<()> {
        let c = &self.client;
        let req = KillRequest {
            container_id: self.container_id.clone(),
            exec_id: self.exec_id.clone(),
            signal: SIGKILL,
            all: false,
        };
        match c.call("exec", c.tasks().kill(c.request(Some(&self.namespace), req))).await {
            Err(e) if !gone(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the exec process from the task. dockerd removes exited execs in `moby` by itself,
    /// so a process that is already gone is fine.
    async fn delete(&self) -> Result<()> {
        let c = &self.client;
        let req = DeleteProcessRequest { container_id: self.container_id.clone(), exec_id: self.exec_id.clone() };
        match c.call("exec", c.tasks().delete_process(c.request(Some(&self.namespace), req))).await {
            Err(e) if !gone(&e) => Err(e),
            _ => Ok(()),
        }
    }

    /// Delivers EOF on stdin: the shim holds a write end of the FIFO itself, so only it can close it.
    async fn close_stdin(&self) -> Result<()> {
        let c = &self.client;
        let req =
            CloseIoRequest { container_id: self.container_id.clone(), exec_id: self.exec_id.clone(), stdin: true };
        match c.call("exec", c.tasks().close_io(c.request(Some(&self.namespace), req))).await {
            Err(e) if !gone(&e) => Err(e),
            _ => Ok(()),
        }
    }
}

/// containerd's answers for a process that has exited or was deleted.
fn gone(e: &Error) -> bool {
    use anyctr_core::ErrorKind;
    matches!(e.kind(), ErrorKind::NotFound) || crate::errors::Said::ProcessGone.in_error(e)
}

/// The control half of an exec session.
#[derive(Debug)]
pub struct ExecProcess {
    ids: Arc<ExecIds>,
    waiter: Option<Waiter>,
    exit: Option<i64>,
    /// When the process exited, as the shim reported it.
    exited_at: Option<SystemTime>,
    /// Another client deletes the exited process (dockerd does, for its containers), so the shim
    /// may close the output before a background child is done with it.
    deleted_by_others: bool,
    /// DeleteProcess done (or handed to a background task).
    deleted: bool,
}

/// Slack for the exit time coming from an event envelope (stamped just after the exit).
const EXIT_STAMP_SLACK: Duration = Duration::from_millis(250);

impl ExecProcess {
    pub fn new(
        client: Client,
        namespace: &str,
        container_id: &str,
        exec_id: &str,
        reaper: Option<(ContainerdEngine, ExecMarker)>,
        deleted_by_others: bool,
    ) -> Self {
        let ids = ExecIds {
            client,
            namespace: namespace.to_owned(),
            container_id: container_id.to_owned(),
            exec_id: exec_id.to_owned(),
            reaper,
        };
        ExecProcess { ids: Arc::new(ids), waiter: None, exit: None, exited_at: None, deleted_by_others, deleted: false }
    }

    /// The pending `Tasks.Wait`, issued once Start has answered (see `exec::exit_status`).
    pub fn set_waiter(&mut self, waiter: Waiter) {
        self.waiter = Some(waiter);
    }

    /// What the stdin writer needs to deliver EOF.
    pub fn closer(&self) -> Arc<ExecIds> {
        self.ids.clone()
    }

    /// Drops a process that never started: no wait, just DeleteProcess.
    pub async fn discard(&mut self) {
        if let Some(w) = self.waiter.take() {
            w.abort();
        }
        let _ = self.ids.delete().await;
        self.deleted = true;
    }

    async fn delete_once(&mut self) -> Result<()> {
        if self.deleted {
            return Ok(());
        }
        self.deleted = true;
        self.ids.delete().await
    }
}

/// Kills the process if it has not exited, waits (bounded) until it has, and deletes it.
async fn terminate(ids: &ExecIds, waiter: &mut Option<Waiter>, exited: bool) -> Result<Option<i64>> {
    let mut code = None;
    let mut killed = Ok(());
    if !exited {
        killed = ids.kill().await;
        if let Some(w) = waiter.as_mut()
            && let Ok(Ok(Ok(resp))) = tokio::time::timeout(ids.client.call_timeout(), w).await
        {
            code = Some(i64::from(resp.exit_status));
        }
    }
    if let Some(w) = waiter.take() {
        w.abort();
    }
    let deleted = ids.delete().await;
    if let Some((engine, marker)) = &ids.reaper
        && let Err(e) = Box::pin(engine.reap(&ids.namespace, &ids.container_id, marker)).await
    {
        tracing::debug!(exec_id = %ids.exec_id, error = %e, "reaper exec failed");
    }
    killed.and(deleted).map(|_| code)
}

impl ExecControl for ExecProcess {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            if let Some(code) = self.exit {
                return Ok(code);
            }
            let Some(waiter) = self.waiter.as_mut() else {
                return Err(Error::unexpected("the exec was already ended").with_operation("exec"));
            };
            let outcome = waiter.await;
            self.waiter = None;
            let code = match outcome {
                Ok(Ok(resp)) => {
                    self.exited_at = crate::convert::timestamp(resp.exited_at.as_ref()).map(SystemTime::from);
                    i64::from(resp.exit_status)
                }
                Ok(Err(status)) => {
                    let _ = self.delete_once().await;
                    return Err(status_error(status, self.ids.client.engine(), "exec"));
                }
                Err(join) => {
                    return Err(Error::unexpected(format!("exec wait task failed: {join}")).with_operation("exec"));
                }
            };
            // DeleteProcess waits for `release`: it makes the shim close the output, which a
            // background child of the exec may still be writing to.
            self.exit = Some(code);
            Ok(code)
        })
    }

    fn release(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.delete_once())
    }

    fn output_may_be_cut(&self, output_ended: SystemTime) -> bool {
        if !self.deleted_by_others {
            return false;
        }
        // Without the exit time nothing rules a forced close out.
        self.exited_at.is_none_or(|exited| {
            output_ended.duration_since(exited).is_ok_and(|d| d + EXIT_STAMP_SLACK >= SHIM_OUTPUT_GRACE)
        })
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.deleted {
                return Ok(());
            }
            self.deleted = true;
            let code = terminate(&self.ids, &mut self.waiter, self.exit.is_some()).await?;
            self.exit = self.exit.or(code);
            Ok(())
        })
    }

    fn abandon(&mut self) {
        if self.deleted {
            return;
        }
        self.deleted = true;
        let (ids, mut waiter, exited) = (self.ids.clone(), self.waiter.take(), self.exit.is_some());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = terminate(&ids, &mut waiter, exited).await {
                    tracing::warn!(exec_id = %ids.exec_id, error = %e, "could not end an abandoned exec");
                }
            });
        }
    }
}

/// stdin: bytes go into the FIFO; shutdown closes our end and asks the shim to close its own.
pub struct StdinWriter {
    pipe: Option<pipe::Sender>,
    closer: Option<Arc<ExecIds>>,
    closing: Option<BoxFuture<'static, Result<()>>>,
}

impl StdinWriter {
    pub fn new(pipe: pipe::Sender, closer: Arc<ExecIds>) -> Self {
        StdinWriter { pipe: Some(pipe), closer: Some(closer), closing: None }
    }
}

impl AsyncWrite for StdinWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.pipe.as_mut() {
            Some(p) => Pin::new(p).poll_write(cx, buf),
            None => Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdin is closed"))),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.pipe.as_mut() {
            Some(p) => Pin::new(p).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe = None;
        if self.closing.is_none() {
            let Some(ids) = self.closer.take() else {
                return Poll::Ready(Ok(()));
            };
            self.closing = Some(Box::pin(async move { ids.close_stdin().await }));
        }
        let closing = self.closing.as_mut().expect("set above");
        match closing.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.closing = None;
                Poll::Ready(r.map_err(|e| io::Error::other(e.to_string())))
            }
        }
    }
}

impl Drop for StdinWriter {
    fn drop(&mut self) {
        // Dropping the writer is an EOF too, or a reader like `cat` would wait forever.
        if let Some(ids) = self.closer.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = ids.close_stdin().await;
            });
        }
    }
}

/// stdout and stderr chunks as they come, from two reader tasks. The tasks end at EOF and are
/// aborted when the stream is dropped (a background child can keep a FIFO open forever).
struct Output {
    rx: mpsc::Receiver<Result<OutputChunk>>,
    readers: [AbortHandle; 2],
}

impl Stream for Output {
    type Item = Result<OutputChunk>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        for r in &self.readers {
            r.abort();
        }
    }
}

pub fn output_stream(stdout: pipe::Receiver, stderr: pipe::Receiver) -> BoxStream<'static, Result<OutputChunk>> {
    let (tx, rx) = mpsc::channel(16);
    let a = tokio::spawn(pump(stdout, OutputStream::Stdout, tx.clone()));
    let b = tokio::spawn(pump(stderr, OutputStream::Stderr, tx));
    Box::pin(Output { rx, readers: [a.abort_handle(), b.abort_handle()] })
}

async fn pump<R: AsyncRead + Unpin>(mut reader: R, stream: OutputStream, tx: mpsc::Sender<Result<OutputChunk>>) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                let chunk = OutputChunk { stream, data: Bytes::copy_from_slice(&buf[..n]) };
                if tx.send(Ok(chunk)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.send(Err(Error::from(e).with_operation("exec"))).await;
                return;
            }
        }
    }
}
