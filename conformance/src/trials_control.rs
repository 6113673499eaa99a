//! `lifecycle.pause_unpause`, `lifecycle.restart`, `lifecycle.update_resources`: the rest of the
//! lifecycle on a running extra container.

use std::time::Duration;

use super::trials_lifecycle::extra_spec;
use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::{ContainerStatus, ExecRequest, ResourceUpdate};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "lifecycle.pause_unpause", requires: &["pause"], run: |c| Box::pin(pause_unpause(c)) },
        Trial { name: "lifecycle.restart", requires: &["restart"], run: |c| Box::pin(restart(c)) },
        Trial {
            name: "lifecycle.update_resources",
            requires: &["update_resources", "exec"],
            run: |c| Box::pin(update_resources(c)),
        },
    ]
}

/// How long an exec into a paused container may block before it counts as blocked.
const BLOCKED: Duration = Duration::from_secs(3);
const BOUND: Duration = Duration::from_secs(60);

async fn running_extra(ctx: &TrialContext, role: &str) -> Result<String, String> {
    let id = ctx.create_extra(extra_spec(ctx, role, &["sleep", "3600"])).await?;
    ctx.engine.start(&id).await.map_err(fail("start"))?;
    Ok(id)
}

async fn status(ctx: &TrialContext, id: &str) -> Result<ContainerStatus, String> {
    Ok(ctx.engine.inspect(id).await.map_err(fail("inspect"))?.state.status)
}

async fn pause_unpause(ctx: &TrialContext) -> TrialResult {
    let id = running_extra(ctx, "pause").await?;
    tokio::time::timeout(BOUND, ctx.engine.pause(&id)).await.map_err(|_| "pause hung")?.map_err(fail("pause"))?;
    let paused = status(ctx, &id).await?;
    ensure!(paused == ContainerStatus::Paused, "after pause the status is {paused:?}");
    // An engine refuses an exec into a frozen container (dockerd: Conflict) or the exec cannot
    // run until the thaw (runc joins the frozen cgroup): either way nothing runs while paused.
    let exec_while_paused = if ctx.capabilities.exec.is_supported() {
        match ctx.engine.exec(&id, ExecRequest::new(["true"]).timeout(BLOCKED)).await {
            Err(e) if e.kind() == ErrorKind::Conflict => "exec refused (Conflict)",
            Err(e) if e.kind() == ErrorKind::Timeout => "exec blocked until the timeout",
            Err(e) => return Err(format!("exec while paused failed with {:?}: {e}", e.kind())),
            Ok(r) => return Err(format!("exec ran in a paused container (exit {})", r.exit_code)),
        }
    } else {
        "exec not claimed"
    };
    tokio::time::timeout(BOUND, ctx.engine.unpause(&id)).await.map_err(|_| "unpause hung")?.map_err(fail("unpause"))?;
    let resumed = status(ctx, &id).await?;
    ensure!(resumed == ContainerStatus::Running, "after unpause the status is {resumed:?}");
    if ctx.capabilities.exec.is_supported() {
        let r = ctx.engine.exec(&id, ExecRequest::new(["true"]).timeout(BOUND)).await.map_err(fail("exec resumed"))?;
        ensure!(r.exit_code == 0, "exec after unpause exited {}", r.exit_code);
    }
    Ok(format!("paused; {exec_while_paused}; unpaused and running"))
}

async fn restart(ctx: &TrialContext) -> TrialResult {
    let id = running_extra(ctx, "restart").await?;
    let before = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?.state;
    // Start times in whole seconds must differ.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    tokio::time::timeout(BOUND, ctx.engine.restart(&id, Duration::from_secs(1)))
        .await
        .map_err(|_| "restart hung")?
        .map_err(fail("restart"))?;
    let after = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?.state;
    ensure!(after.status == ContainerStatus::Running, "after restart the status is {:?}", after.status);
    let new_pid = match (before.pid, after.pid) {
        (Some(a), Some(b)) => Some(a != b),
        _ => None,
    };
    let new_start = match (before.started_at, after.started_at) {
        (Some(a), Some(b)) => Some(b > a),
        _ => None,
    };
    ensure!(
        new_pid.is_some() || new_start.is_some(),
        "neither a pid nor a start time is reported: no new process seen"
    );
    ensure!(new_pid != Some(false), "the pid stayed {:?}", after.pid);
    ensure!(new_start != Some(false), "the start time stayed {:?}", after.started_at);
    Ok(format!(
        "running again: pid {:?} → {:?}, started {:?} → {:?}",
        before.pid, after.pid, before.started_at, after.started_at
    ))
}

/// The memory limit the container's own cgroup shows (v1, else v2).
const READ_LIMIT: &str = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";

async fn update_resources(ctx: &TrialContext) -> TrialResult {
    let id = running_extra(ctx, "update").await?;
    match ctx.engine.update_resources(&id, &ResourceUpdate::new()).await {
        Err(e) if e.kind() == ErrorKind::InvalidArgument => {}
        other => return Err(format!("an empty update gave {other:?}, want InvalidArgument")),
    }
    let limit: u64 = 96 << 20;
    tokio::time::timeout(BOUND, ctx.engine.update_resources(&id, &ResourceUpdate::new().memory_limit(limit)))
        .await
        .map_err(|_| "update hung")?
        .map_err(fail("update_resources"))?;
    let r = ctx
        .engine
        .exec(&id, ExecRequest::new(["sh", "-c", READ_LIMIT]).timeout(BOUND))
        .await
        .map_err(fail("exec reading the cgroup"))?;
    let text = String::from_utf8_lossy(&r.stdout);
    let seen: u64 = text.trim().parse().map_err(|_| format!("the cgroup's memory limit reads {text:?}"))?;
    ensure!(seen == limit, "the cgroup's memory limit is {seen}, want {limit}");
    let status = status(ctx, &id).await?;
    ensure!(status == ContainerStatus::Running, "after the update the status is {status:?}");
    Ok(format!("memory limit {limit} in the container's cgroup; empty update refused"))
}
