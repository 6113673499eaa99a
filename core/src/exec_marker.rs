//! Ending an exec that its engine cannot kill: every exec carries a marker in its environment, and
//! ending it means SIGKILLing every process whose environment holds that marker.
//!
//! Docker and pouch have no call that kills an exec; containerd's `Tasks.Kill` ends the exec's own
//! process but not the children it started, and under a sandboxed runtime only the host-side
//! helper (`runsc exec`). The environment is what every process an exec starts inherits (also a
//! background child that outlives its parent), so an entry `ANYCTR_EXEC_TOKEN=<token>` unique to
//! the exec finds them all. A token beats matching argv (two identical commands would be confused)
//! and beats a wrapper script that records `$$` (it changes argv and needs a writable filesystem).
//! A process that scrubs its environment escapes; that is the documented limit.
//!
//! Two ways to find the marked processes, both here so every engine uses the same ones:
//! - [`ExecMarker::kill_inside`]: a second exec, run in the container, that scans the container's
//!   own `/proc` and `kill -9`s the matches. Works for every runtime (a sandbox's processes are
//!   invisible to the host); needs `sh`, `grep -z` and `kill` in the image (busybox and GNU both
//!   have them; busybox's `grep -F` cannot match NUL-separated input, hence `-zxF`).
//! - [`ExecMarker::kill_on_host`] / [`ExecMarker::signal_if_marked`]: the host's `/proc`, for
//!   runc-class containers whose processes are host processes. Needs nothing in the container
//!   (distroless images); a pid is pinned by a pidfd, then signalled through it only after its
//!   `environ` proved it is ours, so a recycled pid is never hit. These read the host's `/proc`
//!   and block: call them from `spawn_blocking`. (They stay in core, though core otherwise keeps
//!   off the host: they are the kill half of the marker contract docker, pouch and containerd
//!   share, and moving them to anyctr-host would add an engine → host edge for 40 lines.)

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::process::Signal;

use crate::model::ExecRequest;
use crate::pidfd::{Checked, signal_checked};

/// The environment variable that marks every process of one exec.
pub const EXEC_MARKER_VAR: &str = "ANYCTR_EXEC_TOKEN";

/// Kills every process of the container whose environment holds `$1` (the whole `KEY=token`
/// entry) and prints how many. Its own process does not match: the entry is only in its argv.
const KILL_SCRIPT: &str = r#"n=0
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  [ "$p" = "$$" ] && continue
  if grep -qzxF "$1" "$d/environ" 2>/dev/null; then kill -9 "$p" 2>/dev/null && n=$((n+1)); fi
done
echo "$n""#;

/// How often the host scan repeats: a shell may fork between a scan and its kill.
const HOST_SCAN_ROUNDS: usize = 3;

/// The marker of one exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMarker {
    token: String,
}

impl Default for ExecMarker {
    fn default() -> Self {
        ExecMarker::new()
    }
}

impl ExecMarker {
    /// A marker unique to this process and exec (uniqueness, not secrecy, is what matters: a
    /// process that can read another's environment can kill it anyway).
    pub fn new() -> ExecMarker {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let token = format!("{:x}-{:x}-{:x}", std::process::id(), nanos, COUNTER.fetch_add(1, Ordering::Relaxed));
        ExecMarker { token }
    }

    /// The token alone (hex digits and `-`), e.g. to name the exec after it.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `KEY=token` entry to add to the exec's environment.
    pub fn env_entry(&self) -> String {
        format!("{EXEC_MARKER_VAR}={}", self.token)
    }

    /// The second exec that kills the marked processes from inside the container (see the module
    /// docs). The engine runs it like any exec, unmarked, and checks that it succeeded.
    pub fn kill_inside(&self) -> ExecRequest {
        ExecRequest::new(["sh", "-c", KILL_SCRIPT, "sh", self.env_entry().as_str()])
    }

    /// SIGKILLs every host process carrying the marker, restricted to the pid namespace of
    /// `init_pid` (the container's init) when given. Returns how many were signalled. Blocking.
    pub fn kill_on_host(&self, init_pid: Option<u32>) -> usize {
        self.kill_under(Path::new("/proc"), init_pid)
    }

    /// Whether a host process carrying the marker still runs (in the pid namespace of `init_pid`
    /// when given): a process of the exec that may still write its output. Blocking.
    pub fn alive_on_host(&self, init_pid: Option<u32>) -> bool {
        !self.marked_pids(Path::new("/proc"), init_pid).is_empty()
    }

