//! Container resource usage read from the host's cgroups, with no daemon call: the cheapest
//! correct source for runc-class containers (a sandbox's host cgroup holds its VMM or sentry, not
//! the container, so sandboxes are never read here).
//!
//! - cgroup v2 (one unified tree, `cgroup.controllers` at its root): `cpu.stat`,
//!   `memory.{current,max,stat,events,swap.current}`, `io.stat`, `pids.{current,max}` and the PSI
//!   files `{cpu,memory,io}.pressure`.
//! - cgroup v1 (one hierarchy per controller; a hybrid host's empty unified tree is ignored):
//!   `cpuacct`, `cpu`, `memory`, `blkio`, `pids`.
//! - Network: `/proc/<pid>/net/dev` of a process of the container, when its network namespace is
//!   not the host's.
//!
//! Everything is read beneath the host-root prefix. Each controller's mount is opened once; a
//! container's directory is opened beneath it with `openat2(RESOLVE_IN_ROOT)` (a cgroup path from
//! `/proc` cannot lead outside the cgroupfs), and each file with `openat(O_NOFOLLOW)` relative to
//! that descriptor, checked to be a regular file and read up to [`FILE_CAP`]. A cgroup path is
//! cut at the outermost component that names a container ([`crate::cgroup_path`]): a process
//! that moved itself into a child cgroup still reports its whole container.
//!
//! [`CgroupStatsReader::sweep`] finds every container's cgroup in one walk of one hierarchy, so
//! a node sweep of N containers costs no daemon call and one directory open per controller each.
//! [`container_stats`] and [`NodeStats`] choose between the cgroup and the engine's stats API.

mod parse;
mod select;
mod v1;
mod v2;

pub use select::{NodeStats, container_stats};

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyctr_core::model::{ContainerStats, StatsSource};
use anyctr_core::registry::under_host_root;
use anyctr_core::{Error, ErrorKind, Result};
use rustix::fs::{Mode, OFlags};

use crate::cgroup_path::{CgroupLine, owner_of_path};
use crate::hostfs::{Dir, FileKind, Root};

/// The most read from one cgroup file: `memory.stat` is about 1.5 KiB, `io.stat` a line per device.
pub const FILE_CAP: u64 = 64 * 1024;

/// How deep [`CgroupStatsReader::sweep`] looks for containers (`/kubepods.slice/<qos>/<pod>/<ctr>`
/// is 4 levels; nested systemd slices add a few).
const SWEEP_DEPTH: usize = 8;

/// How many directories one sweep visits at most (a bound against a pathological tree).
const SWEEP_DIR_LIMIT: usize = 200_000;

/// The most threads [`CgroupStatsReader::read_many`] reads on.
pub const MAX_READ_THREADS: usize = 8;
/// Fewer containers than this per thread are read on fewer threads (a thread costs ~50 µs).
const MIN_PER_THREAD: usize = 16;

/// The v1 controllers read, in the order their hierarchies are searched.
const V1_CONTROLLERS: [&str; 5] = ["memory", "cpuacct", "cpu", "blkio", "pids"];

/// Reads one file of a container's cgroup: `controller` picks the v1 hierarchy (ignored on v2).
/// `None` when the file is absent or unreadable (the figure is then not reported).
pub(crate) trait CgroupFiles {
    fn read(&self, controller: &str, name: &str) -> Option<String>;
}

/// Which cgroup version the host runs, with its opened mounts.
#[derive(Debug)]
enum Hierarchies {
    /// The unified tree's root.
    V2(Root),
    /// Each v1 controller read, with its hierarchy's root (`cpu` and `cpuacct` may share one).
    V1(Vec<(&'static str, Root)>),
}

/// Reads containers' cgroups on this host. Open once and reuse: the mounts stay open.
#[derive(Debug)]
pub struct CgroupStatsReader {
    proc: PathBuf,
    hierarchies: Hierarchies,
    /// The host's network namespace inode (`/proc/1/ns/net`), to tell a container's own apart.
    host_netns: Option<u64>,
}

/// One container's cgroup: the path below each hierarchy's root (v2: under `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCgroup {
    paths: BTreeMap<String, String>,
}

impl ContainerCgroup {
    /// The same path in every hierarchy (what engines do).
    pub fn uniform(path: &str) -> Self {
        ContainerCgroup { paths: BTreeMap::from([(String::new(), path.to_owned())]) }
    }

