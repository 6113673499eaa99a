//! The only unsafe code of anyctr-core: forking a command into a container's namespaces.
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
//! The supervisor also watches a *lifeline* pipe whose only write end the agent holds. When the
//! agent closes it — a timeout, a dropped session, the agent dying — the supervisor SIGKILLs the
//! command, reaps it and exits. The command is never orphaned to the container's init (which may
//! never reap it: `sleep` does not). As a backstop, the command has `PR_SET_PDEATHSIG = SIGKILL`, so
//! a supervisor killed from outside takes it along. The agent waits for the supervisor through a
//! pidfd, so a kill can never hit a recycled pid.
//!
//! # Why the child code is sound
//! The agent is multi-threaded; after `fork` only async-signal-safe functions may run in the child
//! (another thread may have held the allocator's lock at the fork). The child code therefore calls
//! raw system calls through `libc` only, on data prepared before the fork ([`Prepared`]: C strings,
//! NUL-terminated pointer arrays, file descriptors), never allocates, never unwinds (every path
//! ends in `execve` or `_exit`) and reports failures as 8 fixed bytes on a close-on-exec pipe.
//! Signals are blocked across the fork so no handler of the agent runs in the child before the
//! child has reset every disposition to the default.

use std::ffi::{CString, c_char, c_int};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
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
    /// `cgroup.procs` files to write `0` to (joins the writer).
    pub cgroup_procs: Vec<OwnedFd>,
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
struct Prepared<'a> {
    plan: &'a Plan,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    groups: Vec<libc::gid_t>,
}

impl<'a> Prepared<'a> {
    fn new(plan: &'a Plan) -> Self {
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

/// Forks the supervisor (which forks the command). Returns once the supervisor exists; whether
/// the command started is told by the report pipe (EOF: exec succeeded).
pub(super) fn spawn(plan: &Plan, fds: &ChildFds<'_>) -> std::io::Result<Spawned> {
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
    // SAFETY: fork is safe to call; the child runs only `supervisor`, which is async-signal-safe by
    // construction (module docs) and never returns.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: we are the freshly forked, single-threaded child; see `supervisor`.
        unsafe { supervisor(&prepared, fds) }
    }
    let fork_error = std::io::Error::last_os_error();
    // SAFETY: restores the mask saved above, from a live local.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &saved, ptr::null_mut()) };
    if pid < 0 {
        return Err(fork_error);
    }
    match pidfd_open(pid) {
        Ok(pidfd) => Ok(Spawned { pid, pidfd }),
        Err(e) => {
            // Without a pidfd we cannot supervise it: end it. Nobody else reaps our child, so the
            // pid is still ours to signal and wait for.
            // SAFETY: kill and waitpid on our own unreaped child; the status pointer may be null.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, ptr::null_mut(), 0);
            }
            Err(e)
        }
    }
}

/// `pidfd_open(2)` (Linux 5.3): a descriptor that names one process for good.
fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: a plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
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

/// Writes a failure report and exits. Async-signal-safe: one `write`, then `_exit`.
///
/// # Safety
/// Call only in a forked child.
unsafe fn fail(report: RawFd, stage: Stage, index: usize, errno: c_int, code: c_int) -> ! {
    let mut buf = [0u8; 8];
    buf[..2].copy_from_slice(&(stage as u16).to_le_bytes());
    buf[2..4].copy_from_slice(&(index.min(u16::MAX as usize) as u16).to_le_bytes());
    buf[4..].copy_from_slice(&errno.to_le_bytes());
    // SAFETY: writes 8 bytes from a live stack buffer (atomic on a pipe: below PIPE_BUF); then exits
    // without running any destructor or atexit handler of the agent.
    unsafe {
        libc::write(report, buf.as_ptr().cast(), buf.len());
        libc::_exit(code)
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Closes every descriptor except the two in `keep`, with `close_range(2)`.
///
/// # Safety
/// Call only in a forked child that owns nothing else it needs.
unsafe fn close_all_but(mut keep: [RawFd; 2]) {
    keep.sort_unstable();
    let mut next: u32 = 0;
    for k in keep.map(|k| k as u32) {
        if k > next {
            // SAFETY: a plain system call with integer arguments.
            unsafe { libc::syscall(libc::SYS_close_range, next, k - 1, 0u32) };
        }
        next = k + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, next, u32::MAX, 0u32) };
}

/// The supervisor: joins the cgroups and namespaces, forks the command, waits for it or for the
/// lifeline to close, and exits with the command's status.
///
/// # Safety
/// Call only in a freshly forked child of `spawn`; uses async-signal-safe calls only.
unsafe fn supervisor(p: &Prepared<'_>, fds: &ChildFds<'_>) -> ! {
    let report = fds.report.as_raw_fd();
    // SAFETY (whole block): raw system calls on descriptors and memory prepared before the fork,
    // in a single-threaded child; nothing allocates, every failure path ends in `fail` (_exit).
    unsafe {
        // The agent's handlers (tokio's SIGCHLD pipe, say) must not run here: reset them all, then
        // unblock. SIGKILL/SIGSTOP and glibc's internal signals refuse; that is fine.
        for sig in 1..=64 {
            libc::signal(sig, libc::SIG_DFL);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, ptr::null_mut());
        // Out of the agent's session and process group: terminal signals aimed at the agent do
        // not reach the command.
        libc::setsid();

        // Cgroups first, while the host's /sys/fs/cgroup is still our view; "0" means the writer.
        for (i, fd) in p.plan.cgroup_procs.iter().enumerate() {
            if libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                fail(report, Stage::Cgroup, i, errno(), 125);
            }
        }
        for (i, (nstype, fd)) in p.plan.namespaces.iter().enumerate() {
            if libc::setns(fd.as_raw_fd(), *nstype) != 0 {
                fail(report, Stage::Setns, i, errno(), 125);
            }
        }
        // setns(mnt) put us at the namespace's root; the init's own root may be below it (runc
        // --no-pivot chroots), so take that one.
        if libc::fchdir(p.plan.root.as_raw_fd()) != 0 || libc::chroot(c".".as_ptr()) != 0 {
            fail(report, Stage::Chroot, 0, errno(), 125);
        }
        // Seen from the command: 0 when its parent is outside its pid namespace.
        let expected_ppid = if p.plan.enters_pid_ns { 0 } else { libc::getpid() };
        let child = libc::fork();
        if child < 0 {
            fail(report, Stage::Fork, 0, errno(), 125);
        }
        if child == 0 {
            command(p, fds, expected_ppid);
        }
        let pidfd = libc::syscall(libc::SYS_pidfd_open, child, 0) as c_int;
        if pidfd < 0 {
            let e = errno();
            libc::kill(child, libc::SIGKILL);
            libc::waitpid(child, ptr::null_mut(), 0);
            fail(report, Stage::Pidfd, 0, e, 125);
        }
        // Keep only what supervising needs: the agent's other descriptors (pipes of concurrent
        // execs among them) must not be held open for the command's lifetime.
        let lifeline = fds.lifeline.as_raw_fd();
        close_all_but([pidfd, lifeline]);
        let mut killed = false;
        loop {
            let mut polled = [
                libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: lifeline, events: libc::POLLIN, revents: 0 },
            ];
            let n = libc::poll(polled.as_mut_ptr(), 2, -1);
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n < 0 || polled[0].revents != 0 {
                break;
            }
            if polled[1].revents != 0 && !killed {
                // The agent let go: end the command and stay to reap it.
                libc::kill(child, libc::SIGKILL);
                killed = true;
            }
        }
        let mut status: c_int = 0;
        while libc::waitpid(child, &mut status, 0) < 0 && errno() == libc::EINTR {}
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else if libc::WIFSIGNALED(status) {
            (128 + libc::WTERMSIG(status)).min(255)
        } else {
            255
        };
        libc::_exit(code)
    }
}

