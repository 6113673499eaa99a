//! A container's processes (`top`) and what follows from them: pid 1's name, whether it reaps
//! zombies, the zombie count.
//!
//! Everything here was read from inside a container's pid namespace and is attacker-controlled
//! (names, command lines): readers cap it and never trust it to be UTF-8 or well formed.

use std::time::Duration;

use serde::Serialize;

/// A process's scheduling state (`/proc/<pid>/stat` field 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProcessState {
    /// `R`.
    Running,
    /// `S`: interruptible sleep.
    Sleeping,
    /// `D`: uninterruptible sleep.
    DiskSleep,
    /// `T`.
    Stopped,
    /// `t`.
    TracingStop,
    /// `Z`: exited, not yet reaped by its parent.
    Zombie,
    /// `X`/`x`.
    Dead,
    /// `I`: an idle kernel thread.
    Idle,
    /// `P`, `W`, `K`, … or anything unknown, by its letter.
    Other(char),
}

impl ProcessState {
    /// The state of a `stat` letter.
    pub fn from_letter(letter: char) -> ProcessState {
        match letter {
            'R' => ProcessState::Running,
            'S' => ProcessState::Sleeping,
            'D' => ProcessState::DiskSleep,
            'T' => ProcessState::Stopped,
            't' => ProcessState::TracingStop,
            'Z' => ProcessState::Zombie,
            'X' | 'x' => ProcessState::Dead,
            'I' => ProcessState::Idle,
            other => ProcessState::Other(other),
        }
    }
}

/// One process of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The pid inside the container's pid namespace (`NSpid`'s innermost field); pid 1 is the
    /// container's init.
    pub pid: u32,
    /// The pid on the host, where the host sees the process (runc-class); `None` in a sandbox.
    pub host_pid: Option<u32>,
    /// The parent's pid inside the container; `None` when the parent is outside the container's
    /// pid namespace (pid 1's parent, the runtime's shim).
    pub ppid: Option<u32>,
    /// The real uid as the container sees it (`Uid:` of `/proc/<pid>/status`).
    pub uid: Option<u32>,
    /// The user name of `uid` in the container's `/etc/passwd`, when it has one.
    pub user: Option<String>,
    /// The scheduling state.
    pub state: ProcessState,
    /// The kernel's command name (`comm`, at most 15 bytes), lossily UTF-8.
    pub name: String,
    /// The command line (`/proc/<pid>/cmdline` split at NULs, lossily UTF-8, capped); empty for
    /// a zombie or a kernel thread.
    pub cmdline: Vec<String>,
    /// The command line was longer than the cap and was cut.
    pub cmdline_truncated: bool,
    /// Resident memory (`VmRSS`), in bytes; `None` for a zombie.
    pub rss_bytes: Option<u64>,
    /// User plus system CPU time consumed.
    pub cpu_time: Duration,
    /// Start time, in clock ticks after boot (`stat` field 22): with `pid`, the process's
    /// identity across samples.
    pub start_ticks: u64,
}

impl ProcessInfo {
    /// A process with only its pid, state and name known; the rest empty.
    pub fn new(pid: u32, state: ProcessState, name: impl Into<String>) -> ProcessInfo {
        ProcessInfo {
            pid,
            host_pid: None,
            ppid: None,
            uid: None,
            user: None,
            state,
            name: name.into(),
            cmdline: Vec::new(),
            cmdline_truncated: false,
            rss_bytes: None,
            cpu_time: Duration::ZERO,
            start_ticks: 0,
        }
    }
}

/// Where a process list was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TopSource {
    /// The host's `/proc`: the processes in the container init's pid namespace (runc-class
    /// runtimes; no daemon call).
    HostProc,
    /// `/proc` read inside the container by an exec (sandboxed runtimes); the exec's own
    /// processes are left out.
    ExecProc,
}

/// Whether pid 1 reaps zombies, and the evidence. See [`ReapingEvidence`] for how it is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReapingEvidence {
    /// Pid 1 has children that stayed zombies across two samples (taken about 200 ms apart):
    /// it does not reap (the `sh -c 'child & exec sleep'` pattern). Hard evidence: `false`.
    UnreapedChildren {
        /// How many of pid 1's children stayed zombies.
        count: usize,
    },
    /// Pid 1 ignores `SIGCHLD` (`SigIgn` bit 17): the kernel reaps its children itself. `true`.
    IgnoresSigchld,
    /// Pid 1 is a known init or supervisor that reaps (tini, dumb-init, catatonit, s6, runit,
    /// systemd, the pause container, …), by name. `true`.
    KnownInit(String),
    /// Pid 1 catches `SIGCHLD` (`SigCgt` bit 17) and no child of it was left a zombie: it
    /// handles child exits, which is how a reaper works. `true`, by inference.
    CatchesSigchld,
    /// None of the above: pid 1 neither handles `SIGCHLD` nor has left a zombie yet (a plain
    /// `sleep` as pid 1), or the `/proc` read has no signal masks (gVisor's has none) and no
    /// zombie was left. Whether it would reap an orphan is unknown until one appears: `None`.
    NoEvidence,
}

impl ReapingEvidence {
    /// The verdict the evidence supports: `Some(false)` only on unreaped children, `None` without
    /// evidence either way.
    pub fn reaps(&self) -> Option<bool> {
        match self {
            ReapingEvidence::UnreapedChildren { .. } => Some(false),
            ReapingEvidence::IgnoresSigchld | ReapingEvidence::KnownInit(_) | ReapingEvidence::CatchesSigchld => {
                Some(true)
            }
            ReapingEvidence::NoEvidence => None,
        }
    }
}

/// A container's process list and what follows from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ContainerTop {
    /// The processes, by in-container pid.
    pub processes: Vec<ProcessInfo>,
    /// More processes existed than the reader's cap: the list was cut (said, never silent).
    pub truncated: bool,
    /// Where the list was read.
    pub source: TopSource,
    /// Pid 1's name (`comm`), when the list has a pid 1.
    pub pid1_name: Option<String>,
    /// Whether pid 1 reaps zombies, with the evidence.
    pub pid1_reaping: ReapingEvidence,
    /// How many processes are zombies.
    pub zombies: usize,
}

impl ContainerTop {
    /// A list read from `source`; pid 1's name and the zombie count are taken from it, reaping
    /// starts as [`ReapingEvidence::NoEvidence`].
    pub fn new(mut processes: Vec<ProcessInfo>, truncated: bool, source: TopSource) -> ContainerTop {
        processes.sort_by_key(|p| p.pid);
        let pid1_name = processes.iter().find(|p| p.pid == 1).map(|p| p.name.clone());
        let zombies = processes.iter().filter(|p| p.state == ProcessState::Zombie).count();
        ContainerTop { processes, truncated, source, pid1_name, pid1_reaping: ReapingEvidence::NoEvidence, zombies }
    }

    /// Pid 1's reaping verdict (see [`ReapingEvidence::reaps`]).
    pub fn pid1_reaps_zombies(&self) -> Option<bool> {
        self.pid1_reaping.reaps()
    }

    /// The process with in-container pid `pid`.
    pub fn process(&self, pid: u32) -> Option<&ProcessInfo> {
        self.processes.iter().find(|p| p.pid == pid)
    }
}
