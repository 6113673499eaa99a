//! Host-side search for an exec's processes (runc-class containers only; see `exec.rs`): every
//! process in the container's pid namespace whose environment holds the exec's token entry.

use std::fs;
use std::path::Path;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// SIGKILLs every process carrying the `KEY=token` entry `needle`, restricted to the pid namespace of
/// `init_pid` when given. Returns how many were signalled. Blocking (reads `/proc`).
pub(crate) fn kill_marked(init_pid: Option<u32>, needle: &str) -> usize {
    kill_marked_in(Path::new("/proc"), init_pid, needle)
}

fn kill_marked_in(proc_root: &Path, init_pid: Option<u32>, needle: &str) -> usize {
    let mut killed = 0;
    // Repeat: a shell may fork between the scan and the kill.
    for _ in 0..3 {
        let pids = marked_pids(proc_root, init_pid, needle);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let Ok(raw) = i32::try_from(pid) else { continue };
            if kill(Pid::from_raw(raw), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
    killed
}

/// Pids under `proc_root` whose `environ` holds `needle` as a whole entry.
pub(crate) fn marked_pids(proc_root: &Path, init_pid: Option<u32>, needle: &str) -> Vec<u32> {
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
            fs::read(dir.join("environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == needle.as_bytes()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_whole_entries() {
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
        let mut pids = marked_pids(root.path(), None, "ANYCTR_EXEC_TOKEN=abc");
        pids.sort();
        assert_eq!(pids, [100, 103]);
    }

    #[test]
    fn nothing_found_in_a_missing_root() {
        assert!(marked_pids(Path::new("/nonexistent-proc"), Some(1), "A=b").is_empty());
    }
}
