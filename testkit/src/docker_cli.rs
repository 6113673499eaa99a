//! The docker CLI on the harness dockerd, each call bounded by `timeout(1)`: for tests that set
//! up or inspect containers without going through the code under test.

use std::process::Command;

use crate::{BOUND, docker_socket};

/// Runs `docker -H <harness socket> args…`; stdout on success, the error text otherwise.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let host = format!("unix://{}", docker_socket());
    let out = Command::new("timeout")
        .arg(BOUND.as_secs().to_string())
        .args(["docker", "-H", &host])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if !out.status.success() {
        return Err(format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Fails the test with the "engines not up" message unless the harness dockerd answers.
pub fn require_docker() {
    if let Err(e) = docker(&["version", "--format", "{{.Server.Version}}"]) {
        crate::engines_not_up("docker", &docker_socket(), format!("not reachable: {e}"));
    }
}

/// Removes the named (or id'd) container when dropped, also after a failed assertion.
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.0]);
    }
}
