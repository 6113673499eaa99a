//! Buffered exec built from a streaming [`ExecSession`], shared by every engine: stdin delivered
//! with EOF, stdout and stderr kept apart and bounded, the exit observed even while a background
//! child keeps the output open (and the result marked when output may have followed), a timeout
//! that kills, and missing binaries recognized.

use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::io::AsyncWriteExt;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{ExecInput, ExecResult, ExecSession, ExecStdin, OutputChunk, OutputStream};

/// After the process has exited, output still open this long without a chunk is held by a
/// background child that inherited stdout (and may never write or close it): the call returns, and
/// the result says the output was still open. Output the process itself wrote arrives well within it.
const QUIET_AFTER_EXIT: Duration = Duration::from_millis(500);

/// The longest output is still read after the process has exited, for a call without a timeout
/// (a background child writing on and on must not keep the exec open).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Keeps the first `limit` bytes of a stream and counts all of them.
#[derive(Debug, Default)]
pub struct BoundedBuffer {
    data: Vec<u8>,
    limit: usize,
    total: u64,
}

impl BoundedBuffer {
    /// A buffer keeping at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        BoundedBuffer { data: Vec::new(), limit, total: 0 }
    }

    /// Appends what fits under the limit and counts all of it.
    pub fn push(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        let room = self.limit.saturating_sub(self.data.len());
        self.data.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    /// Whether bytes were dropped.
    pub fn truncated(&self) -> bool {
        self.total > self.data.len() as u64
    }

    /// Bytes pushed, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bytes kept.
    pub fn into_inner(self) -> Vec<u8> {
        self.data
    }
}

/// A buffered exec built from a streaming one, as [`ContainerEngine::exec`]'s default does it:
/// validates the request, starts the session with `start(request without stdin, open stdin?)`
/// and runs it to completion (stdin fed, output capped, the request's timeout honoured).
///
/// [`ContainerEngine::exec`]: crate::ContainerEngine::exec
pub async fn buffered<F, Fut>(request: crate::model::ExecRequest, start: F) -> Result<ExecResult>
where
    F: FnOnce(crate::model::ExecRequest, bool) -> Fut,
    Fut: std::future::Future<Output = Result<ExecSession>>,
{
    request.validate()?;
    let (request, stdin) = request.split_stdin();
    let (limit, timeout) = (request.output_limit, request.timeout);
    let session = start(request, stdin.is_some()).await?;
    run_to_completion(session, stdin, limit, timeout).await
}

