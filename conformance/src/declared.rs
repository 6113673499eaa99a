//! `*.declared_unsupported`: for a capability the fixture does NOT claim, the engine's call must
//! return `Unsupported` — the other half of "capability flags cannot lie". Each check calls the
//! engine (or, for the host-side capabilities, what the engine reported about the fixture).
//! [`super::coverage`] says which check belongs to which capability.

use std::time::Duration;

use futures_util::future::BoxFuture;

use super::fixture::RUN_LABEL;
use super::{Fixture, TrialContext, TrialResult};
use anyctr_core::ErrorKind;
use anyctr_core::engine::ListOptions;
use anyctr_core::model::{EventOptions, ExecRequest, LogOptions, PodSpec};

pub(super) type Check = for<'a> fn(&'a TrialContext) -> BoxFuture<'a, TrialResult>;

fn verdict<T: std::fmt::Debug>(capability: &str, r: anyctr_core::Result<T>) -> TrialResult {
    match r {
        Err(e) if e.kind() == ErrorKind::Unsupported => Ok(format!("{capability}: {e}")),
        Err(e) => Err(format!(
            "{capability} is not claimed, but the call failed with {:?} instead of Unsupported: {e}",
            e.kind()
        )),
        Ok(v) => Err(format!("{capability} is not claimed, but the call worked: {v:?}")),
    }
}

/// A bound for calls that should be refused at once.
const QUICK: Duration = Duration::from_secs(60);

fn exec<'a>(c: &'a TrialContext, capability: &'static str, req: ExecRequest) -> BoxFuture<'a, TrialResult> {
    Box::pin(async move { verdict(capability, c.engine.exec(&c.fixture.id, req.timeout(QUICK)).await) })
}

pub(super) fn inspect(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        verdict("inspect (list)", c.engine.list(&ListOptions::all()).await)?;
        verdict("inspect", c.engine.inspect(&c.fixture.id).await)
    })
}

pub(super) fn exec_plain(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    exec(c, "exec", ExecRequest::new(["true"]))
}

pub(super) fn exec_with_stdin(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    exec(c, "exec_with_stdin", ExecRequest::new(["cat"]).stdin("x"))
}

pub(super) fn exec_with_user(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    exec(c, "exec_with_user", ExecRequest::new(["true"]).user("65534"))
}

pub(super) fn exec_with_workdir(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    exec(c, "exec_with_workdir", ExecRequest::new(["true"]).working_dir("/"))
}

pub(super) fn exec_with_env(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    exec(c, "exec_with_env", ExecRequest::new(["true"]).env("ANYCTR_DECLARED=1"))
}

pub(super) fn exec_kill(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        // Killing a started session is the call; a session the engine cannot start cannot be killed either.
        let session = c.engine.exec_stream(&c.fixture.id, ExecRequest::new(["sleep", "30"]), false).await;
        match session {
            Ok(session) => {
                verdict("exec_kill", tokio::time::timeout(QUICK, session.kill()).await.map_err(|_| "kill hung")?)
            }
            Err(e) => verdict("exec_kill (no session to kill)", Err::<(), _>(e)),
        }
    })
}

pub(super) fn exec_stream(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let r = c.engine.exec_stream(&c.fixture.id, ExecRequest::new(["true"]), false).await;
        verdict("exec_stream", r.map(|_session| ()))
    })
}

pub(super) fn copy_to(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let empty: anyctr_core::ByteStream = Box::pin(futures_util::stream::empty());
        verdict("put_archive", c.engine.put_archive(&c.fixture.id, "/tmp", empty).await)
    })
}

pub(super) fn copy_from(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(
        async move { verdict("get_archive", c.engine.get_archive(&c.fixture.id, "/etc/hostname").await.map(|_| ())) },
    )
}

pub(super) fn events(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move { verdict("events", c.engine.events(EventOptions::default()).await.map(|_| ())) })
}

/// What the engine reports about the fixture decides the host-side capabilities: `Ok(None)` when
/// the engine has no inspect at all, so there is no detail to reach the host through.
async fn fixture_detail(c: &TrialContext) -> Result<Option<anyctr_core::model::ContainerDetail>, String> {
    match c.engine.inspect(&c.fixture.id).await {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == ErrorKind::Unsupported && !c.capabilities.inspect.is_supported() => Ok(None),
        Err(e) => Err(format!("inspect of the fixture: {e}")),
    }
}

const NO_DETAIL: &str = "inspect is unsupported, so nothing leads from the container to the host";

pub(super) fn host_rootfs(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let Some(d) = fixture_detail(c).await? else { return Ok(format!("host_rootfs: {NO_DETAIL}")) };
        if let Some(dir) = d.merged_dir() {
            return Err(format!("host_rootfs is not claimed, but the engine reports a merged dir {dir:?}"));
        }
        let refused =
            verdict("host_rootfs", anyctr_host::host_path::host_path(&d, "/etc/passwd", None).map(|hp| hp.path))?;
        // A volume is the host's own directory: it is still answered.
        let shared = format!("{}/hello.txt", Fixture::BIND_DEST);
        let hp =
            anyctr_host::host_path::host_path(&d, &shared, None).map_err(|e| format!("host_path of {shared}: {e}"))?;
        if hp.path != c.fixture.bind_dir.join("hello.txt") {
            return Err(format!("the bind mount answered {:?}, want {:?}", hp.path, c.fixture.bind_dir));
        }
        Ok(format!("{refused}; the volume is still answered"))
    })
}

pub(super) fn proc_root(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let Some(d) = fixture_detail(c).await? else { return Ok(format!("proc_root: {NO_DETAIL}")) };
        match d.proc_root_pid() {
            None => Ok("proc_root: no /proc root pid reported".to_owned()),
            Some(pid) => Err(format!("proc_root is not claimed, but the detail offers pid {pid}")),
        }
    })
}

pub(super) fn nsenter(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let Some(d) = fixture_detail(c).await? else { return Ok(format!("nsenter: {NO_DETAIL}")) };
        verdict("nsenter", anyctr_host::nsenter::exec_in_namespaces(&d, ExecRequest::new(["true"]), None).await)
    })
}

pub(super) fn lifecycle(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    // SIGCONT is harmless if the engine lies and the call works.
    Box::pin(async move { verdict("lifecycle", c.engine.kill(&c.fixture.id, anyctr_core::model::Signal::CONT).await) })
}

pub(super) fn images(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move { verdict("images", c.engine.list_images().await) })
}

pub(super) fn pods(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let mut spec = PodSpec::new(
            format!("anyctr-declared-{}", c.run_id),
            "anyctr-conformance",
            format!("declared-{}", c.run_id),
        )
        .label(RUN_LABEL, c.run_id.clone());
        spec.runtime = c.fixture.spec.runtime.clone();
        let made = c.engine.create_pod(&spec).await;
        if let Ok(sandbox) = &made {
            c.cleanup_pod(sandbox);
        }
        verdict("pods", made)
    })
}

pub(super) fn logs(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        // Both ways in: the engine's API and anyctr's file reader must refuse alike.
        verdict("logs (engine API)", c.engine.logs(&c.fixture.id, &LogOptions::new()).await)?;
        let via_host = anyctr_host::logs::container_logs(&*c.engine, &c.fixture.id, &LogOptions::new(), None).await;
        verdict("logs", via_host)
    })
}
