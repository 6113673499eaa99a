//! Where a container path lives on the host, or why the host cannot see it.
//!
//! [`host_path`] maps a path as the container sees it to a path this process can open:
//!
//! 1. The mount table first: the longest matching destination wins (nested mounts, single-file
//!    mounts), the later of two mounts on the same destination wins, and a read-only mount says
//!    so through [`HostPath::writable`]. Mounts are shared with the host even for sandboxed
//!    runtimes, so paths in volumes get real answers everywhere.
//! 2. Otherwise the rootfs: the merged dir where the engine reports a live one
//!    ([`RootfsView::Merged`]), else `/proc/<pid>/root` of a running runc-class container
//!    ([`ContainerDetail::proc_root_pid`]).
//! 3. Every host path gets the host-root prefix when the agent runs in a container (`/hostfs`).
//!
//! Symlinks are resolved component by component *inside the container's view*: each component
//! is looked up on the host through the current mapping (`lstat`, `readlink`), a link's target is
//! read in the container's namespace (absolute targets restart at the container's `/`, relative
//! ones at the link's directory), the mount table is consulted again for every resolved prefix,
//! `..` stops at the container's root and at most [`MAX_SYMLINK_HOPS`] links are followed. No
//! input (`../../etc/shadow`, a link to `/`, a link loop) yields a path outside the container's
//! view. Missing components are fine (a copy destination need not exist yet); the rest of the
//! path is then taken literally.
//!
//! # Errors
//! - [`ErrorKind::Unsupported`]: the host cannot see this path (a sandboxed runtime's rootfs, a
//!   tmpfs without a proc root, a pseudo filesystem, a rootfs or mount source this process cannot
//!   reach). This is the
//!   one "not host-visible" answer: callers fall back to the engine or to exec. The message says
//!   why.
//! - [`ErrorKind::InvalidArgument`]: a relative path, a NUL byte, or more than
//!   [`MAX_SYMLINK_HOPS`] links (a loop).
//! - [`ErrorKind::NotFound`]: a component that must be a directory is not one.
//! - [`ErrorKind::PermissionDenied`]: this process may not look at a component.
//!
//! # Paths and handles
//! [`host_path`] answers a path, for display and logs: it was right when it was computed, and a
//! container that swaps a directory for a symlink afterwards can redirect a later open of it.
//! [`open`] answers the same resolution as an opened handle ([`OpenedHostPath`]), which stays
//! the same file whatever the container does next: every host-side read or write of container
//! content goes through it. Both walk by file descriptor through [`hostfs`](crate::hostfs):
//! each component is opened with `O_PATH | O_NOFOLLOW` relative to its parent's descriptor, so
//! no answer, even one computed during a rename race, leaves the container's view.
//!
//! A path on a pseudo filesystem (a [`MountKind::Special`](anyctr_core::model::MountKind::Special)
//! mount such as `/proc` or `/sys`, or any entry whose filesystem is procfs, sysfs, devpts,
//! mqueue, cgroup, …) is `Unsupported`: the host reading `/proc/self/environ` reads its own.
//! `/proc/<pid>/root` is opened once per resolver and checked to still be the container's
//! process (see [`hostfs::proc_root`](crate::hostfs::proc_root)). A mount source that is itself a
//! symlink on the host is followed with the host's semantics, as the kernel did when it mounted it.

mod mounts;
mod walk;

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

use crate::hostfs::{Dir, Entry, Resolution, Root};
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::model::{ContainerDetail, RootfsView};
use anyctr_core::registry::under_host_root;

pub use crate::hostfs::MAX_SYMLINK_HOPS;

/// Where a host path came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HostPathSource {
    /// A mount: `destination` in the container, `source` on the host (as the engine reported it).
    Mount {
        /// Where the mount appears in the container.
        destination: PathBuf,
        /// Where its data lives on the host, as the engine reported it.
        source: PathBuf,
    },
    /// The engine's merged rootfs directory.
    MergedRootfs,
    /// `/proc/<pid>/root` of the container's init.
    ProcRoot {
        /// The init's host pid.
        pid: u32,
    },
}

/// A container path's place on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostPath {
    /// The path as this process opens it (host-root prefix applied).
    pub path: PathBuf,
    /// The container path after symlinks were resolved, normalized.
    pub container_path: PathBuf,
    /// Where the answer came from.
    pub source: HostPathSource,
    /// `false` for a read-only mount. A read-only rootfs is not reported by engines uniformly, so
    /// rootfs answers say `true`.
    pub writable: bool,
}

impl std::fmt::Display for HostPath {
    /// `/var/lib/docker/overlay2/…/merged/etc/hosts (container /etc/hosts, merged rootfs, rw)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (container {}, ", self.path.display(), self.container_path.display())?;
        match &self.source {
            HostPathSource::Mount { destination, source } => {
                write!(f, "mount {} from {}", destination.display(), source.display())?
            }
            HostPathSource::MergedRootfs => f.write_str("merged rootfs")?,
            HostPathSource::ProcRoot { pid } => write!(f, "/proc/{pid}/root")?,
        }
        f.write_str(if self.writable { ", rw)" } else { ", ro)" })
    }
}