/// Runs a started session to completion: writes `stdin` then EOF, collects output up to `limit`
/// bytes per stream, and returns the result. On `timeout` the process is killed and the call fails
/// with [`ErrorKind::Timeout`]. A start failure the runtime reported as output (exit code 126/127,
/// or runc's exit 1 after a failed `execve`) becomes its own error ([`crate::exec_failure`]).
///
/// Once the process has exited, output is read on until the streams end; a background child that
/// holds them open does not keep the call open: reading stops when they have been quiet for
/// 500 ms, after 10 s, or at the deadline, whichever comes first, and
/// the result's `output_incomplete` says so. Nothing is dropped without that flag.
pub async fn run_to_completion(
    mut session: ExecSession,
    stdin: Option<ExecInput>,
    limit: usize,
    timeout: Option<Duration>,
) -> Result<ExecResult> {
    let started = Instant::now();
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
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

    let mut collected = Collected { stdout: BoundedBuffer::new(limit), stderr: BoundedBuffer::new(limit) };
    let mut ended_at = None;
    let output_ended = &mut ended_at;
    let body = async {
        let mut output = output;
        let mut wait = control.wait();
        loop {
            let Some(out) = output.as_mut() else {
                // Output closed before the exit: only the exit code is missing.
                return wait.await.map(|code| (code, None));
            };
            tokio::select! {
                chunk = out.next() => match chunk {
                    Some(Ok(c)) => collected.push(&c),
                    Some(Err(e)) => return Err(e),
                    None => {
                        output = None;
                        *output_ended = Some(SystemTime::now());
                    }
                },
                code = &mut wait => return Ok((code?, output)),
            }
        }
    };
    let until_exit = match (timeout, deadline) {
        (Some(t), Some(at)) => match tokio::time::timeout_at(at, body).await {
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
        _ => body.await,
    };
    if let Some(task) = stdin_task {
        task.abort();
    }
    let drained = match until_exit {
        Ok((code, None)) => Ok((code, false)),
        Ok((code, Some(rest))) => {
            drain_after_exit(rest, &mut collected, deadline, &mut ended_at).await.map(|open| (code, open))
        }
        Err(e) => Err(e),
    };
    let (exit_code, mut output_incomplete) = match drained {
        Ok(done) => done,
        Err(e) => {
            let _ = control.kill().await;
            session.mark_exited();
            return Err(e);
        }
    };
    if let Some(ended) = ended_at
        && !output_incomplete
    {
        output_incomplete = control.output_may_be_cut(ended);
    }
    // Only now: releasing the exec may close output a background child still writes.
    let released = control.release().await;
    session.mark_exited();
    released?;
    let Collected { stdout, stderr } = collected;
    let result = exec_result(exit_code, stdout, stderr, output_incomplete, started.elapsed());
    if let Some(err) = start_failure(&result) {
        return Err(err);
    }
    Ok(result)
}

/// The result of an exec whose output an engine collected itself (one call that returns it all,
/// such as CRI's `ExecSync`): counts and truncation come from the buffers.
pub fn exec_result(
    exit_code: i64,
    stdout: BoundedBuffer,
    stderr: BoundedBuffer,
    output_incomplete: bool,
    duration: Duration,
) -> ExecResult {
    ExecResult {
        exit_code,
        stdout_truncated: stdout.truncated(),
        stderr_truncated: stderr.truncated(),
        stdout_bytes: stdout.total(),
        stderr_bytes: stderr.total(),
        output_incomplete,
        stdout: stdout.into_inner(),
        stderr: stderr.into_inner(),
        duration,
    }
}

/// One output stream of a process, read from a pipe (or any reader) as chunks of up to 64 KiB:
/// how an engine that reads the process's pipes itself makes its part of an [`ExecSession`].
pub fn output_chunks<R>(reader: R, which: OutputStream) -> BoxStream<'static, Result<OutputChunk>>
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    futures_util::stream::unfold(reader, move |mut r| async move {
        let mut buf = vec![0u8; 64 << 10];
        match tokio::io::AsyncReadExt::read(&mut r, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(OutputChunk { stream: which, data: buf.into() }), r))
            }
            Err(e) => Some((Err(e.into()), r)),
        }
    })
    .boxed()
}

/// stdout and stderr of one exec, each bounded.
struct Collected {
    stdout: BoundedBuffer,
    stderr: BoundedBuffer,
}

impl Collected {
    fn push(&mut self, chunk: &OutputChunk) {
        match chunk.stream {
            OutputStream::Stdout => self.stdout.push(&chunk.data),
            OutputStream::Stderr => self.stderr.push(&chunk.data),
        }
    }
}

