use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::{Error, ErrorKind, Result};

/// Default cap on each of stdout and stderr kept by a buffered exec: 16 MiB.
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 << 20;

/// Default size of the output sample carried by errors and logs.
pub const DEFAULT_SAMPLE_LEN: usize = 1024;

/// Default bound on a whole buffered exec ([`ContainerEngine::exec`](crate::ContainerEngine::exec):
/// start to exit, output read) when the request sets none: 5 minutes. When it runs out the
/// process is killed and the call fails with [`ErrorKind::Timeout`], so no exec waits forever by
/// default. Raise it with [`ExecRequest::timeout`]; [`ExecRequest::no_timeout`] removes it. For a
/// streaming session ([`exec_stream`](crate::ContainerEngine::exec_stream)) it bounds the start
/// only: the session lives until it is waited for, killed or dropped.
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(300);

/// What [`ExecRequest::new`] accepts as the program and its arguments: an array or slice of
/// `&str` (`["ls", "-l"]`, also `[]`), or a `Vec` of `&str` or `String`.
///
/// One array impl (of `&str`) keeps `ExecRequest::new([])` and `ExecRequest::new(["ls", &dir])`
/// inferable; build a `Vec<String>` for owned arguments.
pub trait IntoArgv {
    /// The arguments as owned strings.
    fn into_argv(self) -> Vec<String>;
}

impl<const N: usize> IntoArgv for [&str; N] {
    fn into_argv(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}

impl IntoArgv for &[&str] {
    fn into_argv(self) -> Vec<String> {
        self.iter().map(|s| (*s).to_owned()).collect()
    }
}

impl IntoArgv for &[String] {
    fn into_argv(self) -> Vec<String> {
        self.to_vec()
    }
}

impl IntoArgv for Vec<&str> {
    fn into_argv(self) -> Vec<String> {
        self.as_slice().into_argv()
    }
}

impl IntoArgv for Vec<String> {
    fn into_argv(self) -> Vec<String> {
        self
    }
}

/// Bytes for an exec's stdin: delivered, then EOF.
pub enum ExecInput {
    /// Bytes in memory.
    Bytes(Bytes),
    /// A reader, read to its end.
    Reader(Pin<Box<dyn AsyncRead + Send>>),
}

impl fmt::Debug for ExecInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecInput::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            ExecInput::Reader(_) => f.write_str("Reader(..)"),
        }
    }
}

impl From<Vec<u8>> for ExecInput {
    fn from(v: Vec<u8>) -> Self {
        ExecInput::Bytes(v.into())
    }
}

impl From<&'static str> for ExecInput {
    fn from(s: &'static str) -> Self {
        ExecInput::Bytes(Bytes::from_static(s.as_bytes()))
    }
}

impl From<Bytes> for ExecInput {
    fn from(b: Bytes) -> Self {
        ExecInput::Bytes(b)
    }
}

