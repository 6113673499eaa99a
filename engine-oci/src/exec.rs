//! Exec through the runtime binary: `<runtime> --root R --log L --log-format json exec --env …
//! [--cwd D] [--user uid:gid] ID argv…`, run in the foreground. The runtime hands its own stdio
//! to the process, so the pipes anyctr gives it are the process's; its exit status is the
//! process's; and what the runtime itself has to say (a program that could not be started) goes
//! to the JSON log, kept apart from the program's stderr.
//!
//! Ending it: the runtime process is anyctr's child, but killing it does not reach the process in
//! the container nor its children. Every exec therefore carries the environment marker of
//! [`anyctr_core::exec_marker`]: for runc-class containers the host `/proc` scan (in the init's pid
//! namespace) kills every marked process; for runsc the marker's kill exec runs in the container.
//!
//! The request is applied to the container's own `process` from its `config.json` and passed as
//! `--process` (crun's `--env` replaces the environment instead of adding to it, and runc's adds a
//! key the container already sets a second time, after the first): the exec runs with the
//! container's env, capabilities and rlimits, as the daemons' execs do.
//!
//! A limit of runc, not of anyctr: in the foreground, runc copies the process's stdio through pipes
//! of its own and exits, with the status, only once they close, so a background child that keeps
//! stdout open delays the exit code until it ends (crun hands its stdio over and returns at the
//! exit; conformance declares `exec.background_child` not applicable on oci/runc).
//!
//! Exec creates nothing in the runtime root (runc and crun keep no record of an exec; the log is a
//! temporary file outside the root, removed after the exit), which is why the read-only default
//! on daemon-owned roots allows it: see the crate docs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyctr_core::buffered_exec::output_chunks;
use anyctr_core::exec_failure::{runtime_message_kind, start_failure_kind, start_failure_message};

use crate::exec_output::{ClosingStdin, SNIFF_WAIT, Sniff, forward};
use anyctr_core::exec_marker::ExecMarker;
use anyctr_core::model::{ExecControl, ExecRequest, ExecSession, OutputStream};
use anyctr_core::{Error, ErrorKind, Result};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use tokio::process::{Child, Command};

/// What an exec needs to know about its container.
#[derive(Debug, Clone)]
pub struct Target {
    /// The runtime binary.
    pub binary: PathBuf,
    /// The root (path this process opens).
    pub root: PathBuf,
    /// The container id.
    pub id: String,
    /// The init's host pid.
    pub init_pid: Option<u32>,
    /// A sandboxed runtime (runsc): its processes are not host processes.
    pub sandboxed: bool,
    /// The host's `/proc` as this process sees it.
    pub proc: PathBuf,
    /// The container's `process` from its bundle's `config.json`, when readable.
    pub process: Option<serde_json::Value>,
}

