//! The only unsafe code of the fast path: forking a command into a container's namespaces and
//! cgroups, and killing what it started.
//!
//! # Why a double fork
//! `setns(CLONE_NEWPID)` changes the pid namespace of the caller's *future children* only, so the
//! command must be a child of a process that entered it. std's `Command::pre_exec` cannot do that:
//! its child execs the program itself. So (as util-linux `nsenter` does) the agent forks a
//! *supervisor*, which joins the cgroups, enters the namespaces and forks the *command*, which
//! takes its credentials and working directory and execs. The supervisor waits for the command
//! and exits with its status (128 + signal when killed), so the agent waits for its own child.
//!
//! # Killing without leaving anything behind
//! The command runs in a *transient cgroup* of its own, a child of the container's freezer (v1)
//! or v2 cgroup, which it joins before it execs (or is cloned into, `CLONE_INTO_CGROUP`) and
//! cannot leave: `setsid()`, double forks and reparenting do not change a cgroup. The supervisor
//! (outside the container's pid namespace, so the command cannot see or signal it) watches a
//! *lifeline* pipe whose only write end the agent holds. When the agent closes it — a timeout, a
//! dropped session, the agent dying, even by SIGKILL — the supervisor kills every member of the
//! transient cgroup ([`cgroup_kill`]), reaps the command, and stops watching the lifeline (a
//! closed pipe stays readable: polling it again would spin). When the command ends, whatever
//! else it started is killed the same way; then the supervisor removes the cgroup and exits with
//! the command's status. As a backstop, the command has `PR_SET_PDEATHSIG = SIGKILL`, and the agent
//! kills and removes the cgroup itself if the supervisor could not. The agent waits for the
//! supervisor through a pidfd, so a kill can never hit a recycled pid.
//!
//! # Why the child code is sound
//! The agent is multi-threaded; after `fork` only async-signal-safe functions may run in the child
//! (another thread may have held the allocator's lock at the fork). The child code therefore calls
//! raw system calls through `libc` only, on data prepared before the fork ([`Prepared`]: C strings,
//! NUL-terminated pointer arrays, file descriptors), never allocates, never unwinds (every path
//! ends in `execve` or `_exit`) and reports failures as 8 fixed bytes on a close-on-exec pipe.
//! Signals are blocked across the fork so no handler of the agent runs in the child before the
//! child has reset every disposition to the default. Forks use `clone3`/`clone` directly
//! ([`clone`]), so no atfork handler runs either; glibc then still believes the agent's threads
//! exist, so credentials are changed by raw system calls (glibc's `setuid` would signal each of
//! them), and nothing else of glibc's that walks its thread list is used.
//!
//! Files: this one (types, the report, spawning, pidfds), `child` (the supervisor and the
//! command), `clone` (forking), `cgroup_kill` (ending and removing the transient cgroup).

mod cgroup_kill;
mod child;
mod clone;

#[cfg(test)]
pub(super) use cgroup_kill::kill_round;
pub(super) use cgroup_kill::{CgroupFds, KillMethod, end_members, remove};

use std::ffi::{CString, c_char, c_int};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;

use nix::libc;

/// What the command's working directory is.
pub(super) enum Cwd {
    /// A directory already open (the init's cwd).
    Fd(OwnedFd),
    /// A path in the container, entered after the mount namespace.
    Path(CString),
}

/// Everything the children need, prepared by safe code before the fork.
pub(super) struct Plan {
    /// Files the supervisor writes `0` to (joining the container's cgroups): v1 `tasks`, and v2
    /// `cgroup.procs` when the transient cgroup is a v2 one.
    pub cgroup_joins: Vec<OwnedFd>,
    /// On a hybrid host, the container's v2 cgroup for the command: its directory (cloned into)
    /// and `cgroup.procs` (written by the command when the clone could not do it).
    pub unified: Option<(OwnedFd, OwnedFd)>,
    /// `(setns type, namespace fd)`, in entering order.
    pub namespaces: Vec<(c_int, OwnedFd)>,
    pub enters_pid_ns: bool,
    pub root: OwnedFd,
    pub cwd: Cwd,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Capabilities to drop from the bounding set (those the init's set lacks).
    pub drop_caps: Vec<c_int>,
    pub no_new_privs: bool,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    /// Paths to try `execve` on, in `PATH` order.
    pub candidates: Vec<CString>,
}

/// The child-side ends of the pipes, as the children see them (all ≥ 3, close-on-exec).
pub(super) struct ChildFds<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
    /// Write end of the failure report pipe.
    pub report: BorrowedFd<'a>,
    /// Read end of the lifeline.
    pub lifeline: BorrowedFd<'a>,
}

