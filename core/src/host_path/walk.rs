//! The component-by-component walk: every prefix is mapped through the mount table, looked up
//! on the host with `lstat`, and a symlink's target is spliced back into the path to resolve, in
//! the container's namespace.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::mounts::{self, Components};
use super::{HostPath, HostPathResolver, HostPathSource, Rootfs, unsupported};
use crate::error::{Error, ErrorKind, Result};

/// How many symlinks one resolution follows before it gives up (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// Where one container path prefix lives on the host.
struct Mapped {
    host: PathBuf,
    source: HostPathSource,
    writable: bool,
    /// The path is a mount's destination itself: what the runtime mounted there, never a link
    /// to follow in the container's namespace.
    mount_root: bool,
}

pub(super) fn resolve(view: &HostPathResolver<'_>, input: &str) -> Result<HostPath> {
    if !input.starts_with('/') {
        return Err(Error::invalid_argument(format!("container path {input:?} is not absolute")));
    }
    if input.contains('\0') {
        return Err(Error::invalid_argument("container path contains a NUL byte"));
    }
    let mut pending: VecDeque<OsString> = VecDeque::new();
    push_front(&mut pending, Path::new(input));
    let mut done: Components = Vec::new();
    let mut hops = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            done.pop();
            continue;
        }
        done.push(name);
        let mapped = match map(view, &done) {
            Ok(m) => m,
            // The rootfs is out of sight, but a mount further down is not: mount points are
            // directories the runtime created, so walk through them literally.
            Err(e) if e.kind() == ErrorKind::Unsupported && mounts::any_at_or_below(&view.mounts, &done) => continue,
            Err(e) => return Err(e),
        };
        if mapped.mount_root {
            continue;
        }
        match std::fs::symlink_metadata(&mapped.host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::invalid_argument(format!(
                        "container path {input:?}: more than {MAX_SYMLINK_HOPS} symlinks (a loop?)"
                    )));
                }
                let target = std::fs::read_link(&mapped.host).map_err(|e| io_error(e, &mapped.host))?;
                done.pop();
                if target.is_absolute() {
                    done.clear();
                }
                push_front(&mut pending, &target);
            }
            Ok(_) => {}
            // A missing component: the rest cannot be links, and `..` after it is clamped like
            // any other, so the answer stays inside the view.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(ENOTDIR) => {
                return Err(Error::not_found(format!(
                    "container path {input:?}: a component before {} is not a directory",
                    display(&done)
                )));
            }
            Err(e) => return Err(io_error(e, &mapped.host)),
        }
    }
    let mapped = map(view, &done)?;
    Ok(HostPath {
        path: mapped.host,
        container_path: mounts::join(Path::new("/"), &done),
        source: mapped.source,
        writable: mapped.writable,
    })
}

/// `ENOTDIR` on Linux; std has no stable io kind for it.
const ENOTDIR: i32 = 20;

/// Puts a path's components in front of what is left to resolve; a leading `/` is left to the
/// caller (it resets the resolved prefix).
fn push_front(pending: &mut VecDeque<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    for part in parts.into_iter().rev() {
        pending.push_front(part);
    }
}

fn map(view: &HostPathResolver<'_>, path: &[OsString]) -> Result<Mapped> {
    if let Some(entry) = mounts::longest_match(&view.mounts, path) {
        let rest = &path[entry.destination.len()..];
        let writable = !entry.mount.read_only;
        let mount_root = rest.is_empty();
        if let Some(source) = &entry.host_source {
            return Ok(Mapped {
                host: mounts::join(source, rest),
                source: HostPathSource::Mount {
                    destination: entry.mount.destination.clone(),
                    source: entry.mount.source.clone(),
                },
                writable,
                mount_root,
            });
        }
        // tmpfs, special mounts, unreachable sources: only the container's own root shows them.
        return match &view.proc_root {
            Some((pid, root)) => Ok(Mapped {
                host: mounts::join(root, path),
                source: HostPathSource::ProcRoot { pid: *pid },
                writable,
                mount_root,
            }),
            None => Err(unsupported(format!(
                "not host-visible: {} is on a {:?} mount with no host source this process can reach, and the \
                 container has no /proc/<pid>/root",
                display(path),
                entry.mount.kind
            ))),
        };
    }
    match &view.rootfs {
        Rootfs::Visible { base, source } => {
            Ok(Mapped { host: mounts::join(base, path), source: source.clone(), writable: true, mount_root: false })
        }
        Rootfs::Invisible(reason) => Err(unsupported(format!("{}: {reason}", display(path)))),
    }
}

fn display(path: &[OsString]) -> String {
    mounts::join(Path::new("/"), path).display().to_string()
}

fn io_error(err: std::io::Error, host: &Path) -> Error {
    let message = format!("{}: {err}", host.display());
    Error::new(Error::from(err).kind(), message)
}