/// The exec's process spec: the container's, with the request's argv, env (added, a key the
/// container sets replaced), working dir and user, the marker, and no terminal.
fn process_spec(
    base: &serde_json::Value,
    request: &ExecRequest,
    user: Option<(u32, u32)>,
    marker: &ExecMarker,
) -> serde_json::Value {
    let mut process = base.clone();
    let mut env: Vec<String> = base
        .get("env")
        .and_then(|e| e.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    for entry in request.env.iter().chain(std::iter::once(&marker.env_entry())) {
        let key = entry.split('=').next().unwrap_or(entry);
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    process["args"] = serde_json::json!(request.argv);
    process["env"] = serde_json::json!(env);
    process["terminal"] = serde_json::Value::Bool(false);
    if let Some(obj) = process.as_object_mut() {
        obj.remove("consoleSize");
    }
    if let Some(dir) = &request.working_dir {
        process["cwd"] = serde_json::json!(dir);
    }
    if let Some((uid, gid)) = user {
        process["user"] = serde_json::json!({"uid": uid, "gid": gid});
    }
    process
}

/// Starts the exec and returns its session.
pub async fn start(target: Target, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
    let user = match &request.user {
        Some(spec) => Some(resolve_user(&target, spec)?),
        None => None,
    };
    let marker = ExecMarker::new();
    let log = std::env::temp_dir().join(format!("anyctr-oci-exec-{}.json", marker.token()));
    let mut cmd = Command::new(&target.binary);
    cmd.arg("--root").arg(&target.root).arg("--log").arg(&log).arg("--log-format").arg("json").arg("exec");
    let process_file = match &target.process {
        // The container's own process spec with the request applied: the runtime then runs it
        // with the container's capabilities, rlimits and env exactly as the daemons' execs do.
        Some(base) => {
            let path = std::env::temp_dir().join(format!("anyctr-oci-exec-{}-process.json", marker.token()));
            let process = process_spec(base, &request, user, &marker);
            std::fs::write(&path, serde_json::to_vec(&process).map_err(std::io::Error::other)?)?;
            cmd.arg("--process").arg(&path);
            Some(path)
        }
        None => {
            for entry in request.env.iter().chain(std::iter::once(&marker.env_entry())) {
                cmd.arg("--env").arg(entry);
            }
            if let Some(dir) = &request.working_dir {
                cmd.arg("--cwd").arg(dir);
            }
            if let Some((uid, gid)) = user {
                cmd.arg("--user").arg(format!("{uid}:{gid}"));
            }
            None
        }
    };
    cmd.arg(&target.id);
    if process_file.is_none() {
        cmd.args(&request.argv);
    }
    cmd.stdin(if open_stdin { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            if let Some(p) = &process_file {
                let _ = std::fs::remove_file(p);
            }
            return Err(spawn_error(&target.binary, e));
        }
    };
    let stdout = child.stdout.take().map(|o| output_chunks(o, OutputStream::Stdout));
    let stderr = child.stderr.take().map(|o| output_chunks(o, OutputStream::Stderr));
    let merged = futures_util::stream::select(
        stdout.unwrap_or_else(|| futures_util::stream::empty().boxed()),
        stderr.unwrap_or_else(|| futures_util::stream::empty().boxed()),
    )
    .boxed();
    let sniff = Arc::new(Sniff::default());
    let output = forward(merged, sniff.clone());
    let stdin = child.stdin.take().map(|s| Box::pin(ClosingStdin(Some(s))) as anyctr_core::model::ExecStdin);
    let shared = Arc::new(Shared { target, marker, log, process_file, sniff, argv0: request.argv[0].clone() });
    let control = RuntimeExec { child: Some(child), shared };
    Ok(ExecSession::new(stdin, output, Box::new(control)))
}

/// The runtime binary could not be run at all (an argument list over the kernel's limit is the
/// caller's: `InvalidArgument`).
pub fn spawn_error(binary: &Path, e: std::io::Error) -> Error {
    const E2BIG: i32 = 7;
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::EngineUnavailable,
        _ if e.raw_os_error() == Some(E2BIG) => ErrorKind::InvalidArgument,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("cannot run the OCI runtime {}: {e}", binary.display()))
}

struct Shared {
    target: Target,
    marker: ExecMarker,
    log: PathBuf,
    process_file: Option<PathBuf>,
    sniff: Arc<Sniff>,
    argv0: String,
}

impl Shared {
    /// Kills every process of the exec.
    async fn kill_marked(self: Arc<Self>) {
        if self.target.sandboxed {
            // runsc's processes are inside the sandbox: the marker's kill script runs there.
            let kill = self.marker.kill_inside();
            if let Ok(session) = start(self.target.clone(), kill, false).await {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), session.wait()).await;
            }
            return;
        }
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || me.marker.kill_on_host(me.target.init_pid)).await;
    }

    /// What the runtime logged at level error (its own failure), if anything.
    fn runtime_error(&self) -> Option<String> {
        crate::lifecycle::runtime_errors(&self.log)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
        if let Some(p) = &self.process_file {
            let _ = std::fs::remove_file(p);
        }
    }
}

struct RuntimeExec {
    child: Option<Child>,
    shared: Arc<Shared>,
}

