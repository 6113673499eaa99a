//! Shared helpers: the built `anyctr` pointed at the harness engines, and containers made with
//! the docker CLI or the library, removed when dropped.
#![allow(dead_code)]

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine, Engines, PodSpec};
use anyctr_testkit::docker_cli::{RemoveOnDrop, docker, require_docker};
use assert_cmd::Command;

pub use anyctr_testkit::{image, unique};

/// Per-invocation bound: a hung daemon fails the test, not CI.
pub const BOUND: Duration = Duration::from_secs(60);

/// The harness's docker and containerd, as explicit addresses (no probing: quick).
pub fn addresses() -> String {
    let docker = anyctr_testkit::docker_socket();
    let containerd = anyctr_testkit::containerd_socket();
    let state = anyctr_testkit::containerd_state_dir();
    format!("docker://{docker},containerd://{containerd}?state_dir={state}")
}

/// `anyctr` on the harness's docker and containerd.
pub fn anyctr() -> Command {
    let mut cmd = bare();
    cmd.env("ANYCTR_ADDRESSES", addresses());
    cmd
}

/// `anyctr` with the harness's environment variables only (docker, containerd, podman), as an
/// operator on the node would run it.
pub fn anyctr_from_env() -> Command {
    let mut cmd = bare();
    cmd.env("DOCKER_HOST", format!("unix://{}", anyctr_testkit::docker_socket()))
        .env("CONTAINERD_ADDRESS", anyctr_testkit::containerd_socket())
        .env("ANYCTR_CONTAINERD_STATE_DIR", anyctr_testkit::containerd_state_dir());
    if let Ok(podman) = std::env::var("CONTAINER_HOST") {
        cmd.env("CONTAINER_HOST", podman);
    }
    cmd
}

fn bare() -> Command {
    let mut cmd = Command::cargo_bin("anyctr").expect("the anyctr binary");
    cmd.timeout(BOUND).env_remove("ANYCTR_ADDRESSES").env_remove("ANYCTR_ADDRESS").env("NO_COLOR", "1");
    for var in ["DOCKER_HOST", "CONTAINERD_ADDRESS", "CONTAINER_HOST", "CONTAINER_RUNTIME_ENDPOINT", "POUCH_SOCKET"] {
        cmd.env_remove(var);
    }
    cmd
}

/// A docker container of the test image, running `argv`, on `runtime`; removed when dropped.
pub fn docker_container(label: &str, runtime: &str, argv: &[&str]) -> (RemoveOnDrop, String) {
    require_docker();
    let name = unique(&format!("cli-{runtime}"));
    let mut args = vec!["run", "-d", "--name", &name, "--runtime", runtime, "--label"];
    let label_arg = format!("anyctr.test={label}");
    args.push(&label_arg);
    let image = image();
    args.push(&image);
    args.extend_from_slice(argv);
    let id = docker(&args).unwrap_or_else(|e| panic!("docker run: {e}")).trim().to_owned();
    (RemoveOnDrop(name), id)
}

/// The harness containerd's CRI namespace, through the library.
pub async fn cri() -> Engine {
    let (socket, state) = (anyctr_testkit::containerd_socket(), anyctr_testkit::containerd_state_dir());
    let address = format!("containerd://{socket}?namespace=k8s.io&state_dir={state}");
    anyctr_testkit::connect("containerd", &socket, Engines::connect(&address)).await
}

/// A pod with one container (`sleep`), made through the CRI; removed when dropped.
pub struct CriPod {
    pub engine: Engine,
    pub sandbox: String,
    pub container: String,
    pub pod_name: String,
}

impl CriPod {
    pub async fn start(label: &str) -> CriPod {
        let engine = cri().await;
        let pod_name = unique("cli-pod");
        let spec = PodSpec::new(&pod_name, "anyctr-cli-test", unique("uid")).label("anyctr.test", label);
        let sandbox = anyctr_testkit::bounded("create pod", engine.create_pod(&spec)).await.unwrap();
        let mut c = CreateSpec::new(image()).name("app").argv(["sleep", "600"]).label("anyctr.test", label);
        c.pod_sandbox = Some(sandbox.clone());
        let container = anyctr_testkit::bounded("create", engine.create(&c)).await.unwrap();
        anyctr_testkit::bounded("start", engine.start(&container)).await.unwrap();
        CriPod { engine, sandbox, container, pod_name }
    }
}

impl Drop for CriPod {
    fn drop(&mut self) {
        let (engine, sandbox) = (self.engine.clone(), self.sandbox.clone());
        anyctr_testkit::on_own_runtime(move || async move {
            let _ = tokio::time::timeout(Duration::from_secs(90), engine.remove_pod(&sandbox)).await;
        });
    }
}

/// stderr is one line, and says `what`.
pub fn assert_one_line_error(stderr: &[u8], what: &str) {
    let text = String::from_utf8_lossy(stderr);
    assert_eq!(text.trim_end().lines().count(), 1, "one line: {text:?}");
    assert!(text.starts_with("anyctr "), "{text}");
    assert!(text.contains(what), "{text:?} should say {what:?}");
}

/// tmux on a server of this test process's own (`-L`): a server shared with another process
/// exits when that process kills its last session, under a test that is still using it.
fn tmux_command() -> std::process::Command {
    let mut cmd = std::process::Command::new("tmux");
    cmd.args(["-L", &format!("anyctr-test-{}", std::process::id())]);
    cmd
}

/// Runs tmux, which must succeed; its stdout.
pub fn tmux(args: &[&str]) -> String {
    let out = tmux_command().args(args).output().expect("tmux is installed (apt-get install tmux)");
    assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tmux session, killed when dropped.
pub struct TmuxSession(pub String);

impl Drop for TmuxSession {
    fn drop(&mut self) {
        let _ = tmux_command().args(["kill-session", "-t", &self.0]).status();
    }
}