    /// SIGKILLs host process `pid` (as an engine reported it) if, and only if, its environment
    /// proves it is this exec's. Blocking.
    pub fn signal_if_marked(&self, pid: u32) -> bool {
        self.kill_if_marked(Path::new("/proc"), pid)
    }

    /// The one check-then-kill ([`signal_checked`]: pinned by a pidfd, then checked, then
    /// signalled through the pidfd), the check being that its `environ` holds the marker. A
    /// process that is not this exec's is never signalled; whatever else happens (gone, not
    /// permitted) counts as not killed.
    fn kill_if_marked(&self, proc_root: &Path, pid: u32) -> bool {
        let marked = || if self.marks(&proc_root.join(pid.to_string())) { Ok(()) } else { Err(()) };
        matches!(signal_checked(pid, Signal::KILL, marked), Ok(Checked::Signalled))
    }

    fn kill_under(&self, proc_root: &Path, init_pid: Option<u32>) -> usize {
        let mut killed = 0;
        for _ in 0..HOST_SCAN_ROUNDS {
            let pids = self.marked_pids(proc_root, init_pid);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                if self.kill_if_marked(proc_root, pid) {
                    killed += 1;
                }
            }
        }
        killed
    }

    /// Pids under `proc_root` (not this process) whose `environ` holds the marker as a whole entry,
    /// in `init_pid`'s pid namespace when given.
    fn marked_pids(&self, proc_root: &Path, init_pid: Option<u32>) -> Vec<u32> {
        let namespace = init_pid.and_then(|p| fs::read_link(proc_root.join(p.to_string()).join("ns/pid")).ok());
        let Ok(entries) = fs::read_dir(proc_root) else { return Vec::new() };
        let own = std::process::id();
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != own)
            .filter(|pid| {
                let dir = proc_root.join(pid.to_string());
                if let Some(ns) = &namespace
                    && fs::read_link(dir.join("ns/pid")).ok().as_ref() != Some(ns)
                {
                    return false;
                }
                self.marks(&dir)
            })
            .collect()
    }

    /// Whether the process at `proc_dir` (`/proc/<pid>`) carries the marker.
    fn marks(&self, proc_dir: &Path) -> bool {
        let entry = self.env_entry();
        fs::read(proc_dir.join("environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == entry.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(token: &str) -> ExecMarker {
        ExecMarker { token: token.to_owned() }
    }

    #[test]
    fn markers_differ_and_are_plain() {
        let (a, b) = (ExecMarker::new(), ExecMarker::new());
        assert_ne!(a, b);
        assert!(a.token().bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'), "{a:?}");
        assert_eq!(marker("t").env_entry(), "ANYCTR_EXEC_TOKEN=t");
    }

    #[test]
    fn the_kill_exec_names_the_whole_entry() {
        let r = marker("abc").kill_inside();
        assert_eq!(r.argv[..2], ["sh", "-c"]);
        assert_eq!(r.argv[3..], ["sh", "ANYCTR_EXEC_TOKEN=abc"]);
        assert!(r.env.is_empty(), "the kill exec itself must not carry the marker");
    }

    #[test]
    fn the_host_scan_finds_only_whole_entries() {
        let root = tempfile::tempdir().unwrap();
        let mk = |pid: &str, env: &[u8]| {
            let d = root.path().join(pid);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("environ"), env).unwrap();
        };
        mk("100", b"PATH=/bin\0ANYCTR_EXEC_TOKEN=abc\0HOME=/");
        mk("101", b"ANYCTR_EXEC_TOKEN=abcd\0");
        mk("102", b"X=ANYCTR_EXEC_TOKEN=abc\0");
        mk("103", b"ANYCTR_EXEC_TOKEN=abc");
        mk("self", b"ANYCTR_EXEC_TOKEN=abc");
        let mut pids = marker("abc").marked_pids(root.path(), None);
        pids.sort();
        assert_eq!(pids, [100, 103]);
        assert!(marker("abc").marks(&root.path().join("100")));
        assert!(!marker("abc").marks(&root.path().join("101")));
    }

    #[test]
    fn nothing_is_found_in_a_missing_root() {
        assert!(marker("b").marked_pids(Path::new("/nonexistent-proc"), Some(1)).is_empty());
        assert_eq!(marker("b").kill_under(Path::new("/nonexistent-proc"), None), 0);
    }

    #[test]
    fn an_unmarked_pid_is_not_signalled() {
        // This test process does not carry the marker: it must survive the call.
        assert!(!ExecMarker::new().signal_if_marked(std::process::id()));
    }
}
