//! Copy endpoints: container paths split into parent and name, and the walk of a tree by file
//! descriptor ([`hostfs`](crate::hostfs)) that feeds a [`Sink`] (a [`TreeWriter`] or a tar
//! builder).

use std::ffi::OsString;
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use crate::hostfs::{Entry, FileKind};
use crate::tar_safety::{TreeWriter, io_err};
use anyctr_core::error::{Error, Result};

/// A container path to copy to or from: absolute, normalized, not `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerTarget {
    /// The normalized path.
    pub full: String,
    /// Its parent directory (`/` for a top-level name).
    pub parent: String,
    pub name: String,
}

impl ContainerTarget {
    /// Refuses relative paths, NUL bytes, `..` (the strategies would resolve it differently) and
    /// `/` itself.
    pub fn parse(path: &str) -> Result<Self> {
        if !path.starts_with('/') {
            return Err(Error::invalid_argument(format!("container path {path:?} is not absolute")));
        }
        if path.contains('\0') {
            return Err(Error::invalid_argument("container path contains a NUL byte"));
        }
        let mut parts = Vec::new();
        for c in Path::new(path).components() {
            match c {
                Component::Normal(n) => parts
                    .push(n.to_str().ok_or_else(|| Error::invalid_argument("container path is not UTF-8"))?.to_owned()),
                Component::ParentDir => {
                    return Err(Error::invalid_argument(format!("container path {path:?} contains `..`")));
                }
                _ => {}
            }
        }
        let Some(name) = parts.pop() else {
            return Err(Error::invalid_argument("copying the container's `/` itself is not supported"));
        };
        let parent = format!("/{}", parts.join("/"));
        let full = if parts.is_empty() { format!("/{name}") } else { format!("{parent}/{name}") };
        Ok(ContainerTarget { full, parent, name })
    }
}

/// A local copy destination split into its existing parent directory and the new name.
pub(crate) fn local_target(path: &Path) -> Result<(PathBuf, OsString)> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid_argument(format!("local path {} names no file", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name.to_owned()))
}

/// Where a walked tree goes.
pub(crate) trait Sink {
    fn dir(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<()>;
    /// A regular file, opened; `meta` is its `fstat` when it was opened.
    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut fs::File) -> Result<()>;
    fn symlink(&mut self, rel: &Path, meta: &fs::Metadata, target: &Path) -> Result<()>;
    /// A FIFO, socket or device (`what` says which).
    fn special(&mut self, rel: &Path, what: &str) -> Result<()>;
}

/// Walks the caller's own local tree at `src` into `sink` as `rel`; the top is followed when it
/// is a symlink and `follow_top`.
pub(crate) fn walk_local(src: &Path, rel: &Path, follow_top: bool, sink: &mut dyn Sink) -> Result<()> {
    let entry = Entry::open_host(src, follow_top).map_err(|e| io_err(e, src))?;
    walk(&entry, src, rel, sink)
}

/// Walks the tree below an opened entry into `sink` as `rel` (`shown` names it in messages).
/// Every name is looked up from its directory's descriptor without following links, and a file
/// is opened from that lookup's descriptor after its type was checked: a directory swapped for
/// a link mid-walk is copied as the link it now is (or refused), never followed, and a FIFO or
/// device is never opened. Below the top, links are kept as links.
pub(crate) fn walk(entry: &Entry, shown: &Path, rel: &Path, sink: &mut dyn Sink) -> Result<()> {
    let err = |e: std::io::Error| io_err(e, shown);
    match entry.kind() {
        FileKind::Dir => {
            let dir = entry.open_dir().map_err(err)?;
            let meta = dir.try_clone_file().and_then(|f| f.metadata()).map_err(err)?;
            sink.dir(rel, &meta)?;
            for name in dir.names().map_err(err)? {
                // A name that vanished since the listing is not copied.
                if let Some(child) = dir.lookup(&name).map_err(err)? {
                    walk(&child, &shown.join(&name), &rel.join(&name), sink)?;
                }
            }
            Ok(())
        }
        FileKind::File => {
            let mut f = entry.open_file().map_err(err)?;
            let meta = f.metadata().map_err(err)?;
            sink.file(rel, &meta, &mut f)
        }
        FileKind::Symlink => {
            let target = entry.read_link().map_err(err)?;
            let meta =
                entry.as_fd().try_clone_to_owned().map(fs::File::from).and_then(|f| f.metadata()).map_err(err)?;
            sink.symlink(rel, &meta, &target)
        }
        FileKind::Special(what) => sink.special(rel, what),
    }
}

/// The permission bits of a file.
pub(crate) fn mode_of(meta: &fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

fn mtime_of(meta: &fs::Metadata) -> Option<SystemTime> {
    let secs = u64::try_from(meta.mtime()).ok()?;
    Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

impl Sink for TreeWriter {
    fn dir(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<()> {
        TreeWriter::dir(self, rel, mode_of(meta))
    }

    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut fs::File) -> Result<()> {
        // The size at open is the cap unless the caller set one: a file that keeps growing
        // fails instead of filling the disk.
        TreeWriter::file_from(self, rel, mode_of(meta), mtime_of(meta), data, meta.len()).map(|_| ())
    }

    fn symlink(&mut self, rel: &Path, _meta: &fs::Metadata, target: &Path) -> Result<()> {
        TreeWriter::symlink(self, rel, target)
    }

    fn special(&mut self, rel: &Path, what: &str) -> Result<()> {
        TreeWriter::special(self, rel, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_targets_are_normalized_and_checked() {
        let t = ContainerTarget::parse("//tmp/./dir//file/").unwrap();
        assert_eq!((t.full.as_str(), t.parent.as_str(), t.name.as_str()), ("/tmp/dir/file", "/tmp/dir", "file"));
        let t = ContainerTarget::parse("/top").unwrap();
        assert_eq!((t.parent.as_str(), t.name.as_str()), ("/", "top"));
        for bad in ["relative", "/", "/a/../b", "/a\0"] {
            assert_eq!(
                ContainerTarget::parse(bad).unwrap_err().kind(),
                anyctr_core::ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn local_targets_split_parent_and_name() {
        assert_eq!(local_target(Path::new("/tmp/x")).unwrap(), (PathBuf::from("/tmp"), OsString::from("x")));
        assert_eq!(local_target(Path::new("x")).unwrap(), (PathBuf::from("."), OsString::from("x")));
        assert!(local_target(Path::new("/")).is_err());
        assert!(local_target(Path::new("a/..")).is_err());
    }
}
