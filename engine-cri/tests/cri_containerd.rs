//! The CRI engine against the real containerd the harness started, reached through CRI alone:
//! connect and identify, a pod with a container made, started, inspected (verbose pid, mounts, log
//! path, pod identity), its log rotated as kubelet does, exec'd into with ExecSync, waited for, stopped and removed; what ExecSync
//! cannot carry is `Unsupported`; a socket that does not speak CRI is refused at connect; stats of
//! one and many containers, over runtime.v1 and runtime.v1alpha2.

use std::time::Duration;

use anyctr_core::model::Signal;
use anyctr_core::{
    ContainerEngine, CreateSpec, EngineAddress, EngineConfig, ErrorKind, ExecRequest, ListOptions, MountSpec, PodSpec,
    RuntimeClass,
};
use anyctr_engine_cri::CriEngine;

mod common;

use common::{bounded, image, unique, var_or};

fn tag(what: &str) -> String {
    unique("anyctr-cri", what)
}

async fn engine() -> CriEngine {
    common::engine("").await
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
    let outcome = common::catch(async {
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
        // kubelet's rotation: the log renamed, ReopenContainerLog makes a new one at the path.
        let rotated = log.with_extension("log.20261201-090000");
        std::fs::rename(log, &rotated).unwrap();
        bounded("reopen", engine.reopen_container_log(&id)).await.expect("ReopenContainerLog");
        assert!(log.is_file() && rotated.is_file(), "{log:?} made anew beside {rotated:?}");
        let e = bounded("reopen", engine.reopen_container_log(&sandbox)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

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
            ("user", ExecRequest::new(["id"]).user("65534")),
            ("workdir", ExecRequest::new(["pwd"]).working_dir("/tmp")),
            ("env", ExecRequest::new(["env"]).env("A=1")),
        ] {
            let e = bounded("exec", engine.exec(&id, req)).await.expect_err(what);
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {e}");
        }
        // CRI has no signal call: a runc-class container's main process is signalled from the host.
        bounded("kill", engine.kill(&id, Signal::CONT)).await.expect("kill CONT from the host");
        let e = bounded("kill", engine.kill(&sandbox, Signal::CONT)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");

        bounded("stop", engine.stop(&id, Duration::from_secs(1))).await.expect("stop");
        let code = bounded("wait", engine.wait(&id)).await.expect("wait polls to the exit");
        assert_eq!(code, 137, "sleep ignores TERM in a pid namespace; the grace ends with KILL");
        let e = bounded("exec", engine.exec(&id, ExecRequest::new(["true"]))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        let e = bounded("reopen", engine.reopen_container_log(&id)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict, "a stopped container's log is not reopened: {e}");
        bounded("remove", engine.remove(&id, false)).await.expect("remove");
        let gone = bounded("inspect", engine.inspect(&id)).await.unwrap_err();
        assert_eq!(gone.kind(), ErrorKind::NotFound);
    })
    .await;
    bounded("remove_pod", engine.remove_pod(&sandbox)).await.expect("remove pod");
    let _ = std::fs::remove_dir_all(&host_dir);
    let e = bounded("inspect", engine.inspect(&sandbox)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    common::rethrow(outcome)
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

#[tokio::test]
async fn stats_one_and_many_through_cri() {
    stats_one_and_many(&engine().await).await;
}

/// Stats through runtime.v1alpha2 (containerd 1.6 serves both; `api=v1alpha2` makes the engine
/// speak it, as it does after v1's Unimplemented): ContainerStats and ListContainerStats too.
#[tokio::test]
async fn stats_over_v1alpha2() {
    let engine = common::engine("?api=v1alpha2").await;
    let info = bounded("identify", engine.identify()).await.unwrap();
    assert_eq!(info.api_version.as_deref(), Some("v1alpha2"));
    stats_one_and_many(&engine).await;
}

async fn stats_one_and_many(engine: &CriEngine) {
    use anyctr_core::model::StatsSource;
    let mut made = Vec::new();
    for handler in ["runc", "rund"] {
        let name = tag(&format!("stats-{handler}"));
        let pod =
            PodSpec::new(tag("pod"), "anyctr-test", tag("uid")).runtime(handler).label("anyctr.test", name.clone());
        let sandbox = bounded("create_pod", engine.create_pod(&pod)).await.expect("RunPodSandbox");
        made.push(sandbox.clone());
        let mut spec = CreateSpec::new(image()).memory_limit(96 << 20);
        spec.name = Some(name.clone());
        spec.argv =
            ["sh", "-c", "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; sleep 600"].map(String::from).into();
        spec.pod_sandbox = Some(sandbox);
        let id = bounded("create", engine.create(&spec)).await.expect("CreateContainer");
        bounded("start", engine.start(&id)).await.expect("StartContainer");
        made.push(id);
    }
    let outcome = common::catch(async {
        let (runc, rund) = (made[1].clone(), made[3].clone());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (a, b) = loop {
            let a = bounded("stats", engine.stats(&runc)).await.expect("stats runc");
            let b = bounded("stats", engine.stats(&rund)).await.expect("stats rund");
            let busy = |s: &anyctr_core::model::ContainerStats| s.cpu.usage_ns.is_some_and(|n| n >= 50_000_000);
            if (busy(&a) && busy(&b)) || std::time::Instant::now() > deadline {
                break (a, b);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(a.source, StatsSource::EngineApi);
        assert_eq!(b.source, StatsSource::SandboxRuntime, "the rund handler's figures are the sandbox's");
        for s in [&a, &b] {
            assert!(s.cpu.usage_ns.unwrap() >= 50_000_000, "{s:?}");
            assert!(s.memory.working_set.unwrap() > 0, "{s:?}");
            assert_eq!(s.memory.limit, Some(96 << 20), "available + working set is the limit set: {s:?}");
            assert_eq!(s.pids.current, None, "CRI reports no pids: not 0");
        }
        let many =
            bounded("stats_many", engine.stats_many(&[runc.clone(), rund.clone(), "no-such".into()])).await.unwrap();
        assert_eq!(many.iter().map(|s| s.container.as_str()).collect::<Vec<_>>(), [runc.as_str(), rund.as_str()]);
        assert_eq!(many[1].source, StatsSource::SandboxRuntime);
        let all = bounded("stats_many", engine.stats_many(&[])).await.unwrap();
        assert!(all.iter().any(|s| s.container == runc) && all.iter().any(|s| s.container == rund));
        // A pod sandbox is not a container to CRI's stats.
        let e = bounded("stats", engine.stats(&made[0])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    })
    .await;
    for sandbox in [&made[0], &made[2]] {
        bounded("remove_pod", engine.remove_pod(sandbox)).await.expect("remove pod");
    }
    common::rethrow(outcome)
}
