//! An exec's exit status survives dockerd deleting the exited exec before anyone waited for it:
//! quick execs (`exit N`) in a docker container, through containerd's `moby` namespace. The exec
//! ends before a Wait issued after Start can reach the shim, dockerd deletes it at once, and the
//! status must still come back (from the exit event of a subscription made live before Start).

mod common;

use anyctr_core::ContainerEngine;
use anyctr_core::model::ExecRequest;
use common::{DockerGuard, docker_socket, image, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_execs_in_a_docker_container_report_their_exit_status() {
    let fifo = common::fifo_dir("exit-status");
    let engine = common::engine("moby", &fifo).await;
    let tag = unique("exit-status");
    let host = format!("unix://{}", docker_socket());
    let out = std::process::Command::new("timeout")
        .args(["120", "docker", "-H", &host, "run", "-d", "--name", &tag])
        .args(["--label", &format!("anyctr.test={tag}"), &image(), "sleep", "600"])
        .output()
        .expect("docker CLI");
    assert!(out.status.success(), "docker run: {}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let _guard = DockerGuard(id.clone());
    for code in 0..20 {
        let request = ExecRequest::shell(format!("exit {code}")).timeout(common::BOUND);
        let result = tokio::time::timeout(common::BOUND, engine.exec(&id, request))
            .await
            .expect("exec bounded")
            .unwrap_or_else(|e| panic!("exec {code}: {e}"));
        assert_eq!(result.exit_code, code, "exec {code}");
    }
}
