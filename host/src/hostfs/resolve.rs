//! Resolving a path inside a root: `openat2(RESOLVE_IN_ROOT)`, or the emulated walk, which is
//! also the walk for views made of several roots (a container's rootfs plus its mounts).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::{Dir, Entry, FileKind, MAX_SYMLINK_HOPS, Resolution};

/// Set once `openat2` answered `ENOSYS`: later calls go straight to the emulated walk.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// How a walk finds the entry for one resolved prefix.
pub enum Lookup {
    /// Look the last name up in the parent's entry.
    Name,
    /// Something else is mounted at exactly this prefix: this entry, taken as it is (a mount
    /// point is what the runtime mounted there, never a link to follow).
    Mounted(Entry),
    /// Nothing this process can open shows this prefix; it is walked through by name only.
    Literal,
}

/// What a walk consults at each resolved prefix. A single root needs nothing ([`Lookup::Name`]
/// everywhere); a container view answers its mount table.
pub trait Layout {
    /// `prefix` holds the resolved components from the root, the newest last.
    fn at(&self, prefix: &[OsString]) -> io::Result<Lookup>;
}

struct SingleRoot;

impl Layout for SingleRoot {
    fn at(&self, _prefix: &[OsString]) -> io::Result<Lookup> {
        Ok(Lookup::Name)
    }
}

/// The outcome of [`walk`]: the resolved components and, for each prefix, its entry where it
/// exists.
#[derive(Debug)]
pub struct Walked {
    /// The resolved path from the root, links replaced by what they point to, `..` applied.
    pub components: Vec<OsString>,
    /// `entries[i]` is the entry of the first `i` components (`entries[0]` the root); `None`
    /// where the prefix does not exist or was walked literally.
    pub entries: Vec<Option<Entry>>,
}

impl Walked {
    /// The entry of the whole path, if it exists.
    pub fn last(&self) -> Option<&Entry> {
        self.entries.last().and_then(Option::as_ref)
    }

    /// The deepest existing entry and how many components it covers.
    pub fn into_deepest(mut self) -> Option<(Entry, usize)> {
        while let Some(slot) = self.entries.pop() {
            if let Some(entry) = slot {
                return Some((entry, self.entries.len()));
            }
        }
        None
    }
}

/// Resolves `path` from `root` one component at a time, each an `openat(O_PATH | O_NOFOLLOW)`
/// relative to the previous one: a link is read and its text resolved again from the root
/// (absolute) or its directory (relative); `..` steps back to the previous entry and stops at
/// the root; at most [`MAX_SYMLINK_HOPS`] links (`ELOOP`). A missing component is not an error:
/// the rest is taken literally. `root == None` walks by name only until a mount gives an entry.
pub fn walk(root: Option<Entry>, layout: &dyn Layout, path: &Path, follow_last: bool) -> io::Result<Walked> {
    let mut pending = VecDeque::new();
    push_front(&mut pending, path);
    let mut names: Vec<OsString> = Vec::new();
    let mut entries: Vec<Option<Entry>> = vec![root];
    let mut hops = 0;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            if names.pop().is_some() {
                entries.pop();
            }
            continue;
        }
        names.push(name);
        let entry = match layout.at(&names)? {
            Lookup::Mounted(entry) => {
                entries.push(Some(entry));
                continue;
            }
            Lookup::Literal => None,
            Lookup::Name => match entries.last() {
                Some(Some(parent)) => lookup(parent, names.last().map(OsString::as_os_str).unwrap_or_default())?,
                _ => None,
            },
        };
        if let Some(link) = entry.as_ref().filter(|e| e.kind() == FileKind::Symlink)
            && (follow_last || !pending.is_empty())
        {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return Err(io::Error::from_raw_os_error(Errno::LOOP.raw_os_error()));
            }
            let target = link.read_link()?;
            names.pop();
            if target.is_absolute() {
                names.clear();
                entries.truncate(1);
            }
            push_front(&mut pending, &target);
            continue;
        }
        entries.push(entry);
    }
    Ok(Walked { components: names, entries })
}

fn lookup(parent: &Entry, name: &std::ffi::OsStr) -> io::Result<Option<Entry>> {
    if parent.kind() != FileKind::Dir {
        return Err(io::Error::from_raw_os_error(Errno::NOTDIR.raw_os_error()));
    }
    match rustix::fs::openat(parent, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Entry::new(fd).map(Some),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Puts a path's components in front of what is left to resolve (a leading `/` is the
/// caller's business: it resets the resolved prefix).
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

/// [`Root::resolve`](super::Root::resolve).
pub(super) fn in_root(root: &Dir, path: &Path, follow_last: bool, how: Resolution) -> io::Result<Entry> {
    let use_openat2 = match how {
        Resolution::Openat2 => true,
        Resolution::Emulated => false,
        Resolution::Auto => !NO_OPENAT2.load(Ordering::Relaxed),
    };
    if use_openat2 {
        match with_openat2(root, path, follow_last) {
            Err(e)
                if how == Resolution::Auto && matches!(Errno::from_io_error(&e), Some(Errno::NOSYS | Errno::PERM)) =>
            {
                if Errno::from_io_error(&e) == Some(Errno::NOSYS) {
                    NO_OPENAT2.store(true, Ordering::Relaxed);
                }
            }
            other => return other,
        }
    }
    let root_entry = Entry::new(root.try_clone()?.into())?;
    let walked = walk(Some(root_entry), &SingleRoot, path, follow_last)?;
    let Some(Some(entry)) = walked.entries.into_iter().last() else {
        return Err(io::Error::from_raw_os_error(Errno::NOENT.raw_os_error()));
    };
    Ok(entry)
}

/// Opens `path` below `root` in one `openat2` call when no symlink and no mount lies on the
/// way (`RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`); a final
/// symlink is returned itself. Any link or mount crossing on the way, a missing component, or a
/// kernel without `openat2` is an error: the caller then walks with [`walk`], which handles them.
pub fn open_plain(root: &impl AsFd, path: &Path) -> io::Result<Entry> {
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Err(io::Error::from_raw_os_error(Errno::NOSYS.raw_os_error()));
    }
    let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
    let resolve =
        ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV;
    match rustix::fs::openat2(root, path, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), resolve) {
        Ok(fd) => Entry::new(fd),
        Err(Errno::NOSYS) => {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            Err(Errno::NOSYS.into())
        }
        Err(e) => Err(e.into()),
    }
}

fn with_openat2(root: &Dir, path: &Path, follow_last: bool) -> io::Result<Entry> {
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow_last {
        flags |= OFlags::NOFOLLOW;
    }
    let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    // EAGAIN: a rename raced a `..` lookup; the kernel asks for a retry.
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(root, path, flags, Mode::empty(), resolve) {
            Ok(fd) => return Entry::new(fd),
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}
