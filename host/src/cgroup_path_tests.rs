//! Table tests on real `/proc/<pid>/cgroup` lines. Where each line comes from:
//! - "machine": read on this harness (cgroup v1 hybrid, cgroupfs driver, no systemd): dockerd
//!   20.10, containerd 1.6 (`ctr run` in `k8s.io`, CRI pods of runc and runsc), podman 4.
//! - "runc systemd": the unit name runc's systemd cgroup manager gives a container whose
//!   `cgroupsPath` is `slice:prefix:name` (`<prefix>-<name>.scope`, libcontainer/cgroups/systemd),
//!   with the prefixes docker (`system.slice:docker:<id>`), containerd's CRI (`cri-containerd`),
//!   CRI-O (`crio`, monitor `crio-conmon`) and podman (`libpod`, monitor `libpod-conmon`) pass.
//! - "kubelet": kubelet's pod cgroups (pkg/kubelet/cm: `kubepods/<qos>/pod<uid>` with cgroupfs,
//!   `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid with _>.slice` with systemd,
//!   guaranteed pods directly under `kubepods`).
//! - "pouch": pouchd runs containers through containerd's `default` namespace with cgroup parent
//!   `default` (pouch daemon/mgr spec: `cgroupsParent` defaults to "default"); not observed here
//!   (no pouchd on this machine).

use proptest::prelude::*;

use super::*;

const ID: &str = "9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401";
const UID: &str = "74c13223-5a00-11e9-b385-42010a80018d";

fn want(id: Option<&str>, uid: Option<&str>, layout: CgroupLayout, driver: CgroupDriver, monitor: bool) -> CgroupOwner {
    CgroupOwner { container_id: id.map(str::to_owned), pod_uid: uid.map(str::to_owned), layout, driver, monitor }
}

#[test]
fn real_lines_of_every_layout() {
    use CgroupDriver::{Cgroupfs, Systemd};
    use CgroupLayout::*;
    let k8s = || Containerd { namespace: "k8s.io".into() };
    let table: Vec<(&str, CgroupOwner)> = vec![
        // machine: docker (runc), v1 named and controller hierarchies and the hybrid v2 line.
        (
            "9:name=systemd:/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
            want(Some(ID), None, Docker, Cgroupfs, false),
        ),
        (
            "4:memory:/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
            want(Some(ID), None, Docker, Cgroupfs, false),
        ),
        (
            "0::/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
            want(Some(ID), None, Docker, Cgroupfs, false),
        ),
        // machine: anyctr's fast-path exec runs in a child cgroup of the container's.
        (
            "6:freezer:/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401/anyctr-exec-812-3",
            want(Some(ID), None, Docker, Cgroupfs, false),
        ),
        // A cgroup a container made below its own (writable cgroupfs), named like another
        // container's: the outermost, engine-made cgroup wins.
        (
            "0::/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401/docker-1111111111111111111111111111111111111111111111111111111111111111.scope",
            want(Some(ID), None, Docker, Cgroupfs, false),
        ),
        (
            "0::/kubepods/besteffort/pod74c13223-5a00-11e9-b385-42010a80018d/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401/docker/1111111111111111111111111111111111111111111111111111111111111111",
            want(Some(ID), Some(UID), Kubepods, Cgroupfs, false),
        ),
        // machine: containerd `ctr run` in k8s.io (and CRI pods without a cgroup parent).
        (
            "9:name=systemd:/k8s.io/c9ac66e358f9a292c48777b1cc4ff2ecd36b036e4fb7654aaafdad2fe44117fa",
            want(
                Some("c9ac66e358f9a292c48777b1cc4ff2ecd36b036e4fb7654aaafdad2fe44117fa"),
                None,
                k8s(),
                Cgroupfs,
                false,
            ),
        ),
        (
            "0::/k8s.io/c9ac66e358f9a292c48777b1cc4ff2ecd36b036e4fb7654aaafdad2fe44117fa",
            want(
                Some("c9ac66e358f9a292c48777b1cc4ff2ecd36b036e4fb7654aaafdad2fe44117fa"),
                None,
                k8s(),
                Cgroupfs,
                false,
            ),
        ),
        // machine: podman with the cgroupfs manager.
        (
            "9:name=systemd:/libpod_parent/libpod-ed851944613ded482f7ea6317e447ac971f2646bc1a5b04a14d8ffc0fdd91686",
            want(
                Some("ed851944613ded482f7ea6317e447ac971f2646bc1a5b04a14d8ffc0fdd91686"),
                None,
                Podman,
                Cgroupfs,
                false,
            ),
        ),
        // pouch: containerd's `default` namespace.
        (
            "4:memory:/default/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
            want(Some(ID), None, Containerd { namespace: "default".into() }, Cgroupfs, false),
        ),
        // runc systemd: docker, v2 and v1.
        (
            "0::/system.slice/docker-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), None, Docker, Systemd, false),
        ),
        (
            "1:name=systemd:/system.slice/docker-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), None, Docker, Systemd, false),
        ),
        // kubelet + runc systemd: containerd's CRI, CRI-O and its conmon, v2 and v1.
        (
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod74c13223_5a00_11e9_b385_42010a80018d.slice/cri-containerd-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), Some(UID), CriContainerd, Systemd, false),
        ),
        (
            "11:devices:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod74c13223_5a00_11e9_b385_42010a80018d.slice/crio-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), Some(UID), Crio, Systemd, false),
        ),
        (
            "0::/kubepods.slice/kubepods-pod74c13223_5a00_11e9_b385_42010a80018d.slice/crio-conmon-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), Some(UID), Crio, Systemd, true),
        ),
        // runc systemd: podman and its conmon.
        (
            "0::/machine.slice/libpod-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), None, Podman, Systemd, false),
        ),
        (
            "0::/machine.slice/libpod-conmon-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
            want(Some(ID), None, Podman, Systemd, true),
        ),
        // kubelet cgroupfs: besteffort/burstable and guaranteed (directly under kubepods), v1 and v2.
        (
            "11:devices:/kubepods/besteffort/pod74c13223-5a00-11e9-b385-42010a80018d/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
            want(Some(ID), Some(UID), Kubepods, Cgroupfs, false),
        ),
        (
            "0::/kubepods/pod74c13223-5a00-11e9-b385-42010a80018d/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
            want(Some(ID), Some(UID), Kubepods, Cgroupfs, false),
        ),
        // kubelet: a pod-level cgroup alone (a Kata VMM, `sandbox_cgroup_only`), both drivers;
        // a static pod's uid is a 32-hex config hash.
        (
            "0::/kubepods/burstable/pod74c13223-5a00-11e9-b385-42010a80018d",
            want(None, Some(UID), Kubepods, Cgroupfs, false),
        ),
        (
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6a8b4f1e0c2d4e5f8a9b0c1d2e3f4a5b.slice",
            want(None, Some("6a8b4f1e0c2d4e5f8a9b0c1d2e3f4a5b"), Kubepods, Systemd, false),
        ),
    ];
    for (line, expected) in table {
        assert_eq!(owner_of_line(line).as_ref(), Some(&expected), "{line}");
    }
}

