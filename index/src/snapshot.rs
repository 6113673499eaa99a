//! An immutable view of the node's containers and pods: readers hold an `Arc<Snapshot>` and never
//! see a half-applied change.
//!
//! A new snapshot is made from the previous one by [`Snapshot::apply`]: the changed containers are
//! put or removed, and only the pods they belong to (before or after) are regrouped; the other
//! pods are shared with the previous snapshot (`Arc`s), not rebuilt.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use super::IndexChange;
use super::lookup::HostMaps;
use anyctr_core::host_ids::HostIds;
use anyctr_core::model::{ContainerDetail, SHORT_ID_LEN};
use anyctr_core::pods::{MainContainerRule, Pod, group_pods, pod_key};

/// One indexed container and when the index last confirmed it with the engine: the instant
/// before the inspect (or list) whose answer this is, so the detail is at least that fresh.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Entry {
    /// The container as last inspected.
    pub detail: Arc<ContainerDetail>,
    /// When it was inspected.
    pub updated: Instant,
    /// The host ids read when the index learnt this detail (empty without host access).
    pub host: HostIds,
}

/// What one update does to one container.
#[derive(Debug)]
pub(crate) enum Update {
    Put(Entry),
    Remove(String),
}

/// One pod's members (by container id) and the pod grouped from them.
#[derive(Debug, Clone)]
struct Group {
    members: BTreeSet<String>,
    pod: Arc<Pod>,
}

/// The index's state at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases with every published change.
    pub generation: u64,
    containers: HashMap<String, Entry>,
    /// By the grouping key of [`anyctr_core::pods`] (`uid:…` / `sandbox:…`).
    groups: BTreeMap<String, Group>,
    pods: Vec<Arc<Pod>>,
    pod_by_uid: HashMap<String, String>,
    pod_by_name: HashMap<(String, String), String>,
    pod_by_sandbox: HashMap<String, String>,
    pod_by_container: HashMap<String, String>,
    by_short_id: HashMap<String, String>,
    by_name: HashMap<String, String>,
    /// Keys a refresh looked up and the engine did not know, with the instant before that lookup;
    /// bounded: cleared by a full resync.
    missing: HashMap<String, Instant>,
    /// Pid, cgroup id and netns → container ids, for reverse lookups.
    host: HostMaps,
}

/// The 12-character prefix a short-id lookup uses, when the id is longer than that (and the cut
/// falls on a character boundary: ids come from the engine and are not trusted to be hex).
fn short_key(id: &str) -> Option<&str> {
    id.get(..SHORT_ID_LEN).filter(|s| s.len() < id.len())
}

/// The key [`IndexChange`]'s pod variants carry: the pod uid, else the sandbox id.
fn public_pod_key(p: &Pod) -> Option<String> {
    p.uid.clone().or_else(|| p.sandbox_id().map(str::to_owned))
}

/// What a pod looks like for change detection: its members and their states.
fn pod_shape(p: &Pod) -> BTreeSet<(String, String)> {
    p.all().map(|c| (c.id.clone(), format!("{:?}", c.state))).collect()
}

fn remove_if<K: std::hash::Hash + Eq>(map: &mut HashMap<K, String>, key: &K, value: &str) {
    if map.get(key).is_some_and(|v| v == value) {
        map.remove(key);
    }
}

impl Snapshot {
    pub(crate) fn empty() -> Snapshot {
        Snapshot {
            generation: 0,
            containers: HashMap::new(),
            groups: BTreeMap::new(),
            pods: Vec::new(),
            pod_by_uid: HashMap::new(),
            pod_by_name: HashMap::new(),
            pod_by_sandbox: HashMap::new(),
            pod_by_container: HashMap::new(),
            by_short_id: HashMap::new(),
            by_name: HashMap::new(),
            missing: HashMap::new(),
            host: HostMaps::default(),
        }
    }

