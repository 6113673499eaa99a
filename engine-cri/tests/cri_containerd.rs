//! The CRI engine against the real containerd the harness started, reached through CRI alone:
//! connect and identify, a pod with a container made, started, inspected (verbose pid, mounts, log
//! path, pod identity), exec'd into with ExecSync, waited for, stopped and removed; what ExecSync
//! cannot carry is `Unsupported`; a socket that does not speak CRI is refused at connect.

use std::time::Duration;

use anyctr_core::model::Signal;
use anyctr_core::{
    ContainerEngine, CreateSpec, EngineAddress, EngineConfig, ErrorKind, ExecRequest, ListOptions, MountSpec, PodSpec,
    RuntimeClass,
};
use anyctr_engine_cri::CriEngine;

/// Every engine call of these tests is bounded: a hung runtime fails the test.
const BOUND: Duration = Duration::from_secs(60);

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

fn image() -> String {
    var_or("ANYCTR_TEST_IMAGE", "busybox:local")
}

async fn engine() -> CriEngine {
    let socket = var_or("ANYCTR_CONTAINERD_SOCKET", "/run/anyctr-engines/containerd/containerd.sock");
    assert!(std::path::Path::new(&socket).exists(), "{socket} missing: engines not up — run `cargo xtask engines up`");
    let address = EngineAddress::parse(&format!("cri://{socket}")).unwrap();
    tokio::time::timeout(BOUND, anyctr_engine_cri::connect(EngineConfig::new(address)))
        .await
        .expect("connect hung")
        .expect("connect through CRI")
}

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what} hung"))
}

fn tag(what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("anyctr-cri-{what}-{:x}{:x}", nanos & 0xffff_ffff, std::process::id())
}

#[tokio::test]
async fn identifies_as_a_cri_runtime() {
    let engine = engine().await;
    let info = bounded("identify", engine.identify()).await.unwrap();
    assert_eq!(info.engine, "cri");
    assert_eq!(info.product, "containerd");
    assert_eq!(info.api_version.as_deref(), Some("v1"));
}

#[tokio::test]
async fn a_socket_that_does_not_speak_cri_is_refused() {
    // The docker socket answers HTTP/1, not gRPC: connecting through CRI must fail, not hang.
    let docker = var_or("ANYCTR_DOCKER_SOCKET", "/run/anyctr-engines/docker.sock");
    let address = EngineAddress::parse(&format!("cri://{docker}")).unwrap();
    let r = bounded("connect", anyctr_engine_cri::connect(EngineConfig::new(address))).await;
    let e = r.expect_err("dockerd is not a CRI runtime");
    assert_eq!(e.engine(), Some("cri"), "{e}");
    let missing = EngineAddress::parse("cri:///run/anyctr-no-such-cri.sock").unwrap();
    let e = bounded("connect", anyctr_engine_cri::connect(EngineConfig::new(missing))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EngineUnavailable, "{e}");
}

