//! What the fast path takes from the container's init process, read through one `/proc/<pid>`
//! directory descriptor: its namespaces, root, working directory, cgroups, capability bounding set
//! and credentials.
//!
//! Every file is opened relative to that descriptor. It pins the process: if the init exits and its
//! pid is reused while we read, lookups through the old descriptor fail (`ESRCH`) instead of
//! describing the newcomer, so all the pieces belong to one process.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open, openat};
use nix::libc;
use nix::sys::stat::{Mode, fstat};

use crate::cgroup_path::CgroupLine;
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::registry::under_host_root;

/// The namespaces entered, in the order util-linux `nsenter` enters them: the user namespace first
/// (the others are owned by it, so entering it first grants the rights to enter them), the mount
/// namespace last (after it, paths mean the container's).
pub(super) const NAMESPACES: [(&str, libc::c_int); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("mnt", libc::CLONE_NEWNS),
];

/// The init's side of the fast path, opened and ready for the child.
#[derive(Debug)]
pub(super) struct Target {
    /// The namespaces that differ from this process's (`(kind, setns type, fd)`); entering a
    /// namespace one is already in is a no-op at best and `EINVAL` for a user namespace.
    pub namespaces: Vec<(&'static str, libc::c_int, OwnedFd)>,
    /// Whether the pid namespace is among them (then the command's parent pid reads as 0).
    pub enters_pid_ns: bool,
    /// `/proc/<pid>/root`: the container's root even when its init is chrooted inside its mount
    /// namespace.
    pub root: OwnedFd,
    /// `/proc/<pid>/cwd`: the default working directory.
    pub cwd: OwnedFd,
    /// `tasks` of each of the init's cgroup v1 cgroups, opened for writing, with their paths.
    /// Writing `0` to `tasks` moves the writing thread only, which the kernel does without the
    /// global threadgroup lock (whose write side costs an RCU grace period, milliseconds);
    /// the supervisor that writes is single-threaded, so it moves whole.
    pub cgroup_tasks: Vec<(PathBuf, OwnedFd)>,
    /// The init's cgroup v2 cgroup: its `cgroup.procs` path, the directory (for
    /// `CLONE_INTO_CGROUP`) and `cgroup.procs` opened for writing.
    pub unified: Option<(PathBuf, OwnedFd, OwnedFd)>,
    /// The init's cgroup directories, one per mounted hierarchy.
    pub cgroup_dirs: Vec<CgroupDir>,
    /// The init's `/proc/<pid>/status`.
    pub status: String,
}

impl Target {
    /// Opens what the child needs from `/proc/<pid>` (under `host_root`).
    pub(super) fn open(pid: u32, host_root: Option<&Path>) -> Result<Target> {
        let dir_path = under_host_root(host_root, &Path::new("/proc").join(pid.to_string()));
        let dir = open(&dir_path, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| sys_error(e, format!("opening {}", dir_path.display())))?;
        let at = |name: &str, flags: OFlag| {
            openat(&dir, name, flags | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| sys_error(e, format!("opening {}/{name}", dir_path.display())))
        };
        let mut namespaces = Vec::new();
        for (kind, nstype) in NAMESPACES {
            let own_path = format!("/proc/self/ns/{kind}");
            let Ok(own) = open(own_path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) else {
                // This kernel has no such namespace type (a cgroup namespace before 4.6): nothing to enter.
                continue;
            };
            let theirs = at(&format!("ns/{kind}"), OFlag::O_RDONLY)?;
            if same_file(&own, &theirs)? {
                if kind == "mnt" {
                    // runc always gives a container its own mount namespace; sharing ours means the pid
                    // is no longer the container's init (it exited and the pid was reused).
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "pid {pid} shares this process's mount namespace: it is not a container's init (the container may have restarted)"
                        ),
                    ));
                }
                continue;
            }
            namespaces.push((kind, nstype, theirs));
        }
        let enters_pid_ns = namespaces.iter().any(|(kind, _, _)| *kind == "pid");
        let root = at("root", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let cwd = at("cwd", OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let status = read_all(at("status", OFlag::O_RDONLY)?, "status")?;
        let cgroup_text = read_all(at("cgroup", OFlag::O_RDONLY)?, "cgroup")?;
        let cgroup_root = under_host_root(host_root, Path::new("/sys/fs/cgroup"));
        let (mut cgroup_tasks, mut unified) = (Vec::new(), None);
        let cgroup_dirs = cgroup_dirs(&cgroup_text, &cgroup_root, |p| p.is_dir() || p.is_file())?;
        let open_in_cgroup = |path: &Path, flags: OFlag| {
            open(path, flags | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| sys_error(e, format!("opening the container's cgroup {}", path.display())))
        };
        for d in &cgroup_dirs {
            if d.is_v2() {
                let procs = d.dir.join("cgroup.procs");
                let dir = open_in_cgroup(&d.dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                unified = Some((procs.clone(), dir, open_in_cgroup(&procs, OFlag::O_WRONLY)?));
            } else {
                let tasks = d.dir.join("tasks");
                cgroup_tasks.push((tasks.clone(), open_in_cgroup(&tasks, OFlag::O_WRONLY)?));
            }
        }
        Ok(Target { namespaces, enters_pid_ns, root, cwd, cgroup_tasks, unified, cgroup_dirs, status })
    }

    /// The init's capability bounding set (`CapBnd:`).
    pub(super) fn cap_bounding(&self) -> Result<u64> {
        self.status_field("CapBnd:")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .ok_or_else(|| Error::unexpected("no CapBnd line in the init's /proc status"))
    }

    /// Whether the init runs with `no_new_privs` (the command then does too).
    pub(super) fn no_new_privs(&self) -> bool {
        self.status_field("NoNewPrivs:") == Some("1")
    }

    fn status_field(&self, key: &str) -> Option<&str> {
        self.status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim)
    }
}

