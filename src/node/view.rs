//! The merged view: one entry per container, whichever engines see it.
//!
//! A container can be seen by several connections: one dockerd made is also a record in
//! containerd's `moby` namespace (same id); a CRI container is in containerd's `k8s.io` namespace
//! and behind the CRI API. Ids are engine-made random 64-hex strings, so the same id seen through
//! two connections of one node is one container. Its entry belongs to the engine that made and
//! manages it ([`owner_rank`]); the other views are attached as [`OtherView`]s.

use std::collections::HashMap;
use std::sync::Arc;

use anyctr_core::model::ContainerDetail;

/// One container of the node, once, with the engine that owns it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeContainer {
    /// The owning engine's registered name (`docker`, `containerd`, `podman`, …).
    pub engine: Arc<str>,
    /// The connection it was seen through (see [`EngineStatus::member`](crate::EngineStatus::member)):
    /// the engine, its socket and, for containerd, its namespace.
    pub member: Arc<str>,
    /// The container as that engine's index holds it.
    pub detail: Arc<ContainerDetail>,
    /// The same container as other connections see it (docker's container in containerd's
    /// `moby` namespace, a CRI container through the CRI API, its OCI runtime's record).
    pub also_seen: Vec<OtherView>,
}

impl NodeContainer {
    /// Seen only at the OCI runtime level (engine `oci`): no daemon connection lists it — its
    /// daemon is down or unknown to the node, or the runtime was driven without a daemon. The
    /// detail is what the runtime keeps (state and bundle): the name is the id, the image may be
    /// missing.
    pub fn runtime_only(&self) -> bool {
        &*self.engine == RUNTIME_ENGINE
    }
}

/// The same container through another connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OtherView {
    /// That engine's registered name.
    pub engine: Arc<str>,
    /// That connection.
    pub member: Arc<str>,
    /// Its detail there.
    pub detail: Arc<ContainerDetail>,
}

/// Which view owns a container seen more than once (lower wins): the daemon that made it
/// (docker, podman, pouch) before containerd's native view of its namespace, which comes before
/// the CRI API's view (the native view has the record's spec and the runtime, and execs without
/// a streaming server); the OCI runtime's record comes last, the fallback when no daemon answers.
pub(crate) fn owner_rank(engine: &str) -> u8 {
    match engine {
        "containerd" | "rund" => 1,
        "cri" => 2,
        RUNTIME_ENGINE => 3,
        _ => 0,
    }
}

/// The engine that reads OCI runtime roots, the node's fallback source.
pub(crate) const RUNTIME_ENGINE: &str = "oci";

/// One connection's view of one container, before merging.
#[derive(Clone)]
pub(crate) struct Seen {
    pub engine: Arc<str>,
    pub member: Arc<str>,
    pub detail: Arc<ContainerDetail>,
}

/// Merges views of the same container (same id) into one entry, owned by the lowest rank (then
/// by member name, so the choice is stable).
pub(crate) fn merge_one(mut views: Vec<Seen>) -> Option<NodeContainer> {
    views.sort_by(|a, b| (owner_rank(&a.engine), &a.member).cmp(&(owner_rank(&b.engine), &b.member)));
    let mut views = views.into_iter();
    let owner = views.next()?;
    let also_seen =
        views.map(|v| OtherView { engine: v.engine, member: v.member, detail: v.detail }).collect::<Vec<_>>();
    Some(NodeContainer { engine: owner.engine, member: owner.member, detail: owner.detail, also_seen })
}

/// Merges every connection's views: one entry per container id, sorted by id.
pub(crate) fn merge_all(seen: impl IntoIterator<Item = Seen>) -> Vec<NodeContainer> {
    let mut by_id: HashMap<String, Vec<Seen>> = HashMap::new();
    for s in seen {
        by_id.entry(s.detail.id.clone()).or_default().push(s);
    }
    let mut out: Vec<NodeContainer> = by_id.into_values().filter_map(merge_one).collect();
    out.sort_by(|a, b| a.detail.id.cmp(&b.detail.id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::{RootfsView, RuntimeClass};

    fn seen(engine: &str, member: &str, id: &str) -> Seen {
        let mut d = anyctr_testkit::detail::running(RuntimeClass::Runc, RootfsView::NotReported, Some(1));
        d.id = id.to_owned();
        Seen { engine: engine.into(), member: member.into(), detail: Arc::new(d) }
    }

    #[test]
    fn docker_owns_its_moby_record_and_containerd_owns_a_cri_container() {
        let merged = merge_all([
            seen("containerd", "containerd moby", "a"),
            seen("docker", "docker", "a"),
            seen("cri", "cri", "b"),
            seen("containerd", "containerd k8s.io", "b"),
            seen("containerd", "containerd default", "c"),
            seen("oci", "oci://", "a"),
            seen("oci", "oci://", "d"),
        ]);
        let owners: Vec<(&str, &str, usize, bool)> =
            merged.iter().map(|c| (c.detail.id.as_str(), &*c.engine, c.also_seen.len(), c.runtime_only())).collect();
        assert_eq!(
            owners,
            [
                ("a", "docker", 2, false),
                ("b", "containerd", 1, false),
                ("c", "containerd", 0, false),
                ("d", "oci", 0, true)
            ]
        );
        assert_eq!(&*merged[0].also_seen[0].member, "containerd moby");
        assert_eq!(&*merged[1].also_seen[0].engine, "cri");
    }
}
