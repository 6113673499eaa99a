//! One opened directory and the single-name operations on it; [`Entry`], the answer of a lookup.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use super::refused;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A FIFO, socket, character or block device.
    Special(&'static str),
}

impl FileKind {
    /// The kind an `fstat` says.
    pub fn of(stat: &Stat) -> FileKind {
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => FileKind::File,
            FileType::Directory => FileKind::Dir,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Special("a FIFO"),
            FileType::Socket => FileKind::Special("a socket"),
            FileType::CharacterDevice => FileKind::Special("a character device"),
            FileType::BlockDevice => FileKind::Special("a block device"),
            FileType::Unknown => FileKind::Special("a file of unknown type"),
        }
    }
}

/// An `O_PATH` descriptor and its `fstat`: a name looked up once. Opening it
/// ([`Entry::open_file`], [`Entry::open_dir`]) opens this very inode, whatever the container
/// renamed meanwhile.
#[derive(Debug)]
pub struct Entry {
    fd: OwnedFd,
    stat: Stat,
}

impl Entry {
    /// An entry from any descriptor (`O_PATH` or opened).
    pub fn from_fd(fd: OwnedFd) -> io::Result<Entry> {
        Entry::new(fd)
    }

    pub(crate) fn new(fd: OwnedFd) -> io::Result<Entry> {
        let stat = rustix::fs::fstat(&fd)?;
        Ok(Entry { fd, stat })
    }

    /// Opens a trusted host path (followed with the host's semantics, or not with
    /// `follow == false`) as an entry, without opening what it names.
    pub fn open_host(path: &Path, follow: bool) -> io::Result<Entry> {
        let nofollow = if follow { OFlags::empty() } else { OFlags::NOFOLLOW };
        Entry::new(rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC | nofollow, Mode::empty())?)
    }

    /// What `fstat` said when it was opened.
    pub fn stat(&self) -> &Stat {
        &self.stat
    }

    /// The entry's kind.
    pub fn kind(&self) -> FileKind {
        FileKind::of(&self.stat)
    }

    /// The regular file, opened for reading. Anything else is refused without being opened (a
    /// FIFO would block, a device could act on open).
    pub fn open_file(&self) -> io::Result<File> {
        self.reopen(OFlags::RDONLY)
    }

    fn reopen(&self, access: OFlags) -> io::Result<File> {
        match self.kind() {
            FileKind::File => {}
            FileKind::Dir => return Err(io::Error::from_raw_os_error(rustix::io::Errno::ISDIR.raw_os_error())),
            FileKind::Symlink => return Err(io::Error::from_raw_os_error(rustix::io::Errno::LOOP.raw_os_error())),
            FileKind::Special(what) => return Err(refused(format!("refusing to read {what}"))),
        }
        // Through our own /proc/self/fd: the kernel reopens the inode the descriptor holds; no
        // name in the container is looked up again.
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&self.fd));
        let fd = rustix::fs::open(path.as_str(), access | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?;
        let file = File::from(fd);
        let now = rustix::fs::fstat(&file)?;
        if (now.st_dev, now.st_ino) != (self.stat.st_dev, self.stat.st_ino) {
            return Err(io::Error::other("the file changed while it was reopened"));
        }
        Ok(file)
    }

    /// The regular file, opened for writing in place and truncated (a single-file mount is
    /// rewritten, never replaced). Anything else is refused without being opened.
    pub fn open_for_rewrite(&self) -> io::Result<File> {
        let file = self.reopen(OFlags::WRONLY)?;
        file.set_len(0)?;
        Ok(file)
    }

    /// The directory, opened for reading its entries.
    pub fn open_dir(&self) -> io::Result<Dir> {
        if self.kind() != FileKind::Dir {
            return Err(io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error()));
        }
        // `.` relative to an O_PATH directory is the directory itself.
        Dir::from_fd(rustix::fs::openat(&self.fd, ".", dir_flags(), Mode::empty())?)
    }

    /// The link text of a symlink entry.
    pub fn read_link(&self) -> io::Result<PathBuf> {
        let text = rustix::fs::readlinkat(&self.fd, "", Vec::new())?;
        Ok(PathBuf::from(OsString::from_vec(text.into_bytes())))
    }

    /// Whether the filesystem holding the entry is mounted read-only, as the mount the
    /// descriptor was reached through says.
    pub fn on_read_only_mount(&self) -> io::Result<bool> {
        let vfs = rustix::fs::fstatvfs(&self.fd)?;
        Ok(vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
    }
}