/// Resolves `path` (absolute, as the container sees it) to its place on the host. See the module
/// docs for the rules and the errors.
pub fn host_path(container: &ContainerDetail, path: &str, host_root: Option<&Path>) -> Result<HostPath> {
    HostPathResolver::new(container, host_root).resolve(path)
}

/// Resolves `path` like [`host_path`] and opens it: a handle on the file or directory that
/// stays valid whatever the container does next. `NotFound` when it does not exist.
pub fn open(container: &ContainerDetail, path: &str, host_root: Option<&Path>) -> Result<OpenedHostPath> {
    HostPathResolver::new(container, host_root).open(path)
}

/// A resolved container path, opened (an `O_PATH` descriptor: nothing in it was read or
/// written yet). See the module docs.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedHostPath {
    /// Where it was found, for display.
    pub path: HostPath,
    entry: Entry,
}

impl OpenedHostPath {
    /// The entry: its `fstat`, its kind, its descriptor.
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The regular file, opened for reading. A FIFO, socket or device is refused
    /// (`InvalidArgument`) before it is opened; a directory is `InvalidArgument` too.
    pub fn open_file(&self) -> Result<File> {
        self.entry.open_file().map_err(|e| walk::io_error(e, &self.path.path))
    }

    /// The directory, opened for reading its entries.
    pub fn open_dir(&self) -> Result<Dir> {
        self.entry.open_dir().map_err(|e| walk::io_error(e, &self.path.path))
    }

    /// The `O_PATH` descriptor.
    pub fn into_fd(self) -> OwnedFd {
        self.entry.into()
    }
}

/// The container's view, prepared once for several lookups.
#[derive(Debug)]
pub struct HostPathResolver<'a> {
    container_id: &'a str,
    mounts: Vec<mounts::MountEntry<'a>>,
    rootfs: Rootfs,
    /// `/proc/<pid>/root` when the container has one, for mounts without a host source (tmpfs).
    proc_root: Option<(u32, PathBuf)>,
    /// Where the host's `/proc` is for this process.
    proc_dir: PathBuf,
    /// `/proc/<pid>/root`, opened once (with its pid checks) on first use.
    opened_proc_root: OnceLock<std::result::Result<Root, String>>,
    resolution: Resolution,
}

/// What backs paths that no mount covers.
#[derive(Debug, Clone)]
enum Rootfs {
    Visible {
        base: PathBuf,
        source: HostPathSource,
    },
    /// Why the host cannot see it.
    Invisible(String),
}

impl<'a> HostPathResolver<'a> {
    /// Prepares the view of `container`; `host_root` is where the host's `/` is mounted when the
    /// agent runs in a container.
    pub fn new(container: &'a ContainerDetail, host_root: Option<&Path>) -> Self {
        let reachable = |p: PathBuf| std::fs::metadata(&p).is_ok_and(|m| m.is_dir()).then_some(p);
        let proc_root = container.proc_root_pid().and_then(|pid| {
            reachable(under_host_root(host_root, &Path::new("/proc").join(pid.to_string()).join("root")))
                .map(|p| (pid, p))
        });
        let merged = match &container.rootfs {
            // A sandboxed runtime's host-side rootfs is stale or not the container's at all.
            RootfsView::Merged(dir) if !container.runtime.is_sandboxed() => {
                reachable(under_host_root(host_root, dir)).ok_or_else(|| dir.clone())
            }
            _ => Err(PathBuf::new()),
        };
        let rootfs = match (merged, &proc_root) {
            (Ok(base), _) => Rootfs::Visible { base, source: HostPathSource::MergedRootfs },
            (Err(_), Some((pid, base))) => {
                Rootfs::Visible { base: base.clone(), source: HostPathSource::ProcRoot { pid: *pid } }
            }
            (Err(missing), None) => Rootfs::Invisible(invisible_reason(container, &missing, host_root)),
        };
        HostPathResolver {
            container_id: &container.id,
            mounts: mounts::table(&container.mounts, host_root),
            rootfs,
            proc_root,
            proc_dir: under_host_root(host_root, Path::new("/proc")),
            opened_proc_root: OnceLock::new(),
            resolution: Resolution::Auto,
        }
    }

    /// The same view, resolving with `resolution`: [`Resolution::Emulated`] never takes the
    /// one-call `openat2` fast path (tests compare both).
    pub fn with_resolution(mut self, resolution: Resolution) -> Self {
        self.resolution = resolution;
        self
    }

