//! The transient cgroup each fast-path command runs in: a child of the container's own cgroup,
//! created before the fork and removed when the command is over, so the whole tree the command
//! starts can be killed at once (see [`sys::cgroup_kill`](super::sys)).
//!
//! - cgroup v1 (what hybrid hosts use for the freezer): a child of the container's *freezer*
//!   cgroup; the command stays in the container's cgroups of the other hierarchies, so its memory,
//!   cpu and pids are still the container's.
//! - cgroup v2: a child of the container's cgroup, which needs `cgroup.kill` (Linux 5.14). With no
//!   v2 controller enabled below the container's cgroup, the command is still charged to it.
//!
//! Without either, the fast path refuses ([`ErrorKind::Unsupported`]): it could not promise to
//! end what the command starts.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::{OFlag, open};
use nix::libc;
use nix::sys::stat::Mode;

use super::sys::{self, CgroupFds, KillMethod};
use super::target::CgroupDir;
use anyctr_core::error::{Error, ErrorKind, Result};

/// The prefix of every transient cgroup's name (`anyctr-exec-<agent pid>-<n>`).
pub const TRANSIENT_PREFIX: &str = "anyctr-exec-";

/// A transient cgroup, created and open.
#[derive(Debug)]
pub(super) struct Transient {
    method: KillMethod,
    path: PathBuf,
    parent: OwnedFd,
    name: CString,
    dir: OwnedFd,
    join: OwnedFd,
    control: OwnedFd,
}

impl Transient {
    /// Creates the transient cgroup under the container's cgroups `dirs` (the init's): the v1
    /// freezer hierarchy when there is one, else the v2 one when it has `cgroup.kill`.
    pub(super) fn create(dirs: &[CgroupDir]) -> Result<Transient> {
        let (parent, method) = choose(dirs)?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mut attempt = 0;
        loop {
            let name = format!("{TRANSIENT_PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
            let path = parent.join(&name);
            match std::fs::create_dir(&path) {
                Ok(()) => {}
                // Another agent (in another pid namespace) may use the same pid: next number.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    let kind =
                        if e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(libc::EROFS) {
                            ErrorKind::PermissionDenied
                        } else {
                            ErrorKind::Unexpected
                        };
                    return Err(Error::new(kind, format!("creating the command's cgroup {}: {e}", path.display()))
                        .with_source(e));
                }
            }
            return Transient::open_in(parent, &name, method).inspect_err(|_| {
                let _ = std::fs::remove_dir(&path);
            });
        }
    }

    /// Opens what the fork and the kill need in the existing cgroup `parent/name`.
    pub(super) fn open_in(parent: &Path, name: &str, method: KillMethod) -> Result<Transient> {
        let path = parent.join(name);
        let at = |file: &str, flags: OFlag| {
            let p = path.join(file);
            open(&p, flags | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| {
                Error::unexpected(format!("opening {}: {e}", p.display())).with_source(std::io::Error::from(e))
            })
        };
        let control = match method {
            KillMethod::V1Freezer => at("freezer.state", OFlag::O_RDWR)?,
            KillMethod::V2Kill => at("cgroup.kill", OFlag::O_WRONLY)?,
        };
        Ok(Transient {
            method,
            parent: at("..", OFlag::O_PATH | OFlag::O_DIRECTORY)?,
            name: CString::new(name).map_err(|_| Error::invalid_argument("a cgroup name with a NUL byte"))?,
            dir: at(".", OFlag::O_RDONLY | OFlag::O_DIRECTORY)?,
            // v1: `tasks` moves the writing thread only, without the global threadgroup lock (see
            // `Target::cgroup_tasks`); v2 has no `tasks` (and normally clones into the cgroup).
            join: at(if method == KillMethod::V1Freezer { "tasks" } else { "cgroup.procs" }, OFlag::O_WRONLY)?,
            control,
            path,
        })
    }

    /// Whether the kill goes through cgroup v2 (`cgroup.kill`), the v1 freezer otherwise.
    pub(super) fn kills_through_v2(&self) -> bool {
        self.method == KillMethod::V2Kill
    }

