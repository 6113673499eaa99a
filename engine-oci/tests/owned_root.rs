//! A root anyctr owns: made with `own=true`, the lifecycle on a bundle from an exported rootfs,
//! a paused container reported `Paused`, pause, restart, a resource update and stats through the
//! engine; and the roots anyctr refuses to take over.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyctr_core::model::{ContainerStatus, CreateSpec, ExecRequest, MountSpec, ResourceUpdate};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind, ListOptions};
use anyctr_engine_oci::lifecycle::image_tar;
use anyctr_testkit::docker_cli::{docker, require_docker};
use anyctr_testkit::{bounded, unique};

struct Dirs(PathBuf);
impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn connect(address: &str) -> anyctr_core::Result<anyctr_engine_oci::OciEngine> {
    anyctr_engine_oci::connect(EngineConfig::new(EngineAddress::parse(address).unwrap())).await
}

/// The test image's rootfs exported from the harness dockerd into `images`.
fn export_image(images: &Path) {
    require_docker();
    std::fs::create_dir_all(images).unwrap();
    let id = docker(&["create", &anyctr_testkit::image(), "true"]).unwrap().trim().to_owned();
    let tar = image_tar(images, &anyctr_testkit::image());
    let out = docker(&["export", "-o", tar.to_str().unwrap(), &id]);
    let _ = docker(&["rm", "-f", &id]);
    out.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_in_an_owned_root_and_paused_is_seen() {
    let base = PathBuf::from("/run").join(unique("oci-owned"));
    let _dirs = Dirs(base.clone());
    export_image(&base.join("images"));
    let root = base.join("runc");
    let address = format!("oci://{}?own=true&images={}/images", root.display(), base.display());
    let oci = bounded("connect", connect(&address)).await.unwrap();
    assert!(oci.capabilities().lifecycle.is_supported());
    assert!(base.join("runc.anyctr/owner").is_file(), "the ownership mark");

    let data = base.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), b"from the host").unwrap();
    let spec = CreateSpec::new(anyctr_testkit::image())
        .name("web")
        .argv(["sleep", "300"])
        .label("app", "web")
        .mount(MountSpec::bind(data.display().to_string(), "/data").read_only());
    let id = bounded("create", oci.create(&spec)).await.unwrap();
    assert_eq!(id.len(), 64);
    let e = bounded("create again", oci.create(&spec)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!(bounded("inspect", oci.inspect("web")).await.unwrap().state.status, ContainerStatus::Created);
    bounded("start", oci.start("web")).await.unwrap();
    let detail = bounded("inspect", oci.inspect("web")).await.unwrap();
    assert_eq!((detail.id.as_str(), detail.name.as_str()), (id.as_str(), "web"));
    assert_eq!(detail.state.status, ContainerStatus::Running);
    assert_eq!(detail.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(detail.image, anyctr_testkit::image());
    let r = bounded("exec", oci.exec("web", ExecRequest::new(["cat", "/data/f"]))).await.unwrap();
    assert_eq!(r.stdout_lossy(), "from the host");
    let listed = bounded("list", oci.list(&ListOptions::running().label("app=web"))).await.unwrap();
    assert_eq!(listed.len(), 1);

    // Paused through the runtime behind anyctr's back: the freezer says so.
    let runc = |args: &[&str]| Command::new("timeout").args(["30", "runc", "--root"]).arg(&root).args(args).status();
    assert!(runc(&["pause", &id]).unwrap().success());
    let paused = bounded("inspect paused", oci.inspect(&id)).await.unwrap().state.status;
    assert!(runc(&["resume", &id]).unwrap().success());
    assert_eq!(paused, ContainerStatus::Paused);

    // Paused through the engine: exec is refused while frozen, a second pause is a conflict.
    let status = async || bounded("inspect", oci.inspect(&id)).await.unwrap().state.status;
    bounded("pause", oci.pause(&id)).await.unwrap();
    assert_eq!(status().await, ContainerStatus::Paused);
    assert_eq!(bounded("pause again", oci.pause(&id)).await.unwrap_err().kind(), ErrorKind::Conflict);
    let e = bounded("exec paused", oci.exec(&id, ExecRequest::new(["true"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    bounded("unpause", oci.unpause(&id)).await.unwrap();
    assert_eq!(status().await, ContainerStatus::Running);

    // Restart: the same container with a new init; then a memory limit set on the running one,
    // seen in its host cgroup.
    let pid = async || bounded("inspect", oci.inspect(&id)).await.unwrap().state.pid;
    let before = pid().await;
    bounded("restart", oci.restart(&id, Duration::from_secs(1))).await.unwrap();
    assert_eq!(status().await, ContainerStatus::Running);
    assert!(pid().await.is_some() && pid().await != before, "a new init after the restart");
    let limit = 64 << 20;
    bounded("update", oci.update_resources(&id, &ResourceUpdate::new().memory_limit(limit))).await.unwrap();
    let stats = bounded("stats", oci.stats(&id)).await.unwrap();
    assert_eq!(stats.memory.limit, Some(limit));

    // A paused container still stops: it is thawed after the signal.
    bounded("pause", oci.pause(&id)).await.unwrap();
    bounded("stop", oci.stop(&id, Duration::from_secs(1))).await.unwrap();
    let stopped = bounded("inspect stopped", oci.inspect(&id)).await.unwrap();
    assert_eq!(stopped.state.status, ContainerStatus::Exited);
    assert!(stopped.state.exit_code.is_some());
    bounded("remove", oci.remove(&id, false)).await.unwrap();
    assert_eq!(oci.inspect(&id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "nothing left in the runtime root");
    assert_eq!(std::fs::read_dir(base.join("runc.anyctr/bundles")).unwrap().count(), 0, "no bundle left");
}

#[tokio::test]
async fn roots_anyctr_does_not_own_are_not_taken_over() {
    // A daemon's root.
    let e = connect("oci:///run/containerd/runc/k8s.io?own=true").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    // A root with containers anyctr did not make.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("someone-elses")).unwrap();
    let e = connect(&format!("oci://{}?own=true", dir.path().display())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    // Read-only without own=true: no lifecycle, create refused with a reason.
    let plain = connect(&format!("oci://{}", dir.path().display())).await.unwrap();
    assert!(!plain.capabilities().lifecycle.is_supported());
    let e = plain.create(&CreateSpec::new("busybox:local")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(e.message().contains("read-only"), "{e}");
    assert!(!anyctr_engine_oci::roots::sidecar(dir.path()).exists());
}
