//! Signalling a container's main process from the host, for engines without a signal call: a
//! pouchd without a kill API (1.3.0 answers `POST /containers/{id}/kill` with 405, and its
//! `stop?t=0` waits the default 10 s) and CRI (which has none at all). runc-class containers only: their main process is a host process. A sandboxed runtime's pid is
//! the sandbox's own process, so they are refused before this is reached.
//!
//! The pid comes from the engine's inspect and may be stale (the container exited and the pid was
//! reused). So it is signalled through the `pidfd` module's pin → check → signal, the check being
//! that `/proc/<pid>` shows the container's init (pid 1 of a pid namespace of its own, whose root
//! is the container's rootfs or whose cgroup names the container): a recycled pid is never
//! signalled.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::pidfd::{Checked, signal_checked};
use crate::{Error, ErrorKind, Result};
use rustix::process::Signal;

/// The container whose main process is to be signalled, as the engine reports it.
#[derive(Debug, Clone, Copy)]
pub struct MainProcess<'a> {
    /// The full container id.
    pub container_id: &'a str,
    /// `State.Pid`.
    pub pid: u32,
    /// The rootfs as this process opens it (host-root prefix applied), when the engine reports one.
    pub rootfs: Option<&'a Path>,
}

/// What became of the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The signal was sent.
    Signalled,
    /// The process had exited already (between the engine's answer and the signal).
    AlreadyExited,
}

/// Signals the container's main process with `signal` (a number), after checking that `pid` still
/// is that process (see the module docs).
pub fn signal_main_process(target: MainProcess<'_>, signal: i32) -> Result<Delivered> {
    let signal = Signal::from_named_raw(signal)
        .ok_or_else(|| Error::invalid_argument(format!("signal {signal} cannot be sent to a process")))?;
    if target.pid == 0 {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("the engine reports no main process for {}", target.container_id),
        ));
    }
    match signal_checked(target.pid, signal, || verify(target)) {
        Ok(Checked::Signalled) => Ok(Delivered::Signalled),
        Ok(Checked::AlreadyExited) => Ok(Delivered::AlreadyExited),
        // No container's main process: refused like a failed check.
        Ok(Checked::NotPinnable) => Err(not_main_process(target, "not a process that can be pinned")),
        Ok(Checked::Refused(e)) => Err(e),
        Err(failed) => Err(os_error(failed.step, target, failed.errno)),
    }
}

/// `Conflict`: the engine's pid is not the container's main process, so nothing was signalled.
fn not_main_process(target: MainProcess<'_>, why: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "pid {} that the engine reports for container {} is not its main process ({why}): the container \
             exited and the pid was reused, or this agent does not see the host's pid namespace; nothing \
             was signalled",
            target.pid, target.container_id
        ),
    )
}

/// Whether `/proc/<pid>` is the container's init: pid 1 of its own pid namespace, and either its
/// root is the container's rootfs (same device and inode) or its cgroup names the container id.
fn verify(target: MainProcess<'_>) -> Result<()> {
    let proc_dir = Path::new("/proc").join(target.pid.to_string());
    let refuse = |why: &str| not_main_process(target, why);
    let status = std::fs::read_to_string(proc_dir.join("status")).map_err(|_| refuse("no such process here"))?;
    let ns_pids: Vec<&str> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    if ns_pids.len() < 2 || ns_pids.last() != Some(&"1") {
        return Err(refuse("not pid 1 of a pid namespace of its own"));
    }
    let same_root = target.rootfs.is_some_and(|rootfs| {
        match (std::fs::metadata(proc_dir.join("root")), std::fs::metadata(rootfs)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    });
    let in_cgroup = || {
        std::fs::read_to_string(proc_dir.join("cgroup"))
            .is_ok_and(|c| target.container_id.len() >= 12 && c.contains(target.container_id))
    };
    if same_root || in_cgroup() { Ok(()) } else { Err(refuse("neither its root nor its cgroup is the container's")) }
}

fn os_error(what: &str, target: MainProcess<'_>, e: rustix::io::Errno) -> Error {
    let io = std::io::Error::from(e);
    let kind = if io.kind() == std::io::ErrorKind::PermissionDenied {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Unexpected
    };
    Error::new(kind, format!("{what} pid {} of container {}: {io}", target.pid, target.container_id)).with_source(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_is_no_container_init_is_never_signalled() {
        // This test process: pid 1 of no namespace of its own, neither root nor cgroup match.
        let me = MainProcess { container_id: &"a".repeat(64), pid: std::process::id(), rootfs: None };
        // SIGCONT: harmless should the check ever let it through.
        let e = signal_main_process(me, 18).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        assert!(e.message().contains("nothing was signalled"), "{e}");
    }

    #[test]
    fn a_pid_that_is_gone_is_already_exited() {
        // Above the default pid_max: no such process.
        let gone = MainProcess { container_id: "x", pid: 4_194_304 + 7, rootfs: None };
        assert_eq!(signal_main_process(gone, 9).unwrap(), Delivered::AlreadyExited);
        assert_eq!(signal_main_process(MainProcess { pid: 0, ..gone }, 9).unwrap_err().kind(), ErrorKind::Conflict);
    }
}