/// Where a child failed, sent back as the first half of an 8-byte report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub(super) enum Stage {
    Cgroup = 1,
    Setns = 2,
    Chroot = 3,
    Fork = 4,
    Pidfd = 5,
    Stdio = 6,
    CapDrop = 7,
    Groups = 8,
    Setgid = 9,
    Setuid = 10,
    Cwd = 11,
    NoNewPrivs = 12,
    DeathSignal = 13,
    SupervisorGone = 14,
    CloseFds = 15,
    Exec = 16,
    /// Joining the transient cgroup.
    TransientCgroup = 17,
}

impl Stage {
    pub(super) fn from_u16(v: u16) -> Option<Stage> {
        use Stage::*;
        [
            Cgroup,
            Setns,
            Chroot,
            Fork,
            Pidfd,
            Stdio,
            CapDrop,
            Groups,
            Setgid,
            Setuid,
            Cwd,
            NoNewPrivs,
            DeathSignal,
            SupervisorGone,
            CloseFds,
            Exec,
            TransientCgroup,
        ]
        .into_iter()
        .find(|s| *s as u16 == v)
    }
}

/// A decoded failure report: the stage, an index (which cgroup, namespace or capability) and errno.
pub(super) fn decode_report(bytes: &[u8]) -> Option<(Stage, u16, i32)> {
    let b: &[u8; 8] = bytes.get(..8)?.try_into().ok()?;
    let stage = Stage::from_u16(u16::from_le_bytes([b[0], b[1]]))?;
    Some((stage, u16::from_le_bytes([b[2], b[3]]), i32::from_le_bytes([b[4], b[5], b[6], b[7]])))
}

/// The plan as raw pointers and numbers, built before the fork so the child only reads memory.
pub(super) struct Prepared<'a> {
    plan: &'a Plan,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    groups: Vec<libc::gid_t>,
}

impl<'a> Prepared<'a> {
    pub(super) fn new(plan: &'a Plan) -> Self {
        let nul_terminated =
            |v: &[CString]| v.iter().map(|s| s.as_ptr()).chain(std::iter::once(ptr::null())).collect::<Vec<_>>();
        Prepared {
            plan,
            argv: nul_terminated(&plan.argv),
            envp: nul_terminated(&plan.envp),
            groups: plan.groups.clone(),
        }
    }
}

/// The forked supervisor: its pid and a pidfd to wait for it and signal it.
pub(super) struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// Forks the supervisor (which forks the command into `cgroup`). Returns once the supervisor
/// exists; whether the command started is told by the report pipe (EOF: exec succeeded).
pub(super) fn spawn(plan: &Plan, cgroup: &CgroupFds<'_>, fds: &ChildFds<'_>) -> std::io::Result<Spawned> {
    let prepared = Prepared::new(plan);
    // SAFETY: sigset_t is plain data; sigfillset initializes it fully before use.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above, for the saved mask.
    let mut saved: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live local sigset_t values; pthread_sigmask only changes this
    // thread's mask, which is restored right after the fork on every path.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut saved);
    }
    // SAFETY: the child runs only `supervisor`, which is async-signal-safe by construction
    // (module docs) and never returns.
    let forked = unsafe { clone::fork_with_pidfd(None) };
    if let Ok(clone::Forked::Child { .. }) = forked {
        // SAFETY: we are the freshly forked, single-threaded child; see `supervisor`.
        unsafe { child::supervisor(&prepared, cgroup, fds) }
    }
    // SAFETY: restores the mask saved above, from a live local.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, ptr::null_mut()) };
    match forked {
        Ok(clone::Forked::Parent { pid, pidfd }) => {
            // SAFETY: the kernel returned a new descriptor (CLONE_PIDFD) that nothing else owns.
            Ok(Spawned { pid, pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) } })
        }
        Ok(clone::Forked::Child { .. }) => unreachable!("the child never returns from `supervisor`"),
        Err(errno) => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// Registers a pidfd with tokio's reactor, so waiting for the process is an `await`.
pub(super) fn watch_pidfd(pidfd: OwnedFd) -> std::io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // SAFETY: tokio requires the descriptor to stay open and the same for the AsyncFd's lifetime.
    // An OwnedFd always reports the descriptor it owns and closes it only when dropped, which
    // happens when the AsyncFd drops it; callers never swap it out (they only borrow it).
    let registered = unsafe { tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) };
    Ok(registered?)
}

/// `pidfd_send_signal(2)` with SIGKILL: cannot hit another process, even after ours was reaped.
pub(super) fn pidfd_kill(pidfd: BorrowedFd<'_>) -> std::io::Result<()> {
    // SAFETY: a plain system call on a descriptor we borrow; a null siginfo is allowed.
    let r = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), libc::SIGKILL, ptr::null::<libc::siginfo_t>(), 0)
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        // ESRCH: it already exited, which is what the caller wanted.
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(()) } else { Err(e) };
    }
    Ok(())
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
