//! Reverse lookups' host side: what `/proc/<pid>/cgroup` names, and a container process's cgroup
//! id and network namespace inode, all read under the host-root prefix (an agent in a container
//! mounts the host's `/` at, say, `/hostfs`). [`ProcScan`] implements core's
//! [`HostLookup`], which the index calls: once per container
//! when it learns it (host ids), and once per cold pid lookup (one `/proc` read).
//!
//! A process's cgroup is made by the engine on the host, but a process inside a container can
//! move itself into a child cgroup it creates (cgroup namespaces show it its own subtree), never
//! above its container's: [`cgroup_path`](crate::cgroup_path) takes the outermost component that
//! names a container, so the answer is the container (or pod) whose subtree holds the process,
//! whatever the container named the cgroups below its own.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::host_ids::{CgroupIdSource, CgroupNames, HostIds, HostLookup};
use anyctr_core::registry::under_host_root;

use crate::cgroup_path::{CgroupLine, owner_of_path};
use crate::nsenter::target::cgroup_dirs;

/// `/proc/<pid>/cgroup` is a few hundred bytes; a cap keeps a hostile or odd file bounded.
const CGROUP_FILE_CAP: u64 = 64 * 1024;

/// Host access for reverse lookups, under a host-root prefix.
#[derive(Debug, Clone)]
pub struct ProcScan {
    proc: PathBuf,
    cgroup_root: PathBuf,
}

impl ProcScan {
    /// `host_root`: where the host's `/` is mounted (`None` or `/` for an agent on the host).
    pub fn new(host_root: Option<&Path>) -> ProcScan {
        ProcScan {
            proc: under_host_root(host_root, Path::new("/proc")),
            cgroup_root: under_host_root(host_root, Path::new("/sys/fs/cgroup")),
        }
    }

    /// Host pids whose argv is exactly `argv` (`/proc/<pid>/cmdline`), e.g. a marker command
    /// started in a container through an engine's exec, to find it on the host.
    pub fn pids_with_argv(&self, argv: &[&str]) -> Result<Vec<u32>> {
        let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        let entries = std::fs::read_dir(&self.proc).map_err(|e| proc_error(e, 0, &self.proc))?;
        Ok(entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| std::fs::read(self.proc.join(pid.to_string()).join("cmdline")).is_ok_and(|c| c == want))
            .collect())
    }

    /// The text of `/proc/<pid>/cgroup`; `NotFound` for no such process.
    pub fn read_cgroup(&self, pid: u32) -> Result<String> {
        let path = self.proc.join(pid.to_string()).join("cgroup");
        let mut text = String::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(CGROUP_FILE_CAP).read_to_string(&mut text))
            .map_err(|e| proc_error(e, pid, &path))?;
        Ok(text)
    }
}

/// What the lines of one `/proc/<pid>/cgroup` name: the v2 line first (every process has one on
/// a v2 or hybrid host), then the v1 lines in order; `None` when no line follows a known layout.
pub fn names_in_cgroup_file(text: &str) -> Option<CgroupNames> {
    let lines: Vec<CgroupLine> = text.lines().filter_map(CgroupLine::parse).collect();
    let ordered = lines.iter().filter(|l| l.is_v2()).chain(lines.iter().filter(|l| !l.is_v2()));
    ordered.filter_map(|l| owner_of_path(l.path)).next().map(|o| {
        let mut names = CgroupNames::default();
        names.container_id = o.container_id;
        names.pod_uid = o.pod_uid;
        names
    })
}

fn proc_error(e: std::io::Error, pid: u32, path: &Path) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ if e.raw_os_error() == Some(nix::libc::ESRCH) => ErrorKind::NotFound,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("pid {pid}: reading {}: {e}", path.display())).with_source(e)
}