    /// The descriptors, for the fork and the kill.
    pub(super) fn fds(&self) -> CgroupFds<'_> {
        CgroupFds {
            method: self.method,
            dir: self.dir.as_fd(),
            control: self.control.as_fd(),
            parent: self.parent.as_fd(),
            name: &self.name,
            join: self.join.as_fd(),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Transient {
    /// Removes the cgroup. Dropped only once the supervisor is gone (it normally has removed it
    /// already) or was never started. If processes are left — the supervisor was killed before it
    /// could end them — a thread kills them and removes it, so this never blocks the caller.
    fn drop(&mut self) {
        let errno = sys::remove(&self.fds());
        if errno == 0 || errno == libc::ENOENT {
            return;
        }
        let copies = (self.dir.try_clone(), self.control.try_clone(), self.parent.try_clone());
        let (Ok(dir), Ok(control), Ok(parent)) = copies else {
            tracing::warn!(cgroup = %self.path.display(), errno, "could not remove a fast-path command's cgroup");
            return;
        };
        let (method, name, path) = (self.method, self.name.clone(), self.path.clone());
        std::thread::spawn(move || {
            let fds = CgroupFds {
                method,
                dir: dir.as_fd(),
                control: control.as_fd(),
                parent: parent.as_fd(),
                name: &name,
                join: control.as_fd(),
            };
            sys::end_members(&fds);
            let errno = sys::remove(&fds);
            if errno != 0 && errno != libc::ENOENT {
                tracing::warn!(cgroup = %path.display(), errno, "could not remove a fast-path command's cgroup");
            }
        });
    }
}

/// Where to create the transient cgroup, and how its members will be killed.
pub(super) fn choose(dirs: &[CgroupDir]) -> Result<(&Path, KillMethod)> {
    if let Some(d) = dirs.iter().find(|d| !d.is_v2() && d.has_controller("freezer")) {
        return Ok((&d.dir, KillMethod::V1Freezer));
    }
    if let Some(d) = dirs.iter().find(|d| d.is_v2() && d.dir.join("cgroup.kill").exists()) {
        return Ok((&d.dir, KillMethod::V2Kill));
    }
    Err(Error::new(
        ErrorKind::Unsupported,
        "the container has neither a cgroup v1 freezer nor a cgroup v2 cgroup with cgroup.kill (Linux 5.14): \
         the fast path could not end everything a command starts; use the engine's exec",
    ))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn dir(controllers: &str, path: &Path) -> CgroupDir {
        CgroupDir { controllers: controllers.into(), dir: path.to_path_buf() }
    }

    /// Trees built by hand in a temp dir, as a pure v2 host and a hybrid v1 host lay them out.
    #[test]
    fn v1_freezer_first_then_v2_with_cgroup_kill() {
        let root = tempfile::tempdir().unwrap();
        let v2 = root.path().join("k8s.io/abc");
        let freezer = root.path().join("freezer/docker/abc");
        let memory = root.path().join("memory/docker/abc");
        for d in [&v2, &freezer, &memory] {
            fs::create_dir_all(d).unwrap();
        }
        let hybrid = [dir("memory", &memory), dir("freezer", &freezer), dir("", &v2)];
        assert_eq!(choose(&hybrid).unwrap(), (freezer.as_path(), KillMethod::V1Freezer));
        let pure_v2 = [dir("", &v2)];
        let e = choose(&pure_v2).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "no cgroup.kill (before 5.14): refused, {e}");
        fs::write(v2.join("cgroup.kill"), "").unwrap();
        assert_eq!(choose(&pure_v2).unwrap(), (v2.as_path(), KillMethod::V2Kill));
        assert_eq!(choose(&[dir("memory", &memory)]).unwrap_err().kind(), ErrorKind::Unsupported);
    }

    /// A v2 transient cgroup opened in a constructed tree: the kill writes `cgroup.kill`, the
    /// removal takes the directory away.
    #[test]
    fn v2_transient_opens_kills_and_is_removed() {
        let root = tempfile::tempdir().unwrap();
        let cg = root.path().join("anyctr-exec-test");
        fs::create_dir(&cg).unwrap();
        for f in ["cgroup.procs", "cgroup.kill"] {
            fs::write(cg.join(f), "").unwrap();
        }
        let t = Transient::open_in(root.path(), "anyctr-exec-test", KillMethod::V2Kill).unwrap();
        assert_eq!(t.path(), cg);
        assert!(sys::end_members(&t.fds()), "no members: nothing to kill");
        fs::write(cg.join("cgroup.procs"), "7\n").unwrap();
        // One round (the members file of a plain directory never empties).
        sys::kill_round(&t.fds());
        assert_eq!(fs::read_to_string(cg.join("cgroup.kill")).unwrap(), "1");
        for f in ["cgroup.procs", "cgroup.kill"] {
            fs::remove_file(cg.join(f)).unwrap();
        }
        drop(t);
        assert!(!cg.exists());
        let e = Transient::open_in(root.path(), "anyctr-exec-test", KillMethod::V1Freezer).unwrap_err();
        assert!(e.to_string().contains("freezer.state"), "{e}");
    }
}
