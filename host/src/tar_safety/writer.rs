//! [`TreeWriter`]: writes a tree of directories, files and links under a root directory so that
//! nothing lands outside it and a failure leaves nothing half-done behind.
//!
//! - The root is an opened directory, and so is every directory below it the writer uses: each
//!   is opened from its parent's descriptor by one name with `O_NOFOLLOW | O_DIRECTORY`
//!   ([`hostfs::Dir`]), so a directory swapped for a symlink, even mid-copy, fails the copy
//!   instead of redirecting it. No path is ever handed to the kernel whole.
//! - Every file is written to a temporary name beside its target (`O_CREAT | O_EXCL |
//!   O_NOFOLLOW`) and renamed into place under the parent's descriptor, so a reader never sees a
//!   partial file and an existing file is replaced atomically.
//! - Everything created is recorded as (parent descriptor, name); dropping the writer before
//!   [`TreeWriter::finish`] removes it again, newest first, through those descriptors (never the
//!   wrong side of a swapped directory). Files that existed before and were replaced stay
//!   replaced (each replacement was whole).
//! - Directory modes are applied at the end, so a read-only directory can still be filled.
//! - [`LinkPolicy::Confined`] (untrusted content into a local directory) also drops setuid,
//!   setgid and sticky bits unless [`WriteRules::keep_special_bits`], refuses FIFOs, sockets and
//!   devices, and caps each file at [`WriteRules::max_file_bytes`]. Hard links may only point at
//!   a file this writer wrote.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::checks::{check_link_target, checked_relative, conflict, io_err, over_cap};
use super::policy::{LinkPolicy, WriteRules, WriteStats};
use crate::hostfs::{self, Dir, FileKind};
use anyctr_core::error::{Error, ErrorKind, Result};

/// See the module docs.
#[derive(Debug)]
pub struct TreeWriter {
    display: PathBuf,
    policy: LinkPolicy,
    rules: WriteRules,
    /// Opened directories by their path relative to the root (`""` is the root).
    dirs: HashMap<PathBuf, Dir>,
    /// What this writer created: (parent, name, is a directory).
    created: Vec<(PathBuf, OsString, bool)>,
    dir_modes: Vec<(PathBuf, u32)>,
    temp_counter: u64,
    finished: bool,
    stats: WriteStats,
    files_written: Vec<PathBuf>,
    written: HashSet<PathBuf>,
}

impl TreeWriter {
    /// A writer under the host directory `root` (the caller's own path, followed).
    pub fn new(root: &Path, policy: LinkPolicy) -> Result<Self> {
        let dir = Dir::open(root).map_err(|e| io_err(e, root))?;
        Ok(Self::in_dir(dir, root.to_path_buf(), policy))
    }

    /// A writer under an opened directory; `display` names it in messages.
    pub fn in_dir(root: Dir, display: PathBuf, policy: LinkPolicy) -> Self {
        TreeWriter {
            display,
            policy,
            rules: WriteRules::default(),
            dirs: HashMap::from([(PathBuf::new(), root)]),
            created: Vec::new(),
            dir_modes: Vec::new(),
            temp_counter: 0,
            finished: false,
            stats: WriteStats::default(),
            files_written: Vec::new(),
            written: HashSet::new(),
        }
    }

    /// The writer with `rules` (they apply to [`LinkPolicy::Confined`]).
    pub fn with_rules(mut self, rules: WriteRules) -> Self {
        self.rules = rules;
        self
    }

    /// The rules it applies.
    pub fn rules(&self) -> WriteRules {
        self.rules
    }

    /// The directory it writes under.
    pub fn root(&self) -> &Path {
        &self.display
    }

    /// Creates directory `rel` (a no-op when it exists as a directory).
    pub fn dir(&mut self, rel: &Path, mode: u32) -> Result<()> {
        let (parent, name) = self.prepare(rel)?;
        let shown = self.display.join(rel);
        let dir = &self.dirs[&parent];
        match dir.lookup(&name).map_err(|e| io_err(e, &shown))? {
            Some(e) if e.kind() == FileKind::Dir => return Ok(()),
            Some(e) if e.kind() == FileKind::Symlink => return Err(self.through_link(&shown)),
            Some(_) => return Err(conflict(&shown, "exists and is not a directory")),
            None => {}
        }
        dir.mkdir(&name, 0o700).map_err(|e| io_err(e, &shown))?;
        self.created.push((parent, name, true));
        self.dir_modes.push((rel.to_path_buf(), self.mode(mode)));
        self.stats.dirs += 1;
        Ok(())
    }

