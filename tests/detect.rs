//! Detection and `from_env` against real sockets: missing, a plain file, a socket nobody serves, a
//! socket nobody answers on, permission denied for a non-root user, and the real engines the
//! harness started (reached through a host-root prefix, as an agent in a container reaches them).
//!
//! Cases that need another process (a different uid, a different environment) re-run this test
//! binary as a child with `ANYCTR_CHILD` set; the child runs the ignored `child` test.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyctr::ConnectOptions;
use anyctr::prelude::*;
use anyctr::socket_check::ConnectOutcome;

fn harness_socket(var: &str, default: &str) -> PathBuf {
    let p = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_owned()));
    assert!(p.exists(), "{} missing: engines not up — run `cargo xtask engines up`", p.display());
    p
}

fn docker_socket() -> PathBuf {
    harness_socket("ANYCTR_DOCKER_SOCKET", "/run/anyctr-engines/docker.sock")
}

fn containerd_socket() -> PathBuf {
    harness_socket("ANYCTR_CONTAINERD_SOCKET", "/run/anyctr-engines/containerd/containerd.sock")
}

/// A fake host root whose directories others may traverse (the permission case runs as nobody).
fn host_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn place(root: &Path, host_path: &str) -> PathBuf {
    let p = root.join(host_path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    for dir in p.ancestors().skip(1).take_while(|d| d.starts_with(root)) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    p
}

fn options(root: &Path) -> ConnectOptions {
    ConnectOptions::default().host_root(root).probe_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn empty_host_root_reports_every_socket_missing() {
    let root = host_root();
    let report = anyctr::detect(&options(root.path())).await.unwrap();
    assert!(!report.probes.is_empty());
    assert!(report.chosen().is_none());
    for p in &report.probes {
        assert!(!p.check.exists, "{p:?}");
        assert!(p.check.path.starts_with(root.path()), "host root applied: {p:?}");
        assert!(p.rejected.as_deref().unwrap().contains("does not exist"), "{p:?}");
    }
    let e = anyctr::detect_and_connect(&options(root.path())).await.unwrap_err();
    assert_eq!(e.kind(), anyctr::ErrorKind::EngineUnavailable);
    assert!(e.message().contains("does not exist"), "the error explains: {e}");
}

#[tokio::test]
async fn plain_file_unserved_and_silent_sockets_are_rejected_with_reasons() {
    let root = host_root();
    std::fs::write(place(root.path(), "/var/run/docker.sock"), b"not a socket").unwrap();
    drop(std::os::unix::net::UnixListener::bind(place(root.path(), "/run/docker.sock")).unwrap());
    // Accepts connections but never says a word: every engine's probe must give up in time.
    let _silent = std::os::unix::net::UnixListener::bind(place(root.path(), "/var/run/pouchd.sock")).unwrap();

    let report = anyctr::detect(&options(root.path())).await.unwrap();
    let rows = |sock: &str| report.probes.iter().filter(|p| p.socket == Path::new(sock)).collect::<Vec<_>>();

    let file = rows("/var/run/docker.sock");
    assert_eq!(file.len(), 1);
    assert!(file[0].check.exists && !file[0].check.is_socket);
    assert!(file[0].rejected.as_deref().unwrap().contains("not a unix socket"), "{:?}", file[0]);

    let stale = rows("/run/docker.sock");
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].check.connect, ConnectOutcome::Refused);

    let silent = rows("/var/run/pouchd.sock");
    let engines = anyctr::registry().unwrap().names().len();
    assert_eq!(silent.len(), engines, "every engine tried the silent socket: {silent:?}");
    assert!(silent.iter().all(|p| !p.answered && p.rejected.is_some() && p.check.connected()), "{silent:?}");
    assert!(report.chosen().is_none(), "{report}");
}

#[tokio::test]
async fn an_explicit_address_naming_a_plain_file_says_what_the_probe_says() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker.sock");
    std::fs::write(&file, b"not a socket").unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for engine in ["docker", "containerd", "pouch"] {
        let e = anyctr::connect(&format!("{engine}://{}", file.display())).await.unwrap_err();
        assert_eq!(e.kind(), anyctr::ErrorKind::InvalidArgument, "{engine}: {e}");
        assert!(e.to_string().contains("exists but is not a unix socket"), "{engine}: {e}");
        assert!(!e.to_string().to_ascii_lowercase().contains("refused"), "{engine}: {e}");
        let e = anyctr::connect(&format!("{engine}://{}", stale.display())).await.unwrap_err();
        assert_eq!(e.kind(), anyctr::ErrorKind::EngineUnavailable, "{engine}: {e}");
        assert!(e.to_string().contains("nobody accepts connections"), "{engine}: {e}");
    }
    // A bare socket address (probed) and the docker engine connecting on its own say the same.
    let e = anyctr::connect(&format!("unix://{}", file.display())).await.unwrap_err();
    assert!(e.to_string().contains("exists but is not a unix socket"), "{e}");
    let config = anyctr::EngineConfig::new(anyctr::EngineAddress::new("docker", file.to_str().unwrap()));
    let e = anyctr::docker::connect(config).await.unwrap_err();
    assert_eq!(e.kind(), anyctr::ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("exists but is not a unix socket"), "{e}");
}

