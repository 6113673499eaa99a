//! Streaming exec over docker's exec API, and how an exec is ended.
//!
//! Docker has no call that kills an exec. Every exec therefore carries the environment marker of
//! [`anyctr_core::exec_marker`], and ending it means signalling every process that carries it:
//! - runc-class runtimes: the processes are host processes, found by the host `/proc` scan
//!   (only processes in the container's pid namespace). This needs nothing inside the container.
//! - sandboxed runtimes (gVisor/rund/kata), or when the host scan could not end it (the agent does
//!   not see the host's pid namespace): the host pid is a runtime helper (`runsc exec`), killing it
//!   leaves the process inside the sandbox running, so the marker's kill exec runs in the container.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyctr_core::buffered_exec::run_to_completion;
use anyctr_core::exec_marker::ExecMarker;
use anyctr_core::model::{
    ContainerDetail, ExecControl, ExecRequest, ExecSession, OutputChunk, OutputStream, SHIM_OUTPUT_GRACE,
};
use anyctr_core::{Error, ErrorKind, Result};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

use crate::client::{Client, ENGINE};
use crate::containers;

/// Output kept to recognize an OCI start failure.
const SNIFF_LEN: usize = 4096;

/// Read buffer of the hijacked connection.
const OUTPUT_CAPACITY: usize = 64 * 1024;

/// The container an exec runs in, as far as ending it matters.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub id: String,
    pub sandboxed: bool,
    /// The container init's host pid (identifies the pid namespace for the host scan).
    pub init_pid: Option<u32>,
}

pub(crate) async fn exec_stream(
    client: &Client,
    container: &str,
    request: ExecRequest,
    open_stdin: bool,
) -> Result<ExecSession> {
    let run = async {
        request.validate()?;
        let detail = containers::inspect(client, container).await?;
        start_on(client, &detail, request, open_stdin).await
    };
    run.await.map_err(|e| e.in_context(ENGINE, "exec").with_container(container))
}

/// [`exec_stream`] in a container already inspected: no inspect (the state, runtime and init pid
/// are the detail's).
pub(crate) async fn exec_stream_on(
    client: &Client,
    detail: &ContainerDetail,
    request: ExecRequest,
    open_stdin: bool,
) -> Result<ExecSession> {
    let run = async {
        request.validate()?;
        start_on(client, detail, request, open_stdin).await
    };
    run.await.map_err(|e| e.in_context(ENGINE, "exec").with_container(&detail.id))
}

async fn start_on(
    client: &Client,
    detail: &ContainerDetail,
    request: ExecRequest,
    open_stdin: bool,
) -> Result<ExecSession> {
    if !detail.state.status.is_running() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("container {} is not running (status {:?}): cannot exec in it", detail.name, detail.state.status),
        ));
    }
    let target = Target { id: detail.id.clone(), sandboxed: detail.runtime.is_sandboxed(), init_pid: detail.state.pid };
    start(client, target, request, open_stdin).await
}

async fn start(client: &Client, target: Target, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
    let marker = ExecMarker::new();
    let mut env = request.env.clone();
    env.push(marker.env_entry());
    let options = CreateExecOptions {
        attach_stdin: Some(open_stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        env: Some(env),
        cmd: Some(request.argv.clone()),
        user: request.user.clone(),
        working_dir: request.working_dir.clone(),
        ..Default::default()
    };
    // Setting the exec up is an ordinary call, but never longer than the exec may take at all.
    let setup = request.timeout.map_or(client.call_timeout, |t| t.min(client.call_timeout));
    let created = client.call_within(setup, "exec", client.docker.create_exec(&target.id, options)).await?;
    let shared = Arc::new(Shared {
        client: client.clone(),
        exec_id: created.id.clone(),
        marker,
        target,
        argv0: request.argv[0].clone(),
        sniff: Mutex::new(Vec::new()),
        output_done: AtomicBool::new(false),
        output_ended: tokio::sync::Notify::new(),
        not_exited_at: Mutex::new(SystemTime::now()),
    });
    let start_options = StartExecOptions { detach: false, tty: false, output_capacity: Some(OUTPUT_CAPACITY) };
    let started = client.call_within(setup, "exec", client.docker.start_exec(&created.id, Some(start_options))).await;
    let (output, input) = match started {
        Ok(StartExecResults::Attached { output, input }) => (output, input),
        Ok(StartExecResults::Detached) => {
            return Err(Error::unexpected("dockerd started the exec detached although it was asked to attach"));
        }
        Err(e) => {
            // The process may have started before the call failed: end it.
            spawn_kill(shared);
            return Err(e);
        }
    };
    let output = forward_output(shared.clone(), output);
    let stdin = if open_stdin { Some(input) } else { None };
    Ok(ExecSession::new(stdin, output, Box::new(DockerExecControl { shared })))
}

/// Chunks in flight between the reader task and the session.
const FORWARD_DEPTH: usize = 16;

/// The session's output, read by a task of its own: the runtime's report of a process that never
/// ran comes as output, and a caller that only waits (dropping the output) must still have it read.
/// After the session drops its output the task reads on only until the sniff buffer is full.
fn forward_output(
    shared: Arc<Shared>,
    mut output: std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
) -> futures_util::stream::BoxStream<'static, Result<OutputChunk>> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<OutputChunk>>(FORWARD_DEPTH);
    tokio::spawn(async move {
        let mut receiver_gone = false;
        while let Some(item) = output.next().await {
            let chunk = match item {
                Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                    Ok(OutputChunk { stream: OutputStream::Stdout, data: message })
                }
                Ok(LogOutput::StdErr { message }) => Ok(OutputChunk { stream: OutputStream::Stderr, data: message }),
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) => Err(crate::client::map_bollard(e, "exec")),
            };
            if let Ok(c) = &chunk {
                shared.sniff(&c.data);
            }
            if !receiver_gone {
                receiver_gone = tx.send(chunk).await.is_err();
            }
            if receiver_gone && shared.sniff_full() {
                break;
            }
        }
        shared.output_done.store(true, Ordering::SeqCst);
        shared.output_ended.notify_waiters();
        if shared.client.compat.exec_output_ends_at_exit && !receiver_gone && may_still_write(&shared).await {
            // The daemon stopped forwarding at the main process's exit while processes of the exec
            // still run: what they write is lost. The output is left open, as dockerd's would be while
            // they run, so a reader sees it unfinished (a buffered exec marks it incomplete).
            tx.closed().await;
        }
    });
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Whether a process of the exec may still write output: one carrying its token is alive in the
/// container's pid namespace. A sandbox's processes are out of the host's sight: they may.
async fn may_still_write(shared: &Shared) -> bool {
    if shared.target.sandboxed {
        return true;
    }
    let (marker, init_pid) = (shared.marker.clone(), shared.target.init_pid);
    tokio::task::spawn_blocking(move || marker.alive_on_host(init_pid)).await.unwrap_or(true)
}