#[test]
fn unknown_layouts_and_invalid_ids_are_none() {
    let lines = [
        // Host cgroups of this machine and of systemd hosts.
        "0::/",
        "4:memory:/process_api/19bdf1ee9b7c3b03bcea2b9400e34bd6",
        "0::/system.slice/containerd.service",
        "0::/user.slice/user-0.slice/session-1.scope",
        "0::/init.scope",
        // A podman conmon under cgroupfs stays in the caller's cgroup: nothing to name.
        "0::/libpod_parent/conmon",
        // Right shape, wrong ids: short, upper case, non-hex, 65 characters.
        "0::/docker/9933934095cc",
        "0::/docker/9933934095CCABCBE75EEB5F9C036F208B21D8C7FD2EAC76992477AB8EF54401",
        "0::/docker/z933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "0::/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef544010",
        "0::/system.slice/docker-9933934095cc.scope",
        "0::/system.slice/foo-9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401.scope",
        // A 64-hex directory where no engine puts one: deeper than `/<namespace>/<id>`, under a
        // slice, under podman's parent without its prefix, a pod uid that is not one.
        "0::/a/b/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "0::/system.slice/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "0::/libpod_parent/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "0::/kubepods/besteffort/podnot-a-uid/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "0::/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        // Another cgroup namespace's view, malformed lines.
        "0::/../../docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "x::/docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "0:docker/9933934095ccabcbe75eeb5f9c036f208b21d8c7fd2eac76992477ab8ef54401",
        "",
    ];
    for line in lines {
        assert_eq!(owner_of_line(line), None, "{line:?}");
    }
}

#[test]
fn lines_parse_into_their_parts() {
    let l = CgroupLine::parse("2:cpu,cpuacct:/docker/x\n").unwrap();
    assert_eq!((l.hierarchy, l.controllers, l.path), (2, "cpu,cpuacct", "/docker/x"));
    assert!(l.has_controller("cpuacct") && !l.has_controller("cpu,cpuacct") && !l.is_v2());
    let v2 = CgroupLine::parse("0::/a:b").unwrap();
    assert!(v2.is_v2());
    assert_eq!(v2.path, "/a:b", "a path may hold ':'");
    assert!(CgroupLine::parse("1:name=systemd").is_none());
}

proptest! {
    /// Hostile input: any string is answered without panicking, and an answer always carries a
    /// validated id or pod uid.
    #[test]
    fn any_input_is_safe(s in "\\PC{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for input in [s, String::from_utf8_lossy(&bytes).into_owned()] {
            for candidate in [input.clone(), format!("0::/{input}"), format!("0::/docker/{input}")] {
                if let Some(o) = owner_of_line(&candidate) {
                    prop_assert!(o.container_id.as_deref().is_none_or(is_container_id));
                    prop_assert!(o.container_id.is_some() || o.pod_uid.is_some());
                }
            }
        }
    }
}