/// A command to run in a container. Built with [`ExecRequest::new`] or [`ExecRequest::shell`]
/// and the builder methods; the fields are public to read (fields may be added, so it cannot be
/// built with a struct literal outside anyctr).
///
/// ```
/// use std::time::Duration;
/// use anyctr_core::model::ExecRequest;
/// let req = ExecRequest::new(["ls", "-l", "/"]).env("LC_ALL=C").timeout(Duration::from_secs(5));
/// assert_eq!(req.argv, ["ls", "-l", "/"]);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ExecRequest {
    /// Program and arguments; `argv[0]` is looked up in the container's `PATH`.
    pub argv: Vec<String>,
    /// Extra `KEY=VALUE` entries, added to the container's environment.
    pub env: Vec<String>,
    /// The working directory (absolute); the container's default when `None`.
    pub working_dir: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`, as in a Dockerfile `USER`.
    pub user: Option<String>,
    /// Bytes for stdin, followed by EOF. Without it stdin is closed from the start.
    pub stdin: Option<ExecInput>,
    /// A bound on the whole buffered exec (on the start only for a streaming session); when it
    /// runs out the process is killed and the call fails with [`ErrorKind::Timeout`].
    /// [`DEFAULT_EXEC_TIMEOUT`] unless set; `None` only after [`no_timeout`](Self::no_timeout).
    pub timeout: Option<Duration>,
    /// How many bytes of each of stdout and stderr a buffered exec keeps; the rest is counted and
    /// dropped.
    pub output_limit: usize,
}

impl ExecRequest {
    /// A request for `argv` (see [`IntoArgv`]) with no stdin, the [`DEFAULT_EXEC_TIMEOUT`] and
    /// the [`DEFAULT_OUTPUT_LIMIT`]. An empty argv is refused with `InvalidArgument` when the
    /// request is run.
    pub fn new(argv: impl IntoArgv) -> Self {
        ExecRequest {
            argv: argv.into_argv(),
            env: Vec::new(),
            working_dir: None,
            user: None,
            stdin: None,
            timeout: Some(DEFAULT_EXEC_TIMEOUT),
            output_limit: DEFAULT_OUTPUT_LIMIT,
        }
    }

    /// `sh -c script`.
    pub fn shell(script: impl Into<String>) -> Self {
        Self::new(vec!["sh".to_owned(), "-c".to_owned(), script.into()])
    }

    /// Adds a `KEY=VALUE` entry to the process environment.
    pub fn env(mut self, entry: impl Into<String>) -> Self {
        self.env.push(entry.into());
        self
    }

    /// The working directory (absolute, as the container sees it).
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// The user to run as: `user`, `uid`, `user:group` or `uid:gid`.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Bytes (or a reader) for stdin, followed by EOF.
    pub fn stdin(mut self, input: impl Into<ExecInput>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The bound on the whole exec (replaces [`DEFAULT_EXEC_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// No bound on the exec: it runs until the process exits. Only for a caller that bounds the
    /// call itself (a streaming session it reads and kills on its own schedule).
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// How many bytes of each of stdout and stderr a buffered exec keeps.
    pub fn output_limit(mut self, limit: usize) -> Self {
        self.output_limit = limit;
        self
    }

    /// Checks what every engine requires; bad input is refused before anything runs.
    pub fn validate(&self) -> Result<()> {
        if self.argv.is_empty() || self.argv[0].is_empty() {
            return Err(Error::invalid_argument("exec needs a non-empty argv"));
        }
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(Error::invalid_argument(format!("exec env entry {bad:?} is not KEY=VALUE")));
        }
        if let Some(dir) = &self.working_dir
            && !dir.starts_with('/')
        {
            return Err(Error::invalid_argument(format!("exec working dir {dir:?} is not absolute")));
        }
        if self.argv.iter().chain(&self.env).any(|s| s.contains('\0')) {
            return Err(Error::invalid_argument("exec argv and env must not contain NUL bytes"));
        }
        Ok(())
    }

    /// The request's options without stdin, for [`ContainerEngine::exec_stream`](crate::ContainerEngine::exec_stream).
    pub fn split_stdin(mut self) -> (ExecRequest, Option<ExecInput>) {
        let stdin = self.stdin.take();
        (self, stdin)
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of an exec's output as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// Which stream.
    pub stream: OutputStream,
    /// The bytes.
    pub data: Bytes,
}

/// The outcome of a finished exec. A non-zero exit code is a result, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ExecResult {
    /// The process's exit code.
    pub exit_code: i64,
    /// Up to the request's output limit.
    pub stdout: Vec<u8>,
    /// Up to the request's output limit.
    pub stderr: Vec<u8>,
    /// stdout was cut at the output limit.
    pub stdout_truncated: bool,
    /// stderr was cut at the output limit.
    pub stderr_truncated: bool,
    /// Bytes the process wrote to stdout, kept or not.
    pub stdout_bytes: u64,
    /// Bytes the process wrote to stderr, kept or not.
    pub stderr_bytes: u64,
    /// The output streams were still open when the call returned: after the process exited, a
    /// background child that inherited them held them open (or the deadline came first). Output
    /// written after that is not in the result, and not in the byte counts.
    pub output_incomplete: bool,
    /// How long the exec took.
    pub duration: Duration,
}

impl ExecResult {
    /// Whether the exit code is 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// stdout as text, invalid UTF-8 replaced.
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text, invalid UTF-8 replaced.
    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The first `len` bytes of stdout and of stderr as text, for logs and error messages.
    pub fn sample(&self, len: usize) -> (String, String) {
        let cut = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(len)]).into_owned();
        (cut(&self.stdout), cut(&self.stderr))
    }

    /// Turns a non-zero exit into an error carrying a sample of the output
    /// ([`DEFAULT_SAMPLE_LEN`] bytes of each stream).
    pub fn check(self) -> Result<Self> {
        if self.success() {
            return Ok(self);
        }
        let (out, err) = self.sample(DEFAULT_SAMPLE_LEN);
        Err(Error::new(
            ErrorKind::Unexpected,
            format!("command exited with code {}; stdout: {out:?}; stderr: {err:?}", self.exit_code),
        )
        .with_operation("exec"))
    }
}

/// The writing half of a streaming exec's stdin. `shutdown()` delivers EOF to the process.
pub type ExecStdin = Pin<Box<dyn AsyncWrite + Send>>;

