//! Ending every process of a transient cgroup and removing it, with raw system calls on
//! descriptors opened in advance: async-signal-safe, so the forked supervisor can run it, and
//! the agent too (after the supervisor is gone).
//!
//! - cgroup v2: `cgroup.kill` (Linux 5.14) SIGKILLs every member atomically, forks in flight
//!   included.
//! - cgroup v1: no kill file, so the freezer: `FROZEN` (no member can fork or exit meanwhile, so
//!   the pids read stay theirs), SIGKILL each pid of `cgroup.procs`, `THAWED` (a v1-frozen task only
//!   dies once thawed); repeated until the cgroup is empty.
//!
//! Leaving the cgroup needs a write to some `cgroup.procs`, which the container's view does not
//! offer (its cgroup files are read-only or its own namespace's), so a command that calls
//! `setsid()` or double-forks stays a member.

use std::ffi::{CStr, c_int};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::libc;

/// How the members of a transient cgroup are killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::nsenter) enum KillMethod {
    /// cgroup v1: `control` is `freezer.state` (read-write).
    V1Freezer,
    /// cgroup v2: `control` is `cgroup.kill` (write-only).
    V2Kill,
}

/// The descriptors of one transient cgroup, borrowed for the kill.
#[derive(Clone, Copy)]
pub(in crate::nsenter) struct CgroupFds<'a> {
    pub method: KillMethod,
    /// The transient cgroup's directory: its `cgroup.procs` lists the members (and, for v2, the
    /// target of `CLONE_INTO_CGROUP`).
    pub dir: BorrowedFd<'a>,
    /// `freezer.state` or `cgroup.kill`.
    pub control: BorrowedFd<'a>,
    /// The parent cgroup directory and the transient cgroup's name in it, for `rmdir`.
    pub parent: BorrowedFd<'a>,
    pub name: &'a CStr,
    /// `cgroup.procs`, write-only: the command joins by writing `0`.
    pub join: BorrowedFd<'a>,
}

/// How many kill rounds before giving up (each ends every member seen; a v1 member can only
/// escape a round by being forked between the read and the freeze, which the freeze excludes).
const ROUNDS: usize = 8;
/// How long one round waits for the killed members to leave the cgroup.
const ROUND_WAIT_MS: u64 = 2_000;
/// How long a freeze may take before the pids are killed anyway (a member in uninterruptible
/// sleep keeps the cgroup `FREEZING`; it gets the SIGKILL when it wakes).
const FREEZE_WAIT_MS: u64 = 500;

/// Kills every member of the cgroup and waits (sleeping, bounded) until it is empty. Returns
/// whether it is.
pub(in crate::nsenter) fn end_members(c: &CgroupFds<'_>) -> bool {
    for _ in 0..ROUNDS {
        match count_members(c.dir) {
            Some(0) => return true,
            Some(_) => {}
            None => return false,
        }
        kill_round(c);
        if wait_empty(c.dir, ROUND_WAIT_MS) {
            return true;
        }
    }
    false
}

/// `rmdir` of the transient cgroup; returns 0 or the errno (`ENOENT`: already gone).
pub(in crate::nsenter) fn remove(c: &CgroupFds<'_>) -> c_int {
    // SAFETY: unlinkat on a directory descriptor we borrow and a NUL-terminated name.
    let r = unsafe { libc::unlinkat(c.parent.as_raw_fd(), c.name.as_ptr(), libc::AT_REMOVEDIR) };
    if r == 0 { 0 } else { super::errno() }
}

