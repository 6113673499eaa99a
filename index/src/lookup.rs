//! Reverse lookups: a host pid, cgroup id, network or mount namespace → the container (and pod).
//!
//! The index reads each container's host ids once, when it learns the container (through the
//! [`HostLookup`] given in [`IndexOptions::host`](crate::IndexOptions::host)): its init pid, the
//! inode of its cgroup and of its network and mount namespaces. These maps answer warm lookups with no
//! syscall. A pid the maps do not hold (a process exec'd in a container, a sandbox's gofer) costs
//! one `/proc/<pid>/cgroup` read, whose path names the container or the pod
//! (`anyctr_host::cgroup_path`). Nothing is guessed: a pid whose cgroup names no container the
//! index holds is `NotFound`.
//!
//! A sandboxed pod's own processes (gVisor's sentry and gofer, a VMM) sit in the sandbox's cgroup
//! (or the pod's): they map to the pod, answered with its sandbox container. The processes
//! exec'd inside a sandboxed container run in the guest and have no host pid at all.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyctr_core::error::{Error, Result};
use anyctr_core::host_ids::{CgroupNames, HostIds, HostLookup};
use anyctr_core::model::ContainerDetail;
use anyctr_core::pods::Pod;

use super::{ContainerIndex, Entry, Snapshot};

/// How a lookup found its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundBy {
    /// The pid is a container's init (or sandbox) pid the index holds: no syscall.
    InitPid,
    /// The cgroup id the index read for the container: no syscall.
    CgroupId,
    /// The pid's `/proc/<pid>/cgroup` named the container.
    CgroupPath,
    /// The pid's cgroup named the pod (its sandbox, or a pod-level cgroup).
    PodCgroup,
}

/// The answer of a reverse lookup.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Owner {
    /// The container; for a pod's own processes, the pod's sandbox container.
    pub container: Arc<ContainerDetail>,
    pub pod: Option<Arc<Pod>>,
    pub found_by: FoundBy,
}

/// The index's host-id maps (container ids per key: ids can be shared, e.g. every container of a
/// gVisor pod reports the sandbox's pid).
#[derive(Debug, Clone, Default)]
pub(crate) struct HostMaps {
    by_pid: HashMap<u32, BTreeSet<String>>,
    by_cgroup_id: HashMap<u64, BTreeSet<String>>,
    by_netns: HashMap<u64, BTreeSet<String>>,
    by_mntns: HashMap<u64, BTreeSet<String>>,
}

fn add<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<String>>, key: Option<K>, id: &str) {
    if let Some(key) = key {
        map.entry(key).or_default().insert(id.to_owned());
    }
}

fn drop_id<K: std::hash::Hash + Eq>(map: &mut HashMap<K, BTreeSet<String>>, key: Option<K>, id: &str) {
    if let Some(key) = key
        && let Some(ids) = map.get_mut(&key)
    {
        ids.remove(id);
        if ids.is_empty() {
            map.remove(&key);
        }
    }
}

/// The pid the host ids were read from: a running container's reported pid.
pub(crate) fn host_pid(d: &ContainerDetail) -> Option<u32> {
    d.state.pid.filter(|p| *p > 0 && d.state.status.is_running())
}

/// Reads a container's host ids (none without host access or a running pid).
pub(crate) fn read_host_ids(host: Option<&Arc<dyn HostLookup>>, d: &ContainerDetail) -> HostIds {
    match (host, host_pid(d)) {
        (Some(h), Some(pid)) => h.host_ids(pid),
        _ => HostIds::default(),
    }
}

impl HostMaps {
    pub(crate) fn put(&mut self, e: &Entry) {
        let id = &e.detail.id;
        add(&mut self.by_pid, host_pid(&e.detail), id);
        add(&mut self.by_cgroup_id, e.host.cgroup_id.map(|(_, i)| i), id);
        add(&mut self.by_netns, e.host.netns, id);
        add(&mut self.by_mntns, e.host.mntns, id);
    }

    pub(crate) fn remove(&mut self, e: &Entry) {
        let id = &e.detail.id;
        drop_id(&mut self.by_pid, host_pid(&e.detail), id);
        drop_id(&mut self.by_cgroup_id, e.host.cgroup_id.map(|(_, i)| i), id);
        drop_id(&mut self.by_netns, e.host.netns, id);
        drop_id(&mut self.by_mntns, e.host.mntns, id);
    }
}

impl Snapshot {
    /// The owner among containers sharing a key: the pod's sandbox when one of them is one (the
    /// sandbox's process belongs to the pod), else the first by id.
    fn owner_among(&self, ids: &BTreeSet<String>, found_by: FoundBy) -> Option<Owner> {
        let details: Vec<&Arc<ContainerDetail>> = ids.iter().filter_map(|id| self.container(id)).collect();
        let container = details.iter().find(|d| d.is_sandbox()).or(details.first())?;
        Some(self.owner((*container).clone(), found_by))
    }

    fn owner(&self, container: Arc<ContainerDetail>, found_by: FoundBy) -> Owner {
        let pod = self.pod_of(&container.id).cloned();
        Owner { container, pod, found_by }
    }