/// How long containerd's shims let an exec's output drain once the process is deleted before they
/// close it anyway (`waitTimeout(ctx, &e.wg, 2*time.Second)` in the runc shim's exec delete; the
/// same in the shims of sandboxed runtimes built on it). See [`ExecControl::output_may_be_cut`].
pub const SHIM_OUTPUT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How an engine waits for and ends one exec process. Implemented by engines; used by
/// [`ExecSession`].
pub trait ExecControl: Send {
    /// Resolves with the exit code once the process has exited. Must be safe to poll while the
    /// output is still being read, and must not need the output drained to resolve.
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>>;

    /// Ends the process (SIGKILL) and releases what the engine holds for it. Idempotent.
    fn kill(&mut self) -> BoxFuture<'_, Result<()>>;

    /// Called when the session is dropped before the exit was observed: must end the process
    /// without blocking (typically by spawning [`kill`](Self::kill) on the runtime).
    fn abandon(&mut self);

    /// Called once the exit was observed and the output read (or given up on): releases what the
    /// engine still holds for the exec without signalling anything. Releasing may close the output
    /// (containerd's DeleteProcess does), which is why [`wait`](Self::wait) must not do it: output a
    /// background child writes after the exit would be cut off unseen. Nothing to release by default.
    fn release(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether the end of the output, seen at `output_ended`, may have been forced by someone
    /// other than the exec's processes — so a background child could still be writing into a
    /// closed stream. containerd's shim closes an exec's output [`SHIM_OUTPUT_GRACE`] after *any*
    /// client deletes it, and dockerd deletes every exited exec of its containers at once; an end
    /// that late after the exit proves nothing. Asked once the exit is known; `false` by default
    /// (an end of output is the processes closing it).
    fn output_may_be_cut(&self, output_ended: std::time::SystemTime) -> bool {
        let _ = output_ended;
        false
    }
}

/// A running exec: stdin to write, output chunks as they come, and a wait for the exit code.
///
/// Dropping the session before [`wait`](Self::wait) returned kills the process inside the
/// container, so a forgotten session never leaves a process behind.
pub struct ExecSession {
    stdin: Option<ExecStdin>,
    output: Option<BoxStream<'static, Result<OutputChunk>>>,
    control: Box<dyn ExecControl>,
    exited: bool,
}

impl ExecSession {
    /// Assembles a session from an engine's parts.
    pub fn new(
        stdin: Option<ExecStdin>,
        output: BoxStream<'static, Result<OutputChunk>>,
        control: Box<dyn ExecControl>,
    ) -> Self {
        ExecSession { stdin, output: Some(output), control, exited: false }
    }

    /// Takes the stdin writer (present when the session was started with stdin open).
    pub fn take_stdin(&mut self) -> Option<ExecStdin> {
        self.stdin.take()
    }

    /// The next output chunk; `None` once both streams are closed.
    pub async fn next_output(&mut self) -> Option<Result<OutputChunk>> {
        use futures_util::StreamExt;
        let out = self.output.as_mut()?;
        let next = out.next().await;
        if next.is_none() {
            self.output = None;
        }
        next
    }

    /// Waits for the exit code. Output not read yet is dropped.
    pub async fn wait(mut self) -> Result<i64> {
        self.stdin = None;
        self.output = None;
        let code = self.control.wait().await;
        self.exited = true;
        let code = code?;
        self.control.release().await?;
        Ok(code)
    }

    /// Kills the process and waits until the engine has cleaned up.
    pub async fn kill(mut self) -> Result<()> {
        self.stdin = None;
        self.output = None;
        let r = self.control.kill().await;
        self.exited = true;
        r
    }

    pub(crate) fn parts(
        &mut self,
    ) -> (Option<ExecStdin>, Option<BoxStream<'static, Result<OutputChunk>>>, &mut dyn ExecControl) {
        (self.stdin.take(), self.output.take(), &mut *self.control)
    }

    pub(crate) fn mark_exited(&mut self) {
        self.exited = true;
    }
}

impl Drop for ExecSession {
    fn drop(&mut self) {
        if !self.exited {
            self.control.abandon();
        }
    }
}

impl fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecSession").field("stdin_open", &self.stdin.is_some()).field("exited", &self.exited).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_forms_infer_and_an_empty_one_is_refused_when_run() {
        let empty = ExecRequest::new([]);
        assert_eq!(empty.validate().unwrap_err().kind(), ErrorKind::InvalidArgument);
        let dir = String::from("/tmp");
        assert_eq!(ExecRequest::new(["ls", &dir]).argv, ["ls", "/tmp"]);
        assert_eq!(ExecRequest::new(vec![dir.clone()]).argv, ["/tmp"]);
        assert_eq!(ExecRequest::new(&["a", "b"][..]).argv, ["a", "b"]);
        assert_eq!(ExecRequest::new(["true"]).timeout, Some(DEFAULT_EXEC_TIMEOUT));
        assert_eq!(ExecRequest::new(["true"]).no_timeout().timeout, None);
    }
}
