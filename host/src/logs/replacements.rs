//! Counting how often a log's name was given a new file while the reader was busy with an older
//! one. A rotation that keeps no numbered copy can replace the file several times between two
//! looks: conmon's `log_size_max` renames a fresh file over the log and keeps nothing, and a
//! kubelet-style rotation renames the old one to a timestamped name the reader does not know.
//! The files in between are not there to read, and only a count of the replacements says they
//! existed. inotify counts them exactly (every create or rename onto the name is one event),
//! or says that its queue overflowed.
//!
//! One inotify instance serves every follower of the process: an agent follows hundreds of logs,
//! and the kernel allows a user only `fs.inotify.max_user_instances` instances (128 by default)
//! but thousands of watches. Followers of one directory share its watch.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::{Mutex, OnceLock};

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

/// The process's inotify instance and, per watched directory, its followers' counts.
struct Shared {
    inotify: OwnedFd,
    /// Watch descriptor → follower id → (the log's name, its count since the follower's last take).
    watches: HashMap<i32, HashMap<u64, (OsString, Count)>>,
    next_id: u64,
}

impl Shared {
    /// Moves every queued event into the counts of the followers it concerns.
    fn drain(&mut self) -> io::Result<()> {
        let mut buf = [MaybeUninit::uninit(); 8192];
        let mut events = inotify::Reader::new(&self.inotify, &mut buf);
        loop {
            match events.next() {
                Ok(e) if e.events().contains(ReadFlags::QUEUE_OVERFLOW) => {
                    for count in self.watches.values_mut().flat_map(|f| f.values_mut()) {
                        count.1 = Count::Unknown;
                    }
                }
                Ok(e) => {
                    let (Some(followers), Some(name)) = (self.watches.get_mut(&e.wd()), e.file_name()) else {
                        continue;
                    };
                    for (followed, count) in followers.values_mut() {
                        if followed.as_bytes() == name.to_bytes() {
                            *count = count.saturating_add(Count::Exact(1));
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn shared() -> Result<&'static Mutex<Shared>, String> {
    static SHARED: OnceLock<Result<Mutex<Shared>, String>> = OnceLock::new();
    let init = || {
        let inotify =
            inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).map_err(|e| format!("inotify: {e}"))?;
        Ok(Mutex::new(Shared { inotify, watches: HashMap::new(), next_id: 0 }))
    };
    SHARED.get_or_init(init).as_ref().map_err(Clone::clone)
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    // A panic elsewhere while holding it leaves only counts behind, still usable.
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One follower's count of its log's replacements; its watch is dropped with it.
pub(super) struct Replacements {
    shared: &'static Mutex<Shared>,
    wd: i32,
    id: u64,
}

impl Replacements {
    /// Watches `dir` (an open directory: the watch is placed on the inode the descriptor holds,
    /// through our own `/proc/self/fd`, so no path is resolved again) for files named `name`.
    pub(super) fn watch(dir: &Dir, name: &OsStr) -> io::Result<Replacements> {
        let shared = shared().map_err(io::Error::other)?;
        let mut s = lock(shared);
        // Events queued so far belong to the followers there were: counted before this one joins.
        s.drain()?;
        let by_fd = format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd());
        let events = WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::ONLYDIR;
        // The same directory gives the same watch descriptor (and the same mask).
        let wd = inotify::add_watch(&s.inotify, by_fd.as_str(), events)?;
        let id = s.next_id;
        s.next_id += 1;
        s.watches.entry(wd).or_default().insert(id, (name.to_owned(), Count::Exact(0)));
        Ok(Replacements { shared, wd, id })
    }

    /// The replacements since the last call.
    pub(super) fn take(&mut self) -> io::Result<Count> {
        let mut s = lock(self.shared);
        s.drain()?;
        let count = s.watches.get_mut(&self.wd).and_then(|f| f.get_mut(&self.id)).map(|c| &mut c.1);
        // A directory that went away (IN_IGNORED) leaves no count: nothing can be said.
        Ok(count.map_or(Count::Unknown, |c| std::mem::replace(c, Count::Exact(0))))
    }
}

impl Drop for Replacements {
    fn drop(&mut self) {
        let mut s = lock(self.shared);
        let Some(followers) = s.watches.get_mut(&self.wd) else { return };
        followers.remove(&self.id);
        if followers.is_empty() {
            s.watches.remove(&self.wd);
            let _ = inotify::remove_watch(&s.inotify, self.wd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(dir: &std::path::Path, name: &str) {
        let fresh = dir.join(format!("{name}.tmp"));
        std::fs::write(&fresh, "x\n").unwrap();
        std::fs::rename(&fresh, dir.join(name)).unwrap();
    }

    #[test]
    fn counts_creates_and_renames_onto_the_name_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open(tmp.path()).unwrap();
        let mut watch = Replacements::watch(&dir, OsStr::new("ctr.log")).unwrap();
        assert_eq!(watch.take().unwrap(), Count::Exact(0));
        std::fs::write(tmp.path().join("ctr.log"), "a\n").unwrap();
        for _ in 0..3 {
            replace(tmp.path(), "ctr.log");
        }
        std::fs::write(tmp.path().join("other.log"), "x\n").unwrap();
        std::fs::write(tmp.path().join("ctr.log"), "rewritten, not replaced\n").unwrap();
        assert_eq!(watch.take().unwrap(), Count::Exact(4), "one create and three renames onto the name");
        assert_eq!(watch.take().unwrap(), Count::Exact(0), "each replacement is counted once");
    }

    #[test]
    fn followers_share_the_instance_and_keep_their_own_counts() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (dir_a, dir_b) = (Dir::open(a.path()).unwrap(), Dir::open(b.path()).unwrap());
        // More followers than the default per-user instance limit (128): one instance serves all.
        let mut many: Vec<Replacements> =
            (0..200).map(|_| Replacements::watch(&dir_a, OsStr::new("0.log")).unwrap()).collect();
        let mut other_name = Replacements::watch(&dir_a, OsStr::new("1.log")).unwrap();
        let mut other_dir = Replacements::watch(&dir_b, OsStr::new("0.log")).unwrap();
        replace(a.path(), "0.log");
        replace(a.path(), "0.log");
        assert_eq!(many[0].take().unwrap(), Count::Exact(2));
        assert_eq!(many[199].take().unwrap(), Count::Exact(2), "a count is each follower's own");
        assert_eq!(many[0].take().unwrap(), Count::Exact(0));
        assert_eq!(other_name.take().unwrap(), Count::Exact(0));
        assert_eq!(other_dir.take().unwrap(), Count::Exact(0));
        // The directory's watch outlives all but its last follower.
        many.truncate(1);
        drop(other_name);
        replace(a.path(), "0.log");
        assert_eq!(many[0].take().unwrap(), Count::Exact(1));
    }
}
