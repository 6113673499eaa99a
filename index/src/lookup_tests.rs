//! The lookup maps' mechanics on hand-built details (real engines: the facade's
//! `tests/lookup.rs` and the conformance trials `lookup.by_*`).

use std::time::Instant;

use super::*;
use crate::snapshot::Update;
use anyctr_core::host_ids::CgroupIdSource;
use anyctr_core::pods::MainContainerRule;

fn entry(id: &str, sandbox: &str, pid: u32, cgroup: u64, netns: u64) -> Entry {
    let mut d = (*anyctr_testkit::detail::pod_member(id, &format!("c-{id}"), "uid-1", sandbox, true)).clone();
    d.state.pid = Some(pid);
    let mut host = HostIds::default();
    host.cgroup_id = Some((CgroupIdSource::V2, cgroup));
    host.netns = Some(netns);
    host.mntns = Some(cgroup + 1000);
    Entry { detail: Arc::new(d), updated: Instant::now(), host }
}

fn apply(s: &Snapshot, updates: Vec<Update>) -> Snapshot {
    s.apply(updates, |_| {}, &MainContainerRule::default()).0
}

#[test]
fn init_pid_cgroup_id_and_netns_map_to_the_container_and_follow_removal() {
    let s = apply(
        &Snapshot::empty(),
        vec![Update::Put(entry("sb", "sb", 10, 100, 7)), Update::Put(entry("app", "sb", 11, 101, 7))],
    );
    let app = s.owner_of_init_pid(11).unwrap();
    assert_eq!((app.container.id.as_str(), app.found_by), ("app", FoundBy::InitPid));
    assert_eq!(app.pod.as_ref().and_then(|p| p.uid.as_deref()), Some("uid-1"));
    assert_eq!(s.owner_of_cgroup_id(100).unwrap().container.id, "sb");
    let mut in_ns: Vec<String> = s.containers_in_netns(7).iter().map(|d| d.id.clone()).collect();
    in_ns.sort();
    assert_eq!(in_ns, ["app", "sb"]);
    assert_eq!(s.containers_in_mntns(1101).iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["app"]);
    assert!(s.owner_of_init_pid(12).is_none() && s.owner_of_cgroup_id(102).is_none());
    let s = apply(&s, vec![Update::Remove("app".into())]);
    assert!(s.owner_of_init_pid(11).is_none() && s.owner_of_cgroup_id(101).is_none());
    assert_eq!(s.containers_in_netns(7).len(), 1);
    assert!(s.containers_in_mntns(1101).is_empty());
}

/// Every container of a gVisor pod reports the sandbox's pid: the pid belongs to the pod, answered
/// with its sandbox, whichever container was learnt first or removed.
#[test]
fn a_shared_pid_is_the_pods_sandbox() {
    let s = apply(
        &Snapshot::empty(),
        vec![Update::Put(entry("zz-app", "sb", 10, 100, 7)), Update::Put(entry("sb", "sb", 10, 100, 7))],
    );
    assert_eq!(s.owner_of_init_pid(10).unwrap().container.id, "sb");
    assert_eq!(s.owner_of_cgroup_id(100).unwrap().container.id, "sb");
    let s = apply(&s, vec![Update::Remove("sb".into())]);
    assert_eq!(s.owner_of_init_pid(10).unwrap().container.id, "zz-app", "the other holder keeps its claim");
}

#[test]
fn cgroup_names_map_to_a_container_the_pod_by_sandbox_or_uid_and_nothing_else() {
    let s = apply(
        &Snapshot::empty(),
        vec![Update::Put(entry("sb", "sb", 10, 100, 7)), Update::Put(entry("app", "sb", 11, 101, 7))],
    );
    let names = |id: Option<&str>, uid: Option<&str>| {
        let mut names = CgroupNames::default();
        names.container_id = id.map(str::to_owned);
        names.pod_uid = uid.map(str::to_owned);
        names
    };
    let o = s.owner_of_cgroup_names(&names(Some("app"), None)).unwrap();
    assert_eq!((o.container.id.as_str(), o.found_by), ("app", FoundBy::CgroupPath));
    let by_uid = s.owner_of_cgroup_names(&names(None, Some("uid-1"))).unwrap();
    assert_eq!((by_uid.container.id.as_str(), by_uid.found_by), ("sb", FoundBy::PodCgroup));
    assert!(s.owner_of_cgroup_names(&names(Some("other"), None)).is_none());
    assert!(s.owner_of_cgroup_names(&names(Some("other"), Some("uid-2"))).is_none());
    // A sandbox id the index knows only from its members (the sandbox container not listed).
    let s = apply(&Snapshot::empty(), vec![Update::Put(entry("app", "sb", 11, 101, 7))]);
    let o = s.owner_of_cgroup_names(&names(Some("sb"), None)).unwrap();
    assert_eq!((o.container.id.as_str(), o.found_by), ("app", FoundBy::PodCgroup));
}