/// One kill round: `cgroup.kill`, or freeze, SIGKILL each member, thaw.
pub(in crate::nsenter) fn kill_round(c: &CgroupFds<'_>) {
    let control = c.control.as_raw_fd();
    match c.method {
        KillMethod::V2Kill => {
            write_at0(control, b"1");
        }
        KillMethod::V1Freezer => {
            write_at0(control, b"FROZEN");
            let mut waited = 0;
            let mut state = [0u8; 16];
            while waited < FREEZE_WAIT_MS {
                if read_at(control, &mut state, 0).is_some_and(|n| state[..n].starts_with(b"FROZEN")) {
                    break;
                }
                sleep_ms(1);
                waited += 1;
            }
            // SAFETY: getpid has no preconditions.
            let me = unsafe { libc::getpid() };
            for_each_member(c.dir, |pid| {
                if pid > 0 && pid != me {
                    // SAFETY: a plain system call; the pid is a frozen member of the cgroup, so
                    // it cannot have exited and been reused since it was read.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            });
            write_at0(control, b"THAWED");
        }
    }
}

/// Sleeps until `cgroup.procs` reads empty, checking at growing intervals (0.1 ms to 10 ms), for
/// at most `bound_ms`. Returns whether it emptied.
pub(in crate::nsenter) fn wait_empty(dir: BorrowedFd<'_>, bound_ms: u64) -> bool {
    let mut slept_us: u64 = 0;
    let mut step_us: u64 = 100;
    loop {
        match count_members(dir) {
            Some(0) => return true,
            None => return false,
            Some(_) => {}
        }
        if slept_us >= bound_ms * 1000 {
            return false;
        }
        sleep_us(step_us);
        slept_us += step_us;
        step_us = (step_us * 2).min(10_000);
    }
}

/// The number of pids in `cgroup.procs`; `None` when it cannot be read.
fn count_members(dir: BorrowedFd<'_>) -> Option<usize> {
    let mut n = 0;
    for_each_member(dir, |_| n += 1).then_some(n)
}

/// Calls `f` with each pid listed in the cgroup's `cgroup.procs`, read in chunks without
/// allocating. Returns whether the whole file was read.
///
/// The file is opened anew each time: cgroup v1 keeps the pid list an open file first read and
/// serves it again (for a second after the last read), so re-reading one descriptor would never
/// see the members leave.
fn for_each_member(dir: BorrowedFd<'_>, mut f: impl FnMut(libc::pid_t)) -> bool {
    // SAFETY: openat on a directory descriptor we borrow with a NUL-terminated relative name; the
    // new descriptor is closed below on every path.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c"cgroup.procs".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    let mut buf = [0u8; 2048];
    let mut offset = 0;
    let mut pending: Option<u64> = None;
    let complete = loop {
        let Some(n) = read_at(fd, &mut buf, offset) else { break false };
        if n == 0 {
            break true;
        }
        parse_pids(&buf[..n], &mut pending, &mut f);
        offset += n as libc::off_t;
    };
    // SAFETY: closes the descriptor opened above, used nowhere else.
    unsafe { libc::close(fd) };
    if let Some(pid) = pending.take() {
        f(pid.min(i32::MAX as u64) as libc::pid_t);
    }
    complete
}

/// Parses decimal pids separated by anything else, carrying a number cut at the chunk's end in
/// `pending`.
pub(in crate::nsenter) fn parse_pids(chunk: &[u8], pending: &mut Option<u64>, f: &mut impl FnMut(libc::pid_t)) {
    for &b in chunk {
        if b.is_ascii_digit() {
            let v = pending.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(b - b'0'));
            *pending = Some(v);
        } else if let Some(pid) = pending.take() {
            f(pid.min(i32::MAX as u64) as libc::pid_t);
        }
    }
}

fn read_at(fd: RawFd, buf: &mut [u8], offset: libc::off_t) -> Option<usize> {
    loop {
        // SAFETY: reads into a live, writable buffer of the length given.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), offset) };
        if n >= 0 {
            return Some(n as usize);
        }
        if super::errno() != libc::EINTR {
            return None;
        }
    }
}

fn write_at0(fd: RawFd, value: &[u8]) {
    // SAFETY: writes from a live buffer of the length given. A failure shows as members that
    // stay, which the caller's wait reports.
    unsafe { libc::pwrite(fd, value.as_ptr().cast(), value.len(), 0) };
}

fn sleep_ms(ms: u64) {
    sleep_us(ms * 1000);
}

fn sleep_us(us: u64) {
    let ts = libc::timespec { tv_sec: (us / 1_000_000) as libc::time_t, tv_nsec: ((us % 1_000_000) * 1000) as _ };
    // SAFETY: nanosleep reads a live timespec; an interruption only shortens the sleep.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::fs;
    use std::os::fd::{AsFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn open(path: &std::path::Path, write: bool) -> OwnedFd {
        fs::OpenOptions::new().read(true).write(write).open(path).unwrap().into()
    }

    #[test]
    fn pids_parse_across_chunks() {
        let mut got = Vec::new();
        let mut pending = None;
        let mut push = |p| got.push(p);
        parse_pids(b"12\n3", &mut pending, &mut push);
        parse_pids(b"45\n6", &mut pending, &mut push);
        parse_pids(b"\n99999999999\n", &mut pending, &mut push);
        assert_eq!(got, [12, 345, 6, i32::MAX]);
    }

    /// A v1 freezer cgroup built by hand: the round freezes, kills each listed pid, thaws.
    #[test]
    fn v1_round_freezes_kills_each_member_and_thaws() {
        let dir = tempfile::tempdir().unwrap();
        let cg = dir.path().join("anyctr-exec-t");
        fs::create_dir(&cg).unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        fs::write(cg.join("cgroup.procs"), format!("{}\n", child.id())).unwrap();
        fs::write(cg.join("freezer.state"), "THAWED\n").unwrap();
        let (cg_dir, control, parent) =
            (open(&cg, false), open(&cg.join("freezer.state"), true), open(dir.path(), false));
        let name = CString::new("anyctr-exec-t").unwrap();
        let fds = CgroupFds {
            method: KillMethod::V1Freezer,
            dir: cg_dir.as_fd(),
            control: control.as_fd(),
            parent: parent.as_fd(),
            name: &name,
            join: control.as_fd(),
        };
        assert_eq!(count_members(fds.dir), Some(1));
        kill_round(&fds);
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert_eq!(fs::read_to_string(cg.join("freezer.state")).unwrap(), "THAWED\n");
        assert!(!wait_empty(fds.dir, 1), "a file that still lists a pid is not empty");
        fs::write(cg.join("cgroup.procs"), "").unwrap();
        assert!(end_members(&fds));
        fs::remove_file(cg.join("cgroup.procs")).unwrap();
        fs::remove_file(cg.join("freezer.state")).unwrap();
        assert_eq!(remove(&fds), 0);
        assert_eq!(remove(&fds), libc::ENOENT);
    }

    /// A v2 cgroup built by hand: the round writes `1` to `cgroup.kill` and kills nothing itself.
    #[test]
    fn v2_round_writes_cgroup_kill() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cgroup.procs"), "4242\n").unwrap();
        fs::write(dir.path().join("cgroup.kill"), "").unwrap();
        let (cg_dir, control) = (open(dir.path(), false), open(&dir.path().join("cgroup.kill"), true));
        let name = CString::new("x").unwrap();
        let fds = CgroupFds {
            method: KillMethod::V2Kill,
            dir: cg_dir.as_fd(),
            control: control.as_fd(),
            parent: cg_dir.as_fd(),
            name: &name,
            join: control.as_fd(),
        };
        kill_round(&fds);
        assert_eq!(fs::read_to_string(dir.path().join("cgroup.kill")).unwrap(), "1");
    }

    /// Live, on this host's cgroup v2 hierarchy (the hybrid layout's `unified`, or a pure v2
    /// root): a child cloned straight into a transient cgroup (`CLONE_INTO_CGROUP`), which forks a
    /// grandchild that leaves its session with `setsid`; `cgroup.kill` ends both and the cgroup is
    /// removed. Needs root.
    #[test]
    fn v2_live_clone_into_cgroup_and_kill_the_tree() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root (it creates a cgroup)");
        let pure = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let root = std::path::PathBuf::from(if pure { "/sys/fs/cgroup" } else { "/sys/fs/cgroup/unified" });
        let own = fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own.lines().find_map(|l| l.strip_prefix("0::")).expect("a cgroup v2 line");
        let parent = root.join(own.trim_start_matches('/'));
        let name = format!("anyctr-exec-test-{}", std::process::id());
        let cg = parent.join(&name);
        fs::create_dir(&cg).unwrap_or_else(|e| panic!("{}: {e}", cg.display()));
        let t = crate::nsenter::cgroup::Transient::open_in(&parent, &name, KillMethod::V2Kill).unwrap();
        let fds = t.fds();
        // SAFETY: the child only makes raw system calls (fork, setsid, pause) and never returns.
        let forked = unsafe { super::super::clone::fork_with_pidfd(Some(fds.dir.as_raw_fd())) }.unwrap();
        let (child, pidfd) = match forked {
            // SAFETY: (whole block) async-signal-safe calls only, in the forked child.
            super::super::clone::Forked::Child { .. } => unsafe {
                if let Ok(super::super::clone::Forked::Child { .. }) = super::super::clone::fork_with_pidfd(None) {
                    libc::setsid();
                }
                loop {
                    libc::pause();
                }
            },
            super::super::clone::Forked::Parent { pid, pidfd } => (pid, pidfd),
        };
        // SAFETY: CLONE_PIDFD gave us this descriptor; nothing else owns it.
        drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(pidfd) });
        let line = fs::read_to_string(format!("/proc/{child}/cgroup")).unwrap();
        assert!(line.lines().any(|l| l.starts_with("0::") && l.ends_with(&format!("/{name}"))), "{line}");
        let mut members = 0;
        for _ in 0..500 {
            members = count_members(fds.dir).unwrap();
            if members == 2 {
                break;
            }
            sleep_ms(1);
        }
        assert_eq!(members, 2, "the child and its setsid grandchild are members");
        assert!(end_members(&fds), "cgroup.kill ended every member");
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None).unwrap();
        assert_eq!(
            status,
            nix::sys::wait::WaitStatus::Signaled(nix::unistd::Pid::from_raw(child), nix::sys::signal::SIGKILL, false)
        );
        assert_eq!(remove(&fds), 0);
        assert!(!cg.exists());
        drop(t);
    }
}
