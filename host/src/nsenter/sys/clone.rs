//! Forking without `fork()`: `clone3` (Linux 5.3), else the raw `clone` system call.
//!
//! glibc's `fork()` runs the process's atfork handlers and resets its own locks in the child; in a
//! multithreaded agent an atfork handler of some library could take a lock another thread holds.
//! The raw system calls copy the process the same way and run nothing. Both ask for a pidfd
//! (`CLONE_PIDFD`) in the same call, and `clone3` can start the child directly in a cgroup v2
//! directory (`CLONE_INTO_CGROUP`, Linux 5.7), so it never runs a single instruction elsewhere.

use std::ffi::c_int;
use std::os::fd::RawFd;

use nix::libc;

/// `struct clone_args` as of Linux 5.7 (`CLONE_ARGS_SIZE_VER2`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (not in every libc crate version).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Who we are after [`fork_with_pidfd`].
pub(in crate::nsenter) enum Forked {
    /// The parent: the child's pid and a pidfd for it (close-on-exec).
    Parent { pid: libc::pid_t, pidfd: RawFd },
    /// The child; `in_cgroup` says whether it already runs in the requested cgroup.
    Child { in_cgroup: bool },
}

/// Forks the calling thread into a new process (like `fork()`, `SIGCHLD` on exit) without running
/// atfork handlers, returning a pidfd for the child; with `into_cgroup` (an open cgroup v2
/// directory) the child starts in that cgroup when the kernel can do it (`Forked::Child` says
/// whether it did). Returns the errno on failure.
///
/// # Safety
/// As for `fork()` in a multithreaded process: the child may only call async-signal-safe
/// functions (it has one thread, and the other threads' locks stay taken in its copy).
pub(in crate::nsenter) unsafe fn fork_with_pidfd(into_cgroup: Option<RawFd>) -> Result<Forked, c_int> {
    let mut pidfd: c_int = -1;
    let attempts = [into_cgroup, None];
    let tries = if into_cgroup.is_some() { &attempts[..] } else { &attempts[1..] };
    let mut last = libc::ENOSYS;
    for cgroup in tries.iter() {
        let mut args = CloneArgs {
            flags: libc::CLONE_PIDFD as u64 | if cgroup.is_some() { CLONE_INTO_CGROUP } else { 0 },
            pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cgroup.map_or(0, |fd| fd as u64),
            ..CloneArgs::default()
        };
        // SAFETY: `args` is a live, fully initialized clone_args of the size passed; with no stack
        // given, the child continues on a copy of this stack, as after fork().
        let r = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, size_of::<CloneArgs>()) };
        match r {
            0 => return Ok(Forked::Child { in_cgroup: cgroup.is_some() }),
            pid if pid > 0 => return Ok(Forked::Parent { pid: pid as libc::pid_t, pidfd }),
            _ => last = super::errno(),
        }
        // With a cgroup, any failure is retried without it (E2BIG/EINVAL: a kernel without
        // CLONE_INTO_CGROUP; EACCES/ENOENT/EBUSY…: a cgroup the kernel will not clone into, which the
        // child then joins by writing, or reports). ENOSYS: no clone3 at all (handled below).
        // Without a cgroup, anything else (EAGAIN, ENOMEM, …) is the answer.
        if cgroup.is_none() && last != libc::ENOSYS {
            return Err(last);
        }
    }
    if last != libc::ENOSYS {
        return Err(last);
    }
    // SAFETY: the raw clone system call with fork's semantics (no stack, no tid pointers); the
    // pidfd is stored through the third argument (parent_tid) on every architecture.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
            0 as libc::c_ulong,
            std::ptr::addr_of_mut!(pidfd),
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    match r {
        0 => Ok(Forked::Child { in_cgroup: false }),
        pid if pid > 0 => Ok(Forked::Parent { pid: pid as libc::pid_t, pidfd }),
        _ => Err(super::errno()),
    }
}
