//! Opening `/proc/<pid>/root` once, as a descriptor, and making sure it is the container's.
//!
//! A pid is a number the engine reported a moment ago; by the time it is used the process may
//! have exited and the number been reused by any process, the host's own included. So:
//!
//! 1. `/proc/<pid>` is opened first. That directory descriptor is bound to one process: once the
//!    process is gone, lookups under it fail, even if the number is reused.
//! 2. Its start time (`stat` field 22) is read, `root` is opened *through that descriptor* (the
//!    magic link is followed once, here, and never again), and the start time is read again:
//!    both reads succeeding with the same value proves the root belongs to the process whose
//!    start time was read, alive across the open.
//! 3. That process must not share the mount namespace of this process or of the host's init
//!    (`<proc>/1`): a pid reused by a host process would otherwise hand out the host's `/`.
//!
//! What this does not catch: the pid reused, between the engine's answer and step 1, by a
//! process of *another* container (a different mount namespace). The caller can compare
//! [`ProcRoot::start_time`] with what it knows about the container.

use std::ffi::OsStr;
use std::io::{self, Read};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::{Dir, Root, refused};

/// A container's root opened through `/proc/<pid>/root`.
#[derive(Debug)]
pub struct ProcRoot {
    /// The opened root.
    pub root: Root,
    /// The pid whose root it is.
    pub pid: u32,
    /// The process's start time in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

/// Opens `<proc>/<pid>/root` with the guards in the module docs. `proc` is the host's `/proc` as
/// this process sees it (`/proc`, or `/hostfs/proc` for an agent in a container).
pub fn proc_root(proc: &Path, pid: u32) -> io::Result<ProcRoot> {
    if pid == 0 {
        return Err(refused("pid 0 has no root".into()));
    }
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let process = rustix::fs::open(proc.join(pid.to_string()), flags, Mode::empty())?;
    let before = start_time(&process)?;
    let root =
        rustix::fs::openat(&process, "root", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
    let after = start_time(&process)?;
    if before != after {
        return Err(io::Error::other(format!("pid {pid} changed while its root was opened")));
    }
    let ns = mount_ns(&process)?;
    for other in [Path::new("/proc/self"), &proc.join("1")] {
        let theirs = rustix::fs::open(other, flags, Mode::empty())
            .and_then(|fd| rustix::fs::readlinkat(&fd, "ns/mnt", Vec::new()).map(|s| s.into_bytes()));
        if theirs.is_ok_and(|t| t == ns) {
            return Err(refused(format!(
                "pid {pid} shares the mount namespace of {}: not a container's process (was the pid reused?)",
                other.display()
            )));
        }
    }
    Ok(ProcRoot { root: Root::from_dir(Dir::from_fd(root)?), pid, start_time: after })
}

fn start_time(process: &impl std::os::fd::AsFd) -> io::Result<u64> {
    let fd = rustix::fs::openat(process, "stat", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text)?;
    // The command name (field 2) is in parentheses and may hold spaces or `)`: fields after it
    // are counted from the last `)`. Field 22 is the 20th after it.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    rest.split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc/<pid>/stat"))
}

fn mount_ns(process: &impl std::os::fd::AsFd) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(process, OsStr::new("ns/mnt"), Vec::new())?.into_bytes())
}