impl ExecControl for RuntimeExec {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        async move {
            let child = self.child.as_mut().ok_or_else(|| Error::unexpected("exec already ended"))?;
            let status = child.wait().await?;
            self.child = None;
            let code = status.code().map(i64::from).unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                128 + i64::from(status.signal().unwrap_or(0))
            });
            if code == 0 {
                return Ok(code);
            }
            if let Some(message) = self.shared.runtime_error() {
                // The runtime's own words: the program did not start (or the runtime failed).
                let kind = runtime_message_kind(&format!("exec failed: {message}")).unwrap_or(ErrorKind::Unexpected);
                return Err(Error::new(kind, message));
            }
            // Some failures are only said on stderr (runc init's execve, crun's chdir): the
            // output's first KiB, once read.
            let text = self.shared.sniff.text_when_read(SNIFF_WAIT).await;
            let kind = start_failure_kind(code, &text).or_else(|| {
                // 255: the runtime's own failure code (runc, crun); its message is one line.
                (code == 255 && text.trim().lines().count() == 1)
                    .then(|| runtime_message_kind(&format!("exec failed: {}", text.trim())))
                    .flatten()
            });
            match kind {
                Some(kind) => Err(Error::new(kind, start_failure_message(&self.shared.argv0, code, &text))),
                None => Ok(code),
            }
        }
        .boxed()
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        async move {
            self.shared.clone().kill_marked().await;
            if let Some(mut child) = self.child.take() {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait()).await;
            }
            Ok(())
        }
        .boxed()
    }

    fn abandon(&mut self) {
        let shared = self.shared.clone();
        let child = self.child.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                shared.kill_marked().await;
                if let Some(mut child) = child {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                }
            });
        }
    }
}

/// `user[:group]` → numeric ids, names looked up in the container's `/etc/passwd` and
/// `/etc/group` (through `/proc/<init>/root`, fd-based, capped). A uid alone takes its passwd
/// entry's primary group, else 0 (as docker does). A name that is not there is `NotFound`.
fn resolve_user(target: &Target, spec: &str) -> Result<(u32, u32)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(Error::invalid_argument(format!("bad exec user {spec:?}: expected user[:group]")));
    }
    let needs_files = user.parse::<u32>().is_err() || group.is_none_or(|g| g.parse::<u32>().is_err());
    let (passwd, groups) = if needs_files { container_files(target) } else { (None, None) };
    let find = |text: &Option<String>, pred: &dyn Fn(&[&str]) -> bool| -> Option<Vec<String>> {
        text.as_deref()?
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && pred(f))
            .map(|f| f.iter().map(|s| (*s).to_owned()).collect())
    };
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => {
            let entry = find(&passwd, &|f| f[2].parse() == Ok(uid));
            (uid, entry.and_then(|f| f.get(3).and_then(|g| g.parse().ok())).unwrap_or(0))
        }
        Err(_) => {
            let entry = find(&passwd, &|f| f[0] == user).ok_or_else(|| {
                Error::not_found(format!("unable to find user {user}: no matching entries in passwd file"))
            })?;
            let uid =
                entry[2].parse().map_err(|_| Error::invalid_argument(format!("bad passwd entry for {user:?}")))?;
            (uid, entry.get(3).and_then(|g| g.parse().ok()).unwrap_or(0))
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => find(&groups, &|f| f[0] == g).and_then(|f| f[2].parse().ok()).ok_or_else(|| {
                Error::not_found(format!("unable to find group {g}: no matching entries in group file"))
            })?,
        },
    };
    Ok((uid, gid))
}

/// Cap on `/etc/passwd` and `/etc/group`.
const ACCOUNT_FILE_CAP: u64 = 1 << 20;

fn container_files(target: &Target) -> (Option<String>, Option<String>) {
    use std::io::Read;
    let Some(pid) = target.init_pid.filter(|_| !target.sandboxed) else { return (None, None) };
    let Ok(root) = anyctr_host::hostfs::proc_root(&target.proc, pid) else { return (None, None) };
    let read = |path: &str| {
        let (file, _) = root.root.open_file(Path::new(path)).ok()?;
        let mut text = String::new();
        file.take(ACCOUNT_FILE_CAP).read_to_string(&mut text).ok()?;
        Some(text)
    };
    (read("/etc/passwd"), read("/etc/group"))
}
