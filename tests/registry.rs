//! The facade links every enabled engine crate, so all six registrations are present.

use anyctr::{Engines, ErrorKind};

#[test]
fn all_six_engines_are_registered_in_a_stable_order() {
    let registry = Engines::registry().expect("registry builds");
    let mut names = registry.names();
    assert_eq!(names.len(), 6, "{names:?}");
    names.sort_unstable();
    assert_eq!(names, ["containerd", "cri", "docker", "podman", "pouch", "rund"]);
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
}

#[test]
fn every_engine_has_default_sockets_and_aliases_resolve() {
    let registry = Engines::registry().unwrap();
    for r in registry.iter() {
        assert!(!r.default_sockets.is_empty(), "{} has default sockets", r.name);
        assert!(r.default_sockets.iter().all(|s| s.starts_with('/')), "{}", r.name);
        for alias in r.aliases {
            assert_eq!(registry.find(alias).unwrap().name, r.name);
        }
    }
    assert_eq!(registry.find("moby").map(|r| r.name), Some("docker"));
}

#[tokio::test]
async fn unknown_engine_and_bad_address_are_invalid_arguments() {
    let e = Engines::connect("nosuch:///run/x.sock").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = Engines::connect("tcp://127.0.0.1:2375").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}
