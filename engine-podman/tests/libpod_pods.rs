//! Containers of a libpod pod made by Podman itself (`podman pod create`, here through the
//! harness's service with `podman --remote`) carry their pod's identity: name, id, the infra
//! container as the sandbox.

use std::process::Command;
use std::time::Duration;

use anyctr_core::model::PodRole;
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig};

const BOUND: Duration = Duration::from_secs(120);

fn podman_socket() -> String {
    let s = std::env::var("ANYCTR_PODMAN_SOCKET").unwrap_or_else(|_| "/run/anyctr-engines/podman.sock".into());
    assert!(std::path::Path::new(&s).exists(), "{s} missing: engines not up, run `cargo xtask engines up`");
    s
}

/// `podman --remote` against the harness's service; stdout trimmed. The CLI's own timeout bounds it.
fn podman(args: &[&str]) -> String {
    let url = format!("unix://{}", podman_socket());
    let out = Command::new("timeout")
        .args(["100", "podman", "--remote", "--url", &url])
        .args(args)
        .output()
        .expect("podman CLI (Debian's podman package)");
    assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn containers_of_a_libpod_pod_carry_its_identity() {
    let config = EngineConfig::new(EngineAddress::new("podman", podman_socket()));
    let engine = tokio::time::timeout(BOUND, anyctr_engine_podman::connect(config)).await.unwrap().unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let pod = format!("anyctr-libpod-{}-{nanos:x}", std::process::id());
    let pause = std::env::var("ANYCTR_PAUSE_IMAGE").unwrap_or_else(|_| "localhost/pause:local".into());
    let image = std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into());
    let pod_id = podman(&["pod", "create", "--name", &pod, "--infra-image", &pause]);
    let checked = async {
        let app = podman(&["run", "-d", "--pod", &pod, "--name", &format!("{pod}-app"), &image, "sleep", "600"]);
        let d = tokio::time::timeout(BOUND, engine.inspect(&app)).await.unwrap().unwrap();
        let infra = d.pod.sandbox_id.clone().expect("the infra container is the sandbox");
        assert_eq!(d.pod.pod_name.as_deref(), Some(pod.as_str()));
        assert_eq!(d.pod.pod_uid.as_deref(), Some(pod_id.as_str()));
        assert_eq!(d.pod.container_name.as_deref(), Some(d.name.as_str()));
        assert_ne!(d.pod.role, Some(PodRole::Sandbox));
        let s = tokio::time::timeout(BOUND, engine.inspect(&infra)).await.unwrap().unwrap();
        assert_eq!((s.pod.role, s.pod.sandbox_id.as_deref()), (Some(PodRole::Sandbox), Some(infra.as_str())));
        assert!(s.is_sandbox());
        assert_eq!(s.pod.pod_uid.as_deref(), Some(pod_id.as_str()));
        // A container in no pod has no pod identity.
        let lone = podman(&["create", "--name", &format!("{pod}-lone"), &image, "true"]);
        let l = tokio::time::timeout(BOUND, engine.inspect(&lone)).await.unwrap().unwrap();
        podman(&["rm", "-f", &lone]);
        assert!(!l.pod.is_pod_member(), "{:?}", l.pod);
    }
    .await;
    podman(&["pod", "rm", "-f", &pod]);
    checked
}
