//! The namespace fast path: run a command in a runc-class container by entering its init's
//! namespaces from the host, without a round trip through the engine (a `docker exec` costs tens
//! of milliseconds of daemon, shim and runc work; this costs a double fork).
//!
//! The command joins the init's cgroups (every v1 hierarchy and the v2 one) and enters its user
//! (when it differs), cgroup, ipc, uts, net, pid and mount namespaces and its root directory; it
//! runs as the requested user (resolved in the container's `/etc/passwd` and `/etc/group`, as
//! `docker exec -u` does) or else with the init's own credentials, in the requested working
//! directory or else the init's, with the container's environment plus the request's, a `PATH`,
//! `HOSTNAME` and `HOME` filled in where missing (as docker and runc do). Its capability bounding
//! set is cut to the init's and `no_new_privs` copied, so a root command gets no more privilege
//! than the container's own root.
//!
//! Not applied (a difference from `docker exec`): the container's seccomp filter and LSM profile
//! (AppArmor, SELinux), rlimits and OOM score; the command has the agent's. Use the engine's exec
//! when those matter.
//!
//! # The command's whole tree
//! The command runs in a transient cgroup of its own (`anyctr-exec-<agent pid>-<n>`), a child of
//! the container's v1 freezer cgroup or of its v2 cgroup (see `cgroup.rs`), which nothing it starts
//! can leave — `setsid()`, double forks and orphans included. On a timeout, a dropped or killed
//! session, and the agent's death (even by SIGKILL), every process in it is killed; when the
//! command ends, what it left running (background children, daemons) is killed too (a difference
//! from `docker exec`, whose leftovers keep running), and the cgroup is removed. Orphans are
//! reparented to the container's init as usual: an init that never reaps (`sleep`) keeps them as
//! zombies, as it would any orphan of its own.
//!
//! # Errors
//! - [`ErrorKind::Unsupported`]: a sandboxed runtime (gVisor, Kata, RunD, or any runtime not known
//!   to be runc-class: "not host-visible" with [`RuntimeClass::sandbox_reason`]), a running
//!   container without a host pid, an agent outside the host's cgroup namespace, or a container
//!   with neither a v1 freezer cgroup nor a v2 cgroup with `cgroup.kill`.
//! - [`ErrorKind::Conflict`]: the container is not running, is paused, or its init went away.
//! - [`ErrorKind::PermissionDenied`]: this process is not root (or may not enter the namespaces).
//! - [`ErrorKind::CommandNotFound`], [`ErrorKind::NotFound`] (a user, group or working directory
//!   the container lacks), [`ErrorKind::InvalidArgument`] (argv and env over the kernel's limit,
//!   `E2BIG`), [`ErrorKind::Timeout`] (the command was killed), as for any exec.
//!
//! # Limits
//! - Linux 5.3 or later (pidfds; `clone3` and `close_range` are used when there, with fallbacks);
//!   on a cgroup v2 host, 5.14 (`cgroup.kill`). The agent must run in the host's pid and cgroup
//!   namespaces, or see the host's `/proc` and `/sys/fs/cgroup` under its host root, and be able
//!   to create a directory in the container's cgroup.
//! - The namespaces entered are the init's *current* ones (as with `nsenter(1)`), not the ones the
//!   runtime recorded: an init that unshared namespaces of its own takes the command along.
//! - The pid comes from the caller's [`ContainerDetail`]: inspect right before calling. A pid
//!   reused by a host process is refused (it shares the agent's mount namespace), and all of the
//!   init's files are read through one `/proc/<pid>` descriptor, but a pid reused by another
//!   container's process between the inspect and this call cannot be told apart.

mod cgroup;
mod report;
mod session;
#[allow(unsafe_code)]
mod sys;
pub(crate) mod target;
mod user;

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use anyctr_core::buffered_exec::run_to_completion;
use anyctr_core::error::{Error, ErrorKind, Result};
#[cfg(doc)]
use anyctr_core::model::RuntimeClass;
use anyctr_core::model::{ContainerDetail, ContainerStatus, ExecRequest, ExecResult, ExecSession};

pub use cgroup::TRANSIENT_PREFIX;
use cgroup::Transient;
use report::{Described, report_error};
use session::{Stdin, Supervisor};
use sys::{ChildFds, Cwd, Plan};
use target::Target;
use user::Credentials;

/// The operation name errors carry.
const OPERATION: &str = "exec_fast";

