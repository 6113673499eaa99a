//! [`TreeWriter`]: writes a tree of directories, files and links under a root directory so that
//! nothing lands outside it and a failure leaves nothing half-done behind.
//!
//! - Every file is written to a temporary name beside its target and renamed into place, so a
//!   reader never sees a partial file and an existing file is replaced atomically.
//! - No path is followed through a symlink: each parent component is checked with `lstat`.
//! - Everything created is recorded; dropping the writer before [`TreeWriter::finish`] removes
//!   it again, newest first. Files that existed before and were replaced stay replaced (each
//!   replacement was whole).
//! - Directory modes are applied at the end, so a read-only directory can still be filled.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

/// How a writer treats symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPolicy {
    /// Untrusted input into a local directory: a link must stay inside the root (relative, only
    /// leading `..`, never above the root), and an entry below an existing link is refused. Both
    /// refusals are `InvalidArgument`.
    Confined,
    /// A trusted source into a container's tree seen from the host: link text is kept verbatim
    /// (the container resolves it in its own namespace), and an existing link on the way is
    /// `Unsupported` (only the container can resolve it; a caller falls back to the engine).
    Verbatim,
}

/// What a writer wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriteStats {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    /// Bytes of file content.
    pub bytes: u64,
    /// Entries left out (devices, fifos, sockets).
    pub skipped: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct TreeWriter {
    root: PathBuf,
    policy: LinkPolicy,
    created: Vec<PathBuf>,
    dir_modes: Vec<(PathBuf, u32)>,
    temp_counter: u64,
    finished: bool,
    stats: WriteStats,
    files_written: Vec<PathBuf>,
}

impl TreeWriter {
    /// A writer under `root`, which must be an existing directory.
    pub fn new(root: &Path, policy: LinkPolicy) -> Result<Self> {
        let meta = fs::metadata(root).map_err(|e| io_err(e, root))?;
        if !meta.is_dir() {
            return Err(Error::invalid_argument(format!("{} is not a directory", root.display())));
        }
        Ok(TreeWriter {
            root: root.to_path_buf(),
            policy,
            created: Vec::new(),
            dir_modes: Vec::new(),
            temp_counter: 0,
            finished: false,
            stats: WriteStats::default(),
            files_written: Vec::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates directory `rel` (a no-op when it exists as a directory).
    pub fn dir(&mut self, rel: &Path, mode: u32) -> Result<()> {
        let path = self.prepare(rel)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(m) if m.file_type().is_symlink() => return Err(self.through_link(&path)),
            Ok(_) => return Err(conflict(&path, "exists and is not a directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e, &path)),
        }
        fs::DirBuilder::new().mode(0o700).create(&path).map_err(|e| io_err(e, &path))?;
        self.created.push(path.clone());
        self.dir_modes.push((path, mode & 0o7777));
        self.stats.dirs += 1;
        Ok(())
    }

    /// Writes file `rel` from `data` (temp name, then rename), with `mode` and `mtime`. With
    /// `expected_len`, a different length is an error and nothing is renamed into place.
    pub fn file(
        &mut self,
        rel: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
        data: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        let path = self.prepare(rel)?;
        let existed = self.replaceable(&path)?;
        let temp = self.temp_name(&path);
        let written = (|| -> std::io::Result<u64> {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
            let n = std::io::copy(data, &mut f)?;
            if expected_len.is_some_and(|want| want != n) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{n} bytes instead of {} (truncated source)", expected_len.unwrap_or_default()),
                ));
            }
            f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
            if let Some(t) = mtime {
                f.set_modified(t)?;
            }
            Ok(n)
        })();
        let n = match written.and_then(|n| fs::rename(&temp, &path).map(|()| n)) {
            Ok(n) => n,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(io_err(e, &path));
            }
        };
        if !existed {
            self.created.push(path.clone());
        }
        self.files_written.push(path);
        self.stats.files += 1;
        self.stats.bytes += n;
        Ok(n)
    }

    /// Creates symlink `rel` → `target` (replacing a file or link there).
    pub fn symlink(&mut self, rel: &Path, target: &Path) -> Result<()> {
        if self.policy == LinkPolicy::Confined {
            check_link_target(rel, target)?;
        }
        let path = self.prepare(rel)?;
        let existed = self.replaceable(&path)?;
        let temp = self.temp_name(&path);
        let made = std::os::unix::fs::symlink(target, &temp).and_then(|()| fs::rename(&temp, &path));
        if let Err(e) = made {
            let _ = fs::remove_file(&temp);
            return Err(io_err(e, &path));
        }
        if !existed {
            self.created.push(path);
        }
        self.stats.links += 1;
        Ok(())
    }