/// One of the init's cgroups: the hierarchy's controllers (`cpu,cpuacct`, `name=systemd`; empty
/// for cgroup v2) and its directory on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupDir {
    pub controllers: String,
    pub dir: PathBuf,
}

impl CgroupDir {
    /// Whether this is the unified (v2) hierarchy.
    pub(crate) fn is_v2(&self) -> bool {
        self.controllers.is_empty()
    }

    /// Whether this v1 hierarchy carries `controller`.
    pub(crate) fn has_controller(&self, controller: &str) -> bool {
        self.controllers.split(',').any(|c| c == controller)
    }
}

/// Maps `/proc/<pid>/cgroup` lines (`ID:controllers:path`) to the cgroup directories they name,
/// under `cgroup_root` (`/sys/fs/cgroup` with the host-root prefix):
/// - cgroup v1 `cpu,cpuacct:/p` → `<root>/cpu,cpuacct/p`, else the first of `<root>/cpu/p`,
///   `<root>/cpuacct/p` whose hierarchy is mounted (`name=systemd` → `<root>/systemd`);
/// - cgroup v2 `0::/p` → `<root>/p` on a pure v2 host (`<root>/cgroup.controllers` exists), else the
///   hybrid layout's `<root>/unified/p`.
///
/// A hierarchy mounted nowhere we look is skipped (nothing to join); a path with `..` means this
/// process sits in another cgroup namespace and cannot name the container's cgroups: refused.
pub(crate) fn cgroup_dirs(text: &str, cgroup_root: &Path, exists: impl Fn(&Path) -> bool) -> Result<Vec<CgroupDir>> {
    let mut out: Vec<CgroupDir> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some(CgroupLine { hierarchy, controllers, path }) = CgroupLine::parse(line) else {
            return Err(Error::unexpected(format!("malformed /proc cgroup line {line:?}")));
        };
        if path.split('/').any(|c| c == "..") {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "cgroup path {path:?} lies outside this process's cgroup namespace: run in the host's cgroup namespace"
                ),
            ));
        }
        let base = if hierarchy == 0 && controllers.is_empty() {
            if exists(&cgroup_root.join("cgroup.controllers")) {
                Some(cgroup_root.to_path_buf())
            } else {
                Some(cgroup_root.join("unified")).filter(|p| exists(p))
            }
        } else {
            let names: Vec<&str> = controllers
                .split(',')
                .map(|c| c.strip_prefix("name=").unwrap_or(c))
                .filter(|c| !c.is_empty())
                .collect();
            std::iter::once(names.join(","))
                .chain(names.iter().map(|s| s.to_string()))
                .map(|n| cgroup_root.join(n))
                .find(|p| exists(p))
        };
        if let Some(base) = base {
            let dir = base.join(path.trim_start_matches('/'));
            if !out.iter().any(|d| d.dir == dir) {
                let controllers =
                    if hierarchy == 0 && controllers.is_empty() { String::new() } else { controllers.to_owned() };
                out.push(CgroupDir { controllers, dir });
            }
        }
    }
    Ok(out)
}

