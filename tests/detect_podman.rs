//! Podman found by detection and probing, against the harness's real Podman service: on its own
//! default socket under a host-root prefix, and serving the Docker socket path (the podman-docker
//! setup), where Docker's probe must say no and Podman's yes.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyctr::ConnectOptions;
use anyctr::prelude::*;

fn podman_socket() -> PathBuf {
    let p = PathBuf::from(
        std::env::var("ANYCTR_PODMAN_SOCKET").unwrap_or_else(|_| "/run/anyctr-engines/podman.sock".to_owned()),
    );
    assert!(p.exists(), "{} missing: engines not up — run `cargo xtask engines up`", p.display());
    p
}

/// A fake host root holding a link to the podman socket at `host_path`.
fn host_root_with_podman_at(host_path: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = root.path().join(host_path.trim_start_matches('/'));
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(podman_socket(), &link).unwrap();
    root
}

fn options(root: &Path) -> ConnectOptions {
    ConnectOptions::default().host_root(root).probe_timeout(Duration::from_secs(5))
}

#[tokio::test]
async fn podman_is_found_on_its_default_socket_under_a_host_root() {
    let root = host_root_with_podman_at("/run/podman/podman.sock");
    let engine = anyctr::detect_and_connect(&options(root.path())).await.unwrap();
    assert_eq!(engine.name(), "podman", "{}", engine.choice());
    assert!(engine.choice().contains("/run/podman/podman.sock"), "{}", engine.choice());
    assert_eq!(engine.info().product, "Podman Engine");
}

#[tokio::test]
async fn podman_serving_the_docker_socket_is_recognised_as_podman() {
    let root = host_root_with_podman_at("/var/run/docker.sock");
    let report = anyctr::detect(&options(root.path())).await.unwrap();
    let on_docker_path = |engine: &str| {
        report
            .probes
            .iter()
            .find(|p| p.engine == engine && p.socket == Path::new("/var/run/docker.sock"))
            .unwrap_or_else(|| panic!("{engine} probed /var/run/docker.sock: {report}"))
    };
    let docker = on_docker_path("docker");
    assert!(!docker.answered, "{report}");
    assert!(docker.rejected.as_deref().unwrap_or_default().contains("Podman"), "{report}");
    assert!(on_docker_path("podman").answered, "{report}");
    assert_eq!(report.chosen().map(|p| p.engine), Some("podman"), "{report}");

    // A bare socket address is probed the same way.
    let engine = anyctr::connect(&podman_socket().display().to_string()).await.unwrap();
    assert_eq!(engine.name(), "podman", "{}", engine.choice());
    // An address that insists on docker gets the refusal that names Podman.
    let e = anyctr::connect(&format!("docker://{}", podman_socket().display())).await.unwrap_err();
    assert!(e.message().contains("Podman"), "{e}");
}
