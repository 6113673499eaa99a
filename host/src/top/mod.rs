//! `top`: a container's processes from the cheapest correct source, and pid 1's reaping verdict.
//!
//! - runc-class (the container claims `proc_root`): the host's `/proc`, every process in the
//!   init's pid namespace (`host_proc`); host pids and in-container pids (`NSpid`) both known.
//!   No daemon call beyond the inspect.
//! - sandboxed (gVisor, Kata, RunD): `/proc` read inside by one exec (`exec`); in-container
//!   pids only.
//!
//! # Does pid 1 reap zombies?
//! A zombie is a process that exited and whose parent has not collected its status. Orphans are
//! re-parented to pid 1, so a pid 1 that never calls `wait` (a plain program run as init) lets
//! them pile up. The verdict ([`ReapingEvidence`]) is decided in this order:
//! 1. children of pid 1 that are zombies in one sample *and still the same zombies* (pid and
//!    start time) in a second sample taken [`CONFIRM_AFTER`] later: pid 1 does not reap (`false`);
//!    a reaping init collects a child within microseconds of its exit, so a zombie it owns does
//!    not survive 200 ms;
//! 2. pid 1 ignores `SIGCHLD`: the kernel reaps for it (`true`);
//! 3. pid 1 is a known reaping init by name ([`KNOWN_INITS`]) (`true`);
//! 4. pid 1 catches `SIGCHLD` (it handles child exits) (`true`, inferred);
//! 5. otherwise no evidence (`None`): a `sleep` as pid 1 with no orphan yet.

mod exec;
mod host_proc;
mod parse;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use anyctr_core::model::{ContainerDetail, ContainerTop, ProcessInfo, ProcessState, ReapingEvidence, TopSource};
use anyctr_core::registry::under_host_root;
use anyctr_core::{ContainerEngine, Error, ErrorKind, Result};

pub use exec::MAX_EXEC_PROCESSES;
pub use host_proc::MAX_PROCESSES;
pub use parse::CMDLINE_CAP;

/// Names (`comm`) of inits and supervisors that reap every child, orphans included.
pub const KNOWN_INITS: &[&str] = &[
    "tini",
    "tini-static",
    "docker-init",
    "dumb-init",
    "catatonit",
    "s6-svscan",
    "runsvdir",
    "runit",
    "systemd",
    "init",
    "pause",
    "supervisord",
    "my_init",
];

/// The delay before the second sample that confirms pid 1 left its zombie children.
pub const CONFIRM_AFTER: Duration = Duration::from_millis(200);

/// `SIGCHLD` (17) in a `/proc/<pid>/status` signal mask.
const SIGCHLD_BIT: u64 = 1 << 16;

/// One read of a container's processes.
#[derive(Debug)]
pub(crate) struct Sample {
    processes: Vec<ProcessInfo>,
    truncated: bool,
    /// Pid 1's `SigIgn` and `SigCgt`.
    pid1_signals: Option<(u64, u64)>,
}

impl Sample {
    fn new(
        raws: Vec<(parse::RawProcess, Vec<String>, bool)>,
        truncated: bool,
        host: bool,
        users: &HashMap<u32, String>,
    ) -> Sample {
        let is_pid1 = |r: &parse::RawProcess| if host { r.nspid.last() == Some(&1) } else { r.pid_in_reader == 1 };
        let pid1_signals = raws.iter().find(|(r, ..)| is_pid1(r)).map(|(r, ..)| (r.sig_ignored, r.sig_caught));
        Sample { processes: parse::build(raws, host, users), truncated, pid1_signals }
    }

    /// Pid 1's zombie children, by identity.
    fn unreaped(&self) -> HashSet<(u32, u64)> {
        self.processes
            .iter()
            .filter(|p| p.ppid == Some(1) && p.state == ProcessState::Zombie)
            .map(|p| (p.pid, p.start_ticks))
            .collect()
    }
}

/// The processes of `container`, from the host for a runc-class container and by exec in a
/// sandbox; see the module docs. `Unsupported` where the container claims no `top`, `Conflict`
/// when it is not running.
pub async fn container_top(
    engine: &dyn ContainerEngine,
    container: &str,
    host_root: Option<&Path>,
) -> Result<ContainerTop> {
    let detail = engine.inspect(container).await?;
    top_of(engine, &detail, host_root).await.map_err(|e| e.in_context(engine.name(), "top").with_container(&detail.id))
}