impl AsFd for Entry {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Entry> for OwnedFd {
    fn from(e: Entry) -> OwnedFd {
        e.fd
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW
}

/// An opened directory (`O_RDONLY | O_DIRECTORY`). Every operation takes one name, never a path.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl Dir {
    /// Opens a trusted host directory (followed with the host's semantics).
    pub fn open(path: &Path) -> io::Result<Dir> {
        Dir::from_fd(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
    }

    /// Wraps a directory descriptor (checked to be one).
    pub fn from_fd(fd: OwnedFd) -> io::Result<Dir> {
        let stat = rustix::fs::fstat(&fd)?;
        if FileKind::of(&stat) != FileKind::Dir {
            return Err(io::Error::from_raw_os_error(rustix::io::Errno::NOTDIR.raw_os_error()));
        }
        Ok(Dir { fd })
    }

    /// Looks `name` up without following it. `Ok(None)` when it does not exist.
    pub fn lookup(&self, name: &OsStr) -> io::Result<Option<Entry>> {
        let name = checked_name(name)?;
        match rustix::fs::openat(&self.fd, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => Entry::new(fd).map(Some),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The subdirectory `name`; a symlink there is `ELOOP`, anything else `ENOTDIR`.
    pub fn subdir(&self, name: &OsStr) -> io::Result<Dir> {
        let name = checked_name(name)?;
        Ok(Dir { fd: rustix::fs::openat(&self.fd, name, dir_flags(), Mode::empty())? })
    }

    /// The regular file `name` opened for reading, with its `fstat`. A link, a directory or a
    /// special file is refused before it is opened.
    pub fn open_file(&self, name: &OsStr) -> io::Result<(File, Stat)> {
        let entry = self.lookup(name)?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok((entry.open_file()?, entry.stat))
    }

    /// Creates directory `name` with `mode` (before the umask).
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::mkdirat(&self.fd, checked_name(name)?, Mode::from_raw_mode(mode))?)
    }

    /// Creates the new file `name` (`O_EXCL`, never through a link) for writing.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(&self.fd, checked_name(name)?, flags, Mode::from_raw_mode(mode))?))
    }

    /// Renames `from` to `to`, both in this directory.
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, checked_name(from)?, &self.fd, checked_name(to)?)?)
    }

    /// Removes `name` (a directory with `dir`).
    pub fn remove(&self, name: &OsStr, dir: bool) -> io::Result<()> {
        let flags = if dir { AtFlags::REMOVEDIR } else { AtFlags::empty() };
        Ok(rustix::fs::unlinkat(&self.fd, checked_name(name)?, flags)?)
    }

    /// Creates symlink `name` with link text `target` (stored verbatim, never followed here).
    pub fn symlink(&self, target: &Path, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::symlinkat(target, &self.fd, checked_name(name)?)?)
    }

    /// Creates `name` as a hard link to `from` in directory `from_dir` (a link there is linked
    /// itself, never followed).
    pub fn hard_link(&self, from_dir: &Dir, from: &OsStr, name: &OsStr) -> io::Result<()> {
        Ok(rustix::fs::linkat(&from_dir.fd, checked_name(from)?, &self.fd, checked_name(name)?, AtFlags::empty())?)
    }

    /// The link text of symlink `name`.
    pub fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        let text = rustix::fs::readlinkat(&self.fd, checked_name(name)?, Vec::new())?;
        Ok(PathBuf::from(OsString::from_vec(text.into_bytes())))
    }

    /// The entry names (without `.` and `..`), sorted.
    pub fn names(&self) -> io::Result<Vec<OsString>> {
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&self.fd)? {
            let bytes = entry?.file_name().to_bytes().to_vec();
            if bytes != b"." && bytes != b".." {
                names.push(OsString::from_vec(bytes));
            }
        }
        names.sort();
        Ok(names)
    }

    /// The directory's own `fstat`.
    pub fn stat(&self) -> io::Result<Stat> {
        Ok(rustix::fs::fstat(&self.fd)?)
    }

    /// The directory as a `File`, for its metadata, permissions and times.
    pub fn try_clone_file(&self) -> io::Result<File> {
        Ok(File::from(self.fd.try_clone()?))
    }

    /// Another handle on the same directory.
    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir { fd: self.fd.try_clone()? })
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<Dir> for OwnedFd {
    fn from(d: Dir) -> OwnedFd {
        d.fd
    }
}

/// A single path component: not empty, no `/`, not `.` or `..`.
fn checked_name(name: &OsStr) -> io::Result<&OsStr> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
        return Err(refused(format!("{:?} is not a single file name", name)));
    }
    Ok(name)
}

/// Copies `src` into `dst` from their current offsets and returns the byte count. More than
/// `cap` bytes in the source is an error (`InvalidData`) after `cap` were copied: the caller
/// removes what it wrote.
pub fn copy_capped(src: &mut File, dst: &mut File, cap: u64) -> io::Result<u64> {
    let mut copied = 0u64;
    let mut in_kernel = true;
    loop {
        // One byte past the cap is asked for, to tell "exactly cap" from "grew".
        let want = cap.saturating_add(1).saturating_sub(copied).min(1 << 30) as usize;
        let n = if in_kernel {
            match rustix::fs::copy_file_range(&*src, None, &*dst, None, want) {
                Ok(n) => n,
                // Not between these filesystems (or an old kernel): plain reads and writes.
                Err(rustix::io::Errno::XDEV | rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL)
                | Err(rustix::io::Errno::OPNOTSUPP)
                    if copied == 0 =>
                {
                    in_kernel = false;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            let mut buf = vec![0u8; want.min(128 << 10)];
            let n = src.read(&mut buf)?;
            dst.write_all(&buf[..n])?;
            n
        };
        if n == 0 {
            return Ok(copied);
        }
        copied += n as u64;
        if copied > cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the file holds more than its cap of {cap} bytes (it grew while it was copied?)"),
            ));
        }
    }
}
