//! The two forked children: the supervisor (joins, enters, forks the command, kills its
//! cgroup when told to, reaps it) and the command (credentials, working directory, `execve`).
//! Async-signal-safe code only: see the parent module's docs.

use std::ffi::c_int;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::ptr;

use nix::libc;

use super::cgroup_kill::{CgroupFds, KillMethod, end_members, remove};
use super::clone::{Forked, fork_with_pidfd};
use super::{ChildFds, Cwd, Prepared, Stage, errno};

/// Writes a failure report and exits. Async-signal-safe: one `write`, then `_exit`.
///
/// # Safety
/// Call only in a forked child.
pub(super) unsafe fn fail(report: RawFd, stage: Stage, index: usize, errno: c_int, code: c_int) -> ! {
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

/// The highest descriptor number to sweep when `close_range` is missing: the soft `RLIMIT_NOFILE`
/// (no descriptor can be numbered above it), capped at 2^20.
fn max_fd() -> c_int {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into a live local.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if ok { limit.rlim_cur.min(1 << 20) as c_int } else { 1 << 20 }
}

/// Closes every descriptor except those in `keep`: `close_range(2)` (Linux 5.9), or one `close`
/// per number up to [`max_fd`] where that fails.
///
/// # Safety
/// Call only in a forked child that owns nothing else it needs.
unsafe fn close_all_but<const N: usize>(mut keep: [RawFd; N]) {
    keep.sort_unstable();
    let mut next: u32 = 0;
    let close_range = |from: u32, to: u32| {
        // SAFETY: a plain system call with integer arguments.
        if unsafe { libc::syscall(libc::SYS_close_range, from, to, 0u32) } != 0 {
            let last = (max_fd().max(0) as u32).min(to);
            for fd in from..=last {
                // SAFETY: closes a number this child owns (or EBADF); nothing here uses it.
                unsafe { libc::close(fd as c_int) };
            }
        }
    };
    for k in keep.map(|k| k as u32) {
        if k > next {
            close_range(next, k - 1);
        }
        next = next.max(k + 1);
    }
    close_range(next, u32::MAX);
}

/// The supervisor: joins the cgroups and namespaces, forks the command into the transient
/// cgroup, waits for it or for the lifeline to close (then kills the cgroup, once), kills what is
/// left when it ends, removes the cgroup and exits with the command's status.
///
/// # Safety
/// Call only in a freshly forked child of `spawn`; uses async-signal-safe calls only.
pub(super) unsafe fn supervisor(p: &Prepared<'_>, cgroup: &CgroupFds<'_>, fds: &ChildFds<'_>) -> ! {
    let report = fds.report.as_raw_fd();
    // SAFETY: (whole block) raw system calls on descriptors and memory prepared before the fork,
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
        for (i, fd) in p.plan.cgroup_joins.iter().enumerate() {
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
        // Cloned into the transient cgroup (v2), or on a hybrid host into the container's v2
        // cgroup; what the clone could not do the command does by writing, first thing.
        let unified = p.plan.unified.as_ref();
        let into = match cgroup.method {
            KillMethod::V2Kill => Some(cgroup.dir.as_raw_fd()),
            KillMethod::V1Freezer => unified.map(|(dir, _)| dir.as_raw_fd()),
        };
        let (child, pidfd) = match fork_with_pidfd(into) {
            Err(e) => fail(report, Stage::Fork, 0, e, 125),
            Ok(Forked::Child { in_cgroup }) => {
                let joins = match cgroup.method {
                    KillMethod::V2Kill => [(!in_cgroup).then_some(cgroup.join), None],
                    KillMethod::V1Freezer => {
                        [Some(cgroup.join), unified.filter(|_| !in_cgroup).map(|(_, procs)| procs.as_fd())]
                    }
                };
                command(p, joins, fds, expected_ppid)
            }
            Ok(Forked::Parent { pid, pidfd }) => (pid, pidfd),
        };
        // Keep only what supervising needs: the agent's other descriptors (pipes of concurrent
        // execs among them) must not be held open for the command's lifetime.
        let lifeline = fds.lifeline.as_raw_fd();
        let cgroup_fds = [cgroup.dir, cgroup.control, cgroup.parent].map(|fd| fd.as_raw_fd());
        close_all_but([pidfd, lifeline, cgroup_fds[0], cgroup_fds[1], cgroup_fds[2]]);
        let mut watched_lifeline = lifeline;
        loop {
            // A negative fd is skipped by poll: once the lifeline has fired it is not watched
            // again (a closed pipe stays readable, which would spin).
            let mut polled = [
                libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: watched_lifeline, events: libc::POLLIN, revents: 0 },
            ];
            let n = libc::poll(polled.as_mut_ptr(), 2, -1);
            if n < 0 && errno() == libc::EINTR {
                continue;
            }
            if n < 0 || polled[0].revents != 0 {
                break;
            }
            if polled[1].revents != 0 {
                // The agent let go: end the command's whole tree, then wait for the command.
                end_members(cgroup);
                watched_lifeline = -1;
            }
        }
        let mut status: c_int = 0;
        while libc::waitpid(child, &mut status, 0) < 0 && errno() == libc::EINTR {}
        // What the command left running (background children, daemons) goes with it: the
        // cgroup must be empty to be removed.
        end_members(cgroup);
        remove(cgroup);
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
unsafe fn command(
    p: &Prepared<'_>,
    joins: [Option<BorrowedFd<'_>>; 2],
    fds: &ChildFds<'_>,
    expected_ppid: libc::pid_t,
) -> ! {
    let report = fds.report.as_raw_fd();
    // SAFETY: (whole block) as in `supervisor`; the pointer arrays are NUL-terminated and point into
    // CStrings that live in the (copied) address space until execve replaces it.
    unsafe {
        // Into the transient cgroup before anything else (unless clone3 started us there): from
        // here on, whatever this process starts is killed with it. Then, on a hybrid host, the
        // container's v2 cgroup if the clone did not place us there.
        for (i, join) in joins.iter().enumerate() {
            if let Some(fd) = join
                && libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1
            {
                fail(report, Stage::TransientCgroup, i, errno(), 126);
            }
        }
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
        // The raw system calls, not glibc's wrappers: those broadcast the change to every thread
        // glibc believes the process has (SIGRT_1 to each), and after a raw clone its list is the
        // agent's. The calling thread is the whole process here, so the raw call is the change.
        if libc::syscall(libc::SYS_setgroups, p.groups.len(), p.groups.as_ptr()) != 0 {
            fail(report, Stage::Groups, 0, errno(), 126);
        }
        if libc::syscall(libc::SYS_setgid, p.plan.gid) != 0 {
            fail(report, Stage::Setgid, 0, errno(), 126);
        }
        if libc::syscall(libc::SYS_setuid, p.plan.uid) != 0 {
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
            // Before Linux 5.11: mark them one by one (EBADF for the numbers not open).
            for fd in 3..max_fd() {
                if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) != 0 && errno() != libc::EBADF {
                    fail(report, Stage::CloseFds, fd as usize, errno(), 126);
                }
            }
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
