//! Copy endpoints: container paths split into parent and name, and the walk of a host tree that
//! feeds a [`Sink`] (a [`TreeWriter`] or a tar builder).

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::tar_safety::{TreeWriter, io_err};

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
    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut dyn Read) -> Result<()>;
    fn symlink(&mut self, rel: &Path, meta: &fs::Metadata, target: &Path) -> Result<()>;
    fn skip(&mut self, rel: &Path);
}

/// Walks the host tree at `src` into `sink` as `rel`. The top is followed when it is a symlink
/// and `follow_top` (a caller's own path); below it links are kept as links. Files are opened
/// with `O_NOFOLLOW`, so a link swapped in after the `lstat` fails the copy instead of being read.
pub(crate) fn walk(src: &Path, rel: &Path, follow_top: bool, sink: &mut dyn Sink) -> Result<()> {
    let meta = if follow_top { fs::metadata(src) } else { fs::symlink_metadata(src) }.map_err(|e| io_err(e, src))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        sink.dir(rel, &meta)?;
        let mut names: Vec<OsString> = fs::read_dir(src)
            .map_err(|e| io_err(e, src))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(|e| io_err(e, src))?;
        names.sort();
        for name in names {
            walk(&src.join(&name), &rel.join(&name), false, sink)?;
        }
    } else if kind.is_file() {
        let nofollow = nix::fcntl::OFlag::O_NOFOLLOW.bits();
        let mut f = fs::OpenOptions::new().read(true).custom_flags(nofollow).open(src).map_err(|e| io_err(e, src))?;
        sink.file(rel, &meta, &mut f)?;
    } else if kind.is_symlink() {
        let target = fs::read_link(src).map_err(|e| io_err(e, src))?;
        sink.symlink(rel, &meta, &target)?;
    } else {
        sink.skip(rel);
    }
    Ok(())
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

    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut dyn Read) -> Result<()> {
        // No expected length: a live log may grow while it is copied; what was read is written.
        TreeWriter::file(self, rel, mode_of(meta), mtime_of(meta), data, None).map(|_| ())
    }

    fn symlink(&mut self, rel: &Path, _meta: &fs::Metadata, target: &Path) -> Result<()> {
        TreeWriter::symlink(self, rel, target)
    }

    fn skip(&mut self, _rel: &Path) {
        TreeWriter::skip(self)
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
            assert_eq!(ContainerTarget::parse(bad).unwrap_err().kind(), crate::ErrorKind::InvalidArgument, "{bad}");
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
