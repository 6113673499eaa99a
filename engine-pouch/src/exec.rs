//! Exec on pouch: create, start attached (see `hijack`), wait by polling the exec inspect, and
//! kill — which pouch has no API for.
//!
//! Facts of pouchd 1.x this module is built around (read in pouch's source, seen in the fixtures):
//! - `ExecCreateConfig` has no `WorkingDir`: pouch silently runs every exec in the container's
//!   working dir. A working dir is therefore emulated with a `sh` wrapper that `cd`s first.
//! - The exec inspect reports no `Pid`, and `ExitCode` is 0 (not `null`) before the process has
//!   even started; `Running` turns true only once pouchd started it. So "not running, exit 0" is
//!   trusted only after `Running` was seen, or after pouchd closed the attached stream (it closes
//!   the process's IO when the process exits, background children or not), or when the code is
//!   non-zero (set only at exit).
//! - A missing binary is reported as stdout text of the start stream with exit code 126; the
//!   buffered exec in anyctr-core reads it by `anyctr_core::exec_failure` (`CommandNotFound`; the
//!   working-dir wrapper's `chdir to cwd` report is `NotFound` there).
//! - Killing: every exec carries the environment marker of [`anyctr_core::exec_marker`]. To kill
//!   it, the host pid is signalled if pouch reports one (checked against the marker first, so a
//!   reused pid is never hit); otherwise the marker's kill exec ends every process of the container
//!   that carries it — the process and the children that inherited it. That second exec needs
//!   `sh`, `grep -z` and `kill` in the container.

use std::time::Duration;

use anyctr_core::exec_marker::ExecMarker;
use anyctr_core::model::{ExecControl, ExecRequest, ExecSession};
use anyctr_core::{Error, ErrorKind, Result};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::client::{self, Client};
use crate::{ENGINE, hijack, models};

/// The PATH Docker gives containers whose image sets none (images made by `docker import`).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How long a kill waits for the exec to be reported as ended.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// `cd` into `$1`, then run the rest, reporting failures the way the OCI runtime words them so
/// they are recognized as start failures (exit 126/127 with "exec failed: … not found").
const WORKDIR_WRAPPER: &str = r#"cd "$1" 2>/dev/null || { echo "anyctr: exec failed: chdir to cwd (\"$1\") failed: no such file or directory" >&2; exit 126; }
shift
command -v "$1" >/dev/null 2>&1 || { echo "anyctr: exec failed: exec: \"$1\": executable file not found in \$PATH" >&2; exit 127; }
exec "$@""#;

/// The exec create body for `request` in a container whose env is `container_env`.
pub fn create_body(
    request: &ExecRequest,
    container_env: &[String],
    marker: Option<&ExecMarker>,
    open_stdin: bool,
) -> serde_json::Value {
    let has_path = |env: &[String]| env.iter().any(|e| e.starts_with("PATH="));
    let mut env = request.env.clone();
    if !has_path(container_env) && !has_path(&request.env) {
        env.push(DEFAULT_PATH.to_owned());
    }
    if let Some(m) = marker {
        env.push(m.env_entry());
    }
    let cmd: Vec<String> = match &request.working_dir {
        Some(dir) => ["sh", "-c", WORKDIR_WRAPPER, "sh", dir.as_str()]
            .into_iter()
            .map(str::to_owned)
            .chain(request.argv.iter().cloned())
            .collect(),
        None => request.argv.clone(),
    };
    let mut body = serde_json::json!({
        "Cmd": cmd,
        "Env": env,
        "AttachStdout": true,
        "AttachStderr": true,
        "Tty": false,
    });
    if open_stdin {
        body["AttachStdin"] = true.into();
    }
    if let Some(user) = &request.user {
        body["User"] = user.clone().into();
    }
    body
}

async fn create(client: &Client, container_id: &str, body: &serde_json::Value) -> Result<String> {
    let path = format!("/containers/{}/exec", client::encode_segment(container_id));
    let created: models::IdResponse = client.post_json(&path, body).await?;
    if created.id.is_empty() {
        return Err(Error::unexpected("pouchd created an exec but sent no id"));
    }
    Ok(created.id)
}

