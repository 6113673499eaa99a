//! Signalling a host pid only if it still is the process the caller means: the one pin → check →
//! signal sequence both host-side signallers use ([`exec_marker`](crate::exec_marker): an exec's
//! marked processes; [`host_signal`](crate::host_signal): a container's main process). They differ
//! only in what proves the process is theirs (the marker in `environ`, or being the container's
//! init), so the check is theirs and the sequence is here, written once.
//!
//! A pidfd is opened first, which pins the process the pid names at that moment; then the caller's
//! check reads `/proc/<pid>`; then the signal goes through the pidfd. Had the pid been recycled
//! before the pidfd was opened, the check reads the newcomer (and refuses it); had the process
//! exited after, the pidfd still names the dead one and the signal fails with `ESRCH`. A process
//! the check did not accept is never signalled. Safe code: rustix wraps both system calls.

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

/// What became of [`signal_checked`] when no system call failed unexpectedly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checked<R> {
    /// The check accepted the process and the signal was sent.
    Signalled,
    /// No such process (before the pidfd, or between the check and the signal).
    AlreadyExited,
    /// The pid names nothing a pidfd can pin: 0, beyond `pid_t`, or a thread of another process
    /// (`ENOENT` on recent kernels, `EINVAL` on older ones). Nothing was signalled.
    NotPinnable,
    /// The check refused the process, for the reason it gave. Nothing was signalled.
    Refused(R),
}

/// A system call of [`signal_checked`] failed otherwise (e.g. `EPERM`): which one, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failed {
    /// `"opening a pidfd for"` or `"signalling"`, to start a message with.
    pub(crate) step: &'static str,
    pub(crate) errno: Errno,
}

/// Pins `pid` with a pidfd, runs `check` (which reads `/proc/<pid>` and says whether the process
/// is the caller's), and only if it passes sends `signal` through the pidfd. Blocking (the check
/// reads `/proc`).
pub(crate) fn signal_checked<R>(
    pid: u32,
    signal: Signal,
    check: impl FnOnce() -> Result<(), R>,
) -> Result<Checked<R>, Failed> {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else { return Ok(Checked::NotPinnable) };
    let pidfd = match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => return Ok(Checked::AlreadyExited),
        Err(Errno::NOENT | Errno::INVAL) => return Ok(Checked::NotPinnable),
        Err(errno) => return Err(Failed { step: "opening a pidfd for", errno }),
    };
    if let Err(why) = check() {
        return Ok(Checked::Refused(why));
    }
    match pidfd_send_signal(&pidfd, signal) {
        Ok(()) => Ok(Checked::Signalled),
        Err(Errno::SRCH) => Ok(Checked::AlreadyExited),
        Err(errno) => Err(Failed { step: "signalling", errno }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_process_is_not_signalled() {
        // This test process; SIGKILL would end the test run had the refusal been ignored.
        let r = signal_checked(std::process::id(), Signal::KILL, || Err("not ours"));
        assert_eq!(r, Ok(Checked::Refused("not ours")));
    }

    #[test]
    fn an_accepted_process_is_signalled() {
        // SIGCONT to this (running) process: delivered and harmless.
        assert_eq!(signal_checked::<()>(std::process::id(), Signal::CONT, || Ok(())), Ok(Checked::Signalled));
    }

    #[test]
    fn pids_that_name_no_process_are_told_apart() {
        let never = || -> Result<(), ()> { panic!("no check without a pinned process") };
        // Above the largest pid_max (2^22): no such process.
        assert_eq!(signal_checked(4_194_304 + 7, Signal::KILL, never), Ok(Checked::AlreadyExited));
        assert_eq!(signal_checked(0, Signal::KILL, never), Ok(Checked::NotPinnable));
        assert_eq!(signal_checked(u32::MAX, Signal::KILL, never), Ok(Checked::NotPinnable));
    }
}
