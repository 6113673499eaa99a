//! Docker's own mounts, which inspect's `Mounts` omits, are in the docker engine's normalized
//! mounts with the sources docker uses, and agree with the moby view of the same container through
//! containerd (read from the OCI spec): `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` as
//! single-file binds, `/dev/shm` by IPC mode, the kernel filesystems with no source. On the real
//! dockerd and containerd of the harness.

mod common;

use std::path::Path;
use std::process::Command;

use anyctr::Engine;
use anyctr::model::{ContainerDetail, Mount, MountKind};
use anyctr::prelude::*;
use common::*;

use anyctr_testkit::BOUND;

fn containerd_moby() -> String {
    let (socket, state) = (anyctr_testkit::containerd_socket(), anyctr_testkit::containerd_state_dir());
    format!("containerd://{socket}?namespace=moby&state_dir={state}")
}

/// `docker run -d` with extra flags; removed (forced) when the guard drops.
struct Run {
    id: String,
}

impl Run {
    fn start(flags: &[&str]) -> Run {
        let name = unique("anyctr-own-mounts");
        let mut args = vec!["-H", "", "run", "-d", "--name", &name];
        let host = format!("unix://{}", docker_socket());
        args[1] = &host;
        args.extend_from_slice(flags);
        let image = image();
        args.extend_from_slice(&[image.as_str(), "sleep", "600"]);
        let out = Command::new("docker").args(&args).output().expect("docker CLI");
        assert!(out.status.success(), "docker run: {}", String::from_utf8_lossy(&out.stderr));
        Run { id: String::from_utf8(out.stdout).unwrap().trim().to_owned() }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let host = format!("unix://{}", docker_socket());
        let _ = Command::new("docker").args(["-H", &host, "rm", "-f", &self.id]).output();
    }
}

fn at<'m>(d: &'m ContainerDetail, destination: &str) -> &'m Mount {
    // The last mount on a destination is the one the container sees.
    d.mounts
        .iter()
        .rev()
        .find(|m| m.destination == Path::new(destination))
        .unwrap_or_else(|| panic!("no mount at {destination} in {:?}", d.mounts))
}

async fn both(docker: &Engine, moby: &Engine, id: &str) -> (ContainerDetail, ContainerDetail) {
    let d = tokio::time::timeout(BOUND, docker.inspect(id)).await.unwrap().unwrap();
    let m = tokio::time::timeout(BOUND, moby.inspect(id)).await.unwrap().unwrap();
    (d, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_reports_its_own_mounts_as_the_oci_spec_has_them() {
    let docker = docker().await;
    let moby = anyctr::connect(&containerd_moby()).await.expect("containerd moby view");
    for ipc in ["private", "shareable"] {
        let run = Run::start(&["--ipc", ipc]);
        let (d, m) = both(&docker, &moby, &run.id).await;
        for file in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
            let (dm, mm) = (at(&d, file), at(&m, file));
            assert_eq!(dm.kind, MountKind::Bind, "{ipc} {file}: {dm:?}");
            assert_eq!(dm.source, mm.source, "{ipc} {file}: the moby view says {mm:?}");
            assert!(dm.source.is_file(), "{ipc} {file}: {} is no file", dm.source.display());
        }
        let hostname = std::fs::read_to_string(&at(&d, "/etc/hostname").source).unwrap();
        assert_eq!(Some(hostname.trim()), d.hostname.as_deref(), "{ipc}: the host file holds the container's hostname");
        assert!(std::fs::read_to_string(&at(&d, "/etc/hosts").source).unwrap().contains(hostname.trim()));
        for (dest, fstype) in [
            ("/proc", "proc"),
            ("/sys", "sysfs"),
            ("/dev/pts", "devpts"),
            ("/dev/mqueue", "mqueue"),
            ("/sys/fs/cgroup", "cgroup"),
        ] {
            let (dm, mm) = (at(&d, dest), at(&m, dest));
            assert_eq!(dm.kind, MountKind::Special(fstype.into()), "{ipc} {dest}");
            assert_eq!((&dm.kind, dm.read_only), (&mm.kind, mm.read_only), "{ipc} {dest}: moby view {mm:?}");
            assert!(dm.source.as_os_str().is_empty(), "{ipc} {dest}: {dm:?}");
        }
        assert_eq!((at(&d, "/dev").kind.clone(), at(&m, "/dev").kind.clone()), (MountKind::Tmpfs, MountKind::Tmpfs));
        let (dshm, mshm) = (at(&d, "/dev/shm"), at(&m, "/dev/shm"));
        assert_eq!(dshm.kind, MountKind::Tmpfs, "{ipc}: {dshm:?}");
        assert_eq!(dshm.source, mshm.source, "{ipc} /dev/shm: moby view {mshm:?}");
        if ipc == "shareable" {
            // Host-visible: a file written in the container's /dev/shm is in the source.
            let r = docker
                .exec(&run.id, anyctr::ExecRequest::shell("echo from-inside > /dev/shm/anyctr-probe"))
                .await
                .unwrap();
            assert_eq!(r.exit_code, 0);
            let seen = std::fs::read_to_string(dshm.source.join("anyctr-probe")).unwrap();
            assert_eq!(seen, "from-inside\n");
        } else {
            assert!(dshm.source.as_os_str().is_empty(), "private shm is the container's own: {dshm:?}");
        }
    }
}

/// A bind mount of a gVisor container is shared with the host: the docker engine answers a path
/// in it as the moby view does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gvisor_shared_mount_answers_like_the_moby_view() {
    let docker = docker().await;
    let moby = anyctr::connect(&containerd_moby()).await.expect("containerd moby view");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"shared").unwrap();
    let bind = format!("{}:/data", dir.path().display());
    let run = Run::start(&["--runtime", "rund", "-v", &bind]);
    let from_docker = docker.host_path(&run.id, "/data/f").await;
    let from_moby = moby.host_path(&run.id, "/data/f").await;
    let (d, m) = (from_docker.expect("docker engine"), from_moby.expect("moby view"));
    assert_eq!(d.path, m.path);
    assert_eq!(d.path, dir.path().join("f"));
    // Docker's own single-file mounts are shared too: both views answer them, the same way.
    for file in ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"] {
        let d = docker.host_path(&run.id, file).await.unwrap_or_else(|e| panic!("docker engine {file}: {e}"));
        let m = moby.host_path(&run.id, file).await.unwrap_or_else(|e| panic!("moby view {file}: {e}"));
        assert_eq!(d.path, m.path, "{file}");
    }
    let out = tempfile::tempdir().unwrap();
    let via_docker = docker.copy_out(&run.id, "/data/f", &out.path().join("d")).await;
    let via_moby = moby.copy_out(&run.id, "/data/f", &out.path().join("m")).await;
    via_docker.expect("docker engine copy_out");
    via_moby.expect("moby view copy_out");
    assert_eq!(std::fs::read(out.path().join("d")).unwrap(), b"shared");
    assert_eq!(std::fs::read(out.path().join("m")).unwrap(), b"shared");
    let into = tempfile::tempdir().unwrap();
    std::fs::write(into.path().join("g"), b"in").unwrap();
    let in_docker = docker.copy_into(&run.id, &into.path().join("g"), "/data/g").await;
    let in_moby = moby.copy_into(&run.id, &into.path().join("g"), "/data/h").await;
    in_docker.expect("docker engine copy_into");
    in_moby.expect("moby view copy_into");
}
