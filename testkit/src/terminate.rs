//! Ending a daemon a test started itself, by its pid only: SIGTERM first so it shuts down as it
//! would in production (dockerd with `--live-restore` leaves its containers running), SIGKILL if
//! it has not exited within the grace.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Sends SIGTERM to `child`, waits up to `grace` for it to exit, then SIGKILLs it; returns once
/// it has been reaped.
pub fn terminate(mut child: Child, grace: Duration) {
    // std's Child can only SIGKILL; kill(1) sends the polite signal without unsafe code here.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + grace;
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_ignores_sigterm_is_killed_after_the_grace() {
        let child = Command::new("sh").args(["-c", "trap '' TERM; exec sleep 30"]).spawn().unwrap();
        let pid = child.id();
        let started = Instant::now();
        terminate(child, Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(10), "killed, not waited out");
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "reaped");
    }

    #[test]
    fn a_child_that_honours_sigterm_exits_at_once() {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();
        terminate(child, Duration::from_secs(20));
        assert!(started.elapsed() < Duration::from_secs(10), "exited on SIGTERM");
    }
}
