//! The harness daemons' containers seen from their runtime roots: dockerd's
//! `<exec-root>/runtime-runc/moby` and containerd's `/run/containerd/runc/k8s.io`, with the same
//! ids, pids and mounts the daemons report; exec through the runtime into them; lifecycle refused.
//! The daemons are asked through their CLIs (an engine crate's tests use no other engine).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyctr_core::model::{ContainerStatus, ExecRequest, MountKind, Signal};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind, ListOptions};
use anyctr_engine_oci::OciEngine;
use anyctr_testkit::docker_cli::{RemoveOnDrop, docker, require_docker};
use anyctr_testkit::{bounded, containerd_socket, unique};

const DOCKER_ROOT: &str = "/run/anyctr-engines/docker/exec/runtime-runc/moby";
const K8S_ROOT: &str = "/run/containerd/runc/k8s.io";

async fn engine(address: &str) -> OciEngine {
    let config = EngineConfig::new(EngineAddress::parse(address).unwrap());
    bounded("connect", anyctr_engine_oci::connect(config)).await.unwrap()
}

fn ctr(args: &[&str]) -> Result<String, String> {
    let out = Command::new("timeout")
        .args(["60", "ctr", "-a", &containerd_socket(), "-n", "k8s.io"])
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("ctr {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct CtrCleanup(String);
impl Drop for CtrCleanup {
    fn drop(&mut self) {
        let _ = ctr(&["task", "kill", "-s", "KILL", &self.0]);
        for _ in 0..50 {
            if ctr(&["task", "delete", &self.0]).is_ok()
                || ctr(&["task", "ls", "-q"]).is_ok_and(|l| !l.contains(&self.0))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = ctr(&["containers", "delete", &self.0]);
    }
}

fn host_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The root's entries, to show a call changed nothing in it.
fn entries(root: &str) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(root).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerd_containers_from_the_moby_root_match_docker() {
    require_docker();
    let name = unique("oci-moby");
    let bind = host_dir("oci-moby-bind");
    let volume = format!("{}:/mnt/data:ro", bind.display());
    let id = docker(&["run", "-d", "--name", &name, "-v", &volume, &anyctr_testkit::image(), "sleep", "300"])
        .unwrap()
        .trim()
        .to_owned();
    let _cleanup = RemoveOnDrop(name.clone());
    let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", &id]).unwrap().trim().parse().unwrap();
    let mounts: serde_json::Value =
        serde_json::from_str(&docker(&["inspect", "-f", "{{json .Mounts}}", &id]).unwrap()).unwrap();

    let oci = engine(&format!("oci://{DOCKER_ROOT}")).await;
    let info = bounded("identify", oci.identify()).await.unwrap();
    assert!(info.version.starts_with("1."), "runc's version: {info:?}");
    assert!(info.runtimes.iter().any(|r| r == "runc"), "{info:?}");
    let listed = bounded("list", oci.list(&ListOptions::running())).await.unwrap();
    let summary = listed.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("{id} not listed: {listed:?}"));
    assert_eq!(summary.status, ContainerStatus::Running);
    assert_eq!(summary.namespace.as_deref(), Some("moby"));
    let detail = bounded("inspect", oci.inspect(&id[..12])).await.unwrap();
    assert_eq!(detail.id, id);
    assert_eq!(detail.state.pid, Some(pid), "the init pid docker reports");
    assert!(!detail.runtime.is_sandboxed());
    for m in mounts.as_array().unwrap() {
        let (src, dst) = (m["Source"].as_str().unwrap(), m["Destination"].as_str().unwrap());
        let ours =
            detail.mounts.iter().find(|o| o.destination == Path::new(dst)).unwrap_or_else(|| panic!("{dst} missing"));
        assert_eq!(ours.source, Path::new(src));
        assert_eq!(ours.kind, MountKind::Bind);
        assert_eq!(ours.read_only, !m["RW"].as_bool().unwrap());
    }
    assert!(detail.mounts.iter().any(|m| m.destination == Path::new("/proc")), "the spec's own mounts too");
    assert!(detail.env.iter().any(|e| e.starts_with("PATH=")));
    assert!(detail.raw["cgroupsPath"].as_str().unwrap_or("").contains(&id), "{}", detail.raw["cgroupsPath"]);

    // Discovery finds the harness dockerd's root from its config file.
    let all = engine("oci://").await;
    assert!(all.roots().iter().any(|r| r.path == Path::new(DOCKER_ROOT)), "{:?}", all.roots());
    let everywhere = bounded("list all roots", all.list(&ListOptions::all())).await.unwrap();
    assert!(everywhere.iter().any(|s| s.id == id));

    // Exec through the runtime: output, exit code, missing binary; nothing left behind.
    let before = entries(DOCKER_ROOT);
    let r = bounded("exec", oci.exec(&id, ExecRequest::shell("echo out; echo err >&2; exit 3"))).await.unwrap();
    assert_eq!((r.stdout_lossy().as_str(), r.stderr_lossy().as_str(), r.exit_code), ("out\n", "err\n", 3));
    let r = bounded("stdin", oci.exec(&id, ExecRequest::new(["cat"]).stdin("piped"))).await.unwrap();
    assert_eq!(r.stdout_lossy(), "piped");
    let r = bounded("user", oci.exec(&id, ExecRequest::new(["id", "-u"]).user("nobody"))).await.unwrap();
    assert_eq!(r.stdout_lossy().trim(), "65534");
    let e = bounded("missing", oci.exec(&id, ExecRequest::new(["/no/such/binary"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    let slow = ExecRequest::shell("sleep 1000 & sleep 1000").timeout(Duration::from_secs(2));
    let e = bounded("timeout", oci.exec(&id, slow)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let ps = docker(&["exec", &id, "ps", "-o", "pid,args"]).unwrap();
    assert!(!ps.contains("sleep 1000"), "the timed-out exec's tree was killed:\n{ps}");
    // Other tests start containers in the same root meanwhile: every new entry must be one.
    let left: Vec<String> = entries(DOCKER_ROOT).into_iter().filter(|e| !before.contains(e)).collect();
    // (runsc's entries are `<id>_sandbox:<sid>.state` and `.lock`, beside runc's `<id>/`.)
    for e in &left {
        let container = e.split("_sandbox:").next().unwrap_or(e);
        // An entry gone by now was another test's container, removed meanwhile; one exec left stays.
        let stays = Path::new(DOCKER_ROOT).join(e).exists();
        assert!(
            !stays || docker(&["inspect", "-f", "{{.Id}}", container]).is_ok(),
            "exec left {e} in the daemon's root"
        );
    }

    // Read-only: no lifecycle in a daemon's root.
    assert!(!oci.capabilities().lifecycle.is_supported());
    for e in [
        oci.kill(&id, Signal::TERM).await.unwrap_err(),
        oci.stop(&id, Duration::from_secs(1)).await.unwrap_err(),
        oci.remove(&id, true).await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    }
    assert_eq!(docker(&["inspect", "-f", "{{.State.Status}}", &id]).unwrap().trim(), "running");
    let _ = std::fs::remove_dir_all(bind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_k8s_io_containers_from_their_runc_root_match_containerd() {
    let name = unique("oci-k8s");
    let bind = host_dir("oci-k8s-bind");
    let image = "docker.io/library/busybox:local";
    let mount = format!("type=bind,src={},dst=/mnt/k8s,options=rbind:ro", bind.display());
    if let Err(e) = ctr(&["run", "-d", "--mount", &mount, image, &name, "sleep", "300"]) {
        anyctr_testkit::engines_not_up("containerd", &containerd_socket(), e);
    }
    let _cleanup = CtrCleanup(name.clone());
    let tasks = ctr(&["task", "ls"]).unwrap();
    let pid: u32 = tasks
        .lines()
        .find(|l| l.starts_with(&name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in {tasks}"));
    let info: serde_json::Value = serde_json::from_str(&ctr(&["containers", "info", &name]).unwrap()).unwrap();
    let spec_mounts = info["Spec"]["mounts"].as_array().unwrap();

    let oci = engine(&format!("oci://{K8S_ROOT}")).await;
    let detail = bounded("inspect", oci.inspect(&name)).await.unwrap();
    assert_eq!(detail.state.pid, Some(pid));
    assert_eq!(detail.state.status, ContainerStatus::Running);
    assert_eq!(detail.namespace.as_deref(), Some("k8s.io"));
    assert_eq!(detail.mounts.len(), spec_mounts.len(), "every mount of the spec containerd reports");
    for (ours, theirs) in detail.mounts.iter().zip(spec_mounts) {
        assert_eq!(ours.destination, Path::new(theirs["destination"].as_str().unwrap()));
    }
    let k8s = detail.mounts.iter().find(|m| m.destination == Path::new("/mnt/k8s")).unwrap();
    assert_eq!((k8s.source.as_path(), k8s.read_only), (bind.as_path(), true));
    let r = bounded("exec", oci.exec(&name, ExecRequest::new(["cat", "/proc/1/cmdline"]))).await.unwrap();
    assert_eq!(r.stdout, b"sleep\x00300\x00");
    let _ = std::fs::remove_dir_all(bind);
}

/// dockerd's gVisor containers share `runtime-runc/moby` in runsc's own layout: listed as
/// sandboxed, with the pid `runsc state` reports, and exec goes through runsc.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runsc_containers_in_the_moby_root_are_sandboxed_and_exec_through_runsc() {
    require_docker();
    let name = unique("oci-runsc");
    let id = docker(&["run", "-d", "--runtime", "runsc", "--name", &name, &anyctr_testkit::image(), "sleep", "300"])
        .unwrap()
        .trim()
        .to_owned();
    let _cleanup = RemoveOnDrop(name.clone());
    let out = Command::new("timeout").args(["30", "runsc", "--root", DOCKER_ROOT, "state", &id]).output().unwrap();
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let oci = engine(&format!("oci://{DOCKER_ROOT}")).await;
    let detail = bounded("inspect", oci.inspect(&id)).await.unwrap();
    assert_eq!(detail.runtime, anyctr_core::model::RuntimeClass::Runsc);
    assert!(detail.runtime.is_sandboxed());
    assert_eq!(detail.rootfs, anyctr_core::model::RootfsView::NotHostVisible);
    assert_eq!(detail.state.status, ContainerStatus::Running);
    assert_eq!(detail.state.pid.map(u64::from), state["pid"].as_u64(), "the pid runsc reports");
    assert!(oci.container_capabilities(&detail).host_rootfs == anyctr_core::Support::Unsupported);
    let r = bounded("exec", oci.exec(&id, ExecRequest::new(["cat", "/proc/1/cmdline"]))).await.unwrap();
    assert_eq!(r.stdout, b"sleep\x00300\x00");
    // A timed-out exec's whole tree is killed inside the sandbox (the marker's kill runs there).
    let slow = ExecRequest::shell("sleep 1000 & sleep 1000").timeout(Duration::from_secs(2));
    let e = bounded("timeout", oci.exec(&id, slow)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let ps = docker(&["exec", &id, "ps", "-o", "pid,args"]).unwrap();
    assert!(!ps.contains("sleep 1000"), "the timed-out exec's tree was killed:\n{ps}");
}