/// [`container_top`] on a container already inspected.
pub async fn top_of(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    host_root: Option<&Path>,
) -> Result<ContainerTop> {
    claimed_and_running(engine, detail, engine.container_capabilities(detail).top, "top")?;
    let first = read_sample(engine, detail, host_root).await?;
    let mut unreaped = first.0.unreaped();
    let (sample, source) = if unreaped.is_empty() {
        first
    } else {
        tokio::time::sleep(CONFIRM_AFTER).await;
        let second = read_sample(engine, detail, host_root).await?;
        unreaped = &unreaped & &second.0.unreaped();
        second
    };
    let mut top = ContainerTop::new(sample.processes, sample.truncated, source);
    top.pid1_reaping = evidence(&top, unreaped.len(), sample.pid1_signals);
    Ok(top)
}

async fn read_sample(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    host_root: Option<&Path>,
) -> Result<(Sample, TopSource)> {
    let caps = engine.container_capabilities(detail);
    match detail.proc_root_pid() {
        Some(init) if caps.proc_root.is_supported() => {
            let proc = under_host_root(host_root, Path::new("/proc"));
            let read = tokio::task::spawn_blocking(move || host_proc::read(&proc, init))
                .await
                .map_err(|e| Error::unexpected(format!("the /proc reader panicked: {e}")))?;
            let sample = read.map_err(|e| io_error(e, init, "the processes"))?;
            Ok((sample, TopSource::HostProc))
        }
        _ if caps.exec.is_supported() => Ok((exec::read(engine, &detail.id).await?, TopSource::ExecProc)),
        _ => Err(Error::unsupported(engine.name(), "top")),
    }
}

fn evidence(top: &ContainerTop, unreaped: usize, pid1_signals: Option<(u64, u64)>) -> ReapingEvidence {
    let (ignored, caught) = pid1_signals.unwrap_or_default();
    if unreaped > 0 {
        ReapingEvidence::UnreapedChildren { count: unreaped }
    } else if ignored & SIGCHLD_BIT != 0 {
        ReapingEvidence::IgnoresSigchld
    } else if let Some(name) = top.pid1_name.as_deref().filter(|n| KNOWN_INITS.contains(n)) {
        ReapingEvidence::KnownInit(name.to_owned())
    } else if caught & SIGCHLD_BIT != 0 {
        ReapingEvidence::CatchesSigchld
    } else {
        ReapingEvidence::NoEvidence
    }
}

/// `Unsupported` unless the container claims `support` for `operation`, `Conflict` unless it
/// runs: what `top` and the probes check before reading anything.
pub(crate) fn claimed_and_running(
    engine: &dyn ContainerEngine,
    detail: &ContainerDetail,
    support: anyctr_core::Support,
    operation: &'static str,
) -> Result<()> {
    if !support.is_supported() {
        return Err(Error::unsupported(engine.name(), operation));
    }
    if !detail.state.status.is_running() {
        let status = &detail.state.status;
        return Err(Error::new(ErrorKind::Conflict, format!("the container is {status:?}, not running")));
    }
    Ok(())
}

/// A host read of init pid `pid`'s container that failed, typed (a refusal is `Unsupported`).
pub(crate) fn io_error(e: std::io::Error, pid: u32, what: &str) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        std::io::ErrorKind::InvalidInput => ErrorKind::Unsupported,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("reading {what} of init pid {pid} from the host: {e}")).with_source(e)
}

/// The start time (`stat` field 22) in a `/proc/<pid>/stat` text.
pub(crate) fn start_ticks(stat: &[u8]) -> Option<u64> {
    parse::parse(stat, b"").map(|r| r.start_ticks)
}

/// `x` then hex pairs: how the exec scripts here encode what they read, so nothing read inside a
/// container can forge a line or a field.
pub(crate) fn unhex(field: &str) -> Option<Vec<u8>> {
    let hex = field.strip_prefix('x')?.as_bytes();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()).collect()
}
