//! `stats.*`: resource-usage samples, from both the engine's stats API (`ContainerEngine::stats`,
//! `stats_many`) and the cheapest-source choice (`anyctr_host::cgroup_stats`: the host cgroup for
//! runc-class containers) — non-zero CPU and memory after a busy loop, the memory limit set at
//! create, many in one call matching one by one, and a sandbox's figures real and labelled.

use std::time::Duration;

use super::trials_lifecycle::extra_spec;
use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::model::{ContainerStats, StatsSource};
use anyctr_host::cgroup_stats::{NodeStats, container_stats};

pub(super) fn trials() -> Vec<Trial> {
    // Containers are made through the fixture factory and started through the engine (which CRI
    // does without claiming all of `lifecycle`: it has no signal call), so `stats` alone gates them.
    const R: &[&str] = &["stats"];
    vec![
        Trial { name: "stats.one_shot", requires: R, run: |c| Box::pin(one_shot(c)) },
        Trial { name: "stats.memory_limit", requires: R, run: |c| Box::pin(memory_limit(c)) },
        Trial { name: "stats.batch", requires: R, run: |c| Box::pin(batch(c)) },
        Trial { name: "stats.sandboxed_nonzero", requires: R, run: |c| Box::pin(sandboxed_nonzero(c)) },
    ]
}

const BOUND: Duration = Duration::from_secs(60);

/// CPU a busy loop of the shell surely used (~0.3 s on this machine, more in a sandbox).
const BUSY_CPU_NS: u64 = 50_000_000;

/// A shell that spins, then idles so the container stays running.
const BUSY: &[&str] = &["sh", "-c", "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; sleep 3600"];
const IDLE: &[&str] = &["sleep", "3600"];

async fn started(ctx: &TrialContext, spec: anyctr_core::model::CreateSpec) -> Result<String, String> {
    let id = ctx.create_extra(spec).await?;
    ctx.engine.start(&id).await.map_err(fail("start"))?;
    Ok(id)
}

