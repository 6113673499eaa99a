//! Container probes: what an agent keeps per container (time zone, libc, hostname, pid 1), each
//! answer saying how it was found. Computed by `anyctr_host::probes`; cached by the facade.

use serde::Serialize;

use super::ReapingEvidence;

/// How a probe reached the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeVia {
    /// The engine's inspect answer alone.
    Inspect,
    /// The container's rootfs and `/proc`, read from the host by file descriptor (runc-class).
    Host,
    /// Commands run inside the container by an exec (sandboxed runtimes).
    Exec,
}

/// A probe's answer and how it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Probed<T> {
    /// The answer.
    pub value: T,
    /// How the container was reached.
    pub via: ProbeVia,
    /// What was read, in words (`TZ in the container's environment`, `/etc/localtime -> …`).
    pub found_by: String,
}

impl<T> Probed<T> {
    /// An answer found `via` a route, by `found_by`.
    pub fn new(value: T, via: ProbeVia, found_by: impl Into<String>) -> Probed<T> {
        Probed { value, via, found_by: found_by.into() }
    }
}

/// A container's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TimeZone {
    /// The zone's name (`Europe/Berlin`, `UTC`), when one is named: the `TZ` value, the zoneinfo
    /// path `/etc/localtime` links to, `/etc/timezone`. `None` for a copied zone file, which
    /// names no zone.
    pub name: Option<String>,
    /// The POSIX rule (`CET-1CEST,M3.5.0,M10.5.0/3`) from a TZif file's footer, when one was read.
    pub posix_rule: Option<String>,
    /// No `TZ` and no `/etc/localtime`: the C library's default, UTC.
    pub defaulted: bool,
}

impl TimeZone {
    /// A named zone.
    pub fn named(name: impl Into<String>) -> TimeZone {
        TimeZone { name: Some(name.into()), posix_rule: None, defaulted: false }
    }

    /// A zone known only by its POSIX rule (if any), naming no zone.
    pub fn unnamed(posix_rule: Option<String>) -> TimeZone {
        TimeZone { name: None, posix_rule, defaulted: false }
    }
}

/// Which C library a container's programs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LibcKind {
    /// musl (Alpine and friends).
    Musl,
    /// GNU libc.
    Glibc,
    /// Neither dynamic loader was found and pid 1's program does not say.
    Unknown,
}

/// How the program the answer rests on is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Linkage {
    /// The rootfs has the library's dynamic loader, or pid 1's program names it as interpreter.
    Dynamic,
    /// Pid 1's program is statically linked (no `PT_INTERP`): the libc is the one built in.
    Static,
    /// Not known.
    Unknown,
}

/// A container's C library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct Libc {
    /// Which library.
    pub kind: LibcKind,
    /// How pid 1's program (or the rootfs) uses it.
    pub linkage: Linkage,
}

impl Libc {
    /// A library and its linkage.
    pub fn new(kind: LibcKind, linkage: Linkage) -> Libc {
        Libc { kind, linkage }
    }

    /// Alpine-style: musl.
    pub fn is_musl(&self) -> bool {
        self.kind == LibcKind::Musl
    }
}

/// Pid 1 as an agent tracks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Pid1 {
    /// Pid 1's name (`comm`).
    pub name: Option<String>,
    /// Whether it reaps zombies (`None`: no evidence either way), with the evidence.
    pub reaps_zombies: Option<bool>,
    /// The evidence behind `reaps_zombies`.
    pub evidence: ReapingEvidence,
    /// How many of the container's processes are zombies.
    pub zombies: usize,
}

impl Pid1 {
    /// Pid 1's facts from a process list.
    pub fn from_top(top: &super::ContainerTop) -> Pid1 {
        Pid1 {
            name: top.pid1_name.clone(),
            reaps_zombies: top.pid1_reaps_zombies(),
            evidence: top.pid1_reaping.clone(),
            zombies: top.zombies,
        }
    }
}
