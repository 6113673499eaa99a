//! Running child processes with a time limit, using std only.
//!
//! Children stay in xtask's process group so that Ctrl-C in a terminal reaches them too.
//! On timeout the whole subtree is killed, except processes that left xtask's session:
//! those are the daemons `engines up` starts with `setsid`, which must outlive it.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Output of a captured command that ran to completion (successfully or not).
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A shell-like rendering of the command, for messages. The program by its file name:
/// "cargo", not the toolchain path `cargo run` hands over in CARGO.
pub fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program());
    let mut words = vec![program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs `cmd` with inherited stdout/stderr (stdin closed: CI has none, and nothing here
/// may wait for a keyboard). Returns its exit status; a timeout is an error.
pub fn run(cmd: &mut Command, limit: Duration) -> Result<ExitStatus, String> {
    let child = cmd.stdin(Stdio::null()).spawn().map_err(|e| spawn_error(cmd, e))?;
    wait_bounded(child, limit).map_err(|()| timeout_error(cmd, limit))
}

/// Runs `cmd` and fails unless it exits 0.
pub fn run_ok(cmd: &mut Command, limit: Duration) -> Result<(), String> {
    let status = run(cmd, limit)?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed ({status})", describe(cmd))) }
}

/// Runs `cmd` with stdout and stderr captured.
pub fn capture(cmd: &mut Command, limit: Duration) -> Result<Captured, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(cmd, e))?;
    // Drain both pipes while waiting: a child blocked on a full pipe would never exit.
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_bounded(child, limit).map_err(|()| timeout_error(cmd, limit))?;
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Captured { status, stdout, stderr })
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn wait_bounded(mut child: Child, limit: Duration) -> Result<ExitStatus, ()> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            // Timed out, or the wait itself failed: either way the child must not linger.
            _ => {
                kill_tree(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(());
            }
        }
    }
}

/// SIGKILLs `root` and its descendants that are still in xtask's session.
fn kill_tree(root: u32) {
    let table = process_table();
    let Some(own_session) = table.iter().find(|p| p.pid == std::process::id()).map(|p| p.session) else {
        return;
    };
    let mut doomed = vec![root];
    let mut i = 0;
    while i < doomed.len() {
        let parent = doomed[i];
        doomed.extend(table.iter().filter(|p| p.ppid == parent && p.session == own_session).map(|p| p.pid));
        i += 1;
    }
    // std can only signal its own children; the shell's `kill` builtin signals any pid.
    let _ = Command::new("sh")
        .args(["-c", "kill -s KILL \"$@\" 2>/dev/null", "sh"])
        .args(doomed.iter().map(u32::to_string))
        .status();
}

struct Proc {
    pid: u32,
    ppid: u32,
    session: u32,
}

fn process_table() -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses.
        let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().skip(1);
        let ppid = fields.next()?.parse().ok()?;
        let session = fields.nth(1)?.parse().ok()?;
        Some(Proc { pid, ppid, session })
    })
    .collect()
}

fn spawn_error(cmd: &Command, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("`{}`: command not found", cmd.get_program().to_string_lossy())
    } else {
        format!("cannot start `{}`: {e}", describe(cmd))
    }
}

fn timeout_error(cmd: &Command, limit: Duration) -> String {
    format!("`{}` did not finish within {}s and was killed", describe(cmd), limit.as_secs())
}

/// Seconds as "12.3s", for step timings.
pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_returns_output_and_exit_code() {
        let out = capture(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]), Duration::from_secs(30))
            .expect("sh runs");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn missing_program_is_named() {
        let err = run(&mut Command::new("xtask-no-such-program"), Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("xtask-no-such-program") && err.contains("not found"), "{err}");
    }

    #[test]
    fn timeout_kills_the_child_and_its_descendants() {
        let pid_file = std::env::temp_dir().join(format!("xtask-timeout-test-{}", std::process::id()));
        let script = format!("sleep 600 & echo $! > {}; wait", pid_file.display());
        let err = run(Command::new("sh").args(["-c", &script]), Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("did not finish within 1s"), "{err}");
        let grandchild = fs::read_to_string(&pid_file).expect("the shell wrote its child's pid");
        let _ = fs::remove_file(&pid_file);
        // SIGKILL is delivered at once but acts when the process next runs: allow it a moment.
        // Gone, or a zombie until init reaps it: either way no longer sleeping.
        let dead = || {
            let stat = fs::read_to_string(format!("/proc/{}/stat", grandchild.trim())).unwrap_or_default();
            let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next());
            matches!(state, None | Some("Z") | Some("X"))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dead() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(dead(), "grandchild {} still runs", grandchild.trim());
    }
}
