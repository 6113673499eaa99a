//! An immutable view of the node's containers and pods: readers hold an `Arc<Snapshot>` and never
//! see a half-applied change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::model::{ContainerDetail, SHORT_ID_LEN};
use crate::pods::{MainContainerRule, Pod, group_pods};

/// One indexed container and when the index last confirmed it with the engine.
#[derive(Debug, Clone)]
pub struct Entry {
    pub detail: Arc<ContainerDetail>,
    pub updated: Instant,
}

/// The index's state at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases with every published change.
    pub generation: u64,
    containers: HashMap<String, Entry>,
    pods: Vec<Arc<Pod>>,
    pod_by_uid: HashMap<String, usize>,
    pod_by_name: HashMap<(String, String), usize>,
    pod_by_sandbox: HashMap<String, usize>,
    pod_by_container: HashMap<String, usize>,
    by_short_id: HashMap<String, String>,
    by_name: HashMap<String, String>,
    /// Keys a refresh looked up and the engine did not know, with when; cleared by a full resync.
    missing: HashMap<String, Instant>,
}

impl Snapshot {
    pub(crate) fn build(
        generation: u64,
        containers: HashMap<String, Entry>,
        missing: HashMap<String, Instant>,
        rule: &MainContainerRule,
    ) -> Snapshot {
        let details: Vec<Arc<ContainerDetail>> = containers.values().map(|e| e.detail.clone()).collect();
        let pods: Vec<Arc<Pod>> = group_pods(&details, rule).into_iter().map(Arc::new).collect();
        let mut s = Snapshot {
            generation,
            containers,
            pods: Vec::new(),
            pod_by_uid: HashMap::new(),
            pod_by_name: HashMap::new(),
            pod_by_sandbox: HashMap::new(),
            pod_by_container: HashMap::new(),
            by_short_id: HashMap::new(),
            by_name: HashMap::new(),
            missing,
        };
        for (i, pod) in pods.iter().enumerate() {
            if let Some(uid) = &pod.uid {
                s.pod_by_uid.insert(uid.clone(), i);
            }
            if let (Some(ns), Some(name)) = (&pod.namespace, &pod.name) {
                s.pod_by_name.insert((ns.clone(), name.clone()), i);
            }
            if let Some(sandbox) = pod.sandbox_id() {
                s.pod_by_sandbox.insert(sandbox.to_owned(), i);
            }
            for c in pod.all() {
                s.pod_by_container.insert(c.id.clone(), i);
            }
        }
        for (id, e) in &s.containers {
            if id.len() > SHORT_ID_LEN {
                s.by_short_id.insert(id[..SHORT_ID_LEN].to_owned(), id.clone());
            }
            s.by_name.insert(e.detail.name.clone(), id.clone());
        }
        s.pods = pods;
        s
    }

    /// A container by full id, 12-character short id or name.
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

    pub fn container_count(&self) -> usize {
        self.containers.len()
    }

    /// Every pod.
    pub fn pods(&self) -> &[Arc<Pod>] {
        &self.pods
    }

    /// A pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Arc<Pod>> {
        self.pod_by_name.get(&(namespace.to_owned(), name.to_owned())).map(|i| &self.pods[*i])
    }

    pub fn pod_by_uid(&self, uid: &str) -> Option<&Arc<Pod>> {
        self.pod_by_uid.get(uid).map(|i| &self.pods[*i])
    }

    pub fn pod_by_sandbox(&self, sandbox_id: &str) -> Option<&Arc<Pod>> {
        self.pod_by_sandbox.get(sandbox_id).map(|i| &self.pods[*i])
    }

    /// The pod a container (full id, short id or name) belongs to.
    pub fn pod_of(&self, container: &str) -> Option<&Arc<Pod>> {
        let id = &self.entry(container)?.detail.id;
        self.pod_by_container.get(id).map(|i| &self.pods[*i])
    }

    pub(crate) fn entries(&self) -> &HashMap<String, Entry> {
        &self.containers
    }

    pub(crate) fn missing(&self) -> &HashMap<String, Instant> {
        &self.missing
    }

    /// When a lookup of `key` last found the container absent on the engine.
    pub fn missing_since(&self, key: &str) -> Option<Instant> {
        self.missing.get(key.trim_start_matches('/')).copied()
    }
}