    fn path_for(&self, controller: &str) -> Option<&str> {
        self.paths.get(controller).or_else(|| self.paths.get("")).map(String::as_str)
    }
}

impl CgroupStatsReader {
    /// Opens the host's cgroup mounts under `host_root` (the host's `/` as seen from here).
    /// `Unsupported` when neither a v2 tree nor the v1 controllers are mounted.
    pub fn new(host_root: Option<&Path>) -> Result<Self> {
        let cgroup_root = under_host_root(host_root, Path::new("/sys/fs/cgroup"));
        let proc = under_host_root(host_root, Path::new("/proc"));
        let hierarchies = if cgroup_root.join("cgroup.controllers").exists() {
            Hierarchies::V2(Root::open(&cgroup_root).map_err(|e| io_error(e, &cgroup_root))?)
        } else {
            let names: Vec<String> = std::fs::read_dir(&cgroup_root)
                .map_err(|e| io_error(e, &cgroup_root))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect();
            let mut mounts = Vec::new();
            for controller in V1_CONTROLLERS {
                let name = names
                    .iter()
                    .find(|n| n.as_str() == controller)
                    .or_else(|| names.iter().find(|n| n.split(',').any(|c| c == controller)));
                if let Some(name) = name {
                    let path = cgroup_root.join(name);
                    mounts.push((controller, Root::open(&path).map_err(|e| io_error(e, &path))?));
                }
            }
            if !mounts.iter().any(|(c, _)| *c == "memory") {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("no cgroup v2 tree nor v1 memory controller under {}", cgroup_root.display()),
                ));
            }
            Hierarchies::V1(mounts)
        };
        let host_netns = rustix::fs::stat(proc.join("1/ns/net")).ok().map(|s| s.st_ino);
        Ok(CgroupStatsReader { proc, hierarchies, host_netns })
    }

    /// The cgroup version read: [`StatsSource::HostCgroupV2`] or [`StatsSource::HostCgroupV1`].
    pub fn source(&self) -> StatsSource {
        match self.hierarchies {
            Hierarchies::V2(_) => StatsSource::HostCgroupV2,
            Hierarchies::V1(_) => StatsSource::HostCgroupV1,
        }
    }

    /// The cgroup of host process `pid` (a container's init), cut at the container's own cgroup.
    pub fn cgroup_of_pid(&self, pid: u32) -> Result<ContainerCgroup> {
        let path = self.proc.join(pid.to_string()).join("cgroup");
        let text = read_capped_path(&path)?;
        let mut paths = BTreeMap::new();
        for line in text.lines().filter_map(CgroupLine::parse) {
            let key = match &self.hierarchies {
                Hierarchies::V2(_) if line.is_v2() => String::new(),
                Hierarchies::V1(_) if !line.is_v2() => match V1_CONTROLLERS.iter().find(|c| line.has_controller(c)) {
                    Some(_) => line.controllers.to_owned(),
                    None => continue,
                },
                _ => continue,
            };
            if line.path.split('/').any(|c| c == "..") {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("pid {pid}'s cgroup {:?} lies outside this cgroup namespace", line.path),
                ));
            }
            let own = container_prefix(line.path).unwrap_or(line.path);
            // v1: one entry per controller of the line (`cpu,cpuacct` serves both).
            if key.is_empty() {
                paths.insert(key, own.to_owned());
            } else {
                for c in key.split(',') {
                    paths.insert(c.to_owned(), own.to_owned());
                }
            }
        }
        if paths.is_empty() {
            return Err(Error::new(ErrorKind::NotFound, format!("pid {pid} is in no cgroup read here")));
        }
        Ok(ContainerCgroup { paths })
    }

    /// One sample of container `id` whose init is host process `pid`.
    pub fn read_pid(&self, id: &str, pid: u32) -> Result<ContainerStats> {
        let cgroup = self.cgroup_of_pid(pid)?;
        self.read(id, &cgroup, Some(pid))
    }

    /// One sample of container `id` from its cgroup; network from `/proc/<net_pid>/net/dev` when
    /// given, else from the first process the cgroup lists. `NotFound` when the cgroup is gone.
    pub fn read(&self, id: &str, cgroup: &ContainerCgroup, net_pid: Option<u32>) -> Result<ContainerStats> {
        let dirs = self.open_dirs(cgroup)?;
        let mut stats = ContainerStats::new(id, chrono::Utc::now(), self.source());
        match self.hierarchies {
            Hierarchies::V2(_) => v2::fill(&dirs, &mut stats),
            Hierarchies::V1(_) => v1::fill(&dirs, &mut stats),
        }
        let pid = net_pid.or_else(|| {
            let procs = dirs.read(if dirs.0.len() == 1 { "" } else { "memory" }, "cgroup.procs")?;
            procs.lines().find_map(|l| l.trim().parse().ok())
        });
        stats.networks = pid.and_then(|pid| self.networks(pid));
        Ok(stats)
    }

    /// Samples of many containers (as [`read`](Self::read) each, network from the first process),
    /// in the order given, read on up to [`MAX_READ_THREADS`] threads: a node's sweep is hundreds
    /// of containers of a dozen small files each, and the kernel's answers are the time it takes.
    pub fn read_many(&self, containers: &[(&str, &ContainerCgroup)]) -> Vec<Result<ContainerStats>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_READ_THREADS)
            .min(containers.len().div_ceil(MIN_PER_THREAD));
        let read_part = |part: &[(&str, &ContainerCgroup)]| -> Vec<Result<ContainerStats>> {
            part.iter().map(|(id, cgroup)| self.read(id, cgroup, None)).collect()
        };
        if threads <= 1 {
            return read_part(containers);
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> = containers
                .chunks(containers.len().div_ceil(threads))
                .map(|part| scope.spawn(move || read_part(part)))
                .collect();
            // A reader panics only on a bug; it is the caller's panic too.
            parts.into_iter().flat_map(|part| part.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    }

    /// Every container cgroup on the host, by container id: one walk of one hierarchy (v2's tree,
    /// v1's memory). Below a container's cgroup nothing is the engine's, so the walk stops there.
    pub fn sweep(&self) -> Result<BTreeMap<String, ContainerCgroup>> {
        let root = match &self.hierarchies {
            Hierarchies::V2(root) => root,
            Hierarchies::V1(mounts) => &mounts.iter().find(|(c, _)| *c == "memory").expect("checked at open").1,
        };
        let mut found = BTreeMap::new();
        let mut stack: Vec<(Dir, String, usize)> =
            vec![(root.dir().try_clone().map_err(sweep_error)?, String::new(), 0)];
        let mut visited = 0usize;
        while let Some((dir, path, depth)) = stack.pop() {
            visited += 1;
            if visited > SWEEP_DIR_LIMIT {
                return Err(Error::unexpected(format!("cgroup sweep gave up after {SWEEP_DIR_LIMIT} directories")));
            }
            for name in dir.names().map_err(sweep_error)? {
                let Some(name) = name.to_str() else { continue };
                let Ok(Some(entry)) = dir.lookup(name.as_ref()) else { continue };
                if entry.kind() != FileKind::Dir {
                    continue;
                }
                let child = format!("{path}/{name}");
                match owner_of_path(&child).and_then(|o| o.container_id.filter(|_| !o.monitor)) {
                    Some(id) => {
                        found.entry(id).or_insert_with(|| ContainerCgroup::uniform(&child));
                    }
                    None if depth + 1 < SWEEP_DEPTH => {
                        if let Ok(sub) = entry.open_dir() {
                            stack.push((sub, child, depth + 1));
                        }
                    }
                    None => {}
                }
            }
        }
        Ok(found)
    }

    fn open_dirs(&self, cgroup: &ContainerCgroup) -> Result<OpenedDirs> {
        let open = |root: &Root, controller: &str| -> Result<Dir> {
            let rel = cgroup.path_for(controller).ok_or_else(|| {
                Error::new(ErrorKind::NotFound, format!("no cgroup path for controller {controller:?}"))
            })?;
            root.open_dir(Path::new(rel)).map_err(|e| {
                let kind =
                    if e.kind() == std::io::ErrorKind::NotFound { ErrorKind::NotFound } else { ErrorKind::Unexpected };
                Error::new(kind, format!("cgroup {rel:?}: {e}")).with_source(e)
            })
        };
        match &self.hierarchies {
            Hierarchies::V2(root) => Ok(OpenedDirs(vec![("", open(root, "")?)])),
            Hierarchies::V1(mounts) => {
                let mut dirs = Vec::with_capacity(mounts.len());
                for (controller, root) in mounts {
                    match open(root, controller) {
                        Ok(dir) => dirs.push((*controller, dir)),
                        // The memory cgroup is the container's existence here; other controllers
                        // may be absent for it (then their figures are not reported).
                        Err(e) if *controller == "memory" => return Err(e),
                        Err(_) => {}
                    }
                }
                Ok(OpenedDirs(dirs))
            }
        }
    }

    /// The interfaces of `pid`'s network namespace, when it is not the host's.
    fn networks(&self, pid: u32) -> Option<Vec<anyctr_core::model::NetworkStats>> {
        let base = self.proc.join(pid.to_string());
        let netns = rustix::fs::stat(base.join("ns/net")).ok()?.st_ino;
        if Some(netns) == self.host_netns {
            return None;
        }
        Some(parse::net_dev(&read_capped_path(&base.join("net/dev")).ok()?))
    }
}

