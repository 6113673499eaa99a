//! The component-by-component walk by file descriptor ([`hostfs::walk`]): every prefix is
//! matched against the mount table, looked up with `openat(O_PATH | O_NOFOLLOW)` relative to
//! its parent's descriptor, and a symlink's target is spliced back into the path to resolve, in
//! the container's namespace.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path};

use super::mounts::{self, Components};
use super::{HostPath, HostPathResolver, HostPathSource, Rootfs, unsupported};
use crate::hostfs::{self, Entry, FileKind, Layout, Lookup, Resolution};
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::model::MountKind;

/// What one resolution found: the answer for display, and the deepest existing entry with the
/// components below it that do not exist (yet).
pub(super) struct Resolved {
    pub answer: HostPath,
    pub deepest: Option<(Entry, Components)>,
}

pub(super) fn resolve(view: &HostPathResolver<'_>, input: &str) -> Result<Resolved> {
    if !input.starts_with('/') {
        return Err(Error::invalid_argument(format!("container path {input:?} is not absolute")));
    }
    if input.contains('\0') {
        return Err(Error::invalid_argument("container path contains a NUL byte"));
    }
    let root = match &view.rootfs {
        Rootfs::Visible { .. } => Some(view.rootfs_entry()?),
        Rootfs::Invisible(_) => None,
    };
    let (components, deepest) = match root.as_ref().and_then(|r| plain(view, r, input)) {
        Some(found) => found,
        None => {
            let walked = hostfs::walk(root, view, Path::new(input), true).map_err(|e| walk_error(e, input))?;
            let components = walked.components.clone();
            let deepest = walked.into_deepest().map(|(entry, covered)| (entry, components[covered..].to_vec()));
            (components, deepest)
        }
    };
    let mapped = map(view, &components)?;
    let answer = HostPath {
        path: mapped.host,
        container_path: mounts::join(Path::new("/"), &components),
        source: mapped.source,
        writable: mapped.writable,
    };
    if let Some((entry, _)) = &deepest
        && let Some(what) = hostfs::pseudo_filesystem(entry).map_err(|e| io_error(e, &answer.path))?
    {
        return Err(pseudo(&answer.container_path, what));
    }
    Ok(Resolved { answer, deepest })
}

/// The fast path: a path whose every prefix is in the rootfs (no mount on it) opened in one
/// `openat2` call that refuses links and mount crossings. `None` when it does not apply or did
/// not find a plain answer; the walk then gives the exact one.
fn plain(view: &HostPathResolver<'_>, root: &Entry, input: &str) -> Option<(Components, Option<(Entry, Components)>)> {
    // `x/..` is `..` of wherever `x` leads if it is a link: only the walk knows.
    if view.resolution == Resolution::Emulated || Path::new(input).components().any(|c| c == Component::ParentDir) {
        return None;
    }
    let components = mounts::normalize_absolute(Path::new(input))?;
    if mounts::longest_match(&view.mounts, &components).is_some() {
        return None;
    }
    let entry = hostfs::open_plain(root, &mounts::join(Path::new(""), &components)).ok()?;
    (entry.kind() != FileKind::Symlink).then(|| (components, Some((entry, Vec::new()))))
}

impl Layout for HostPathResolver<'_> {
    fn at(&self, prefix: &[OsString]) -> io::Result<Lookup> {
        let Some(entry) = mounts::longest_match(&self.mounts, prefix) else {
            return match &self.rootfs {
                Rootfs::Visible { .. } => Ok(Lookup::Name),
                // The rootfs is out of sight, but a mount further down is not: mount points are
                // directories the runtime created, so walk through them literally.
                Rootfs::Invisible(_) if mounts::any_at_or_below(&self.mounts, prefix) => Ok(Lookup::Literal),
                Rootfs::Invisible(reason) => Err(io_unsupported(format!("{}: {reason}", display(prefix)))),
            };
        };
        if let MountKind::Special(kind) = &entry.mount.kind {
            return Err(io_unsupported(format!(
                "{} is on a {} mount at {}: a pseudo filesystem, its files are not host files",
                display(prefix),
                if kind.is_empty() { "special" } else { kind },
                entry.mount.destination.display()
            )));
        }
        if entry.destination.len() < prefix.len() {
            return Ok(Lookup::Name);
        }
        if let Some(source) = &entry.host_source {
            return Entry::open_host(source, true).map(Lookup::Mounted);
        }
        // tmpfs without a host source: only the container's own root shows it.
        match self.proc_root_dir() {
            Ok(Some(root)) => root.resolve(&mounts::join(Path::new("/"), prefix), true).map(Lookup::Mounted),
            Ok(None) => Err(io_unsupported(format!(
                "not host-visible: {} is on a {:?} mount with no host source this process can reach, and the \
                 container has no /proc/<pid>/root",
                display(prefix),
                entry.mount.kind
            ))),
            Err(e) => Err(io_unsupported(e)),
        }
    }
}

fn pseudo(container_path: &Path, what: &str) -> Error {
    unsupported(format!(
        "{} is on a {what} filesystem: a pseudo filesystem, its files are not host files",
        container_path.display()
    ))
}

/// Where one container path prefix lives on the host, for display.
struct Mapped {
    host: std::path::PathBuf,
    source: HostPathSource,
    writable: bool,
}

fn map(view: &HostPathResolver<'_>, path: &[OsString]) -> Result<Mapped> {
    if let Some(entry) = mounts::longest_match(&view.mounts, path) {
        let rest = &path[entry.destination.len()..];
        let writable = !entry.mount.read_only;
        if let Some(source) = &entry.host_source {
            return Ok(Mapped {
                host: mounts::join(source, rest),
                source: HostPathSource::Mount {
                    destination: entry.mount.destination.clone(),
                    source: entry.mount.source.clone(),
                },
                writable,
            });
        }
        return match &view.proc_root {
            Some((pid, root)) => {
                Ok(Mapped { host: mounts::join(root, path), source: HostPathSource::ProcRoot { pid: *pid }, writable })
            }
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
            Ok(Mapped { host: mounts::join(base, path), source: source.clone(), writable: true })
        }
        Rootfs::Invisible(reason) => Err(unsupported(format!("{}: {reason}", display(path)))),
    }
}

fn display(path: &[OsString]) -> String {
    mounts::join(Path::new("/"), path).display().to_string()
}

fn io_unsupported(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, message)
}

fn walk_error(e: io::Error, input: &str) -> Error {
    match (e.kind(), rustix::io::Errno::from_io_error(&e)) {
        (io::ErrorKind::Unsupported, _) => unsupported(e.to_string()),
        (_, Some(rustix::io::Errno::LOOP)) => Error::invalid_argument(format!(
            "container path {input:?}: more than {} symlinks (a loop?)",
            hostfs::MAX_SYMLINK_HOPS
        )),
        (_, Some(rustix::io::Errno::NOTDIR)) => {
            Error::not_found(format!("container path {input:?}: a component on the way is not a directory"))
        }
        _ => io_error(e, Path::new(input)),
    }
}

pub(super) fn io_error(err: io::Error, host: &Path) -> Error {
    let message = format!("{}: {err}", host.display());
    let kind = if err.kind() == io::ErrorKind::Unsupported { ErrorKind::Unsupported } else { Error::from(err).kind() };
    Error::new(kind, message)
}
