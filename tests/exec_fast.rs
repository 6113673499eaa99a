//! `Engine::exec_fast` on the harness's dockerd: a runc container through the namespace fast path,
//! and the rund stand-in refused as not host-visible. Needs the engines and root.

mod common;

use std::time::Duration;

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
    let pid = engine.inspect(&id).await.unwrap().state.pid.unwrap();
    let mnt = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap().display().to_string();
    assert_eq!(r.stdout_lossy(), format!("yes 1\n{mnt}\n"));

    let mut rund = spec(&label, &format!("{label}-rund"), &["sleep", "600"]);
    rund.runtime = Some("rund".into());
    let id = tokio::time::timeout(bound, engine.create(&rund)).await.unwrap().unwrap();
    tokio::time::timeout(bound, engine.start(&id)).await.unwrap().unwrap();
    let e = tokio::time::timeout(bound, engine.exec_fast(&id, ExecRequest::new(["true"]))).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("not host-visible"), "{e}");
    assert_eq!(e.engine(), Some("docker"), "{e}");
}