/// `PATH` when the container's environment has none (docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs `request` in the container through its init's namespaces and returns the buffered result:
/// stdin (when given) delivered then EOF, stdout and stderr apart and bounded by the request's
/// output limit, the whole run bounded by its timeout (the command is killed and reaped, and the
/// call fails with [`ErrorKind::Timeout`]). Requires root. See the module docs.
pub async fn exec_in_namespaces(
    detail: &ContainerDetail,
    request: ExecRequest,
    host_root: Option<&Path>,
) -> Result<ExecResult> {
    let started = Instant::now();
    let (limit, timeout) = (request.output_limit, request.timeout);
    let (request, stdin) = request.split_stdin();
    let session = exec_stream_in_namespaces(detail, request, true, host_root).await?;
    let remaining = timeout.map(|t| t.saturating_sub(started.elapsed()));
    let mut result = run_to_completion(session, stdin, limit, remaining)
        .await
        .map_err(|e| e.with_operation(OPERATION).with_container(&detail.id))?;
    result.duration = started.elapsed();
    Ok(result)
}

/// Starts `request` (without `stdin`: write it through the session when `open_stdin`) in the
/// container through its init's namespaces. The request's timeout bounds the start only. Dropping
/// the session kills the command. See the module docs.
pub async fn exec_stream_in_namespaces(
    detail: &ContainerDetail,
    request: ExecRequest,
    open_stdin: bool,
    host_root: Option<&Path>,
) -> Result<ExecSession> {
    let in_context = |e: Error| e.with_operation(OPERATION).with_container(&detail.id);
    let deadline = request.timeout;
    let prepared = prepare(detail, &request, host_root).map_err(in_context)?;
    let started = match deadline {
        Some(t) => match tokio::time::timeout(t, launch(prepared, open_stdin)).await {
            Ok(r) => r,
            Err(_) => Err(Error::timeout(OPERATION, t)),
        },
        None => launch(prepared, open_stdin).await,
    };
    started.map_err(in_context)
}

/// The plan for the children plus what error messages name (owned: a request may hold a stdin
/// reader that is not `Sync`, so it is not borrowed across awaits).
struct Prepared {
    plan: Plan,
    /// The cgroup the command runs in (its whole tree is killed through it).
    transient: Transient,
    namespace_kinds: Vec<&'static str>,
    cgroup_paths: Vec<std::path::PathBuf>,
    unified_path: Option<std::path::PathBuf>,
    program: String,
    working_dir: Option<String>,
    user: Option<String>,
}

fn prepare(detail: &ContainerDetail, request: &ExecRequest, host_root: Option<&Path>) -> Result<Prepared> {
    request.validate()?;
    if request.stdin.is_some() {
        return Err(Error::invalid_argument("a streaming exec takes stdin through the session's writer"));
    }
    let pid = target_pid(detail)?;
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "the namespace fast path needs root (setns, joining cgroups, switching users)",
        ));
    }
    let target = Target::open(pid, host_root)?;
    let read_etc = |path: &str| {
        crate::host_path::host_path(detail, path, host_root).ok().and_then(|hp| std::fs::read_to_string(hp.path).ok())
    };
    let mut creds = match &request.user {
        Some(spec) => user::resolve(
            spec,
            &user::parse_passwd(&read_etc("/etc/passwd").unwrap_or_default()),
            &user::parse_group(&read_etc("/etc/group").unwrap_or_default()),
        )?,
        None => user::from_status(&target.status)?,
    };
    let mut env = command_env(detail, &request.env);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        if creds.home.is_none() {
            // The init's user by uid, only now that HOME is actually needed.
            let passwd = user::parse_passwd(&read_etc("/etc/passwd").unwrap_or_default());
            creds.home = Some(passwd.into_iter().find(|e| e.uid == creds.uid).map_or("/".to_owned(), |e| e.home));
        }
        env.push(format!("HOME={}", creds.home.as_deref().unwrap_or("/")));
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    let candidates = exec_candidates(&request.argv[0], path);
    // Last, so a refusal above creates nothing (dropping it removes it).
    let transient = Transient::create(&target.cgroup_dirs)?;
    build_plan(target, creds, request, env, candidates, transient)
}

