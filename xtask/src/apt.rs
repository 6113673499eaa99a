//! Installing missing Debian packages, the way a fresh CI machine needs it:
//! non-interactive, bounded, without starting the packaged daemons.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cmd;

/// apt waits at most this long for another apt/dpkg to release its lock.
const LOCK_WAIT: &str = "DPkg::Lock::Timeout=300";
const INSTALL_LIMIT: Duration = Duration::from_secs(20 * 60);
const UPDATE_LIMIT: Duration = Duration::from_secs(10 * 60);
/// While present and exiting 101, maintainer scripts may not start services:
/// `engines up` starts its own daemons on its own sockets, and nothing else should run.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Installs those of `packages` that are not installed. apt's output goes to `log`
/// (its tail is shown on failure). `apt-get update` runs only if the first install fails,
/// which keeps the usual case (everything present, or lists fresh) fast.
pub fn ensure(packages: &[&str], log: &Path) -> Result<(), String> {
    let missing = missing(packages)?;
    if missing.is_empty() {
        println!("packages: all present ({})", packages.join(" "));
        return Ok(());
    }
    println!("packages: installing {}", missing.join(" "));
    if let Some(dir) = log.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let _guard = PolicyGuard::install()?;
    if apt(&["install", "-y", "-q", "--no-install-recommends"], &missing, log, INSTALL_LIMIT)? {
        return Ok(());
    }
    println!("packages: install failed, running apt-get update and retrying");
    apt(&["update", "-q"], &[], log, UPDATE_LIMIT)?;
    if apt(&["install", "-y", "-q", "--no-install-recommends"], &missing, log, INSTALL_LIMIT)? {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect();
    Err(format!("apt-get install {} failed; last lines of {}:\n{}", missing.join(" "), log.display(), tail.join("\n")))
}

/// Packages not in dpkg state "install ok installed" (dpkg-query prints nothing for unknown names).
fn missing<'a>(packages: &[&'a str]) -> Result<Vec<&'a str>, String> {
    let out = cmd::capture(
        Command::new("dpkg-query").args(["-W", "-f=${Package} ${Status}\\n"]).args(packages),
        Duration::from_secs(60),
    )
    .map_err(|e| format!("{e} (this harness needs a Debian/Ubuntu machine with dpkg and apt)"))?;
    let installed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.ends_with("install ok installed"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| p.split(':').next().unwrap_or(p)) // "pkg:amd64" with multiarch
        .collect();
    Ok(packages.iter().copied().filter(|p| !installed.contains(p)).collect())
}

/// Runs apt-get with output appended to `log`; Ok(false) when apt-get itself failed.
fn apt(args: &[&str], packages: &[&str], log: &Path, limit: Duration) -> Result<bool, String> {
    let open = || File::options().create(true).append(true).open(log);
    let (out, err) = match (open(), open()) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(e), _) | (_, Err(e)) => return Err(format!("cannot open {}: {e}", log.display())),
    };
    // Output to a file rather than a pipe: a stray process from a maintainer script
    // could hold a pipe open forever.
    let status = cmd::run(
        Command::new("apt-get")
            .args(["-o", LOCK_WAIT])
            .args(args)
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err)),
        limit,
    )?;
    Ok(status.success())
}

/// Puts a deny-all policy-rc.d in place for as long as it lives, unless one already exists
/// (then that one is the machine owner's and stays as it is).
struct PolicyGuard {
    created: bool,
}

impl PolicyGuard {
    fn install() -> Result<Self, String> {
        let path = Path::new(POLICY_RC_D);
        if path.exists() {
            return Ok(PolicyGuard { created: false });
        }
        let failed = |e: std::io::Error| format!("cannot write {POLICY_RC_D}: {e}");
        fs::write(path, "#!/bin/sh\n# written by cargo xtask while it installs packages\nexit 101\n")
            .map_err(failed)?;
        let guard = PolicyGuard { created: true }; // from here on, dropping it removes the file
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(failed)?;
        Ok(guard)
    }
}

impl Drop for PolicyGuard {
    fn drop(&mut self) {
        if self.created {
            let _ = fs::remove_file(POLICY_RC_D);
        }
    }
}
