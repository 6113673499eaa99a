//! What the host knows about a container's processes, for reverse lookups (pid, cgroup id,
//! network namespace → container). The trait lives here so that the index (which must not touch
//! the host) can hold the answers and `anyctr-host` (which reads `/proc`) can give them, neither
//! depending on the other; whoever starts an index passes `anyctr_host::procscan::ProcScan`.

use std::fmt::Debug;

use crate::error::Result;

/// Host identifiers of one container's processes, read once when the index learns the container.
/// Every field is optional: start from [`HostIds::default`] and set what the host tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct HostIds {
    /// The inode of the container's cgroup directory: on cgroup v2 (and the v2 tree of a hybrid
    /// host) what eBPF's `bpf_get_current_cgroup_id()` reports; see [`CgroupIdSource`].
    pub cgroup_id: Option<(CgroupIdSource, u64)>,
    /// The inode of the network namespace (`stat /proc/<pid>/ns/net`).
    pub netns: Option<u64>,
    /// The inode of the mount namespace (`stat /proc/<pid>/ns/mnt`).
    pub mntns: Option<u64>,
}

/// Which hierarchy a cgroup id is an inode of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupIdSource {
    /// The unified (v2) hierarchy: the id eBPF reports.
    V2,
    /// A v1-only host: the `name=systemd` hierarchy, else the `memory` one (no eBPF helper
    /// reports these; they still identify the cgroup).
    V1(&'static str),
}

/// What the cgroup of a host process names. Every field is optional: start from
/// [`CgroupNames::default`] and set what the path names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgroupNames {
    /// The container id the cgroup path names.
    pub container_id: Option<String>,
    /// The Kubernetes pod uid the path names, when the layout carries one.
    pub pod_uid: Option<String>,
}

/// Host access for reverse lookups. Implemented by `anyctr_host::procscan::ProcScan`.
pub trait HostLookup: Send + Sync + Debug {
    /// The cgroup id and netns of the process `pid` (a container's init or sandbox process).
    fn host_ids(&self, pid: u32) -> HostIds;

    /// What `/proc/<pid>/cgroup` names: `Ok(None)` when it follows no known layout (a host
    /// process); `NotFound` when there is no such process.
    fn cgroup_names(&self, pid: u32) -> Result<Option<CgroupNames>>;

    /// The pid of the calling process as the host's `/proc` numbers it ("who am I").
    fn own_pid(&self) -> Result<u32>;
}
