//! The agent's side of a running fast-path command: waiting for and killing the supervisor through
//! its pidfd, the lifeline, the command's transient cgroup (removed once the supervisor is gone),
//! and the pipes as an [`ExecSession`]'s parts.

use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::io::AsyncWrite;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;

use super::cgroup::Transient;
use super::sys;
use anyctr_core::buffered_exec::output_chunks;
use anyctr_core::error::{Error, Result};
use anyctr_core::model::{ExecControl, OutputChunk, OutputStream};

/// How long a killed supervisor gets to end the command and exit before it is SIGKILLed itself
/// (it only has to kill and reap, so this is a backstop, not an expected wait).
const SUPERVISOR_GRACE: Duration = Duration::from_secs(5);

/// Waits for and ends one supervisor process (our direct child).
pub(super) struct Supervisor {
    pid: Pid,
    pidfd: Option<AsyncFd<OwnedFd>>,
    /// Closing it tells the supervisor to kill the command's cgroup.
    lifeline: Option<OwnedFd>,
    /// Dropped (removed) only after the supervisor is reaped: before, the command may not have
    /// joined it yet.
    transient: Option<Transient>,
    exit: Option<i64>,
}

impl Supervisor {
    pub(super) fn new(spawned: sys::Spawned, lifeline: OwnedFd, transient: Transient) -> Result<Self> {
        let pid = Pid::from_raw(spawned.pid);
        let pidfd = match sys::watch_pidfd(spawned.pidfd) {
            Ok(p) => p,
            Err(e) => {
                // Unwatchable: closing the lifeline ends it; reap it here, then remove the cgroup.
                drop(lifeline);
                let _ = waitpid(pid, None);
                drop(transient);
                return Err(e.into());
            }
        };
        Ok(Supervisor { pid, pidfd: Some(pidfd), lifeline: Some(lifeline), transient: Some(transient), exit: None })
    }

    async fn reap(pid: Pid, pidfd: &AsyncFd<OwnedFd>) -> Result<i64> {
        loop {
            // A pidfd turns readable when the process exits; only then is the status there.
            let mut ready = pidfd.readable().await?;
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(i64::from(code)),
                Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i64),
                Ok(_) => ready.clear_ready(),
                Err(e) => {
                    return Err(Error::unexpected(format!("waiting for the fast-path supervisor {pid}: {e}"))
                        .with_source(std::io::Error::from(e)));
                }
            }
        }
    }

    /// Tells the supervisor to end the command (closing the lifeline) and reaps it in the
    /// background, without blocking: for drops and abandoned sessions.
    fn release(&mut self) {
        self.lifeline = None;
        let Some(pidfd) = self.pidfd.take() else { return };
        if self.exit.is_some() {
            return;
        }
        let (pid, transient) = (self.pid, self.transient.take());
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let _ = Supervisor::reap(pid, &pidfd).await;
                    drop(transient);
                });
            }
            Err(_) => {
                // No runtime to wait on: a thread reaps it (the supervisor exits promptly once the
                // lifeline is closed and the command's cgroup is empty).
                std::thread::spawn(move || {
                    let _ = waitpid(pid, None);
                    drop(pidfd);
                    drop(transient);
                });
            }
        }
    }
}

impl ExecControl for Supervisor {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move {
            if let Some(code) = self.exit {
                return Ok(code);
            }
            let pidfd = self.pidfd.as_ref().ok_or_else(|| Error::unexpected("the fast-path process was released"))?;
            let code = Supervisor::reap(self.pid, pidfd).await?;
            self.exit = Some(code);
            self.lifeline = None;
            self.transient = None;
            Ok(code)
        })
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.exit.is_some() {
                return Ok(());
            }
            self.lifeline = None;
            let pidfd = self.pidfd.as_ref().ok_or_else(|| Error::unexpected("the fast-path process was released"))?;
            let code = match tokio::time::timeout(SUPERVISOR_GRACE, Supervisor::reap(self.pid, pidfd)).await {
                Ok(code) => code?,
                Err(_) => {
                    // The command has the death signal armed: it goes with the supervisor; the rest
                    // of its cgroup goes when the cgroup is dropped below.
                    sys::pidfd_kill(pidfd.get_ref().as_fd())?;
                    Supervisor::reap(self.pid, pidfd).await?
                }
            };
            self.exit = Some(code);
            self.transient = None;
            Ok(())
        })
    }

    fn abandon(&mut self) {
        self.release();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.release();
    }
}

/// The stdin writer: `shutdown` closes the pipe, so the command sees EOF even while the writer is
/// still held (tokio's pipe sender only flushes on shutdown).
pub(super) struct Stdin(Option<pipe::Sender>);

impl Stdin {
    pub(super) fn new(sender: pipe::Sender) -> Self {
        Stdin(Some(sender))
    }
}

impl AsyncWrite for Stdin {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.0.as_mut() {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.0.as_mut() {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.0 = None;
        Poll::Ready(Ok(()))
    }
}

/// stdout and stderr as one stream of chunks, each ending at its pipe's EOF.
pub(super) fn output(stdout: pipe::Receiver, stderr: pipe::Receiver) -> BoxStream<'static, Result<OutputChunk>> {
    stream::select(output_chunks(stdout, OutputStream::Stdout), output_chunks(stderr, OutputStream::Stderr)).boxed()
}
