//! A container made by `docker run`, seen through containerd's `moby` namespace. dockerd owns it:
//! anyctr reads it and execs in it (dockerd deletes every exited exec in `moby` by itself, which
//! the exec path must survive), but does not start or remove it.

mod common;

use std::path::Path;

use anyctr_core::model::Signal;
use anyctr_core::model::{ContainerStatus, RootfsView, RuntimeClass};
use anyctr_core::{ContainerEngine, ErrorKind, ListOptions};
use common::{DockerGuard, checks, docker_socket, image, unique};

fn docker(args: &[&str]) -> std::process::Output {
    let host = format!("unix://{}", docker_socket());
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["120", "docker", "-H", &host]).args(args);
    cmd.output().expect("docker CLI")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_container_through_moby() {
    let fifo = common::fifo_dir("moby");
    let engine = common::engine("moby", &fifo).await;
    let tag = unique("moby");
    let out =
        docker(&["run", "-d", "--name", &tag, "--label", &format!("anyctr.test={tag}"), &image(), "sleep", "600"]);
    assert!(
        out.status.success(),
        "docker run (engines not up? run `cargo xtask engines up`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let _guard = DockerGuard(id.clone());

    // dockerd does not hand its labels to containerd: find the container by id.
    let list = engine.list(&ListOptions::running()).await.unwrap();
    let s = list.iter().find(|s| s.id == id).expect("the docker container is listed in moby");
    assert_eq!(s.namespace.as_deref(), Some("moby"));
    assert_eq!(s.runtime, Some(RuntimeClass::Runc));
    assert_eq!(s.status, ContainerStatus::Running);

    let d = engine.inspect(&id[..12]).await.unwrap();
    assert_eq!(d.id, id);
    assert_eq!(d.runtime, RuntimeClass::Runc);
    assert_eq!(d.runtime_name, "io.containerd.runc.v2");
    assert_eq!(d.namespace.as_deref(), Some("moby"));
    let pid = d.state.pid.expect("pid");
    // docker's rootfs is its overlay2 merged dir, named absolutely in the spec
    match &d.rootfs {
        RootfsView::Merged(p) => {
            assert!(p.ends_with("merged") && p.join("bin").exists(), "{p:?}");
        }
        other => panic!("expected the merged dir, got {other:?}"),
    }
    assert_eq!(d.network_mode.as_deref(), Some(format!("/proc/{pid}/ns/net").as_str()));
    assert_eq!(d.hostname.as_deref(), Some(&id[..12]));
    assert!(!d.pod.is_pod_member());
    assert!(d.env_var("PATH").is_some());

    checks::exec_checks(&engine, &id, "moby", &id, &fifo).await;
    output_cut_by_dockerd_is_marked(&engine, &id).await;
    checks::copy_checks(&engine, &id).await;
    checks::exec_events(&engine, &id, "moby", &id).await;

    // dockerd's container is not CRI's to start or remove
    assert_eq!(engine.remove(&id, true).await.unwrap_err().kind(), ErrorKind::InvalidArgument);

    // kill through the task, then dockerd removes the container from containerd
    engine.kill(&id, Signal::KILL).await.unwrap();
    let code = tokio::time::timeout(common::BOUND, engine.wait(&id)).await.expect("wait");
    match code {
        Ok(c) => assert_eq!(c, 137),
        // dockerd may delete the record before the wait starts
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
    }
    let _ = std::fs::remove_dir_all(&fifo);
    assert!(!Path::new(&fifo).exists());
}

/// dockerd deletes the exited exec at once and the shim then closes its output 2 s later, while
/// the background child still sleeps: the end of output seen after that is no proof the output
/// is complete. Reading only after the cut (as a slow reader on a busy node does) must give
/// "incomplete", never a silently short result.
async fn output_cut_by_dockerd_is_marked(engine: &anyctr_engine_containerd::ContainerdEngine, id: &str) {
    let request = anyctr_core::model::ExecRequest::shell("(sleep 5; echo late) & echo early");
    let session = engine.exec_stream(id, request, false).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    let bound = Some(common::BOUND);
    let r = anyctr_core::buffered_exec::run_to_completion(session, None, 1024, bound).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "early\n"));
    assert!(r.output_incomplete, "output cut by dockerd's delete was reported complete: {r:?}");
}