/// What the control, the output stream and a background kill share about one exec.
struct Shared {
    client: Client,
    exec_id: String,
    marker: ExecMarker,
    target: Target,
    argv0: String,
    /// The first bytes of output, to recognize docker's report of a program that could not start.
    sniff: Mutex<Vec<u8>>,
    output_done: AtomicBool,
    /// Woken when the output ends: the process has most likely just exited, so `wait` asks at once
    /// instead of sleeping out its back-off (which cost up to 40 ms per exec).
    output_ended: tokio::sync::Notify,
    /// No later than the exit: when the exec was started, then each time docker still reported
    /// it running (see [`DockerExecControl::output_may_be_cut`]).
    not_exited_at: Mutex<SystemTime>,
}

impl Shared {
    fn sniff(&self, data: &[u8]) {
        let mut s = self.sniff.lock().unwrap_or_else(|p| p.into_inner());
        let room = SNIFF_LEN.saturating_sub(s.len());
        s.extend_from_slice(&data[..data.len().min(room)]);
    }

    fn sniff_full(&self) -> bool {
        self.sniff.lock().unwrap_or_else(|p| p.into_inner()).len() >= SNIFF_LEN
    }

    fn sniffed(&self) -> String {
        String::from_utf8_lossy(&self.sniff.lock().unwrap_or_else(|p| p.into_inner())).trim().to_owned()
    }

    async fn inspect(&self) -> Result<ExecState> {
        let info = self.client.call("exec", self.client.docker.inspect_exec(&self.exec_id)).await?;
        Ok(ExecState {
            running: info.running.unwrap_or(false),
            exit_code: info.exit_code,
            pid: info.pid.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0),
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct ExecState {
    running: bool,
    exit_code: Option<i64>,
    pid: Option<u32>,
}

struct DockerExecControl {
    shared: Arc<Shared>,
}

impl ExecControl for DockerExecControl {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        wait(self.shared.clone()).boxed()
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        kill(self.shared.clone()).boxed()
    }

    fn abandon(&mut self) {
        spawn_kill(self.shared.clone());
    }

    /// dockerd deletes its exec once it exited, and the shim closes the output
    /// [`SHIM_OUTPUT_GRACE`] later whether or not a background child still writes. docker does not
    /// say when the exec exited, but it exited after the last time it was seen running: an end of
    /// output sooner than the grace after that is the processes closing it; a later one may be
    /// the shim's.
    fn output_may_be_cut(&self, output_ended: SystemTime) -> bool {
        let not_exited = *self.shared.not_exited_at.lock().unwrap_or_else(|p| p.into_inner());
        output_ended.duration_since(not_exited).is_ok_and(|d| d >= SHIM_OUTPUT_GRACE)
    }
}

fn spawn_kill(shared: Arc<Shared>) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            if let Err(e) = kill(shared).await {
                tracing::warn!(error = %e, "ending an abandoned docker exec failed");
            }
        });
    }
}

/// First pause before asking docker about an exec whose output is still open, doubled up to
/// [`POLL_MAX`]: the output ends at the exit unless a background child holds it, so asking sooner
/// only costs the daemon a round trip while the process runs.
const POLL_WHILE_OUTPUT_OPEN: Duration = Duration::from_millis(25);

