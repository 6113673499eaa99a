//! `lifecycle.*`: create, start, wait, stop, kill, remove, and exec into a stopped container.

use std::time::Duration;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::{ContainerStatus, CreateSpec, ExecRequest, Signal};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "lifecycle.run_wait_remove", requires: &["lifecycle"], run: |c| Box::pin(run_wait_remove(c)) },
        Trial { name: "lifecycle.stop_and_kill", requires: &["lifecycle"], run: |c| Box::pin(stop_and_kill(c)) },
        Trial {
            name: "lifecycle.exec_on_stopped",
            requires: &["lifecycle", "exec"],
            run: |c| Box::pin(exec_on_stopped(c)),
        },
        Trial { name: "lifecycle.bad_spec", requires: &["lifecycle"], run: |c| Box::pin(bad_spec(c)) },
    ]
}

/// A spec for an extra container of this run, in the fixture's pod when it has one.
pub(super) fn extra_spec(ctx: &TrialContext, role: &str, argv: &[&str]) -> CreateSpec {
    let mut spec = ctx.fixture.spec.clone();
    spec.name = Some(format!("anyctr-{role}-{}", ctx.run_id));
    spec.argv = argv.iter().map(|s| s.to_string()).collect();
    spec.mounts.clear();
    spec.labels.insert("anyctr.role".into(), role.into());
    spec
}

const BOUND: Duration = Duration::from_secs(60);

async fn with_extra<F, Fut>(ctx: &TrialContext, role: &str, argv: &[&str], body: F) -> TrialResult
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = TrialResult>,
{
    // The runner removes the container after the trial, however it ends.
    let id = ctx.create_extra(extra_spec(ctx, role, argv)).await?;
    body(id).await
}

async fn run_wait_remove(ctx: &TrialContext) -> TrialResult {
    let id = ctx.create_extra(extra_spec(ctx, "wait", &["sh", "-c", "exit 7"])).await?;
    let result = async {
        let created = ctx.engine.inspect(&id).await.map_err(fail("inspect created"))?;
        ensure!(
            created.state.status == ContainerStatus::Created,
            "a created container has status {:?}",
            created.state.status
        );
        ctx.engine.start(&id).await.map_err(fail("start"))?;
        let code = tokio::time::timeout(BOUND, ctx.engine.wait(&id))
            .await
            .map_err(|_| "wait hung".to_owned())?
            .map_err(fail("wait"))?;
        ensure!(code == 7, "wait returned {code}, want 7");
        let exited = ctx.engine.inspect(&id).await.map_err(fail("inspect exited"))?;
        ensure!(exited.state.status == ContainerStatus::Exited, "status {:?} after exit", exited.state.status);
        ensure!(exited.state.exit_code == Some(7), "exit code {:?}", exited.state.exit_code);
        Ok("created → running → exited(7)".to_owned())
    }
    .await;
    let removed = ctx.engine.remove(&id, true).await;
    let r = result?;
    removed.map_err(fail("remove"))?;
    match ctx.engine.inspect(&id).await {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(format!("{r} → removed")),
        other => Err(format!("after remove, inspect gave {other:?}")),
    }
}

async fn stop_and_kill(ctx: &TrialContext) -> TrialResult {
    with_extra(ctx, "stop", &["sleep", "3600"], |id| async move {
        ctx.engine.start(&id).await.map_err(fail("start"))?;
        ctx.engine.kill(&id, Signal::CONT).await.map_err(fail("kill CONT"))?;
        let still = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?;
        ensure!(still.state.status.is_running(), "SIGCONT stopped the container: {:?}", still.state.status);
        tokio::time::timeout(BOUND, ctx.engine.stop(&id, Duration::from_secs(2)))
            .await
            .map_err(|_| "stop hung".to_owned())?
            .map_err(fail("stop"))?;
        let stopped = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?;
        ensure!(!stopped.state.status.is_running(), "still {:?} after stop", stopped.state.status);
        // A bad signal can no longer reach an engine: `Signal` only holds valid numbers.
        Ok("SIGCONT kept it running; stop ended it".to_owned())
    })
    .await
}

async fn exec_on_stopped(ctx: &TrialContext) -> TrialResult {
    with_extra(ctx, "stopped", &["true"], |id| async move {
        ctx.engine.start(&id).await.map_err(fail("start"))?;
        tokio::time::timeout(BOUND, ctx.engine.wait(&id))
            .await
            .map_err(|_| "wait hung".to_owned())?
            .map_err(fail("wait"))?;
        match ctx.engine.exec(&id, ExecRequest::new(["true"]).timeout(BOUND)).await {
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(e.message().chars().take(80).collect()),
            Err(e) => Err(format!("want Conflict, got {:?}: {e}", e.kind())),
            Ok(r) => Err(format!("exec in a stopped container returned exit {}", r.exit_code)),
        }
    })
    .await
}

async fn bad_spec(ctx: &TrialContext) -> TrialResult {
    let before = ctx.engine.list(&anyctr_core::ListOptions::all()).await.map_err(fail("list"))?.len();
    let mut spec = extra_spec(ctx, "bad", &["true"]);
    spec.env.push("NOEQUALS".into());
    match ctx.engine.create(&spec).await {
        Err(e) if e.kind() == ErrorKind::InvalidArgument => {}
        other => return Err(format!("a bad env entry gave {other:?}, want InvalidArgument")),
    }
    let after = ctx.engine.list(&anyctr_core::ListOptions::all()).await.map_err(fail("list"))?.len();
    ensure!(after <= before, "a refused create left a container behind ({before} → {after})");
    Ok("refused, nothing created".into())
}