    /// Creates `rel` as a hard link to the already written `existing` (both relative to the root).
    pub fn hardlink(&mut self, rel: &Path, existing: &Path) -> Result<()> {
        let source = self.prepare(existing)?;
        let meta = fs::symlink_metadata(&source).map_err(|e| io_err(e, &source))?;
        if meta.is_dir() {
            return Err(Error::invalid_argument(format!("hard link to directory {}", existing.display())));
        }
        let path = self.prepare(rel)?;
        let existed = self.replaceable(&path)?;
        let temp = self.temp_name(&path);
        let linked = fs::hard_link(&source, &temp).and_then(|()| fs::rename(&temp, &path));
        // rename(2) between two names of one inode succeeds without doing anything, which would
        // leave the temporary name behind.
        let _ = fs::remove_file(&temp);
        if let Err(e) = linked {
            return Err(io_err(e, &path));
        }
        if !existed {
            self.created.push(path);
        }
        self.stats.links += 1;
        Ok(())
    }

    /// The regular files written so far (full paths), in order.
    pub fn files_written(&self) -> &[PathBuf] {
        &self.files_written
    }

    /// What was written so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// Counts an entry left out on purpose.
    pub fn skip(&mut self) {
        self.stats.skipped += 1;
    }

    /// Applies directory modes and keeps everything written.
    pub fn finish(mut self) -> Result<WriteStats> {
        for (dir, mode) in self.dir_modes.iter().rev() {
            fs::set_permissions(dir, fs::Permissions::from_mode(*mode)).map_err(|e| io_err(e, dir))?;
        }
        self.finished = true;
        Ok(self.stats)
    }

    /// Checks `rel`, creates missing parents (recorded) and refuses parents that are links or
    /// files. Returns the full path.
    fn prepare(&mut self, rel: &Path) -> Result<PathBuf> {
        let rel = checked_relative(rel)?;
        let Some((name, parents)) = rel.split_last() else {
            return Err(Error::invalid_argument("empty entry path"));
        };
        let mut path = self.root.clone();
        for part in parents {
            path.push(part);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => return Err(self.through_link(&path)),
                Ok(_) => return Err(conflict(&path, "is not a directory")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::DirBuilder::new().mode(0o755).create(&path).map_err(|e| io_err(e, &path))?;
                    self.created.push(path.clone());
                }
                Err(e) => return Err(io_err(e, &path)),
            }
        }
        path.push(name);
        Ok(path)
    }

    /// Whether `path` exists as something a file or link may replace; a directory may not be.
    fn replaceable(&self, path: &Path) -> Result<bool> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => Err(conflict(path, "is a directory")),
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(e, path)),
        }
    }

    fn temp_name(&mut self, path: &Path) -> PathBuf {
        self.temp_counter += 1;
        let name = path.file_name().unwrap_or(OsStr::new("f")).to_string_lossy();
        // Short enough for NAME_MAX even for a long target name.
        let short: String = name.chars().take(64).collect();
        path.with_file_name(format!(".{short}.anyctr-{}-{}.tmp", std::process::id(), self.temp_counter))
    }

    fn through_link(&self, path: &Path) -> Error {
        let kind = match self.policy {
            LinkPolicy::Confined => ErrorKind::InvalidArgument,
            LinkPolicy::Verbatim => ErrorKind::Unsupported,
        };
        Error::new(kind, format!("refusing to write through symlink {}", path.display()))
    }
}

impl Drop for TreeWriter {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        for path in self.created.iter().rev() {
            let is_dir = fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            let _ = if is_dir { fs::remove_dir(path) } else { fs::remove_file(path) };
        }
    }
}

/// The normal components of a relative entry path; `InvalidArgument` for an absolute path or
/// `..`.
pub(crate) fn checked_relative(rel: &Path) -> Result<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::invalid_argument(format!("refusing entry {}: it contains `..`", rel.display())));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::invalid_argument(format!("refusing entry {}: it is absolute", rel.display())));
            }
        }
    }
    Ok(out)
}

/// A confined link may climb with leading `..` no higher than the root, then only descend. A
/// `..` after a name is refused: `x/..` depends on what `x` resolves to, which could be a link.
pub(crate) fn check_link_target(rel: &Path, target: &Path) -> Result<()> {
    let refuse = |why: &str| {
        Error::invalid_argument(format!("refusing symlink {} -> {}: {why}", rel.display(), target.display()))
    };
    let depth = checked_relative(rel)?.len().saturating_sub(1);
    let mut ups = 0;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err(refuse("absolute target")),
            Component::CurDir => {}
            Component::ParentDir if descended => return Err(refuse("`..` after a name")),
            Component::ParentDir => ups += 1,
            Component::Normal(_) => descended = true,
        }
    }
    if ups > depth {
        return Err(refuse("it leads outside the destination"));
    }
    if target.as_os_str().is_empty() {
        return Err(refuse("empty target"));
    }
    Ok(())
}

fn conflict(path: &Path, what: &str) -> Error {
    Error::new(ErrorKind::Conflict, format!("{} {what}", path.display()))
}

pub(crate) fn io_err(e: std::io::Error, path: &Path) -> Error {
    let kind = Error::from(std::io::Error::from(e.kind())).kind();
    Error::new(kind, format!("{}: {e}", path.display())).with_source(e)
}
