//! Buffered exec built from a streaming [`ExecSession`], shared by every engine: stdin delivered
//! with EOF, stdout and stderr kept apart and bounded, the exit observed even while a background
//! child keeps the output open, a timeout that kills, and missing binaries recognized.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{ExecInput, ExecResult, ExecSession, ExecStdin, OutputStream};

/// How long output is still read after the process has exited. Output the process wrote before
/// exiting is already in the pipe; what arrives later comes from a background child that inherited
/// stdout, which must not keep the exec open.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(300);

/// Keeps the first `limit` bytes of a stream and counts all of them.
#[derive(Debug, Default)]
pub struct BoundedBuffer {
    data: Vec<u8>,
    limit: usize,
    total: u64,
}

impl BoundedBuffer {
    pub fn new(limit: usize) -> Self {
        BoundedBuffer { data: Vec::new(), limit, total: 0 }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.limit.saturating_sub(self.data.len());
        self.data.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    pub fn truncated(&self) -> bool {
        self.total > self.data.len() as u64
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn into_inner(self) -> Vec<u8> {
        self.data
    }
}

/// Runs a started session to completion: writes `stdin` then EOF, collects output up to `limit`
/// bytes per stream, and returns the result. On `timeout` the process is killed and the call fails
/// with [`ErrorKind::Timeout`]. A start failure the runtime reported as output (exit code 126/127,
/// or runc's exit 1 after a failed `execve`) becomes its own error ([`crate::exec_failure`]).
pub async fn run_to_completion(
    mut session: ExecSession,
    stdin: Option<ExecInput>,
    limit: usize,
    timeout: Option<Duration>,
) -> Result<ExecResult> {
    let started = Instant::now();
    let (writer, output, control) = session.parts();
    let stdin_task = match (writer, stdin) {
        (Some(w), Some(input)) => Some(tokio::spawn(feed_stdin(w, input))),
        (Some(mut w), None) => {
            // Close stdin at once so a reader sees EOF instead of waiting forever.
            let _ = w.shutdown().await;
            None
        }
        (None, Some(_)) => {
            return Err(
                Error::invalid_argument("stdin given but the exec was started without stdin").with_operation("exec")
            );
        }
        (None, None) => None,
    };

    let mut stdout = BoundedBuffer::new(limit);
    let mut stderr = BoundedBuffer::new(limit);
    let body = async {
        let mut output = output;
        let mut exit: Option<i64> = None;
        let mut wait = control.wait();
        loop {
            let Some(out) = output.as_mut() else {
                // Output closed: only the exit code is missing.
                break match exit {
                    Some(code) => Ok(code),
                    None => wait.await,
                };
            };
            tokio::select! {
                chunk = out.next() => match chunk {
                    Some(Ok(c)) => match c.stream {
                        OutputStream::Stdout => stdout.push(&c.data),
                        OutputStream::Stderr => stderr.push(&c.data),
                    },
                    Some(Err(e)) => break Err(e),
                    None => output = None,
                },
                code = &mut wait, if exit.is_none() => {
                    exit = Some(code?);
                    // Drain what is left, but do not let a background child hold the exec open.
                    let deadline = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
                    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, out.next()).await {
                        let c = chunk?;
                        match c.stream {
                            OutputStream::Stdout => stdout.push(&c.data),
                            OutputStream::Stderr => stderr.push(&c.data),
                        }
                    }
                    output = None;
                }
            }
        }
    };
    let outcome = match timeout {
        Some(t) => match tokio::time::timeout(t, body).await {
            Ok(r) => r,
            Err(_) => {
                let killed = control.kill().await;
                session.mark_exited();
                if let Some(task) = stdin_task {
                    task.abort();
                }
                let mut err = Error::timeout("exec", t);
                if let Err(kill_err) = killed {
                    err = Error::new(ErrorKind::Timeout, format!("{err}; killing the process also failed: {kill_err}"))
                        .with_operation("exec");
                }
                return Err(err);
            }
        },
        None => body.await,
    };
    if let Some(task) = stdin_task {
        task.abort();
    }
    let exit_code = match outcome {
        Ok(code) => code,
        Err(e) => {
            let _ = control.kill().await;
            session.mark_exited();
            return Err(e);
        }
    };
    session.mark_exited();
    let result = ExecResult {
        exit_code,
        stdout_truncated: stdout.truncated(),
        stderr_truncated: stderr.truncated(),
        stdout_bytes: stdout.total(),
        stderr_bytes: stderr.total(),
        stdout: stdout.into_inner(),
        stderr: stderr.into_inner(),
        duration: started.elapsed(),
    };
    if let Some(err) = start_failure(&result) {
        return Err(err);
    }
    Ok(result)
}

async fn feed_stdin(mut writer: ExecStdin, input: ExecInput) {
    // A process that exits without reading stdin breaks the pipe: that is its business, not an error.
    let _ = match input {
        ExecInput::Bytes(b) => writer.write_all(&b).await,
        ExecInput::Reader(mut r) => tokio::io::copy(&mut r, &mut writer).await.map(|_| ()),
    };
    let _ = writer.shutdown().await;
}

/// The runtime's report of a process that could not start (see [`crate::exec_failure`]) as the
/// error it is; `None` when the exit code is the program's result.
fn start_failure(result: &ExecResult) -> Option<Error> {
    [&result.stdout, &result.stderr].into_iter().find_map(|buf| {
        let text = String::from_utf8_lossy(&buf[..buf.len().min(4096)]);
        crate::exec_failure::start_failure_kind(result.exit_code, &text)
            .map(|kind| Error::new(kind, text.trim().to_owned()).with_operation("exec"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_buffer_keeps_prefix_and_counts_all() {
        let mut b = BoundedBuffer::new(4);
        b.push(b"ab");
        b.push(b"cdef");
        b.push(b"gh");
        assert_eq!(b.total(), 8);
        assert!(b.truncated());
        assert_eq!(b.into_inner(), b"abcd");
        let mut exact = BoundedBuffer::new(2);
        exact.push(b"xy");
        assert!(!exact.truncated());
    }
}