/// First pause between asks once the output has ended and docker did not report the exit yet
/// (dockerd records it a moment after the output closes), doubled up to [`POLL_MAX`].
const POLL_AFTER_OUTPUT_END: Duration = Duration::from_millis(1);

const POLL_MAX: Duration = Duration::from_millis(100);

/// Polls exec inspect until the process has exited: docker's exit is the process's, not the end of
/// the output, so a background child holding stdout open does not delay it. The first ask comes at
/// the end of the output (the usual exit), or after a back-off while it stays open.
async fn wait(shared: Arc<Shared>) -> Result<i64> {
    let mut while_open = POLL_WHILE_OUTPUT_OPEN;
    let mut after_end = POLL_AFTER_OUTPUT_END;
    let mut asked_after_end = false;
    let mut ended_without_code: Option<Instant> = None;
    loop {
        if !shared.output_done.load(Ordering::SeqCst) {
            // Registered before the check, so an end between the check and the wait wakes it.
            let ended = shared.output_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if !shared.output_done.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = tokio::time::sleep(while_open) => while_open = (while_open * 2).min(POLL_MAX),
                    _ = ended => {}
                }
            }
        }
        if shared.output_done.load(Ordering::SeqCst) {
            if asked_after_end {
                tokio::time::sleep(after_end).await;
                after_end = (after_end * 2).min(POLL_MAX);
            }
            asked_after_end = true;
        }
        let asked = SystemTime::now();
        let state = shared.inspect().await?;
        if state.running {
            *shared.not_exited_at.lock().unwrap_or_else(|p| p.into_inner()) = asked;
        }
        match (state.running, state.exit_code) {
            (false, Some(code)) => return exit_result(&shared, state, code).await,
            (false, None) if shared.output_done.load(Ordering::SeqCst) => {
                // Not started yet, or dockerd failed it without a code: give it a moment after the
                // output ended, then report what it printed.
                let since = *ended_without_code.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(2) {
                    return Err(Error::unexpected(format!(
                        "the exec ended without an exit code; its output began: {:?}",
                        shared.sniffed()
                    ))
                    .with_engine(ENGINE)
                    .with_operation("exec"));
                }
            }
            _ => {}
        }
    }
}

/// The exit code, or the error when it is the runtime's report of a process that never ran
/// ([`crate::exec_errors`]).
async fn exit_result(shared: &Shared, state: ExecState, code: i64) -> Result<i64> {
    if !crate::exec_errors::may_be_start_failure(code) {
        return Ok(code);
    }
    // The report is in the output; let it arrive if the reader is still at it.
    let deadline = Instant::now() + Duration::from_millis(500);
    while !shared.output_done.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid_kept = shared.client.compat.exec_pid_kept_after_exit;
    match crate::exec_errors::start_failure(code, state.pid, pid_kept, &shared.sniffed(), &shared.argv0) {
        Some(e) => Err(e.with_engine(ENGINE).with_operation("exec").with_container(shared.target.id.clone())),
        None => Ok(code),
    }
}

/// Ends the exec's processes (see the module docs) and waits until docker reports it exited.
async fn kill(shared: Arc<Shared>) -> Result<()> {
    let deadline = Instant::now() + shared.client.call_timeout;
    let mut state = shared.inspect().await?;
    // Docker answers the start call before the process runs: give it a moment to appear.
    let appear = Instant::now() + Duration::from_secs(2);
    while !state.running && state.exit_code.is_none() && Instant::now() < appear {
        tokio::time::sleep(Duration::from_millis(20)).await;
        state = shared.inspect().await?;
    }
    if !state.running {
        return Ok(());
    }
    if !shared.target.sandboxed {
        let (init_pid, marker) = (shared.target.init_pid, shared.marker.clone());
        let killed = tokio::task::spawn_blocking(move || marker.kill_on_host(init_pid)).await.unwrap_or(0);
        if killed > 0 && wait_not_running(&shared, Instant::now() + Duration::from_secs(2)).await? {
            return Ok(());
        }
    }
    kill_inside(&shared).await?;
    if wait_not_running(&shared, deadline).await? {
        return Ok(());
    }
    Err(Error::unexpected("the exec was signalled but docker still reports it running")
        .with_engine(ENGINE)
        .with_operation("exec")
        .with_container(shared.target.id.clone()))
}

async fn wait_not_running(shared: &Shared, until: Instant) -> Result<bool> {
    loop {
        if !shared.inspect().await?.running {
            return Ok(true);
        }
        if Instant::now() >= until {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The second exec that kills the marked processes from inside the container.
async fn kill_inside(shared: &Shared) -> Result<()> {
    let request = shared.marker.kill_inside();
    let limit = shared.client.call_timeout;
    // Boxed: this exec's own control could, in principle, call back into kill.
    let session = Box::pin(start(&shared.client, shared.target.clone(), request, false)).await?;
    let result = run_to_completion(session, None, 4096, Some(limit)).await?;
    if !result.success() {
        let (out, err) = result.sample(512);
        return Err(Error::unexpected(format!(
            "killing the exec from inside the container failed (exit {}): {out} {err}",
            result.exit_code
        ))
        .with_engine(ENGINE)
        .with_operation("exec"));
    }
    Ok(())
}