    /// Writes file `rel` from `data` (temp name, then rename), with `mode` and `mtime`. With
    /// `expected_len`, a different length is an error and nothing is renamed into place; more
    /// than [`WriteRules::max_file_bytes`] is an error too.
    pub fn file(
        &mut self,
        rel: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
        data: &mut dyn Read,
        expected_len: Option<u64>,
    ) -> Result<u64> {
        let cap = self.rules.max_file_bytes;
        if let (Some(cap), Some(len)) = (cap, expected_len)
            && len > cap
        {
            return Err(over_cap(&self.display.join(rel), cap));
        }
        self.write_file(rel, mode, mtime, |out| {
            let limit = cap.map_or(u64::MAX, |c| c.saturating_add(1));
            let n = std::io::copy(&mut data.take(limit), out)?;
            if cap.is_some_and(|c| n > c) {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "over the byte cap"));
            }
            if expected_len.is_some_and(|want| want != n) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("{n} bytes instead of {} (truncated source)", expected_len.unwrap_or_default()),
                ));
            }
            Ok(n)
        })
    }

    /// Writes file `rel` from the opened file `src` (in the kernel where it can:
    /// `copy_file_range`). Under [`LinkPolicy::Confined`], `size` (the source's size when it was
    /// opened) is the cap unless [`WriteRules::max_file_bytes`] sets one, so a container's file
    /// that grows while it is copied fails instead of filling the disk. A trusted local source
    /// ([`LinkPolicy::Verbatim`]) is capped only by the rules.
    pub fn file_from(
        &mut self,
        rel: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
        src: &mut fs::File,
        size: u64,
    ) -> Result<u64> {
        let default_cap = if self.policy == LinkPolicy::Confined { size } else { u64::MAX - 1 };
        let cap = self.rules.max_file_bytes.unwrap_or(default_cap);
        if size > cap {
            return Err(over_cap(&self.display.join(rel), cap));
        }
        self.write_file(rel, mode, mtime, |out| hostfs::copy_capped(src, out, cap))
    }

    fn write_file(
        &mut self,
        rel: &Path,
        mode: u32,
        mtime: Option<SystemTime>,
        fill: impl FnOnce(&mut fs::File) -> std::io::Result<u64>,
    ) -> Result<u64> {
        let (parent, name) = self.prepare(rel)?;
        let shown = self.display.join(rel);
        let existed = self.replaceable(&parent, &name, &shown)?;
        let temp = self.temp_name(&name);
        let mode = self.mode(mode);
        let dir = &self.dirs[&parent];
        let written = (|| -> std::io::Result<u64> {
            let mut f = dir.create_new(&temp, 0o600)?;
            let n = fill(&mut f)?;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
            if let Some(t) = mtime {
                f.set_modified(t)?;
            }
            Ok(n)
        })();
        let n = match written.and_then(|n| dir.rename(&temp, &name).map(|()| n)) {
            Ok(n) => n,
            Err(e) => {
                let _ = dir.remove(&temp, false);
                if e.kind() == std::io::ErrorKind::InvalidData {
                    return Err(Error::invalid_argument(format!("{}: {e}", shown.display())));
                }
                return Err(io_err(e, &shown));
            }
        };
        if !existed {
            self.created.push((parent, name, false));
        }
        self.files_written.push(shown);
        self.written.insert(rel.components().collect());
        self.stats.files += 1;
        self.stats.bytes += n;
        Ok(n)
    }

    /// Creates symlink `rel` → `target` (replacing a file or link there).
    pub fn symlink(&mut self, rel: &Path, target: &Path) -> Result<()> {
        if self.policy == LinkPolicy::Confined {
            check_link_target(rel, target)?;
        }
        let (parent, name) = self.prepare(rel)?;
        let shown = self.display.join(rel);
        let existed = self.replaceable(&parent, &name, &shown)?;
        let temp = self.temp_name(&name);
        let dir = &self.dirs[&parent];
        if let Err(e) = dir.symlink(target, &temp).and_then(|()| dir.rename(&temp, &name)) {
            let _ = dir.remove(&temp, false);
            return Err(io_err(e, &shown));
        }
        if !existed {
            self.created.push((parent, name, false));
        }
        self.stats.links += 1;
        Ok(())
    }

    /// Creates `rel` as a hard link to `existing`, a regular file this writer already wrote (both
    /// relative to the root): a link never reaches anything outside what was copied.
    pub fn hardlink(&mut self, rel: &Path, existing: &Path) -> Result<()> {
        let key: PathBuf = existing.components().collect();
        if !self.written.contains(&key) {
            return Err(Error::invalid_argument(format!(
                "hard link {} -> {}: the target is not a file written earlier by this copy",
                rel.display(),
                existing.display()
            )));
        }
        let (src_parent, src_name) = self.prepare(existing)?;
        let (parent, name) = self.prepare(rel)?;
        let shown = self.display.join(rel);
        let existed = self.replaceable(&parent, &name, &shown)?;
        let temp = self.temp_name(&name);
        let (dir, src_dir) = (&self.dirs[&parent], &self.dirs[&src_parent]);
        let linked = dir.hard_link(src_dir, &src_name, &temp).and_then(|()| dir.rename(&temp, &name));
        // rename(2) between two names of one inode succeeds without doing anything, which would
        // leave the temporary name behind.
        let _ = dir.remove(&temp, false);
        if let Err(e) = linked {
            return Err(io_err(e, &shown));
        }
        if !existed {
            self.created.push((parent, name, false));
        }
        self.stats.links += 1;
        Ok(())
    }

    /// The regular files written so far (full paths, for display and local checks), in order.
    pub fn files_written(&self) -> &[PathBuf] {
        &self.files_written
    }

    /// What was written so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    /// A FIFO, socket or device at `rel` (`what` says which): refused under
    /// [`LinkPolicy::Confined`], counted as skipped under [`LinkPolicy::Verbatim`].
    pub fn special(&mut self, rel: &Path, what: &str) -> Result<()> {
        if self.policy == LinkPolicy::Confined {
            return Err(Error::invalid_argument(format!(
                "refusing {}: it is {what}; only files, directories and links are copied",
                rel.display()
            )));
        }
        self.stats.skipped += 1;
        Ok(())
    }

    /// Applies directory modes and keeps everything written.
    pub fn finish(mut self) -> Result<WriteStats> {
        for (rel, mode) in std::mem::take(&mut self.dir_modes).iter().rev() {
            let shown = self.display.join(rel);
            let dir = self.open_dir(rel)?;
            dir.try_clone_file()
                .and_then(|f| f.set_permissions(fs::Permissions::from_mode(*mode)))
                .map_err(|e| io_err(e, &shown))?;
        }
        self.finished = true;
        Ok(self.stats)
    }

    /// The mode bits a file or directory gets.
    fn mode(&self, mode: u32) -> u32 {
        if self.policy == LinkPolicy::Confined && !self.rules.keep_special_bits { mode & 0o777 } else { mode & 0o7777 }
    }

    /// Checks `rel`, opens (creating missing ones, recorded) its parent directories, refusing
    /// parents that are links or files. Returns the parent's key and the name.
    fn prepare(&mut self, rel: &Path) -> Result<(PathBuf, OsString)> {
        let parts = checked_relative(rel)?;
        let Some((name, parents)) = parts.split_last() else {
            return Err(Error::invalid_argument("empty entry path"));
        };
        let parent: PathBuf = parents.iter().collect();
        let name = name.to_os_string();
        self.open_dir(&parent)?;
        Ok((parent, name))
    }

    /// The opened directory `rel`, opening (and creating) each component from its parent.
    fn open_dir(&mut self, rel: &Path) -> Result<&Dir> {
        if !self.dirs.contains_key(rel) {
            let mut key = PathBuf::new();
            for part in checked_relative(rel)? {
                let child = key.join(part);
                if !self.dirs.contains_key(&child) {
                    let dir = self.open_child(&key, part, &child)?;
                    self.dirs.insert(child.clone(), dir);
                }
                key = child;
            }
        }
        Ok(&self.dirs[rel])
    }

    fn open_child(&mut self, parent: &Path, name: &OsStr, rel: &Path) -> Result<Dir> {
        let shown = self.display.join(rel);
        let dir = &self.dirs[parent];
        match dir.lookup(name).map_err(|e| io_err(e, &shown))? {
            Some(e) if e.kind() == FileKind::Dir => {}
            Some(e) if e.kind() == FileKind::Symlink => return Err(self.through_link(&shown)),
            Some(_) => return Err(conflict(&shown, "is not a directory")),
            None => {
                dir.mkdir(name, 0o755).map_err(|e| io_err(e, &shown))?;
                self.created.push((parent.to_path_buf(), name.to_os_string(), true));
            }
        }
        // Opened without following: a link swapped in since the lookup fails here.
        dir.subdir(name).map_err(|e| io_err(e, &shown))
    }

    /// Whether `name` exists in `parent` as something a file or link may replace; a directory
    /// may not be.
    fn replaceable(&self, parent: &Path, name: &OsStr, shown: &Path) -> Result<bool> {
        match self.dirs[parent].lookup(name).map_err(|e| io_err(e, shown))? {
            Some(e) if e.kind() == FileKind::Dir => Err(conflict(shown, "is a directory")),
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    fn temp_name(&mut self, name: &OsStr) -> OsString {
        self.temp_counter += 1;
        // Short enough for NAME_MAX even for a long target name.
        let short: String = name.to_string_lossy().chars().take(64).collect();
        OsString::from(format!(".{short}.anyctr-{}-{}.tmp", std::process::id(), self.temp_counter))
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
        for (parent, name, is_dir) in self.created.iter().rev() {
            if let Some(dir) = self.dirs.get(parent) {
                let _ = dir.remove(name, *is_dir);
            }
        }
    }
}