/// The command: stdio, capabilities, credentials, working directory, then `execve`.
///
/// # Safety
/// Call only in the child forked by `supervisor`; uses async-signal-safe calls only.
unsafe fn command(p: &Prepared<'_>, fds: &ChildFds<'_>, expected_ppid: libc::pid_t) -> ! {
    let report = fds.report.as_raw_fd();
    // SAFETY (whole block): as in `supervisor`; the pointer arrays are NUL-terminated and point into
    // CStrings that live in the (copied) address space until execve replaces it.
    unsafe {
        // The pipe ends are ≥ 3 (the caller guarantees it), so dup2 never clobbers one with another.
        for (fd, target) in [(fds.stdin, 0), (fds.stdout, 1), (fds.stderr, 2)] {
            if libc::dup2(fd.as_raw_fd(), target) < 0 {
                fail(report, Stage::Stdio, target as usize, errno(), 126);
            }
        }
        // As root first (runc does the same), and again as the user if that failed.
        let chdir = |cwd: &Cwd| match cwd {
            Cwd::Fd(fd) => libc::fchdir(fd.as_raw_fd()) == 0,
            Cwd::Path(path) => libc::chdir(path.as_ptr()) == 0,
        };
        let in_cwd = chdir(&p.plan.cwd);
        // Not more than the container's init may have: a root command gets the container's
        // bounding set, not the agent's full one. Needs CAP_SETPCAP, so before setuid.
        for cap in &p.plan.drop_caps {
            if libc::prctl(
                libc::PR_CAPBSET_DROP,
                *cap as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ) != 0
            {
                fail(report, Stage::CapDrop, *cap as usize, errno(), 126);
            }
        }
        if libc::setgroups(p.groups.len(), p.groups.as_ptr()) != 0 {
            fail(report, Stage::Groups, 0, errno(), 126);
        }
        if libc::setgid(p.plan.gid) != 0 {
            fail(report, Stage::Setgid, 0, errno(), 126);
        }
        if libc::setuid(p.plan.uid) != 0 {
            fail(report, Stage::Setuid, 0, errno(), 126);
        }
        if !in_cwd && !chdir(&p.plan.cwd) {
            fail(report, Stage::Cwd, 0, errno(), 126);
        }
        if p.plan.no_new_privs
            && libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ) != 0
        {
            fail(report, Stage::NoNewPrivs, 0, errno(), 126);
        }
        // After setuid: a credential change clears the death signal.
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        ) != 0
        {
            fail(report, Stage::DeathSignal, 0, errno(), 126);
        }
        if libc::getppid() != expected_ppid {
            // The supervisor died before the death signal was armed.
            fail(report, Stage::SupervisorGone, 0, 0, 137);
        }
        // Every other descriptor closes at exec, including any the agent opened without
        // O_CLOEXEC: no host descriptor may leak into the container. The report pipe stays usable
        // until then.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) != 0 {
            fail(report, Stage::CloseFds, 0, errno(), 126);
        }
        // execvp's search, on paths prepared in advance: a missing or non-directory entry goes
        // on, a permission error is remembered, anything else stops.
        let mut denied = false;
        let mut last = libc::ENOENT;
        for (i, candidate) in p.plan.candidates.iter().enumerate() {
            libc::execve(candidate.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
            match errno() {
                libc::ENOENT | libc::ENOTDIR => {}
                libc::EACCES => denied = true,
                e => {
                    last = e;
                    fail(report, Stage::Exec, i, last, 126);
                }
            }
        }
        fail(report, Stage::Exec, 0, if denied { libc::EACCES } else { last }, 127)
    }
}