fn same_file(a: &impl AsFd, b: &impl AsFd) -> Result<bool> {
    let (sa, sb) = (
        fstat(a).map_err(|e| sys_error(e, "stat of a namespace".into()))?,
        fstat(b).map_err(|e| sys_error(e, "stat of a namespace".into()))?,
    );
    Ok(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
}

fn read_all(fd: OwnedFd, what: &str) -> Result<String> {
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).map_err(|e| {
        let kind = if e.raw_os_error() == Some(libc::ESRCH) { ErrorKind::Conflict } else { ErrorKind::Unexpected };
        Error::new(kind, format!("reading the init's /proc {what}: {e}")).with_source(e)
    })?;
    Ok(text)
}

/// An errno from opening `/proc` or cgroup files, with the kind a caller can act on: a vanished
/// process is a container that stopped meanwhile (`Conflict`).
pub(super) fn sys_error(errno: nix::errno::Errno, what: String) -> Error {
    use nix::errno::Errno;
    let kind = match errno {
        Errno::ENOENT | Errno::ESRCH => ErrorKind::Conflict,
        Errno::EACCES | Errno::EPERM => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unexpected,
    };
    let hint = if kind == ErrorKind::Conflict { " (the container's init is gone: is it still running?)" } else { "" };
    Error::new(kind, format!("{what}: {errno}{hint}")).with_source(std::io::Error::from(errno))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_V1: &str = "9:name=systemd:/docker/abc\n8:pids:/docker/abc\n2:cpu,cpuacct:/docker/abc\n\
        4:memory:/docker/abc\n0::/docker/abc\n";

    #[test]
    fn v1_hybrid_maps_controllers_and_unified() {
        let root = Path::new("/hostfs/sys/fs/cgroup");
        let mounted = ["systemd", "pids", "cpu", "cpuacct", "memory", "unified"].map(|m| root.join(m));
        let got = cgroup_dirs(DOCKER_V1, root, |p| mounted.iter().any(|m| m == p)).unwrap();
        let want: Vec<PathBuf> =
            ["systemd", "pids", "cpu", "memory", "unified"].iter().map(|m| root.join(m).join("docker/abc")).collect();
        assert_eq!(got.iter().map(|d| d.dir.clone()).collect::<Vec<_>>(), want, "cpu,cpuacct: first mounted name");
        assert_eq!(got.iter().filter(|d| d.is_v2()).count(), 1);
        assert!(got[2].has_controller("cpuacct") && !got[2].has_controller("cpu,"));
        let joined = [root.join("cpu,cpuacct")];
        let got = cgroup_dirs("2:cpu,cpuacct:/x\n", root, |p| joined.iter().any(|m| m == p)).unwrap();
        assert_eq!(got, vec![CgroupDir { controllers: "cpu,cpuacct".into(), dir: root.join("cpu,cpuacct/x") }]);
    }

    #[test]
    fn pure_v2_and_unmounted_hierarchies() {
        let root = Path::new("/sys/fs/cgroup");
        let got = cgroup_dirs("0::/k8s.io/id\n", root, |p| p == root.join("cgroup.controllers")).unwrap();
        assert_eq!(got, vec![CgroupDir { controllers: String::new(), dir: root.join("k8s.io/id") }]);
        let got = cgroup_dirs("0::/\n5:rdma:/x\n", root, |_| false).unwrap();
        assert!(got.is_empty(), "nothing mounted, nothing to join: {got:?}");
    }

    #[test]
    fn foreign_cgroup_namespace_is_refused() {
        let e = cgroup_dirs("4:memory:/../../docker/abc\n", Path::new("/sys/fs/cgroup"), |_| true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(cgroup_dirs("garbage\n", Path::new("/x"), |_| true).is_err());
    }
}
