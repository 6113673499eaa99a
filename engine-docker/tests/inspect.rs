//! list, inspect and lookup on the real dockerd, for runc and rund.

mod common;

use std::path::Path;
use std::time::Duration;

use anyctr_core::model::{ContainerStatus, LogFormat, MountKind, MountSpec, RootfsView, RuntimeClass, Signal};
use anyctr_core::{ContainerEngine, ErrorKind, ListOptions, Support};
use common::*;

per_runtime!(inspect_normalizes_a_running_container, list_filters_by_state_and_label, lookup_by_id_prefix_and_name);

async fn inspect_normalizes_a_running_container(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "inspect");
    let bind = tempfile::tempdir().unwrap();
    std::fs::write(bind.path().join("f"), "x").unwrap();
    let volume = unique("anyctr-vol");
    guard.volumes.lock().unwrap().push(volume.clone());
    let mut spec = guard.spec(runtime, &["sleep", "3600"]);
    spec.env.push("APP=demo".into());
    spec.hostname = Some("anyctr-host".into());
    spec.labels.insert("io.kubernetes.pod.name".into(), "web-0".into());
    spec.labels.insert("io.kubernetes.pod.namespace".into(), "prod".into());
    spec.labels.insert("io.kubernetes.pod.uid".into(), "uid-1".into());
    spec.labels.insert("io.kubernetes.container.name".into(), "web".into());
    spec.labels.insert("io.kubernetes.sandbox.id".into(), "feedface".into());
    spec.labels.insert("io.kubernetes.docker.type".into(), "container".into());
    spec.mounts = vec![
        MountSpec::bind(bind.path().to_string_lossy(), "/data").read_only(),
        MountSpec::volume(&volume, "/vol"),
        MountSpec::tmpfs("/scratch"),
    ];
    let id = guard.run_spec(&spec).await;
    sh(&engine, &id, "echo written > /marker").await;

    let d = bounded("inspect", engine.inspect(&id)).await.unwrap();
    assert_eq!(d.id, id);
    assert_eq!(d.name, spec.name.clone().unwrap());
    assert_eq!(d.image, image());
    assert_eq!(d.state.status, ContainerStatus::Running);
    assert!(d.state.pid.is_some_and(|p| p > 0));
    assert!(d.state.started_at.is_some() && d.state.exit_code.is_none() && !d.state.oom_killed);
    assert_eq!(d.runtime, RuntimeClass::from_name(runtime));
    assert_eq!(d.runtime_name, runtime);
    assert_eq!(d.hostname.as_deref(), Some("anyctr-host"));
    assert_eq!(d.network_mode.as_deref(), Some("default"));
    assert_eq!(d.log_format, Some(LogFormat::JsonFile));
    assert!(d.log_path.as_ref().is_some_and(|p| p.to_string_lossy().ends_with(&format!("{id}-json.log"))));
    assert_eq!(d.env_var("APP"), Some("demo"));
    assert_eq!(d.labels.get("anyctr.test"), Some(&guard.label));
    assert_eq!(d.pod.pod_name.as_deref(), Some("web-0"));
    assert_eq!(d.pod.namespace.as_deref(), Some("prod"));
    assert_eq!(d.pod.pod_uid.as_deref(), Some("uid-1"));
    assert_eq!(d.pod.container_name.as_deref(), Some("web"));
    assert_eq!(d.pod.sandbox_id.as_deref(), Some("feedface"));
    let find =
        |dest: &str| d.mounts.iter().find(|m| m.destination == Path::new(dest)).unwrap_or_else(|| panic!("{dest}"));
    let data = find("/data");
    assert_eq!((&data.kind, data.read_only, data.source.as_path()), (&MountKind::Bind, true, bind.path()));
    assert_eq!(data.propagation.as_deref(), Some("rprivate"));
    let vol = find("/vol");
    assert_eq!((&vol.kind, vol.read_only, vol.name.as_deref()), (&MountKind::Volume, false, Some(volume.as_str())));
    assert_eq!(find("/scratch").kind, MountKind::Tmpfs);
    assert_eq!(d.raw["Id"], id.as_str());

    let caps = engine.container_capabilities(&d);
    if runtime == "runc" {
        // The merged dir is live on the host: it shows what the container wrote.
        let RootfsView::Merged(merged) = &d.rootfs else { panic!("runc rootfs: {:?}", d.rootfs) };
        assert_eq!(std::fs::read_to_string(merged.join("marker")).unwrap(), "written\n");
        assert_eq!(d.proc_root_pid(), d.state.pid);
        assert_eq!(caps.host_rootfs, Support::Native);
    } else {
        assert_eq!(d.rootfs, RootfsView::NotHostVisible);
        assert_eq!(d.proc_root_pid(), None);
        assert_eq!((caps.host_rootfs, caps.copy_to), (Support::Unsupported, Support::Emulated));
    }

    bounded("stop", engine.stop(&id, Duration::from_secs(1))).await.unwrap();
    let d = bounded("inspect", engine.inspect(&id)).await.unwrap();
    assert_eq!(d.state.status, ContainerStatus::Exited);
    // runc: sleep as pid 1 ignores TERM, so the grace ends in KILL (137). gVisor delivers TERM's
    // default action to pid 1, so sleep dies of it (143).
    let want = if runtime == "runc" { 137 } else { 143 };
    assert_eq!(d.state.exit_code, Some(want));
    assert!(d.state.finished_at.is_some());
    assert_eq!(d.state.pid, None);
    let stopped_view = if runtime == "runc" { RootfsView::NotReported } else { RootfsView::NotHostVisible };
    assert_eq!(d.rootfs, stopped_view, "no live merged dir once stopped");
}

