//! `*.declared_unsupported`: for each capability the fixture does NOT claim, the call must return
//! `Unsupported` — the other half of "capability flags cannot lie".

use futures_util::future::BoxFuture;

use super::{TrialContext, TrialResult};
use crate::ErrorKind;
use crate::capability::Capabilities;
use crate::model::{EventOptions, ExecRequest};

type Check = for<'a> fn(&'a TrialContext) -> BoxFuture<'a, TrialResult>;

fn verdict<T: std::fmt::Debug>(capability: &str, r: crate::Result<T>) -> TrialResult {
    match r {
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(format!("unsupported: {capability} ({e})")),
        Err(e) => Err(format!(
            "{capability} is not claimed, but the call failed with {:?} instead of Unsupported: {e}",
            e.kind()
        )),
        Ok(v) => Err(format!("{capability} is not claimed, but the call worked: {v:?}")),
    }
}

/// The checks for every capability `caps` leaves unsupported that has a call of its own.
pub(super) fn trials_for(caps: &Capabilities) -> Vec<(&'static str, Check)> {
    let all: [(&'static str, &'static str, Check); 11] = [
        ("exec", "exec.declared_unsupported", |c| {
            Box::pin(async move { verdict("exec", c.engine.exec(&c.fixture.id, ExecRequest::new(["true"])).await) })
        }),
        ("exec_stream", "exec_stream.declared_unsupported", |c| {
            Box::pin(async move {
                let r = c.engine.exec_stream(&c.fixture.id, ExecRequest::new(["true"]), false).await;
                verdict("exec_stream", r.map(|_session| ()))
            })
        }),
        ("exec_with_stdin", "exec.stdin_declared_unsupported", |c| {
            Box::pin(async move {
                verdict("exec_with_stdin", c.engine.exec(&c.fixture.id, ExecRequest::new(["cat"]).stdin("x")).await)
            })
        }),
        ("copy_to", "copy.to_declared_unsupported", |c| {
            Box::pin(async move {
                let empty: crate::ByteStream = Box::pin(futures_util::stream::empty());
                verdict("copy_to", c.engine.copy_to(&c.fixture.id, "/tmp", empty).await)
            })
        }),
        ("copy_from", "copy.from_declared_unsupported", |c| {
            Box::pin(async move {
                verdict("copy_from", c.engine.copy_from(&c.fixture.id, "/etc/hostname").await.map(|_| ()))
            })
        }),
        ("events", "events.declared_unsupported", |c| {
            Box::pin(async move { verdict("events", c.engine.events(EventOptions::default()).await.map(|_| ())) })
        }),
        ("lifecycle", "lifecycle.declared_unsupported", |c| {
            // SIGCONT is harmless if the engine lies and the call works.
            Box::pin(async move { verdict("lifecycle", c.engine.kill(&c.fixture.id, "CONT").await) })
        }),
        // Capabilities the library (not the engine) exercises: the answer must agree with the flag.
        ("host_rootfs", "host_path.rootfs_declared_unsupported", |c| {
            Box::pin(async move {
                let d = c.engine.inspect(&c.fixture.id).await.map_err(|e| format!("inspect: {e}"))?;
                verdict("host_rootfs", crate::host_path::host_path(&d, "/etc/passwd", None).map(|hp| hp.path))
            })
        }),
        ("proc_root", "inspect.proc_root_declared_unsupported", |c| {
            Box::pin(async move {
                let d = c.engine.inspect(&c.fixture.id).await.map_err(|e| format!("inspect: {e}"))?;
                match d.proc_root_pid() {
                    None => Ok("unsupported: proc_root (no /proc root pid reported)".to_owned()),
                    Some(pid) => Err(format!("proc_root is not claimed, but the detail offers pid {pid}")),
                }
            })
        }),
        ("nsenter", "exec.nsenter_declared_unsupported", |c| {
            Box::pin(async move {
                let d = c.engine.inspect(&c.fixture.id).await.map_err(|e| format!("inspect: {e}"))?;
                verdict("nsenter", crate::nsenter::exec_in_namespaces(&d, ExecRequest::new(["true"]), None).await)
            })
        }),
        ("images", "lifecycle.images_declared_unsupported", |c| {
            Box::pin(async move { verdict("images", c.engine.list_images().await) })
        }),
    ];
    all.into_iter()
        .filter(|(cap, _, _)| caps.get(cap).is_some_and(|s| !s.is_supported()))
        .map(|(_, name, check)| (name, check))
        .collect()
}