    /// The next snapshot: `updates` applied, `missing` edited, the affected pods regrouped; with
    /// the changes subscribers are told.
    pub(crate) fn apply(
        &self,
        updates: Vec<Update>,
        missing: impl FnOnce(&mut HashMap<String, Instant>),
        rule: &MainContainerRule,
    ) -> (Snapshot, Vec<IndexChange>) {
        let mut s = self.clone();
        s.generation += 1;
        missing(&mut s.missing);
        let mut changes = Vec::new();
        // Pod keys touched, each with the containers that carry it after this update.
        let mut affected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for update in updates {
            let (id, new) = match update {
                Update::Put(e) => (e.detail.id.clone(), Some(e)),
                Update::Remove(id) => (id, None),
            };
            let old = match &new {
                Some(e) => s.containers.insert(id.clone(), e.clone()),
                None => s.containers.remove(&id),
            };
            if let Some(old) = &old {
                s.host.remove(old);
                if let Some(short) = short_key(&id) {
                    remove_if(&mut s.by_short_id, &short.to_owned(), &id);
                }
                remove_if(&mut s.by_name, &old.detail.name, &id);
                if let Some(key) = pod_key(&old.detail) {
                    affected.entry(key).or_default();
                }
            }
            if let Some(new) = &new {
                s.host.put(new);
                if let Some(short) = short_key(&id) {
                    s.by_short_id.insert(short.to_owned(), id.clone());
                }
                s.by_name.insert(new.detail.name.clone(), id.clone());
                if let Some(key) = pod_key(&new.detail) {
                    affected.entry(key).or_default().insert(id.clone());
                }
            }
            match (old, new) {
                (None, Some(_)) => changes.push(IndexChange::ContainerAdded(id)),
                (Some(o), Some(n)) if !Arc::ptr_eq(&o.detail, &n.detail) && o.detail != n.detail => {
                    changes.push(IndexChange::ContainerUpdated(id))
                }
                (Some(_), None) => changes.push(IndexChange::ContainerRemoved(id)),
                _ => {}
            }
        }
        if !affected.is_empty() {
            for (key, joiners) in affected {
                s.regroup(&key, joiners, rule, &mut changes);
            }
            s.pods = s.groups.values().map(|g| g.pod.clone()).collect();
        }
        (s, changes)
    }

    /// Rebuilds the pod grouped under `key`: its members that still carry the key, plus
    /// `joiners` (containers of this update that carry it).
    fn regroup(
        &mut self,
        key: &str,
        joiners: BTreeSet<String>,
        rule: &MainContainerRule,
        changes: &mut Vec<IndexChange>,
    ) {
        let old = self.groups.remove(key);
        let mut members = old.as_ref().map(|g| g.members.clone()).unwrap_or_default();
        if let Some(old) = &old {
            self.unindex_pod(&old.pod, key);
        }
        // Members that left the pod (removed, or now carrying another key) drop out.
        members.extend(joiners);
        members.retain(|id| self.containers.get(id).is_some_and(|e| pod_key(&e.detail).as_deref() == Some(key)));
        let details: Vec<Arc<ContainerDetail>> =
            members.iter().filter_map(|id| self.containers.get(id)).map(|e| e.detail.clone()).collect();
        let pod = group_pods(&details, rule).into_iter().next().map(Arc::new);
        match (old, pod) {
            (old, Some(pod)) => {
                let public = public_pod_key(&pod);
                match (&old, &public) {
                    (None, Some(k)) => changes.push(IndexChange::PodAdded(k.clone())),
                    (Some(o), Some(k)) if pod_shape(&o.pod) != pod_shape(&pod) => {
                        changes.push(IndexChange::PodUpdated(k.clone()))
                    }
                    _ => {}
                }
                self.index_pod(&pod, key);
                self.groups.insert(key.to_owned(), Group { members, pod });
            }
            (Some(old), None) => {
                if let Some(k) = public_pod_key(&old.pod) {
                    changes.push(IndexChange::PodRemoved(k));
                }
            }
            (None, None) => {}
        }
    }

