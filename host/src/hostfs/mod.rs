//! Host access to container content by file descriptor.
//!
//! Everything inside a container is attacker-controlled, and the container keeps running while
//! the host reads or writes its files: a directory checked with `lstat` can be a symlink to the
//! host's `/` a microsecond later (the symlink-exchange race behind CVE-2018-15664). This module
//! therefore never hands a path to the kernel twice. A container's tree is reached through an
//! opened directory, and every step below it is a `*at` call relative to a descriptor that was
//! itself opened without following links:
//!
//! - [`Root`]: an opened directory that is the container's `/` (an overlay merged dir, or
//!   `/proc/<pid>/root` through [`proc_root`]). [`Root::resolve`] opens a path inside it with
//!   `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: symlinks are followed the way the
//!   container would follow them, absolute ones and `..` stay clamped at the root. On a kernel
//!   without `openat2` (`ENOSYS`; also `EPERM` from a seccomp filter) the same answer comes from
//!   [`walk`], a component-by-component `openat(O_PATH | O_NOFOLLOW)` walk that reads each link
//!   itself (at most [`MAX_SYMLINK_HOPS`]). [`Resolution`] selects one explicitly (tests do).
//!   [`open_plain`] is the one-call fast path for a path with no link and no mount on the way
//!   (`RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`); anything else makes it fail and the caller walks.
//! - [`walk`]: the emulated walk, open to views made of several roots ([`Layout`]): a
//!   container's rootfs plus its mounts, where each mount point switches to another descriptor.
//! - [`Dir`]: one opened directory and the single-name operations on it: look up, open a
//!   regular file for reading (anything else is refused before it is opened), make a directory,
//!   create a file under a temporary name and rename it into place, read the entries, read a
//!   link, remove. A name never contains `/`, so no lookup ever leaves the directory.
//! - [`Entry`]: an `O_PATH` descriptor and its `fstat`, the answer of a lookup. It stays the same
//!   inode whatever the container renames afterwards; [`Entry::open_file`] reopens it for
//!   reading through `/proc/self/fd` (no path walk) once its type was checked.
//! - [`copy_capped`]: file-to-file copy (`copy_file_range`, falling back to `read`/`write`) that
//!   stops with an error when the source holds more than a cap (a file that keeps growing).
//!
//! Errors are `std::io::Error`s carrying the kernel's errno; refusals (a special file, a link
//! loop, a byte cap) are `InvalidInput`/`InvalidData` with a message. The module depends on
//! nothing else in this crate, so it can become its own crate unchanged.
//!
//! The design follows libpathrs (the `pathrs` crate): `openat2` first, an emulated in-root walk
//! as the fallback, and reopening `O_PATH` handles through procfs rather than by path.

mod dir;
mod proc_root;
mod resolve;

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub use dir::{Dir, Entry, FileKind, copy_capped};
pub use proc_root::{ProcRoot, proc_root};
pub use resolve::{Layout, Lookup, Walked, open_plain, walk};

/// How many symlinks one resolution follows before it gives up (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// How [`Root::resolve`] resolves paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolution {
    /// `openat2`, and the emulated walk where the kernel has no `openat2`.
    #[default]
    Auto,
    /// Only `openat2` (`ENOSYS` where the kernel lacks it).
    Openat2,
    /// Only the emulated component-by-component walk.
    Emulated,
}

/// An opened directory that is a container's `/`. See the module docs.
#[derive(Debug)]
pub struct Root {
    dir: Dir,
    resolution: Resolution,
}

impl Root {
    /// Opens the host directory `path` (a trusted path such as a merged dir: it is followed with
    /// the host's semantics) as a root.
    pub fn open(path: &Path) -> io::Result<Root> {
        Ok(Root { dir: Dir::open(path)?, resolution: Resolution::Auto })
    }

    /// A root from an opened directory.
    pub fn from_dir(dir: Dir) -> Root {
        Root { dir, resolution: Resolution::Auto }
    }

    /// The same root, resolving with `resolution`.
    pub fn with_resolution(mut self, resolution: Resolution) -> Root {
        self.resolution = resolution;
        self
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Opens `path` (relative or absolute, both taken from the root) inside the root as an
    /// `O_PATH` [`Entry`]. Symlinks are followed inside the root; with `follow_last == false` a
    /// final symlink is returned itself. Magic links (`/proc/*/root`, `/proc/*/fd/*`) are refused.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> io::Result<Entry> {
        resolve::in_root(&self.dir, path, follow_last, self.resolution)
    }

    /// Opens the regular file at `path` inside the root for reading (symlinks followed inside the
    /// root). A FIFO, socket or device is refused before it is opened.
    pub fn open_file(&self, path: &Path) -> io::Result<(std::fs::File, rustix::fs::Stat)> {
        let entry = self.resolve(path, true)?;
        let stat = *entry.stat();
        Ok((entry.open_file()?, stat))
    }

    /// Opens the directory at `path` inside the root (symlinks followed inside the root).
    pub fn open_dir(&self, path: &Path) -> io::Result<Dir> {
        self.resolve(path, true)?.open_dir()
    }
}

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

impl From<Root> for OwnedFd {
    fn from(root: Root) -> OwnedFd {
        root.dir.into()
    }
}

/// The name of the pseudo filesystem (procfs, sysfs, devpts, mqueue, cgroup, …) holding `fd`,
/// or `None` for a filesystem whose files are files: what a pseudo filesystem shows depends on
/// who reads it (`/proc/self`), and reading it from the host shows the host's.
pub fn pseudo_filesystem(fd: impl AsFd) -> io::Result<Option<&'static str>> {
    let magic = rustix::fs::fstatfs(fd)?.f_type as u64;
    Ok(PSEUDO_FILESYSTEMS.iter().find(|(m, _)| *m == magic).map(|(_, name)| *name))
}

/// `statfs.f_type` of the pseudo filesystems (linux/magic.h).
const PSEUDO_FILESYSTEMS: &[(u64, &str)] = &[
    (0x9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x1980_0202, "mqueue"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
    (0x6265_6570, "configfs"),
    (0x6573_5543, "fusectl"),
    (0x4249_4e4d, "binfmt_misc"),
    (0xde5e_81e4, "efivarfs"),
    (0x6e73_6673, "nsfs"),
];

/// An `InvalidInput` error: a refusal with a message.
pub(crate) fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
