//! Counting how often a log's name was given a new file while the reader was busy with an older
//! one. A rotation that keeps no numbered copy can replace the file several times between two
//! looks: conmon's `log_size_max` renames a fresh file over the log and keeps nothing, and a
//! kubelet-style rotation renames the old one to a timestamped name the reader does not know.
//! The files in between are not there to read, and only a count of the replacements says they
//! existed. inotify counts them exactly (every create or rename onto the name is one event),
//! or says that its queue overflowed.

use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};

use crate::hostfs::Dir;

/// How many times the name was given a new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Count {
    Exact(usize),
    /// The kernel's event queue overflowed: replacements may have been missed.
    Unknown,
}

impl Count {
    pub(super) fn saturating_add(self, other: Count) -> Count {
        match (self, other) {
            (Count::Exact(a), Count::Exact(b)) => Count::Exact(a.saturating_add(b)),
            _ => Count::Unknown,
        }
    }
}

/// An inotify watch on the log's directory, for creates and renames onto the log's name.
pub(super) struct Replacements {
    inotify: OwnedFd,
    name: OsString,
}

impl Replacements {
    /// Watches `dir` (an open directory: the watch is placed on the inode the descriptor holds,
    /// through our own `/proc/self/fd`, so no path is resolved again) for files named `name`.
    pub(super) fn watch(dir: &Dir, name: &OsStr) -> io::Result<Replacements> {
        let inotify = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        let by_fd = format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd());
        let events = WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::ONLYDIR;
        inotify::add_watch(&inotify, by_fd.as_str(), events)?;
        Ok(Replacements { inotify, name: name.to_owned() })
    }

    /// The replacements since the last call (all events queued so far are consumed).
    pub(super) fn take(&mut self) -> io::Result<Count> {
        let mut buf = [MaybeUninit::uninit(); 4096];
        let mut events = inotify::Reader::new(&self.inotify, &mut buf);
        let (mut count, mut overflowed) = (0, false);
        loop {
            match events.next() {
                Ok(e) => {
                    if e.events().contains(ReadFlags::QUEUE_OVERFLOW) {
                        overflowed = true;
                    } else if e.file_name().is_some_and(|n| n.to_bytes() == self.name.as_bytes()) {
                        count += 1;
                    }
                }
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(if overflowed { Count::Unknown } else { Count::Exact(count) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_creates_and_renames_onto_the_name_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let mut watch = Replacements::watch(&dir, OsStr::new("ctr.log")).unwrap();
        assert_eq!(watch.take().unwrap(), Count::Exact(0));
        let log = tmp.path().join("ctr.log");
        std::fs::write(&log, "a\n").unwrap();
        for i in 0..3 {
            let fresh = tmp.path().join("ctr.log.tmp");
            std::fs::write(&fresh, format!("{i}\n")).unwrap();
            std::fs::rename(&fresh, &log).unwrap();
        }
        std::fs::write(tmp.path().join("other.log"), "x\n").unwrap();
        std::fs::write(&log, "appended, not replaced\n").unwrap();
        assert_eq!(watch.take().unwrap(), Count::Exact(4), "one create and three renames onto the name");
        assert_eq!(watch.take().unwrap(), Count::Exact(0), "each replacement is counted once");
    }
}