fn build_plan(
    target: Target,
    creds: Credentials,
    request: &ExecRequest,
    env: Vec<String>,
    candidates: Vec<String>,
    transient: Transient,
) -> Result<Prepared> {
    let bounding = target.cap_bounding()?;
    let no_new_privs = target.no_new_privs();
    let cstrings = |v: &[String]| -> Result<Vec<CString>> {
        v.iter()
            .map(|s| {
                CString::new(s.as_str()).map_err(|_| Error::invalid_argument(format!("{s:?} contains a NUL byte")))
            })
            .collect()
    };
    let last_cap: i32 =
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40);
    let drop_caps = (0..=last_cap.min(63)).filter(|cap| bounding & (1u64 << cap) == 0).collect();
    let cwd = match &request.working_dir {
        Some(dir) => Cwd::Path(cstrings(std::slice::from_ref(dir))?.remove(0)),
        None => Cwd::Fd(target.cwd),
    };
    let namespace_kinds = target.namespaces.iter().map(|(kind, _, _)| *kind).collect();
    // The supervisor joins the v1 cgroups; the v2 one too when it is the kill hierarchy (the
    // command is then cloned into the transient cgroup below it). Otherwise (a hybrid host) the
    // command is cloned straight into the init's v2 cgroup: joining it by a write would take the
    // kernel's global threadgroup lock.
    let mut joins = target.cgroup_tasks;
    let mut unified_for_command = None;
    match (target.unified, transient.kills_through_v2()) {
        (Some((path, _, procs)), true) => joins.push((path, procs)),
        (Some((path, dir, procs)), false) => unified_for_command = Some((path, dir, procs)),
        (None, _) => {}
    }
    let cgroup_paths = joins.iter().map(|(p, _)| p.clone()).collect();
    let unified_path = unified_for_command.as_ref().map(|(p, _, _)| p.clone());
    let plan = Plan {
        cgroup_joins: joins.into_iter().map(|(_, fd)| fd).collect(),
        unified: unified_for_command.map(|(_, dir, procs)| (dir, procs)),
        namespaces: target.namespaces.into_iter().map(|(_, nstype, fd)| (nstype, fd)).collect(),
        enters_pid_ns: target.enters_pid_ns,
        root: target.root,
        cwd,
        uid: creds.uid,
        gid: creds.gid,
        groups: creds.groups,
        drop_caps,
        no_new_privs,
        argv: cstrings(&request.argv)?,
        envp: cstrings(&env)?,
        candidates: cstrings(&candidates)?,
    };
    Ok(Prepared {
        plan,
        transient,
        namespace_kinds,
        cgroup_paths,
        unified_path,
        program: request.argv[0].clone(),
        working_dir: request.working_dir.clone(),
        user: request.user.clone(),
    })
}

/// Checks the container can take the fast path and returns its init's host pid.
fn target_pid(detail: &ContainerDetail) -> Result<u32> {
    if let Some(reason) = detail.runtime.sandbox_reason() {
        // Name what runs the container (the binary behind a runc shim, say), and what the engine
        // called it when that differs.
        let reported = if detail.runtime_name != detail.runtime.as_str() && !detail.runtime_name.is_empty() {
            format!(" (the engine reports runtime `{}`)", detail.runtime_name)
        } else {
            String::new()
        };
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("not host-visible: {reason}{reported}; the host cannot enter its processes: use the engine's exec"),
        ));
    }
    match &detail.state.status {
        ContainerStatus::Paused => {
            // Joining a frozen cgroup would freeze the command before it starts.
            return Err(Error::new(ErrorKind::Conflict, "the container is paused: unpause it before exec"));
        }
        s if !s.is_running() => {
            return Err(Error::new(ErrorKind::Conflict, format!("the container is not running ({s:?})")));
        }
        _ => {}
    }
    detail.proc_root_pid().ok_or_else(|| {
        Error::new(ErrorKind::Unsupported, "the engine reports no host pid for the container's init: nothing to enter")
    })
}

/// Whether `command` (a fast-path command's `/proc/self/cgroup`) shows the cgroups of `init` (its
/// container init's): the same lines, except exactly one hierarchy (the v1 freezer, or v2) where
/// the command is in its transient cgroup, `<init's path>/anyctr-exec-…`.
pub fn cgroups_match_init(command: &str, init: &str) -> bool {
    let (command, init): (Vec<&str>, Vec<&str>) = (command.lines().collect(), init.lines().collect());
    if command.len() != init.len() || init.is_empty() {
        return false;
    }
    let mut transient = 0;
    for (c, i) in command.iter().zip(&init) {
        if c == i {
            continue;
        }
        let leaf =
            c.strip_prefix(i).and_then(|rest| rest.strip_prefix('/')).and_then(|l| l.strip_prefix(TRANSIENT_PREFIX));
        match leaf {
            Some(leaf) if !leaf.is_empty() && !leaf.contains('/') => transient += 1,
            _ => return false,
        }
    }
    transient == 1
}