    fn unindex_pod(&mut self, pod: &Pod, key: &str) {
        if let Some(uid) = &pod.uid {
            remove_if(&mut self.pod_by_uid, uid, key);
        }
        if let (Some(ns), Some(name)) = (&pod.namespace, &pod.name) {
            remove_if(&mut self.pod_by_name, &(ns.clone(), name.clone()), key);
        }
        if let Some(sandbox) = pod.sandbox_id() {
            remove_if(&mut self.pod_by_sandbox, &sandbox.to_owned(), key);
        }
        for c in pod.all() {
            remove_if(&mut self.pod_by_container, &c.id, key);
        }
    }

    fn index_pod(&mut self, pod: &Pod, key: &str) {
        if let Some(uid) = &pod.uid {
            self.pod_by_uid.insert(uid.clone(), key.to_owned());
        }
        if let (Some(ns), Some(name)) = (&pod.namespace, &pod.name) {
            self.pod_by_name.insert((ns.clone(), name.clone()), key.to_owned());
        }
        if let Some(sandbox) = pod.sandbox_id() {
            self.pod_by_sandbox.insert(sandbox.to_owned(), key.to_owned());
        }
        for c in pod.all() {
            self.pod_by_container.insert(c.id.clone(), key.to_owned());
        }
    }

    fn pod_at(&self, key: Option<&String>) -> Option<&Arc<Pod>> {
        key.and_then(|k| self.groups.get(k)).map(|g| &g.pod)
    }

    /// A container by full id, 12-character short id or name.
    #[doc(alias = "get")]
    #[doc(alias = "lookup")]
    pub fn container(&self, key: &str) -> Option<&Arc<ContainerDetail>> {
        self.entry(key).map(|e| &e.detail)
    }

    /// The entry (detail plus freshness) by full id, short id or name.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        let key = key.trim_start_matches('/');
        self.containers
            .get(key)
            .or_else(|| self.by_short_id.get(key).and_then(|id| self.containers.get(id)))
            .or_else(|| self.by_name.get(key).and_then(|id| self.containers.get(id)))
    }

    /// Every container.
    pub fn containers(&self) -> impl Iterator<Item = &Arc<ContainerDetail>> {
        self.containers.values().map(|e| &e.detail)
    }

    /// How many containers the index holds.
    pub fn container_count(&self) -> usize {
        self.containers.len()
    }

    /// Every pod.
    pub fn pods(&self) -> &[Arc<Pod>] {
        &self.pods
    }

    /// A pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Arc<Pod>> {
        self.pod_at(self.pod_by_name.get(&(namespace.to_owned(), name.to_owned())))
    }

    /// A pod by uid.
    pub fn pod_by_uid(&self, uid: &str) -> Option<&Arc<Pod>> {
        self.pod_at(self.pod_by_uid.get(uid))
    }

    /// The pod whose sandbox has this id.
    pub fn pod_by_sandbox(&self, sandbox_id: &str) -> Option<&Arc<Pod>> {
        self.pod_at(self.pod_by_sandbox.get(sandbox_id))
    }

    /// The pod a container (full id, short id or name) belongs to.
    pub fn pod_of(&self, container: &str) -> Option<&Arc<Pod>> {
        let id = &self.entry(container)?.detail.id;
        self.pod_at(self.pod_by_container.get(id))
    }

    pub(crate) fn host_maps(&self) -> &HostMaps {
        &self.host
    }

    pub(crate) fn entries(&self) -> &HashMap<String, Entry> {
        &self.containers
    }

    /// When a lookup of `key` last found the container absent on the engine.
    pub fn missing_since(&self, key: &str) -> Option<Instant> {
        self.missing.get(key.trim_start_matches('/')).copied()
    }
}