    /// The container whose init (or sandbox) pid is `pid`, from the index alone.
    pub fn owner_of_init_pid(&self, pid: u32) -> Option<Owner> {
        self.owner_among(self.host_maps().by_pid.get(&pid)?, FoundBy::InitPid)
    }

    /// The container whose cgroup has inode `cgroup_id` (see
    /// [`HostIds::cgroup_id`](anyctr_core::host_ids::HostIds::cgroup_id)), from the index alone.
    /// A process in a child cgroup of a container's reports the child's id, which is not held.
    pub fn owner_of_cgroup_id(&self, cgroup_id: u64) -> Option<Owner> {
        self.owner_among(self.host_maps().by_cgroup_id.get(&cgroup_id)?, FoundBy::CgroupId)
    }

    /// Every container whose processes are in the network namespace with inode `netns` (a pod's
    /// containers share one; host-network containers share the host's).
    pub fn containers_in_netns(&self, netns: u64) -> Vec<Arc<ContainerDetail>> {
        self.holders(self.host_maps().by_netns.get(&netns))
    }

    /// Every container whose processes are in the mount namespace with inode `mntns` (one per
    /// runc container; a gVisor pod's containers share the sandbox process's).
    pub fn containers_in_mntns(&self, mntns: u64) -> Vec<Arc<ContainerDetail>> {
        self.holders(self.host_maps().by_mntns.get(&mntns))
    }

    fn holders(&self, ids: Option<&BTreeSet<String>>) -> Vec<Arc<ContainerDetail>> {
        ids.into_iter().flatten().filter_map(|id| self.container(id).cloned()).collect()
    }

    /// The container (or pod) a cgroup's names point at, if the index holds it.
    pub fn owner_of_cgroup_names(&self, names: &CgroupNames) -> Option<Owner> {
        if let Some(id) = &names.container_id {
            if let Some(e) = self.entries().get(id) {
                return Some(self.owner(e.detail.clone(), FoundBy::CgroupPath));
            }
            if let Some(pod) = self.pod_by_sandbox(id) {
                return self.pod_owner(pod);
            }
        }
        self.pod_owner(self.pod_by_uid(names.pod_uid.as_deref()?)?)
    }

    fn pod_owner(&self, pod: &Arc<Pod>) -> Option<Owner> {
        let container = pod.sandbox.clone().or_else(|| pod.containers.first().cloned())?;
        Some(Owner { container, pod: Some(pod.clone()), found_by: FoundBy::PodCgroup })
    }
}

impl ContainerIndex {
    fn host(&self) -> Result<&Arc<dyn HostLookup>> {
        self.host.as_ref().ok_or_else(|| {
            Error::new(
                anyctr_core::ErrorKind::Unsupported,
                "reverse lookups need host access: start the index with IndexOptions::host \
                 (anyctr_host::procscan::ProcScan)",
            )
        })
    }

    /// The container (and pod) the host process `pid` belongs to. Warm for a container's init or
    /// sandbox pid (no syscall); otherwise one `/proc/<pid>/cgroup` read. `NotFound` for no such
    /// process and for a process in no container this index holds; `Unsupported` without host
    /// access.
    pub fn container_of_pid(&self, pid: u32) -> Result<Owner> {
        let host = self.host()?;
        let snapshot = self.snapshot();
        if let Some(owner) = snapshot.owner_of_init_pid(pid) {
            return Ok(owner);
        }
        let names = host.cgroup_names(pid)?;
        names.as_ref().and_then(|n| snapshot.owner_of_cgroup_names(n)).ok_or_else(|| match names {
            None => Error::not_found(format!("pid {pid} is in no container's cgroup")),
            Some(n) => Error::not_found(format!(
                "pid {pid}'s cgroup names container {:?} / pod {:?}, which this index does not hold",
                n.container_id, n.pod_uid
            )),
        })
    }

    /// The container the calling process runs in ("who am I", for an agent to exclude itself):
    /// [`container_of_pid`](Self::container_of_pid) of its own host pid.
    pub fn who_am_i(&self) -> Result<Owner> {
        self.container_of_pid(self.host()?.own_pid()?)
    }

    /// The container whose cgroup id (cgroup directory inode, what eBPF reports) is `cgroup_id`;
    /// `NotFound` when no held container has it.
    pub fn container_of_cgroup_id(&self, cgroup_id: u64) -> Result<Owner> {
        self.host()?;
        self.snapshot()
            .owner_of_cgroup_id(cgroup_id)
            .ok_or_else(|| Error::not_found(format!("no container has cgroup id {cgroup_id}")))
    }

    /// The containers in the network namespace with inode `netns` (empty when none).
    pub fn containers_in_netns(&self, netns: u64) -> Result<Vec<Arc<ContainerDetail>>> {
        self.host()?;
        Ok(self.snapshot().containers_in_netns(netns))
    }

    /// The containers in the mount namespace with inode `mntns` (empty when none).
    pub fn containers_in_mntns(&self, mntns: u64) -> Result<Vec<Arc<ContainerDetail>>> {
        self.host()?;
        Ok(self.snapshot().containers_in_mntns(mntns))
    }
}

#[cfg(test)]
#[path = "lookup_tests.rs"]
mod tests;
