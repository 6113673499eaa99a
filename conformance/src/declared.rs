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

pub(super) fn top(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move { verdict("top", anyctr_host::top::container_top(&*c.engine, &c.fixture.id, None).await) })
}

pub(super) fn probes(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let detail = match c.engine.inspect(&c.fixture.id).await {
            Ok(detail) => detail,
            // Probes start from the container's detail: without inspect nothing leads to it.
            Err(e) if e.kind() == ErrorKind::Unsupported => return Ok(format!("probes: inspect is unsupported: {e}")),
            Err(e) => return Err(format!("inspect: {e}")),
        };
        verdict("probes (libc)", anyctr_host::probes::libc(&*c.engine, &detail, None).await)?;
        verdict("probes (pid1)", anyctr_host::probes::pid1(&*c.engine, &detail, None).await)
    })
}

pub(super) fn pause(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let r = c.engine.pause(&c.fixture.id).await;
        if r.is_ok() {
            // The engine lied: leave the fixture running for the other trials.
            let _ = c.engine.unpause(&c.fixture.id).await;
        }
        verdict("pause", r)
    })
}

pub(super) fn restart(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move { verdict("restart", c.engine.restart(&c.fixture.id, Duration::from_secs(1)).await) })
}

pub(super) fn update_resources(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let update = anyctr_core::model::ResourceUpdate::new().memory_limit(512 << 20);
        verdict("update_resources", c.engine.update_resources(&c.fixture.id, &update).await)
    })
}

pub(super) fn pull(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        // Port 9 (discard) on loopback: an engine that tried would fail, not pull.
        verdict("pull_image", c.engine.pull_image("127.0.0.1:9/anyctr/declared:none", QUICK).await)?;
        verdict("remove_image", c.engine.remove_image("127.0.0.1:9/anyctr/declared:none", false).await)
    })
}

pub(super) fn stats(c: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        // The engine's API, its batch call and anyctr's source choice must all refuse.
        verdict("stats (engine API)", c.engine.stats(&c.fixture.id).await)?;
        verdict("stats_many (engine API)", c.engine.stats_many(std::slice::from_ref(&c.fixture.id)).await)?;
        let chosen = anyctr_host::cgroup_stats::container_stats(&*c.engine, &c.fixture.id, None).await;
        verdict("stats", chosen)
    })
}