#[tokio::test]
async fn pod_container_exec_and_teardown() {
    let engine = engine().await;
    let name = tag("app");
    let host_dir = tempfile_dir(&name);
    std::fs::write(host_dir.join("hello.txt"), "from the host\n").unwrap();
    let pod = PodSpec::new(tag("pod"), "anyctr-test", tag("uid")).runtime("runc").label("anyctr.test", name.clone());
    let sandbox = bounded("create_pod", engine.create_pod(&pod)).await.expect("RunPodSandbox");
    let outcome = async {
        let mut spec = CreateSpec::new(image());
        spec.name = Some(name.clone());
        spec.argv = vec!["sleep".into(), "600".into()];
        spec.env = vec!["ANYCTR_CRI_TEST=yes".into()];
        spec.labels.insert("anyctr.test".into(), name.clone());
        spec.mounts = vec![MountSpec::bind(host_dir.display().to_string(), "/mnt/host").read_only()];
        spec.pod_sandbox = Some(sandbox.clone());
        let id = bounded("create", engine.create(&spec)).await.expect("CreateContainer");
        bounded("start", engine.start(&id)).await.expect("StartContainer");

        let d = bounded("inspect", engine.inspect(&name)).await.expect("inspect by name");
        assert_eq!(d.id, id);
        assert!(d.state.status.is_running(), "{:?}", d.state);
        assert_eq!(d.runtime, RuntimeClass::Runc, "{}", d.runtime_name);
        assert!(d.proc_root_pid().is_some(), "verbose info gives the pid");
        assert_eq!(d.env_var("ANYCTR_CRI_TEST"), Some("yes"));
        assert_eq!(d.pod.sandbox_id.as_deref(), Some(sandbox.as_str()));
        assert_eq!(d.pod.pod_uid.as_deref(), Some(pod.uid.as_str()));
        let m = d.mounts.iter().find(|m| m.destination == std::path::Path::new("/mnt/host")).expect("bind mount");
        assert!(m.read_only && m.source == host_dir);
        let log = d.log_path.as_ref().expect("log path");
        assert!(log.is_absolute() && log.ends_with(format!("{name}/0.log")), "{log:?}");

        let s = bounded("inspect sandbox", engine.inspect(&sandbox)).await.unwrap();
        assert!(s.is_sandbox());
        let listed = bounded("list", engine.list(&ListOptions::all().label(&format!("anyctr.test={name}")))).await;
        let listed: Vec<String> = listed.unwrap().into_iter().map(|c| c.id).collect();
        assert!(listed.contains(&id) && listed.contains(&sandbox), "{listed:?}");

        let r = bounded("exec", engine.exec(&id, ExecRequest::shell("cat /mnt/host/hello.txt; echo err >&2; exit 3")))
            .await
            .unwrap();
        assert_eq!(
            (r.exit_code, r.stdout_lossy().as_str(), r.stderr_lossy().as_str()),
            (3, "from the host\n", "err\n")
        );
        let missing = bounded("exec", engine.exec(&id, ExecRequest::new(["/no/such/program"]))).await;
        assert_eq!(missing.unwrap_err().kind(), ErrorKind::CommandNotFound);
        for (what, req) in [
            ("stdin", ExecRequest::new(["cat"]).stdin("x")),
            ("user", ExecRequest::new(["id"]).user("65534")),
            ("workdir", ExecRequest::new(["pwd"]).working_dir("/tmp")),
            ("env", ExecRequest::new(["env"]).env("A=1")),
        ] {
            let e = bounded("exec", engine.exec(&id, req)).await.expect_err(what);
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {e}");
        }
        let e = bounded("kill", engine.kill(&id, Signal::CONT)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "CRI has no signal call: {e}");

        bounded("stop", engine.stop(&id, Duration::from_secs(1))).await.expect("stop");
        let code = bounded("wait", engine.wait(&id)).await.expect("wait polls to the exit");
        assert_eq!(code, 137, "sleep ignores TERM in a pid namespace; the grace ends with KILL");
        let e = bounded("exec", engine.exec(&id, ExecRequest::new(["true"]))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        bounded("remove", engine.remove(&id, false)).await.expect("remove");
        let gone = bounded("inspect", engine.inspect(&id)).await.unwrap_err();
        assert_eq!(gone.kind(), ErrorKind::NotFound);
    }
    .await;
    bounded("remove_pod", engine.remove_pod(&sandbox)).await.expect("remove pod");
    let _ = std::fs::remove_dir_all(&host_dir);
    let e = bounded("inspect", engine.inspect(&sandbox)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    outcome
}

#[tokio::test]
async fn a_container_needs_a_pod_sandbox() {
    let engine = engine().await;
    let mut spec = CreateSpec::new(image());
    spec.name = Some(tag("nopod"));
    spec.argv = vec!["true".into()];
    let e = bounded("create", engine.create(&spec)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
