//! The facade links every enabled engine crate, so all seven registrations are present.

use anyctr::ErrorKind;
use anyctr::prelude::*;

#[test]
fn all_seven_engines_are_registered_in_a_stable_order() {
    let registry = anyctr::registry().expect("registry builds");
    let mut names = registry.names();
    assert_eq!(names.len(), 7, "{names:?}");
    names.sort_unstable();
    assert_eq!(names, ["containerd", "cri", "docker", "oci", "podman", "pouch", "rund"]);
    // Probing order puts pouch before docker: both speak the Docker API, and only pouch's probe
    // can tell a pouchd apart.
    let order = registry.names();
    let pos = |n| order.iter().position(|x| *x == n).unwrap();
    assert!(pos("pouch") < pos("docker"), "{order:?}");
    assert!(pos("containerd") < pos("rund"), "{order:?}");
    // A containerd socket also answers CRI: probing names it containerd; `cri://` picks the CRI engine.
    assert!(pos("containerd") < pos("cri") && pos("rund") < pos("cri"), "{order:?}");
    // Docker's probe refuses a Podman socket with a reason naming Podman before Podman's takes it.
    assert!(pos("docker") < pos("podman"), "{order:?}");
    // A socket given without an engine is never an OCI runtime root: oci is probed last.
    assert_eq!(order.last(), Some(&"oci"), "{order:?}");
}

#[test]
fn every_engine_has_default_sockets_and_aliases_resolve() {
    let registry = anyctr::registry().unwrap();
    for r in registry.iter() {
        // The OCI runtime engine speaks over no socket: its address names a runtime root.
        assert_eq!(r.default_sockets.is_empty(), r.name == "oci", "{} has default sockets", r.name);
        assert!(r.default_sockets.iter().all(|s| s.starts_with('/')), "{}", r.name);
        for alias in r.aliases {
            assert_eq!(registry.find(alias).unwrap().name, r.name);
        }
    }
    assert_eq!(registry.find("moby").map(|r| r.name), Some("docker"));
}

#[tokio::test]
async fn unknown_engine_and_bad_address_are_invalid_arguments() {
    let e = anyctr::connect("nosuch:///run/x.sock").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = anyctr::connect("tcp://127.0.0.1:2375").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

#[tokio::test]
async fn a_runtime_root_address_reaches_the_oci_engine_without_a_socket_check() {
    let dir = tempfile::tempdir().unwrap();
    let engine = anyctr::connect(&format!("oci://{}", dir.path().display())).await.unwrap();
    assert_eq!(engine.name(), "oci");
    assert!(engine.list(&anyctr::ListOptions::all()).await.unwrap().is_empty());
    let e = anyctr::connect(&format!("oci://{}/missing", dir.path().display())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EngineUnavailable, "{e}");
}

#[test]
fn the_cri_engine_probes_cri_o_and_other_cri_sockets() {
    let registry = anyctr::registry().unwrap();
    let cri = registry.find("crio").expect("alias crio");
    assert_eq!(cri.name, "cri");
    for socket in ["/var/run/crio/crio.sock", "/run/crio/crio.sock", "/run/isulad.sock", "/var/run/cri-dockerd.sock"] {
        assert!(cri.default_sockets.contains(&socket), "{socket} is probed as CRI: {:?}", cri.default_sockets);
        let owners: Vec<&str> =
            registry.iter().filter(|r| r.default_sockets.contains(&socket)).map(|r| r.name).collect();
        assert_eq!(owners, ["cri"], "{socket} belongs to the CRI engine alone");
    }
}