pub async fn inspect(client: &Client, exec_id: &str) -> Result<models::ExecInspect> {
    client.get_json(&format!("/exec/{}/json", client::encode_segment(exec_id))).await
}

/// Starts `request` in the (resolved) container and returns the live session.
pub async fn start(
    client: &Client,
    container_id: &str,
    container_env: &[String],
    request: ExecRequest,
    open_stdin: bool,
) -> Result<ExecSession> {
    request.validate()?;
    let marker = ExecMarker::new();
    // Built before any await: a request (its stdin reader) is not Sync.
    let body = create_body(&request, container_env, Some(&marker), open_stdin);
    drop(request);
    let exec_id = create(client, container_id, &body).await?;
    let attached = hijack::start(client, &exec_id, open_stdin).await?;
    let waiter = ExecWaiter::new(client.clone(), exec_id, attached.closed);
    let control = PouchExec { waiter, container_id: container_id.to_owned(), marker };
    Ok(ExecSession::new(attached.stdin, attached.output, Box::new(control)))
}

/// Observes one exec's exit (see the module docs for why it is not simply `Running == false`).
#[derive(Debug)]
pub struct ExecWaiter {
    client: Client,
    exec_id: String,
    closed: watch::Receiver<bool>,
    closed_gone: bool,
    seen_running: bool,
    exit: Option<i64>,
    pid: Option<i64>,
}

impl ExecWaiter {
    fn new(client: Client, exec_id: String, closed: watch::Receiver<bool>) -> Self {
        ExecWaiter { client, exec_id, closed, closed_gone: false, seen_running: false, exit: None, pid: None }
    }

    /// One look at the exec: `Some(code)` once the exit is certain.
    async fn poll_once(&mut self) -> Result<Option<i64>> {
        if let Some(code) = self.exit {
            return Ok(Some(code));
        }
        let info = inspect(&self.client, &self.exec_id).await?;
        self.pid = info.pid.filter(|p| *p > 0).or(self.pid);
        if info.running.unwrap_or(false) {
            self.seen_running = true;
            return Ok(None);
        }
        let closed = *self.closed.borrow();
        match info.exit_code {
            Some(code) if code != 0 || self.seen_running || closed => {
                self.exit = Some(code);
                Ok(Some(code))
            }
            _ => Ok(None),
        }
    }

    pub async fn wait(&mut self) -> Result<i64> {
        let mut delay = Duration::from_millis(10);
        loop {
            if let Some(code) = self.poll_once().await? {
                return Ok(code);
            }
            // Poll again after `delay`, or at once when pouchd closes the stream.
            if *self.closed.borrow() || self.closed_gone {
                tokio::time::sleep(delay).await;
            } else if let Ok(Err(_)) = tokio::time::timeout(delay, self.closed.changed()).await {
                self.closed_gone = true;
            }
            delay = (delay * 2).min(Duration::from_millis(250));
        }
    }
}

/// The [`ExecControl`] of a pouch exec.
struct PouchExec {
    waiter: ExecWaiter,
    container_id: String,
    marker: ExecMarker,
}

impl PouchExec {
    async fn kill_now(&mut self) -> Result<()> {
        if self.waiter.poll_once().await?.is_some() {
            return Ok(());
        }
        let signalled = match self.waiter.pid {
            Some(pid) => u32::try_from(pid).is_ok_and(|pid| self.marker.signal_if_marked(pid)),
            None => false,
        };
        if !signalled {
            kill_marked_inside(&self.waiter.client, &self.container_id, &self.marker).await?;
        }
        match tokio::time::timeout(KILL_WAIT, self.waiter.wait()).await {
            Ok(r) => r.map(|_| ()),
            Err(_) => {
                Err(Error::new(ErrorKind::Timeout, format!("exec still running {KILL_WAIT:?} after it was killed"))
                    .with_engine(ENGINE)
                    .with_operation("exec kill"))
            }
        }
    }
}