/// The container's directories, one per controller read (v2: one, under `""`).
struct OpenedDirs(Vec<(&'static str, Dir)>);

impl CgroupFiles for OpenedDirs {
    fn read(&self, controller: &str, name: &str) -> Option<String> {
        let (_, dir) = self.0.iter().find(|(c, _)| *c == controller || c.is_empty())?;
        // cgroupfs has no links or special files, but the descriptor is still checked: O_NOFOLLOW,
        // O_NONBLOCK (a FIFO would not block), and a regular file or nothing.
        let fd = rustix::fs::openat(
            dir.as_fd(),
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        let file = std::fs::File::from(fd);
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        read_capped(file).ok()
    }
}

/// The path of the outermost component of `path` that names a container (see
/// [`crate::cgroup_path`]); `None` when no component does.
fn container_prefix(path: &str) -> Option<&str> {
    let ends = path.char_indices().filter(|(_, c)| *c == '/').map(|(i, _)| i).skip(1).chain([path.len()]);
    ends.map(|end| &path[..end]).find(|prefix| owner_of_path(prefix).is_some_and(|o| o.container_id.is_some()))
}

fn read_capped(file: std::fs::File) -> std::io::Result<String> {
    let mut text = String::new();
    file.take(FILE_CAP).read_to_string(&mut text)?;
    Ok(text)
}

fn read_capped_path(path: &Path) -> Result<String> {
    std::fs::File::open(path).and_then(read_capped).map_err(|e| io_error(e, path))
}

fn io_error(e: std::io::Error, path: &Path) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ if e.raw_os_error() == Some(nix::libc::ESRCH) => ErrorKind::NotFound,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("reading {}: {e}", path.display())).with_source(e)
}

fn sweep_error(e: std::io::Error) -> Error {
    Error::unexpected(format!("cgroup sweep: {e}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401";

    #[test]
    fn a_path_is_cut_at_its_container() {
        assert_eq!(container_prefix(&format!("/docker/{ID}")), Some(format!("/docker/{ID}").as_str()));
        let nested = format!("/docker/{ID}/anyctr-exec-1/docker/{ID}");
        assert_eq!(container_prefix(&nested), Some(format!("/docker/{ID}").as_str()));
        assert_eq!(container_prefix("/system.slice/cron.service"), None);
        assert_eq!(container_prefix("/"), None);
    }
}