async fn list_filters_by_state_and_label(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "list");
    let running = guard.sleeper(runtime).await;
    let mut spec = guard.spec(runtime, &["sh", "-c", "exit 3"]);
    spec.labels.insert("anyctr.role".into(), "short".into());
    let exited = guard.run_spec(&spec).await;
    assert_eq!(bounded("wait", engine.wait(&exited)).await.unwrap(), 3);

    let all = bounded("list", engine.list(&guard.label_filter())).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(all.len(), 2, "{ids:?}");
    let mut running_only = guard.label_filter();
    running_only.all = false;
    let live = bounded("list", engine.list(&running_only)).await.unwrap();
    assert_eq!(live.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [running.as_str()]);
    assert_eq!(live[0].status, ContainerStatus::Running);
    let short = bounded("list", engine.list(&guard.label_filter().label("anyctr.role=short"))).await.unwrap();
    assert_eq!(short.len(), 1);
    assert_eq!(short[0].id, exited);
    assert_eq!(short[0].status, ContainerStatus::Exited);
    assert_eq!(short[0].names, [spec.name.clone().unwrap()]);
    assert_eq!(short[0].image, image());
    assert!(short[0].created.is_some());
    let key_only = bounded("list", engine.list(&guard.label_filter().label("anyctr.role"))).await.unwrap();
    assert_eq!(key_only.len(), 1);
    let none = bounded("list", engine.list(&guard.label_filter().label("anyctr.role=other"))).await.unwrap();
    assert!(none.is_empty());
    // Plain `running()` lists other people's containers too; ours is among them.
    let everyone = bounded("list", engine.list(&ListOptions::running())).await.unwrap();
    assert!(everyone.iter().any(|c| c.id == running));
}

async fn lookup_by_id_prefix_and_name(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "lookup");
    let spec = guard.spec(runtime, &["sleep", "3600"]);
    let id = guard.run_spec(&spec).await;
    let name = spec.name.unwrap();
    for query in [id.as_str(), &id[..12], name.as_str(), &format!("/{name}")] {
        assert_eq!(bounded("inspect", engine.inspect(query)).await.unwrap().id, id, "{query}");
    }
    // Unknown: a well-formed id nobody has, a name nobody has, and a string that can name nothing.
    for query in ["0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &unique("anyctr-nobody")] {
        let e = bounded("inspect", engine.inspect(query)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{query}: {e}");
        assert_eq!(e.container(), Some(query));
    }
    for query in ["", "a/b", "x?y"] {
        let e = bounded("inspect", engine.inspect(query)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{query:?}: {e}");
    }
    // Ambiguous: create containers (created, not started) until two ids share a first hex digit.
    let mut firsts = std::collections::HashMap::new();
    let prefix = loop {
        let id = bounded("create", engine.create(&guard.spec(runtime, &["true"]))).await.unwrap();
        let first = id[..1].to_owned();
        if firsts.insert(first.clone(), id).is_some() {
            break first;
        }
        assert!(firsts.len() <= 16, "pigeonhole");
    };
    let e = bounded("inspect", engine.inspect(&prefix)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{prefix}: {e}");
    assert!(e.message().contains("ambiguous"), "{e}");
    // Every container call resolves the same way.
    let e = bounded("exec", engine.exec(&prefix, anyctr_core::model::ExecRequest::new(["true"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = bounded("kill", engine.kill(&prefix, Signal::TERM)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}