/// Samples from both paths until `done` holds for each (bounded).
async fn sample_until(
    ctx: &TrialContext,
    id: &str,
    done: impl Fn(&ContainerStats) -> bool,
) -> Result<(ContainerStats, ContainerStats), String> {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let api = tokio::time::timeout(BOUND, ctx.engine.stats(id)).await.map_err(|_| "stats hung")?;
        let api = api.map_err(fail("engine stats"))?;
        let chosen = tokio::time::timeout(BOUND, container_stats(&*ctx.engine, id, ctx.engine.host_root()))
            .await
            .map_err(|_| "container_stats hung")?
            .map_err(fail("container_stats"))?;
        if (done(&api) && done(&chosen)) || tokio::time::Instant::now() > until {
            return Ok((api, chosen));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn busy_enough(s: &ContainerStats) -> bool {
    s.cpu.usage_ns.is_some_and(|n| n >= BUSY_CPU_NS) && s.memory.usage.is_some_and(|m| m > 0)
}

fn nonzero(what: &str, s: &ContainerStats) -> Result<(), String> {
    ensure!(
        s.cpu.usage_ns.is_some_and(|n| n >= BUSY_CPU_NS),
        "{what}: CPU {:?} ns after a busy loop (source {:?})",
        s.cpu.usage_ns,
        s.source
    );
    ensure!(s.memory.usage.is_some_and(|m| m > 0), "{what}: memory {:?} (source {:?})", s.memory.usage, s.source);
    Ok(())
}

async fn one_shot(ctx: &TrialContext) -> TrialResult {
    let id = started(ctx, extra_spec(ctx, "stats-busy", BUSY)).await?;
    let (api, chosen) = sample_until(ctx, &id, busy_enough).await?;
    nonzero("engine stats", &api)?;
    nonzero("container_stats", &chosen)?;
    ensure!(api.container == chosen.container, "samples of {} and {}", api.container, chosen.container);
    let again = ctx.engine.stats(&id).await.map_err(fail("second sample"))?;
    ensure!(
        again.cpu.usage_ns >= api.cpu.usage_ns,
        "CPU went back: {:?} then {:?}",
        api.cpu.usage_ns,
        again.cpu.usage_ns
    );
    ensure!(again.time >= api.time, "sample time went back");
    Ok(format!(
        "CPU {} ms, memory {} KiB (engine: {:?}; chosen: {:?}, {} ms)",
        api.cpu.usage_ns.unwrap_or(0) / 1_000_000,
        api.memory.usage.unwrap_or(0) / 1024,
        api.source,
        chosen.source,
        chosen.cpu.usage_ns.unwrap_or(0) / 1_000_000
    ))
}

async fn memory_limit(ctx: &TrialContext) -> TrialResult {
    const LIMIT: u64 = 96 * 1024 * 1024;
    let id = started(ctx, extra_spec(ctx, "stats-limit", IDLE).memory_limit(LIMIT)).await?;
    let (api, chosen) = sample_until(ctx, &id, |s| s.memory.limit.is_some()).await?;
    ensure!(api.memory.limit == Some(LIMIT), "engine stats report limit {:?}, set {LIMIT}", api.memory.limit);
    ensure!(chosen.memory.limit == Some(LIMIT), "container_stats report limit {:?}, set {LIMIT}", chosen.memory.limit);
    Ok(format!("96 MiB set at create, 96 MiB reported (engine {:?}, chosen {:?})", api.source, chosen.source))
}

async fn batch(ctx: &TrialContext) -> TrialResult {
    const N: usize = 3;
    let mut ids = Vec::new();
    for i in 0..N {
        let role = format!("stats-batch{i}");
        let spec = extra_spec(ctx, &role, IDLE).memory_limit((64 + 16 * i as u64) << 20);
        ids.push(started(ctx, spec).await?);
    }
    let many = tokio::time::timeout(BOUND, ctx.engine.stats_many(&ids)).await.map_err(|_| "stats_many hung")?;
    let many = many.map_err(fail("stats_many"))?;
    let everything = ctx.engine.stats_many(&[]).await.map_err(fail("stats_many of every running container"))?;
    let swept =
        NodeStats::new(ctx.engine.host_root()).sample(&*ctx.engine, &ids).await.map_err(fail("NodeStats::sample"))?;
    for (i, id) in ids.iter().enumerate() {
        let one = ctx.engine.stats(id).await.map_err(fail("stats one by one"))?;
        let want = Some((64 + 16 * i as u64) << 20);
        for (what, list) in [("stats_many", &many), ("stats_many([])", &everything), ("NodeStats", &swept)] {
            let found: Vec<&ContainerStats> = list.iter().filter(|s| s.container == *id).collect();
            ensure!(found.len() == 1, "{what}: {} samples of {id}", found.len());
            let s = found[0];
            ensure!(
                s.memory.limit == want && one.memory.limit == want,
                "{what}: limit {:?}, one by one {:?}, set {want:?}",
                s.memory.limit,
                one.memory.limit
            );
            // What is reported depends on the source: compared where both come from one source.
            if s.source == one.source {
                let reported = |x: &ContainerStats| (x.cpu.usage_ns.is_some(), x.pids.current.is_some());
                ensure!(
                    reported(s) == reported(&one),
                    "{what}: reported (cpu, pids) {:?} vs {:?}",
                    reported(s),
                    reported(&one)
                );
            }
            ensure!(s.cpu.usage_ns.is_some(), "{what}: no CPU figure");
        }
        let s = many.iter().find(|s| s.container == *id).expect("checked");
        ensure!(s.source == one.source, "stats_many source {:?}, one by one {:?}", s.source, one.source);
        ensure!(s.cpu.usage_ns <= one.cpu.usage_ns, "CPU of the earlier batch sample is above the later one");
    }
    ensure!(many.len() == N, "stats_many of {N} gave {} samples", many.len());
    // A container that is gone is left out, not an error.
    let mut with_gone = ids.clone();
    with_gone.push(format!("anyctr-gone-{}", ctx.run_id));
    let fewer = ctx.engine.stats_many(&with_gone).await.map_err(fail("stats_many with a missing name"))?;
    ensure!(fewer.len() == N, "with a missing name: {} samples", fewer.len());
    let sources: Vec<StatsSource> = swept.iter().map(|s| s.source).collect();
    Ok(format!(
        "{N} containers: stats_many, stats_many([]) ({} running) and NodeStats ({sources:?}) match one by one",
        everything.len()
    ))
}

async fn sandboxed_nonzero(ctx: &TrialContext) -> TrialResult {
    let id = started(ctx, extra_spec(ctx, "stats-sandbox", BUSY)).await?;
    let detail = ctx.engine.inspect(&id).await.map_err(fail("inspect"))?;
    ensure!(
        detail.runtime.is_sandboxed(),
        "runtime {:?} is runc-class: this trial is for sandboxed setups (declare it not applicable)",
        detail.runtime
    );
    let (api, chosen) = sample_until(ctx, &id, busy_enough).await?;
    nonzero("engine stats", &api)?;
    nonzero("container_stats", &chosen)?;
    for s in [&api, &chosen] {
        ensure!(s.source == StatsSource::SandboxRuntime, "a sandbox's sample is labelled {:?}", s.source);
    }
    Ok(format!(
        "{:?}: CPU {} ms, memory {} KiB, from the sandbox runtime",
        detail.runtime,
        api.cpu.usage_ns.unwrap_or(0) / 1_000_000,
        api.memory.usage.unwrap_or(0) / 1024
    ))
}
