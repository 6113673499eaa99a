//! A runc-class container's processes from the host's `/proc`: every process in the container
//! init's pid namespace (a process cannot leave its pid namespace, unlike a cgroup it can move
//! below), read through a descriptor on its `/proc/<pid>` directory so a pid reused mid-read
//! fails instead of answering for another process. No daemon call.

use std::io::{self, Read};
use std::path::Path;

use rustix::fs::{Mode, OFlags};

use super::Sample;
use super::parse::{self, CMDLINE_CAP, RawProcess};
use crate::hostfs::proc_root;

/// Most processes listed; more is a cut list, said in the answer.
pub const MAX_PROCESSES: usize = 32_768;
/// `stat` is one line; `status` a few dozen; the caps only bound a hostile or odd kernel.
const STAT_CAP: u64 = 4096;
const STATUS_CAP: u64 = 16 * 1024;
/// A container's `/etc/passwd` beyond this is not read for user names.
pub(crate) const PASSWD_CAP: u64 = 1 << 20;

/// Reads the processes in the pid namespace of `init` (a host pid) under `proc` (the host's
/// `/proc` under the host root).
pub(crate) fn read(proc: &Path, init: u32) -> io::Result<Sample> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let init_dir = rustix::fs::open(proc.join(init.to_string()), flags, Mode::empty())?;
    let ns = pid_ns(&init_dir)?;
    for other in [proc.join("1"), Path::new("/proc/self").to_path_buf()] {
        if rustix::fs::open(&other, flags, Mode::empty()).ok().and_then(|fd| pid_ns(&fd).ok()).is_some_and(|o| o == ns)
        {
            return Err(refused(format!(
                "pid {init} shares the pid namespace of {}: the container has no pid namespace of its own \
                 (pid mode host?), so its processes cannot be told from the host's",
                other.display()
            )));
        }
    }
    // The container's own user names; its root is opened with proc_root's guards.
    let root = proc_root(proc, init)?;
    let users = root
        .root
        .open_file(Path::new("/etc/passwd"))
        .ok()
        .and_then(|(f, _)| read_capped(f, PASSWD_CAP).ok())
        .map(|b| parse::passwd(&b))
        .unwrap_or_default();
    let mut raws = Vec::new();
    let mut truncated = false;
    for entry in std::fs::read_dir(proc)? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(dir) = rustix::fs::open(proc.join(pid.to_string()), flags, Mode::empty()) else { continue };
        if pid_ns(&dir).ok().as_ref() != Some(&ns) {
            continue;
        }
        if raws.len() == MAX_PROCESSES {
            truncated = true;
            break;
        }
        // A process that exits between the listing and the reads is not listed.
        if let Some(p) = read_process(&dir) {
            raws.push(p);
        }
    }
    Ok(Sample::new(raws, truncated, true, &users))
}

fn read_process(dir: &impl std::os::fd::AsFd) -> Option<(RawProcess, Vec<String>, bool)> {
    let stat = read_at(dir, "stat", STAT_CAP).ok()?;
    let status = read_at(dir, "status", STATUS_CAP).ok()?;
    let raw = parse::parse(&stat, &status)?;
    let (argv, cut) = parse::cmdline(&read_at(dir, "cmdline", CMDLINE_CAP as u64 + 1).unwrap_or_default());
    Some((raw, argv, cut))
}

fn read_at(dir: &impl std::os::fd::AsFd, name: &str, cap: u64) -> io::Result<Vec<u8>> {
    let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())?;
    read_capped(std::fs::File::from(fd), cap)
}

pub(crate) fn read_capped(file: std::fs::File, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn pid_ns(dir: &impl std::os::fd::AsFd) -> io::Result<Vec<u8>> {
    Ok(rustix::fs::readlinkat(dir, "ns/pid", Vec::new())?.into_bytes())
}

/// A refusal (`InvalidInput`, as `hostfs`'s are).
fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}