impl HostLookup for ProcScan {
    fn host_ids(&self, pid: u32) -> HostIds {
        let ns = |kind: &str| rustix::fs::stat(self.proc.join(pid.to_string()).join("ns").join(kind)).ok();
        let (netns, mntns) = (ns("net").map(|s| s.st_ino), ns("mnt").map(|s| s.st_ino));
        let cgroup_id = self.read_cgroup(pid).ok().and_then(|text| {
            // Only hierarchies where the process sits in a container's cgroup: gVisor's sandbox
            // joins the v1 hierarchies only (its v2 line reads `0::/`), and the root cgroup's
            // id would claim every host process.
            let named: String = text
                .lines()
                .filter(|l| CgroupLine::parse(l).is_some_and(|l| owner_of_path(l.path).is_some()))
                .map(|l| format!("{l}\n"))
                .collect();
            let dirs = cgroup_dirs(&named, &self.cgroup_root, |p| p.exists()).ok()?;
            let inode = |d: &PathBuf| rustix::fs::stat(d).ok().map(|s| s.st_ino);
            // v2 first; on a v1-only host a named hierarchy: systemd's, else memory's.
            let v2 = dirs.iter().filter(|d| d.is_v2()).find_map(|d| inode(&d.dir)).map(|i| (CgroupIdSource::V2, i));
            v2.or_else(|| {
                ["name=systemd", "memory"].into_iter().find_map(|c| {
                    let d = dirs.iter().find(|d| d.has_controller(c))?;
                    Some((CgroupIdSource::V1(c), inode(&d.dir)?))
                })
            })
        });
        let mut ids = HostIds::default();
        ids.cgroup_id = cgroup_id;
        ids.netns = netns;
        ids.mntns = mntns;
        ids
    }

    fn cgroup_names(&self, pid: u32) -> Result<Option<CgroupNames>> {
        Ok(names_in_cgroup_file(&self.read_cgroup(pid)?))
    }

    fn own_pid(&self) -> Result<u32> {
        let path = self.proc.join("self");
        let link = std::fs::read_link(&path).map_err(|e| proc_error(e, 0, &path))?;
        link.to_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
            Error::unexpected(format!("{} links to {link:?}, not a pid: is it the host's procfs?", path.display()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401";

    #[test]
    fn the_v2_line_is_read_first_then_v1_lines() {
        let hybrid = format!("9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n0::/docker/{ID}\n");
        assert_eq!(names_in_cgroup_file(&hybrid).unwrap().container_id.as_deref(), Some(ID));
        // v1 only names it (a v2 line at `/`): still found.
        let v1 = format!("9:name=systemd:/docker/{ID}\n0::/\n");
        assert_eq!(names_in_cgroup_file(&v1).unwrap().container_id.as_deref(), Some(ID));
        // Read on this machine: a gVisor (runsc) sandbox process of a containerd CRI pod joins the
        // v1 hierarchies only.
        let sandbox = "fe1852a984666555c07d3182c258a75e504ffe79e8896bb66e8bd72ba390ef2f";
        let gvisor = format!("9:name=systemd:/k8s.io/{sandbox}\n4:memory:/k8s.io/{sandbox}\n0::/\n");
        assert_eq!(names_in_cgroup_file(&gvisor).unwrap().container_id.as_deref(), Some(sandbox));
        assert_eq!(names_in_cgroup_file("9:name=systemd:/\n4:memory:/process_api/ab\n0::/\n"), None);
        assert_eq!(names_in_cgroup_file(""), None);
    }

    #[test]
    fn this_process_is_a_host_process_and_an_unknown_pid_is_not_found() {
        let scan = ProcScan::new(None);
        let me = scan.own_pid().unwrap();
        assert_eq!(me, std::process::id(), "the test runs in the host's pid namespace");
        // Whatever it names (nothing on a host, the container when the tests run in one): it reads.
        scan.cgroup_names(me).unwrap();
        let ids = scan.host_ids(me);
        assert!(ids.netns.is_some() && ids.mntns.is_some(), "{ids:?}");
        if scan.cgroup_names(me).unwrap().is_none() {
            assert_eq!(ids.cgroup_id, None, "a host process's cgroup is no container's");
        }
        let argv: Vec<String> = std::env::args().collect();
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        assert!(scan.pids_with_argv(&argv).unwrap().contains(&me));
        // pid_max is at most 2^22: this pid cannot exist.
        let e = scan.cgroup_names(u32::MAX - 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let under = ProcScan::new(Some(Path::new("/nonexistent-host-root")));
        assert_eq!(under.cgroup_names(me).unwrap_err().kind(), ErrorKind::NotFound);
    }
}