impl ExecControl for PouchExec {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(self.waiter.wait())
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.kill_now()
                .await
                .map_err(|e| e.in_context(ENGINE, "exec kill").with_container(self.container_id.clone()))
        })
    }

    fn abandon(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(exec = %self.waiter.exec_id, "exec session dropped outside a runtime; its process is left running");
            return;
        };
        let mut me = PouchExec {
            waiter: ExecWaiter::new(
                self.waiter.client.clone(),
                self.waiter.exec_id.clone(),
                self.waiter.closed.clone(),
            ),
            container_id: self.container_id.clone(),
            marker: self.marker.clone(),
        };
        me.waiter.seen_running = self.waiter.seen_running;
        me.waiter.pid = self.waiter.pid;
        runtime.spawn(async move {
            if let Err(e) = me.kill_now().await {
                tracing::warn!(exec = %me.waiter.exec_id, error = %e, "killing an abandoned pouch exec failed");
            }
        });
    }
}

/// Runs the marker's kill exec in the container and checks that it worked.
async fn kill_marked_inside(client: &Client, container_id: &str, marker: &ExecMarker) -> Result<()> {
    let request = marker.kill_inside();
    let exec_id = create(client, container_id, &create_body(&request, &[], None, false)).await?;
    let mut attached = hijack::start(client, &exec_id, false).await?;
    let mut output = Vec::new();
    let collect = async {
        while let Some(chunk) = attached.output.next().await {
            output.extend_from_slice(&chunk?.data);
        }
        Ok::<_, Error>(())
    };
    tokio::time::timeout(KILL_WAIT, collect).await.map_err(|_| Error::timeout("exec kill", KILL_WAIT))??;
    let mut waiter = ExecWaiter::new(client.clone(), exec_id, attached.closed);
    let code =
        tokio::time::timeout(KILL_WAIT, waiter.wait()).await.map_err(|_| Error::timeout("exec kill", KILL_WAIT))??;
    if code != 0 {
        let text = String::from_utf8_lossy(&output);
        return Err(Error::unexpected(format!(
            "pouch has no exec kill, and killing by a second exec failed (exit {code}; it needs sh, grep -z and kill \
             in the container): {}",
            text.trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workdir_wrappers_reports_get_the_runtimes_kinds() {
        use anyctr_core::exec_failure::start_failure_kind;
        // What WORKDIR_WRAPPER prints, with the exit code it gives.
        let cwd = "anyctr: exec failed: chdir to cwd (\"/no/such\") failed: no such file or directory";
        assert_eq!(start_failure_kind(126, cwd), Some(ErrorKind::NotFound));
        let missing = "anyctr: exec failed: exec: \"nope\": executable file not found in $PATH";
        assert_eq!(start_failure_kind(127, missing), Some(ErrorKind::CommandNotFound));
        assert!(WORKDIR_WRAPPER.contains("chdir to cwd") && WORKDIR_WRAPPER.contains("executable file not found"));
    }

    #[test]
    fn create_body_adds_path_token_and_wraps_workdir() {
        let r = ExecRequest::new(["ls", "-l"]).env("A=1").working_dir("/data").user("nobody");
        let marker = ExecMarker::new();
        let b = create_body(&r, &[], Some(&marker), true);
        let cmd: Vec<&str> = b["Cmd"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(cmd[..2], ["sh", "-c"]);
        assert_eq!(cmd[3..], ["sh", "/data", "ls", "-l"]);
        let env: Vec<&str> = b["Env"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(env, ["A=1", DEFAULT_PATH, marker.env_entry().as_str()]);
        assert_eq!(b["AttachStdin"], true);
        assert_eq!(b["User"], "nobody");

        let plain = create_body(&ExecRequest::new(["true"]), &["PATH=/bin".into()], None, false);
        assert_eq!(plain["Cmd"], serde_json::json!(["true"]));
        assert_eq!(plain["Env"], serde_json::json!([]));
        assert!(plain.get("AttachStdin").is_none() && plain.get("User").is_none());
    }
}