/// Reads what is left after the process exited, until the streams end or go quiet (see
/// [`run_to_completion`]). Returns whether they were still open when reading stopped.
async fn drain_after_exit(
    mut output: BoxStream<'static, Result<OutputChunk>>,
    collected: &mut Collected,
    deadline: Option<tokio::time::Instant>,
    ended_at: &mut Option<SystemTime>,
) -> Result<bool> {
    let limit = tokio::time::Instant::now() + DRAIN_LIMIT;
    let last = deadline.map_or(limit, |d| d.min(limit));
    loop {
        let quiet = (tokio::time::Instant::now() + QUIET_AFTER_EXIT).min(last);
        match tokio::time::timeout_at(quiet, output.next()).await {
            Ok(Some(chunk)) => collected.push(&chunk?),
            Ok(None) => {
                *ended_at = Some(SystemTime::now());
                return Ok(false);
            }
            Err(_) => return Ok(true),
        }
    }
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

    use bytes::Bytes;
    use futures_util::future::BoxFuture;
    use tokio::sync::mpsc;

    /// A process that has exited with code 0 as soon as it is asked.
    struct Exited;

    impl crate::model::ExecControl for Exited {
        fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
            Box::pin(async { Ok(0) })
        }
        fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn abandon(&mut self) {}
    }

    /// A session whose output is whatever is sent on the returned channel; dropping it ends the output.
    fn exited_session() -> (ExecSession, mpsc::UnboundedSender<&'static str>) {
        let (tx, rx) = mpsc::unbounded_channel::<&'static str>();
        let output = futures_util::stream::unfold(rx, |mut rx| async move {
            let text = rx.recv().await?;
            Some((Ok(OutputChunk { stream: OutputStream::Stdout, data: Bytes::from_static(text.as_bytes()) }), rx))
        });
        (ExecSession::new(None, Box::pin(output), Box::new(Exited)), tx)
    }

    #[tokio::test]
    async fn output_arriving_after_the_exit_is_read_until_the_streams_end() {
        let (session, tx) = exited_session();
        tx.send("early\n").unwrap();
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(QUIET_AFTER_EXIT / 3).await;
                tx.send("late\n").unwrap();
            }
        });
        let r = run_to_completion(session, None, 1024, None).await.unwrap();
        assert_eq!(r.stdout_lossy(), "early\nlate\nlate\nlate\n");
        assert!(!r.output_incomplete, "the output ended, so it is complete");
    }

    #[tokio::test]
    async fn output_held_open_by_a_quiet_child_is_marked_incomplete() {
        let (session, tx) = exited_session();
        tx.send("early\n").unwrap();
        let started = Instant::now();
        let r = run_to_completion(session, None, 1024, None).await.unwrap();
        assert_eq!(r.stdout_lossy(), "early\n");
        assert!(r.output_incomplete, "the output was still open when the call returned");
        assert!(started.elapsed() < DRAIN_LIMIT, "a quiet child kept the call open for {:?}", started.elapsed());
        drop(tx);
    }

    #[tokio::test]
    async fn a_chatty_child_is_read_up_to_the_deadline_and_marked_incomplete() {
        let (session, tx) = exited_session();
        let writer = tokio::spawn(async move {
            while tx.send("more\n").is_ok() {
                tokio::time::sleep(QUIET_AFTER_EXIT / 5).await;
            }
        });
        let started = Instant::now();
        let r = run_to_completion(session, None, 1 << 20, Some(Duration::from_secs(2))).await.unwrap();
        let took = started.elapsed();
        assert!(r.output_incomplete);
        assert!(r.stdout.len() > 5 * 5, "only {} bytes read", r.stdout.len());
        assert!(took >= Duration::from_secs(2) && took < DRAIN_LIMIT, "returned after {took:?}");
        writer.abort();
    }

    /// Exited at `exited`; like containerd's shim under dockerd, it closes the output
    /// [`CUT_AFTER`] after the exit whether or not a child still writes.
    struct CutsOutput {
        exited: SystemTime,
    }

    const CUT_AFTER: Duration = Duration::from_millis(300);

    impl crate::model::ExecControl for CutsOutput {
        fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
            Box::pin(async { Ok(0) })
        }
        fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
            Box::pin(async { Ok(()) })
        }
        fn abandon(&mut self) {}
        fn output_may_be_cut(&self, output_ended: SystemTime) -> bool {
            output_ended.duration_since(self.exited).is_ok_and(|d| d >= CUT_AFTER)
        }
    }

    fn cut_session(text: &'static str, end_after: Duration) -> ExecSession {
        let output = futures_util::stream::once(async move {
            Ok(OutputChunk { stream: OutputStream::Stdout, data: Bytes::from_static(text.as_bytes()) })
        })
        .chain(futures_util::stream::once(tokio::time::sleep(end_after)).filter_map(|_| async { None }));
        ExecSession::new(None, Box::pin(output), Box::new(CutsOutput { exited: SystemTime::now() }))
    }

    #[tokio::test]
    async fn an_end_of_output_the_engine_may_have_forced_is_marked_incomplete() {
        // Ended by the "shim" after the exit: the end proves nothing.
        let r = run_to_completion(cut_session("early\n", CUT_AFTER), None, 1024, None).await.unwrap();
        assert_eq!(r.stdout_lossy(), "early\n");
        assert!(r.output_incomplete, "an end the engine may have forced must not read as complete");
        // Ended by the processes well before any forced close: complete.
        let r = run_to_completion(cut_session("early\n", Duration::ZERO), None, 1024, None).await.unwrap();
        assert!(!r.output_incomplete, "an end of output right after the exit is the processes closing it");
    }

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
