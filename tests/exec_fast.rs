//! `EngineExt::exec_fast` (and `exec_fast_on`) on the harness's dockerd: a runc container through the namespace fast path,
//! and the rund stand-in refused as not host-visible. Needs the engines and root.

mod common;

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{ErrorKind, ExecRequest, Support};
use common::{Cleanup, docker, spec, unique};

#[tokio::test]
async fn exec_fast_runs_in_runc_and_refuses_rund() {
    let engine = docker().await;
    assert_eq!(engine.capabilities().nsenter, Support::Emulated);
    let label = unique("exec-fast");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    let bound = Duration::from_secs(60);

    let mut runc = spec(&label, &format!("{label}-runc"), &["sleep", "600"]);
    runc.env = vec!["FROM_SPEC=yes".into()];
    let id = tokio::time::timeout(bound, engine.create(&runc)).await.unwrap().unwrap();
    tokio::time::timeout(bound, engine.start(&id)).await.unwrap().unwrap();
    let req = ExecRequest::shell("echo \"$FROM_SPEC $EXTRA\"; readlink /proc/self/ns/mnt").env("EXTRA=1");
    let r = tokio::time::timeout(bound, engine.exec_fast(&id, req)).await.unwrap().unwrap();
    let detail = engine.inspect(&id).await.unwrap();
    let pid = detail.state.pid.unwrap();
    let mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().display().to_string();
    assert_eq!(r.stdout_lossy(), format!("yes 1\n{mnt}\n"));

    // The conveniences are the same on a shared `DynEngine` (no `Deref` to the facade's handle),
    // and `exec_fast_on` takes the detail already at hand instead of inspecting again.
    let shared: anyctr::DynEngine = engine.clone().into_dyn();
    let r = tokio::time::timeout(bound, shared.exec_fast_on(&detail, ExecRequest::new(["cat", "/proc/self/cgroup"])))
        .await
        .unwrap()
        .unwrap();
    assert!(r.success() && r.stdout_lossy().contains(&id), "runs in the container's cgroups: {r:?}");
    let hostname = tokio::time::timeout(bound, shared.host_path(&id, "/etc/hostname")).await.unwrap().unwrap();
    assert_eq!(std::fs::read_to_string(&hostname.path).unwrap().trim(), &id[..12]);

    let mut rund = spec(&label, &format!("{label}-rund"), &["sleep", "600"]);
    rund.runtime = Some("rund".into());
    let id = tokio::time::timeout(bound, engine.create(&rund)).await.unwrap().unwrap();
    tokio::time::timeout(bound, engine.start(&id)).await.unwrap().unwrap();
    let e = tokio::time::timeout(bound, engine.exec_fast(&id, ExecRequest::new(["true"]))).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("not host-visible"), "{e}");
    assert_eq!(e.engine(), Some("docker"), "{e}");
}

/// Through the facade: a timed-out fast-path command takes its whole tree along (a `setsid` child
/// included), and bad input gets the kinds the engine's exec gives.
#[tokio::test]
async fn exec_fast_kills_the_whole_tree_and_types_bad_input() {
    let engine = docker().await;
    let label = unique("exec-fast-tree");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    let bound = Duration::from_secs(60);
    let id = tokio::time::timeout(bound, engine.create(&spec(&label, &format!("{label}-c"), &["sleep", "600"])))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(bound, engine.start(&id)).await.unwrap().unwrap();

    let tree = "sleep 301 & setsid sleep 302 & sh -c 'sleep 303 & sleep 304' & sleep 305";
    let req = ExecRequest::shell(tree).timeout(Duration::from_secs(2));
    let e = tokio::time::timeout(bound, engine.exec_fast(&id, req)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // Live processes of the tree (orphans killed after their parent are zombies of the
    // container's init, `sleep`, which never reaps: not running, so not counted).
    let mut live = Vec::new();
    for _ in 0..100 {
        let out = tokio::time::timeout(bound, engine.exec(&id, ExecRequest::new(["ps", "-o", "stat,args"])))
            .await
            .unwrap()
            .unwrap()
            .stdout_lossy();
        live = out
            .lines()
            .filter(|l| l.contains("sleep 30") && !l.trim_start().starts_with('Z'))
            .map(str::to_owned)
            .collect();
        if live.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(live, Vec::<String>::new(), "the timed-out tree left processes running");

    let fast = |req: ExecRequest| {
        let (engine, id) = (&engine, &id);
        async move { tokio::time::timeout(bound, engine.exec_fast(id, req)).await.unwrap().unwrap_err() }
    };
    let e = fast(ExecRequest::new(["id"]).user("ghost")).await;
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = fast(ExecRequest::new(["pwd"]).working_dir("/nope")).await;
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = fast(ExecRequest::new(vec!["echo".to_owned(), "x".repeat(10 << 20)])).await;
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = fast(ExecRequest::new(["no-such-binary"])).await;
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
}
