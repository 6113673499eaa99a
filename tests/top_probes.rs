//! `EngineExt::container_top` and `ProbeCache` through the facade on the harness dockerd: a runc
//! container is read from the host's `/proc` (host pids), a rund (gVisor) one by exec; probes are
//! cached per container run and pid 1 is read fresh.

mod common;

use anyctr::model::{LibcKind, ProbeVia, ProcessState, TopSource};
use anyctr::prelude::*;
use common::*;

async fn started(engine: &anyctr::Engine, label: &str, runtime: &str) -> String {
    let mut spec = spec(label, &unique("anyctr-top"), &["sh", "-c", "sleep 1 & exec sleep 1000"]);
    spec.runtime = Some(runtime.to_owned());
    let id = engine.create(&spec).await.unwrap();
    engine.start(&id).await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn top_and_probes_on_runc_from_the_host_and_on_rund_by_exec() {
    let engine = docker().await;
    let label = unique("top-probes");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    for (runtime, source, via) in
        [("runc", TopSource::HostProc, ProbeVia::Host), ("rund", TopSource::ExecProc, ProbeVia::Exec)]
    {
        let id = started(&engine, &label, runtime).await;
        let mut top = engine.container_top(&id).await.unwrap();
        for _ in 0..50 {
            if top.zombies > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            top = engine.container_top(&id).await.unwrap();
        }
        assert_eq!(top.source, source, "{runtime}");
        assert_eq!(top.pid1_name.as_deref(), Some("sleep"), "{runtime}: {top:?}");
        assert_eq!((top.zombies, top.pid1_reaps_zombies()), (1, Some(false)), "{runtime}: {top:?}");
        let zombie = top.processes.iter().find(|p| p.state == ProcessState::Zombie).unwrap();
        assert_eq!(zombie.ppid, Some(1));
        assert_eq!(top.process(1).unwrap().host_pid.is_some(), source == TopSource::HostProc, "{runtime}");

        let cache = engine.probe_cache();
        let detail = engine.inspect(&id).await.unwrap();
        let libc = cache.libc(&detail).await.unwrap();
        assert_eq!(
            (libc.value.kind, libc.via),
            (LibcKind::Glibc, via),
            "{runtime}: busybox:local is Debian's static glibc busybox: {libc:?}"
        );
        assert_eq!(cache.libc(&detail).await.unwrap(), libc);
        assert_eq!(cache.cached_runs(), 1);
        let pid1 = cache.pid1(&detail).await.unwrap();
        assert_eq!((pid1.value.zombies, pid1.value.reaps_zombies, pid1.via), (1, Some(false), via), "{runtime}");
        cache.forget(&id);
        assert_eq!(cache.cached_runs(), 0);
        // A stopped container has no processes to list.
        engine.kill(&id, anyctr::Signal::KILL).await.unwrap();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), engine.wait(&id)).await;
        let err = engine.container_top(&id).await.unwrap_err();
        assert_eq!(err.kind(), anyctr::ErrorKind::Conflict, "{runtime}: {err}");
    }
}
