//! CRI pods on the real containerd, with the runc handler and with the rund handler
//! (`io.containerd.rund.v2`, a VM-sandbox stand-in whose rootfs the host cannot see).

mod common;

use std::path::Path;
use std::time::Duration;

use anyctr_core::model::{
    ContainerStatus, CreateSpec, EventKind, EventOptions, ExecRequest, LogFormat, MountKind, MountSpec, PodSpec,
    RootfsView, RuntimeClass, Signal,
};
use anyctr_core::{ContainerEngine, ErrorKind, ListOptions, Support};
use anyctr_engine_containerd::ContainerdEngine;
use common::{BOUND, PodGuard, checks, image, unique};
use futures_util::StreamExt;

async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

fn spec(name: &str, tag: &str, pod: &str) -> CreateSpec {
    let mut s = CreateSpec::new(image());
    s.name = Some(name.to_owned());
    s.argv = vec!["sleep".into(), "600".into()];
    s.labels.insert("anyctr.test".into(), tag.to_owned());
    s.pod_sandbox = Some(pod.to_owned());
    s
}

async fn scenario(handler: &str, class: RuntimeClass) {
    let fifo = common::fifo_dir(handler);
    let engine = common::engine("k8s.io", &fifo).await;
    let tag = unique(&format!("cri-{handler}"));
    let uid = unique("uid");
    let pod_spec = PodSpec::new(&tag, "anyctr-test", &uid).runtime(handler).label("anyctr.test", &tag);
    let pod = bounded("create_pod", engine.create_pod(&pod_spec)).await.unwrap();
    let _guard = PodGuard { id: pod.clone(), fifo: fifo.clone() };
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("f"), "from host").unwrap();

    let mut app = spec("app", &tag, &pod);
    app.env = vec!["FOO=bar".into()];
    app.mounts = vec![MountSpec::bind(host_dir.path().to_str().unwrap(), "/data").read_only()];
    let id = bounded("create", engine.create(&app)).await.unwrap();
    bounded("start", engine.start(&id)).await.unwrap();

    // list
    let list = engine.list(&ListOptions::all().label(&format!("anyctr.test={tag}"))).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.contains(&id.as_str()) && ids.contains(&pod.as_str()), "{ids:?}");
    let s = list.iter().find(|s| s.id == id).unwrap();
    assert_eq!(s.namespace.as_deref(), Some("k8s.io"));
    assert_eq!(s.runtime.as_ref(), Some(&class));
    assert_eq!(s.status, ContainerStatus::Running);
    assert!(s.names[0].starts_with(&format!("app_{tag}_anyctr-test_")), "{:?}", s.names);
    assert_eq!(s.image, "busybox:local");
    let running = engine.list(&ListOptions::running().label(&format!("anyctr.test={tag}"))).await.unwrap();
    assert_eq!(running.len(), 2);

    // inspect
    let d = engine.inspect(&id).await.unwrap();
    assert_eq!(d.runtime, class);
    let shim = if handler == "rund" { "io.containerd.rund.v2" } else { "io.containerd.runc.v2" };
    assert_eq!(d.runtime_name, shim);
    let rootfs = Path::new(&common::state_dir()).join("io.containerd.runtime.v2.task/k8s.io").join(&id).join("rootfs");
    if class.is_sandboxed() {
        assert_eq!(d.rootfs, RootfsView::NotHostVisible);
        assert_eq!(d.proc_root_pid(), None);
        let caps = engine.container_capabilities(&d);
        assert_eq!(caps.host_rootfs, Support::Unsupported);
        assert_eq!(caps.copy_to, Support::Emulated);
    } else {
        assert_eq!(d.rootfs, RootfsView::Merged(rootfs.clone()));
        assert!(rootfs.join("bin").exists());
        let pid = d.proc_root_pid().expect("runc init pid");
        assert!(Path::new(&format!("/proc/{pid}/root/bin/sh")).exists());
    }
    assert!(d.state.pid.is_some());
    assert_eq!(d.state.status, ContainerStatus::Running);
    assert_eq!(d.pod.pod_name.as_deref(), Some(tag.as_str()));
    assert_eq!(d.pod.namespace.as_deref(), Some("anyctr-test"));
    assert_eq!(d.pod.pod_uid.as_deref(), Some(uid.as_str()));
    assert_eq!(d.pod.container_name.as_deref(), Some("app"));
    assert_eq!(d.pod.sandbox_id.as_deref(), Some(pod.as_str()));
    assert_eq!(d.pod.role, None);
    let log = format!("/var/log/pods/anyctr-test_{tag}_{uid}/app/0.log");
    assert_eq!(d.log_path.as_deref(), Some(Path::new(&log)));
    assert_eq!(d.log_format, Some(LogFormat::Cri));
    assert_eq!(d.env_var("FOO"), Some("bar"));
    let data = d.mounts.iter().find(|m| m.destination == Path::new("/data")).expect("bind mount");
    assert!(data.read_only && data.kind == MountKind::Bind && data.source == host_dir.path());
    assert_eq!(d.network_mode.as_deref(), Some("host"));
    assert_eq!(d.annotations.get("io.kubernetes.cri.container-type").map(String::as_str), Some("container"));
    assert_eq!(d.namespace.as_deref(), Some("k8s.io"));
    assert_eq!(d.labels.get("anyctr.test"), Some(&tag));
    let r = engine.exec(&id, ExecRequest::new(["cat", "/data/f"])).await.unwrap();
    assert_eq!(r.stdout_lossy(), "from host");
    let r = engine.exec(&id, ExecRequest::shell("echo x > /data/g")).await.unwrap();
    assert_ne!(r.exit_code, 0, "the read-only mount refuses writes");

    let sb = engine.inspect(&pod).await.unwrap();
    assert!(sb.is_sandbox());
    assert_eq!(sb.pod.sandbox_id.as_deref(), Some(pod.as_str()));
    assert_eq!(sb.runtime, class);
    assert_eq!(sb.network_mode.as_deref(), Some("host"));
    assert_eq!(sb.pod.pod_uid.as_deref(), Some(uid.as_str()));

    // lookups
    assert_eq!(engine.inspect(&d.name).await.unwrap().id, id);
    assert_eq!(engine.inspect(&id[..20]).await.unwrap().id, id);
    assert_eq!(engine.inspect(&format!("k8s.io/{id}")).await.unwrap().id, id);
    for bad in ["no-such-container-anyctr", "k8s.io/no-such-container-anyctr"] {
        let e = engine.inspect(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{bad}: {e}");
        assert_eq!(e.operation(), Some("inspect"));
        let e = engine.exec(bad, ExecRequest::new(["true"])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(engine.kill(bad, Signal::KILL).await.unwrap_err().kind(), ErrorKind::NotFound);
    }

    checks::exec_checks(&engine, &id, "k8s.io", &id, &fifo).await;
    checks::copy_checks(&engine, &id).await;
    checks::exec_events(&engine, &id, "k8s.io", &id).await;

    // stop with a grace period: under runc, sleep as pid 1 ignores SIGTERM and SIGKILL ends it
    // (137); gVisor's pid 1 dies of the SIGTERM (143)
    let stopper = bounded("create", engine.create(&spec("stopper", &tag, &pod))).await.unwrap();
    engine.start(&stopper).await.unwrap();
    bounded("stop", engine.stop(&stopper, Duration::from_secs(1))).await.unwrap();
    let st = engine.inspect(&stopper).await.unwrap();
    assert_eq!(st.state.status, ContainerStatus::Exited);
    let code = st.state.exit_code.expect("exit code of a stopped container");
    assert!(code == 137 || code == 143, "{code}");
    let e = engine.exec(&stopper, ExecRequest::new(["true"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "exec in a stopped task: {e}");
    assert_eq!(bounded("wait", engine.wait(&stopper)).await.unwrap(), code);
    engine.remove(&stopper, false).await.unwrap();
    assert_eq!(engine.inspect(&stopper).await.unwrap_err().kind(), ErrorKind::NotFound);

    // kill + wait, with the exit event
    let mut events = engine.events(EventOptions::default()).await.unwrap();
    engine.kill(&id, Signal::KILL).await.unwrap();
    assert_eq!(bounded("wait", engine.wait(&id)).await.unwrap(), 137);
    loop {
        let e = bounded("exit event", events.next()).await.unwrap().unwrap();
        if e.container_id == id && e.kind == EventKind::Exit {
            assert_eq!(e.exit_code, Some(137));
            break;
        }
    }
    let e = engine.kill(&id, Signal::KILL).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // remove: a running container only with force
    let forced = bounded("create", engine.create(&spec("forced", &tag, &pod))).await.unwrap();
    engine.start(&forced).await.unwrap();
    assert_eq!(engine.remove(&forced, false).await.unwrap_err().kind(), ErrorKind::Conflict);
    bounded("remove", engine.remove(&forced, true)).await.unwrap();
    assert_eq!(engine.inspect(&forced).await.unwrap_err().kind(), ErrorKind::NotFound);

    bounded("remove_pod", engine.remove_pod(&pod)).await.unwrap();
    assert_eq!(engine.inspect(&pod).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(engine.inspect(&id).await.unwrap_err().kind(), ErrorKind::NotFound, "the pod's containers go with it");
    assert!(!Path::new(&format!("/var/log/pods/anyctr-test_{tag}_{uid}")).exists(), "the pod's log dir is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_pod_with_runc() {
    scenario("runc", RuntimeClass::Runc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_pod_with_rund() {
    scenario("rund", RuntimeClass::Rund).await;
}

/// `create` without a pod makes one for the container and removes it with the container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_without_pod_makes_and_removes_one() {
    let fifo = common::fifo_dir("auto");
    let engine: ContainerdEngine = common::engine("k8s.io", &fifo).await;
    let name = unique("auto");
    let mut s = CreateSpec::new(image());
    s.name = Some(name.clone());
    s.argv = vec!["sleep".into(), "600".into()];
    s.labels.insert("anyctr.test".into(), name.clone());
    let id = bounded("create", engine.create(&s)).await.unwrap();
    let d = engine.inspect(&id).await.unwrap();
    let pod = d.pod.sandbox_id.clone().expect("a pod was made");
    let _guard = PodGuard { id: pod.clone(), fifo: fifo.clone() };
    assert_eq!(d.state.status, ContainerStatus::Created);
    assert_eq!(d.pod.pod_name.as_deref(), Some(name.as_str()));
    engine.start(&id).await.unwrap();
    let r = engine.exec(&id, ExecRequest::new(["echo", "auto"])).await.unwrap();
    assert_eq!(r.stdout_lossy(), "auto\n");
    // only the container carries the caller's label, not its pod
    let listed = engine.list(&ListOptions::all().label(&format!("anyctr.test={name}"))).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), vec![id.as_str()]);
    bounded("remove", engine.remove(&id, true)).await.unwrap();
    assert_eq!(engine.inspect(&pod).await.unwrap_err().kind(), ErrorKind::NotFound, "the auto pod goes too");

    // bad input is refused before anything is made
    let mut bad = CreateSpec::new(image());
    bad.mounts = vec![MountSpec::tmpfs("/t")];
    assert_eq!(engine.create(&bad).await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    bad.mounts.clear();
    bad.network_mode = Some("container:x".into());
    assert_eq!(engine.create(&bad).await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    let e = engine.start("no-such-container-anyctr").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

/// CRI makes pods and containers in `k8s.io`: an engine limited to `default` cannot see what it
/// would make there, so it refuses to create (before, it made the auto pod, lost sight of it and
/// answered `NotFound`, leaving the pod running), and says pods and pulls are not its to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_without_k8s_io_refuses_to_create_and_makes_nothing() {
    let fifo = common::fifo_dir("no-cri-ns");
    let only_default = common::engine("default", &fifo).await;
    let caps = only_default.capabilities();
    assert_eq!((caps.pods, caps.pull), (Support::Unsupported, Support::Unsupported));

    let name = unique("no-cri-ns");
    let mut s = CreateSpec::new(image());
    s.name = Some(name.clone());
    s.argv = vec!["sleep".into(), "600".into()];
    s.labels.insert("anyctr.test".into(), name.clone());
    let e = bounded("create", only_default.create(&s)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("k8s.io") && e.message().contains("default"), "{e}");
    let e = bounded("create_pod", only_default.create_pod(&PodSpec::new(&name, "anyctr-test", unique("uid"))))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");

    // Nothing was made in k8s.io: no pod of that name, no container.
    let cri = common::engine("k8s.io", &fifo).await;
    let made = cri.list(&ListOptions::all().label(&format!("io.kubernetes.pod.name={name}"))).await.unwrap();
    for leaked in &made {
        let _ = cri.remove_pod(&leaked.id).await;
    }
    assert!(made.is_empty(), "left in k8s.io: {:?}", made.iter().map(|s| &s.id).collect::<Vec<_>>());
    // An engine that sees k8s.io still creates (checked in `create_without_pod_makes_and_removes_one`).
    assert_eq!(cri.capabilities().pods, Support::Native);
    let _ = std::fs::remove_dir_all(&fifo);
}