#[tokio::test]
async fn real_engines_are_found_under_a_host_root_and_explained() {
    let root = host_root();
    std::os::unix::fs::symlink(docker_socket(), place(root.path(), "/var/run/docker.sock")).unwrap();
    std::os::unix::fs::symlink(containerd_socket(), place(root.path(), "/run/containerd/containerd.sock")).unwrap();
    let opts = options(root.path());

    let report = anyctr::detect(&opts).await.unwrap();
    let answered: Vec<_> = report.probes.iter().filter(|p| p.answered).map(|p| (p.engine, p.socket.clone())).collect();
    assert_eq!(
        answered,
        [
            ("docker", PathBuf::from("/var/run/docker.sock")),
            ("containerd", PathBuf::from("/run/containerd/containerd.sock"))
        ],
        "{report}"
    );
    // pouch's probe looked at dockerd and said no: docker and pouch are told apart by what they answer.
    let pouch_on_docker = report
        .probes
        .iter()
        .find(|p| p.engine == "pouch" && p.socket == Path::new("/var/run/docker.sock"))
        .expect("pouch probed the docker socket first");
    assert!(!pouch_on_docker.answered && pouch_on_docker.rejected.is_some());

    let engine = anyctr::detect_and_connect(&opts).await.unwrap();
    assert_eq!(engine.name(), "docker");
    assert!(
        engine.choice().contains("probed") && engine.choice().contains("/var/run/docker.sock"),
        "{}",
        engine.choice()
    );
    assert!(!engine.info().version.is_empty());
}

#[tokio::test]
async fn bare_socket_address_is_recognized_by_probing() {
    let engine = anyctr::connect(&format!("unix://{}", containerd_socket().display())).await.unwrap();
    assert_eq!(engine.name(), "containerd", "{}", engine.choice());
    let engine = anyctr::connect(&docker_socket().display().to_string()).await.unwrap();
    assert_eq!(engine.name(), "docker", "{}", engine.choice());
}

fn run_child(mode: &str, envs: &[(&str, String)], as_nobody: bool) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", "child", "--nocapture", "--test-threads=1"]).env("ANYCTR_CHILD", mode);
    // Every variable an engine registers (podman's CONTAINER_HOST too), not a list to keep in step.
    let engine_vars = anyctr::registry().unwrap().iter().flat_map(|r| r.env_vars.iter().map(|v| v.name));
    for var in ["ANYCTR_ADDRESS", "ANYCTR_HOST_ROOT"].into_iter().chain(engine_vars) {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().map(|(k, v)| (k, v)));
    if as_nobody {
        cmd.uid(65534).gid(65534);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "child {mode} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-RESULT: ").map(|(_, result)| result))
        .unwrap_or_else(|| panic!("no result in {stdout}"))
        .to_owned()
}

#[test]
fn permission_denied_for_a_non_root_user() {
    if !nix_is_root() {
        panic!("this test needs root to create a socket that `nobody` may not use");
    }
    let root = host_root();
    let sock = place(root.path(), "/var/run/docker.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let result = run_child("detect", &[("ANYCTR_HOST_ROOT", root.path().display().to_string())], true);
    assert!(result.contains("/var/run/docker.sock=PermissionDenied"), "{result}");
}

#[test]
fn from_env_follows_the_variables() {
    let docker = docker_socket();
    let containerd = containerd_socket();
    let r = run_child("from_env", &[("DOCKER_HOST", format!("unix://{}", docker.display()))], false);
    assert!(r.starts_with("docker|from DOCKER_HOST"), "{r}");
    let r = run_child(
        "from_env",
        &[
            ("CONTAINERD_ADDRESS", containerd.display().to_string()),
            ("DOCKER_HOST", format!("unix://{}", docker.display())),
        ],
        false,
    );
    assert!(r.starts_with("containerd|from CONTAINERD_ADDRESS"), "{r}");
    // With nothing set, detection runs under the host root.
    let root = host_root();
    std::os::unix::fs::symlink(&containerd, place(root.path(), "/run/k3s/containerd/containerd.sock")).unwrap();
    let r = run_child("from_env", &[("ANYCTR_HOST_ROOT", root.path().display().to_string())], false);
    assert!(r.starts_with("containerd|probed") && r.contains("/run/k3s/containerd/containerd.sock"), "{r}");
    // A set but unusable variable is an error naming it.
    let r = run_child("from_env", &[("DOCKER_HOST", "tcp://127.0.0.1:1".into())], false);
    assert!(r.starts_with("error|invalid argument") && r.contains("DOCKER_HOST"), "{r}");
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// Runs only as a child of the tests above (it is ignored in normal runs, and does nothing
/// without `ANYCTR_CHILD`).
#[tokio::test]
#[ignore = "helper process for other tests"]
async fn child() {
    let Ok(mode) = std::env::var("ANYCTR_CHILD") else {
        panic!("run only as a child process with ANYCTR_CHILD set");
    };
    let result = match mode.as_str() {
        "detect" => {
            let root = std::env::var("ANYCTR_HOST_ROOT").ok().map(PathBuf::from);
            let mut opts = ConnectOptions::default().probe_timeout(Duration::from_secs(2));
            opts.host_root = root;
            let report = anyctr::detect(&opts).await.unwrap();
            report
                .probes
                .iter()
                .map(|p| format!("{}={:?}", p.socket.display(), p.check.connect))
                .collect::<Vec<_>>()
                .join(",")
        }
        "from_env" => match anyctr::from_env().await {
            Ok(e) => format!("{}|{}", e.name(), e.choice()),
            Err(e) => format!("error|{e}"),
        },
        other => panic!("unknown child mode {other}"),
    };
    println!("CHILD-RESULT: {result}");
}
