//! `index.*` and `pods.grouping`: the live index and pod grouping on this engine.

use std::sync::Arc;
use std::time::Duration;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::engine::ListOptions;
use anyctr_core::model::PodRole;
use anyctr_core::pods::{MainContainerRule, group_pods};
use anyctr_index::{ContainerIndex, IndexOptions};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "pods.grouping", requires: &["inspect", "pods"], run: |c| Box::pin(grouping(c)) },
        Trial { name: "index.follows_lifecycle", requires: &["inspect", "lifecycle"], run: |c| Box::pin(follows(c)) },
    ]
}

async fn grouping(ctx: &TrialContext) -> TrialResult {
    let (pod, sandbox) = super::trials_inspect::fixture_pod(ctx)?;
    let main = ctx.engine.inspect(&ctx.fixture.id).await.map_err(fail("inspect"))?;
    let sb = ctx.engine.inspect(sandbox).await.map_err(fail("inspect sandbox"))?;
    let pods = group_pods(&[Arc::new(main), Arc::new(sb)], &MainContainerRule::default());
    ensure!(pods.len() == 1, "{} pods from a sandbox and its container", pods.len());
    let p = &pods[0];
    ensure!(p.uid.as_deref() == Some(&pod.uid), "pod uid {:?}", p.uid);
    ensure!(p.sandbox_id() == Some(sandbox.as_str()), "sandbox {:?}", p.sandbox_id());
    let m = p.main().map_err(fail("main container"))?;
    ensure!(m.id == ctx.fixture.id, "main is {}, want the fixture", m.id);
    ensure!(p.role_of(sandbox) == Some(PodRole::Sandbox), "sandbox role {:?}", p.role_of(sandbox));
    Ok(p.full_name().unwrap_or_default())
}

async fn follows(ctx: &TrialContext) -> TrialResult {
    let label = format!("{}={}", super::fixture::RUN_LABEL, ctx.run_id);
    // Long resync: events (or, without them, the trial's own resync) must keep it current.
    let options =
        IndexOptions::default().list(ListOptions::all().label(&label)).resync_interval(Duration::from_secs(3600));
    let index = ContainerIndex::start(ctx.engine.clone(), options).await.map_err(fail("index start"))?;
    let result = async {
        ensure!(index.snapshot().container(&ctx.fixture.id).is_some(), "the running fixture is not indexed");
        let spec = super::trials_lifecycle::extra_spec(ctx, "indexed", &["sleep", "600"]);
        let id = ctx.create_extra(spec).await?;
        ctx.engine.start(&id).await.map_err(fail("start"))?;
        let with_events = ctx.capabilities.events.is_supported();
        wait_for(&index, with_events, |s| s.container(&id).is_some_and(|d| d.state.status.is_running()))
            .await
            .map_err(|_| "the started container did not show up running in the index".to_owned())?;
        ctx.factory.remove_extra(&id).await.map_err(fail("remove"))?;
        wait_for(&index, with_events, |s| s.container(&id).is_none())
            .await
            .map_err(|_| "the removed container stayed in the index".to_owned())?;
        Ok(if with_events { "followed by events" } else { "followed by resync" }.to_owned())
    }
    .await;
    index.shutdown().await;
    result
}

/// Waits up to 30 s for `check` on the index's snapshots; without events, resyncs while waiting.
async fn wait_for(
    index: &ContainerIndex,
    with_events: bool,
    check: impl Fn(&anyctr_index::Snapshot) -> bool,
) -> Result<(), ()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if check(&index.snapshot()) {
            return Ok(());
        }
        if !with_events {
            let _ = index.resync().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(())
}