/// The command's environment, built as docker builds an exec's: a default `PATH` and the
/// container's `HOSTNAME`, overridden by the container's env, overridden by the request's.
fn command_env(detail: &ContainerDetail, request_env: &[String]) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if let Some(hostname) = detail.hostname.as_deref().filter(|h| !h.is_empty()) {
        env.push(format!("HOSTNAME={hostname}"));
    }
    for entry in detail.env.iter().chain(request_env) {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        match env.iter_mut().find(|e| e.split_once('=').is_some_and(|(k, _)| k == key)) {
            Some(slot) => *slot = entry.clone(),
            None => env.push(entry.clone()),
        }
    }
    env
}

/// Where `execve` looks for `program`: itself when it has a `/`, else each `PATH` entry in order
/// (an empty entry is the working directory), as `execvp` does.
fn exec_candidates(program: &str, path: &str) -> Vec<String> {
    if program.contains('/') {
        return vec![program.to_owned()];
    }
    path.split(':')
        .map(
            |dir| {
                if dir.is_empty() { format!("./{program}") } else { format!("{}/{program}", dir.trim_end_matches('/')) }
            },
        )
        .collect()
}

/// A pipe with both ends close-on-exec, the child's end moved above the stdio numbers (an agent
/// with closed stdio gets pipes on 0–2, which the child's `dup2`s would clobber).
fn pipe_pair(child_reads: bool) -> Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::unexpected(format!("pipe2: {e}")))?;
    let (child, parent) = if child_reads { (r, w) } else { (w, r) };
    let child = if child.as_raw_fd() < 3 { child.try_clone()? } else { child };
    Ok((child, parent))
}

async fn launch(prepared: Prepared, open_stdin: bool) -> Result<ExecSession> {
    let (stdin_child, stdin_parent) = pipe_pair(true)?;
    let (stdout_child, stdout_parent) = pipe_pair(false)?;
    let (stderr_child, stderr_parent) = pipe_pair(false)?;
    let (report_child, report_parent) = pipe_pair(false)?;
    let (lifeline_child, lifeline_parent) = pipe_pair(true)?;
    let fds = ChildFds {
        stdin: stdin_child.as_fd(),
        stdout: stdout_child.as_fd(),
        stderr: stderr_child.as_fd(),
        report: report_child.as_fd(),
        lifeline: lifeline_child.as_fd(),
    };
    let spawned = sys::spawn(&prepared.plan, &prepared.transient.fds(), &fds)
        .map_err(|e| Error::unexpected(format!("fork: {e}")).with_source(e))?;
    // Only the children may hold their ends: EOF on the report pipe then means "exec happened".
    drop((stdin_child, stdout_child, stderr_child, report_child, lifeline_child));
    let Prepared { plan, transient, namespace_kinds, cgroup_paths, unified_path, program, working_dir, user } =
        prepared;
    drop(plan);
    let transient_path = transient.path().to_path_buf();
    let mut supervisor = Supervisor::new(spawned, lifeline_parent, transient)?;
    let described =
        Described { namespace_kinds, cgroup_paths, transient_path, unified_path, program, working_dir, user };
    let mut report = Vec::new();
    pipe::Receiver::from_owned_fd(report_parent)?.take(64).read_to_end(&mut report).await?;
    if !report.is_empty() {
        // The supervisor exits right after reporting; reap it (bounded) before answering.
        let _ =
            tokio::time::timeout(Duration::from_secs(5), anyctr_core::model::ExecControl::wait(&mut supervisor)).await;
        return Err(report_error(&report, &described));
    }
    let stdin: Option<anyctr_core::model::ExecStdin> =
        if open_stdin { Some(Box::pin(Stdin::new(pipe::Sender::from_owned_fd(stdin_parent)?))) } else { None };
    let output =
        session::output(pipe::Receiver::from_owned_fd(stdout_parent)?, pipe::Receiver::from_owned_fd(stderr_parent)?);
    Ok(ExecSession::new(stdin, output, Box::new(supervisor)))
}

/// Turns a child's failure report into the error a caller can act on.
#[cfg(test)]
mod tests;