    /// Resolves and opens one container path. See [`open`].
    pub fn open(&self, path: &str) -> Result<OpenedHostPath> {
        let context = |e: Error| e.with_operation("host_path").with_container(self.container_id);
        let resolved = walk::resolve(self, path).map_err(context)?;
        match resolved.deepest {
            Some((entry, missing)) if missing.is_empty() => Ok(OpenedHostPath { path: resolved.answer, entry }),
            _ => Err(context(Error::not_found(format!("{path} does not exist in the container")))),
        }
    }

    /// Resolves `path` and opens the deepest part of it that exists, with the components below
    /// it that do not (a copy's destination is created there).
    pub(crate) fn open_deepest(&self, path: &str) -> Result<(HostPath, Entry, Vec<OsString>)> {
        let context = |e: Error| e.with_operation("host_path").with_container(self.container_id);
        let resolved = walk::resolve(self, path).map_err(context)?;
        let Some((entry, missing)) = resolved.deepest else {
            return Err(context(Error::new(
                ErrorKind::Unsupported,
                format!("not host-visible: no part of {path} is reachable from the host"),
            )));
        };
        Ok((resolved.answer, entry, missing))
    }

    /// The container's `/proc/<pid>/root`, opened with its checks, if the container has one.
    pub(crate) fn proc_root_dir(&self) -> std::result::Result<Option<&Root>, String> {
        let Some((pid, _)) = &self.proc_root else {
            return Ok(None);
        };
        let opened = self.opened_proc_root.get_or_init(|| {
            crate::hostfs::proc_root(&self.proc_dir, *pid)
                .map(|p| p.root)
                .map_err(|e| format!("not host-visible: /proc/{pid}/root: {e}"))
        });
        opened.as_ref().map(Some).map_err(Clone::clone)
    }

    /// The entry of the rootfs's `/`.
    fn rootfs_entry(&self) -> Result<Entry> {
        let Rootfs::Visible { base, source } = &self.rootfs else {
            return Err(Error::new(ErrorKind::Unsupported, "not host-visible"));
        };
        let fd: OwnedFd = match source {
            HostPathSource::ProcRoot { .. } => match self.proc_root_dir().map_err(unsupported)? {
                Some(root) => root.dir().try_clone().map_err(|e| walk::io_error(e, base))?.into(),
                None => return Err(unsupported(format!("not host-visible: {} is not open", base.display()))),
            },
            _ => Root::open(base).map_err(|e| walk::io_error(e, base))?.into(),
        };
        Entry::from_fd(fd).map_err(|e| walk::io_error(e, base))
    }

    /// The mounts whose destination is `container_path` or lies below it (normalized), in mount
    /// order: what a host-side copy of that path would miss or shadow.
    pub fn mounts_at_or_below(&self, container_path: &Path) -> Vec<&'a anyctr_core::model::Mount> {
        let Some(path) = mounts::normalize_absolute(container_path) else {
            return Vec::new();
        };
        self.mounts.iter().filter(|e| e.destination.starts_with(&path)).map(|e| e.mount).collect()
    }

    /// Resolves one container path. See [`host_path`].
    pub fn resolve(&self, path: &str) -> Result<HostPath> {
        walk::resolve(self, path)
            .map(|r| r.answer)
            .map_err(|e| e.with_operation("host_path").with_container(self.container_id))
    }
}

fn invisible_reason(container: &ContainerDetail, missing_merged: &Path, host_root: Option<&Path>) -> String {
    if container.runtime.is_sandboxed() || container.rootfs == RootfsView::NotHostVisible {
        return format!(
            "not host-visible: runtime `{}` keeps the container's rootfs out of the host's reach; only mounts are shared",
            container.runtime_name
        );
    }
    if !missing_merged.as_os_str().is_empty() {
        return format!(
            "not host-visible: the merged rootfs {} is not reachable from this process (host root {:?})",
            missing_merged.display(),
            host_root
        );
    }
    if container.state.status.is_running() {
        "not host-visible: the engine reports no rootfs directory and no usable pid for /proc/<pid>/root".to_owned()
    } else {
        "not host-visible: the engine reports no rootfs directory and the container is not running".to_owned()
    }
}

fn unsupported(message: String) -> Error {
    Error::new(ErrorKind::Unsupported, message)
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn host_path_names_both_sides_and_the_source() {
        let hp = HostPath {
            path: "/hostfs/var/lib/vol/f".into(),
            container_path: "/data/f".into(),
            source: HostPathSource::Mount { destination: "/data".into(), source: "/var/lib/vol".into() },
            writable: false,
        };
        assert_eq!(hp.to_string(), "/hostfs/var/lib/vol/f (container /data/f, mount /data from /var/lib/vol, ro)");
        let proc = HostPath { source: HostPathSource::ProcRoot { pid: 7 }, writable: true, ..hp };
        assert!(proc.to_string().ends_with("/proc/7/root, rw)"), "{proc}");
    }
}
