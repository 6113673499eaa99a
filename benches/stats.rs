//! Stats of 200 running docker (runc) containers, the node sweep an agent makes every few seconds:
//!
//! - `node_stats_one_call`: `NodeStats::sample` with the 200 ids: one docker list, one walk of the
//!   memory cgroup hierarchy, each container's cgroup v1 files read (runtimes remembered from the
//!   first sweep, as an agent's `NodeStats` does). Target: ≤ 50 ms.
//! - `cgroup_only`: the same without the list call (`CgroupStatsReader::sweep` and `read_many`,
//!   which reads on as many threads as there are cores, up to 8).
//! - `api_one_by_one`: `ContainerEngine::stats` for each container (docker: inspect and
//!   `stats?stream=false&one-shot=true`), 16 calls in flight, as an agent without a batch call
//!   would sweep. dockerd answers each after about a second (it samples the container twice),
//!   so one at a time would take minutes per pass (seen: ~200 s for 200).
//! - `docker_stats_no_stream`: `docker stats --no-stream <200 ids>` (the CLI).
//!
//! Criterion measures the two fast ones alone; then all four run interleaved for a few rounds
//! (so a busy machine slows all alike) and the summary prints their medians and ratios (the two
//! peers, seconds per pass, only there: criterion's ten samples at least would take many
//! minutes). Targets are reported, never asserted. The containers are started a few at a time
//! and removed at the end, also on panic.

mod common;

use std::time::{Duration, Instant};

use anyctr::prelude::*;
use anyctr_host::cgroup_stats::{CgroupStatsReader, NodeStats};
use anyctr_testkit::docker_cli::docker;
use common::{Timings, ms};
use criterion::Criterion;
use futures_util::StreamExt;

const CONTAINERS: usize = 200;
/// Containers started at once while setting up.
const STARTING: usize = 8;
const ROUNDS: usize = 3;
/// The API peer's calls in flight.
const IN_FLIGHT: usize = 16;

fn main() {
    let rt = common::runtime();
    let engine = rt.block_on(common::docker());
    let guard = common::guard(&engine, "stats");
    let set_up = Instant::now();
    let ids: Vec<String> = rt.block_on(
        futures_util::stream::iter(0..CONTAINERS).map(|_| guard.sleeper("runc")).buffer_unordered(STARTING).collect(),
    );
    println!("started {CONTAINERS} runc containers in {:.1} s", set_up.elapsed().as_secs_f64());

    let node = NodeStats::new(None);
    let reader = CgroupStatsReader::new(None).expect("host cgroups");
    // Checked once: every container served from its cgroup (this also remembers the runtimes).
    let first = rt.block_on(node.sample(&engine, &ids)).expect("sweep");
    assert_eq!(first.len(), CONTAINERS, "one sample per container");
    assert!(first.iter().all(|s| s.source == reader.source()), "all from the host cgroup");

    let timings = Timings::default();
    let cgroup_only = || {
        let cgroups = reader.sweep().expect("sweep");
        let targets: Vec<_> = ids.iter().filter_map(|id| Some((id.as_str(), cgroups.get(id)?))).collect();
        let n = reader.read_many(&targets).into_iter().filter(Result::is_ok).count();
        assert_eq!(n, CONTAINERS);
    };
    let one_call = || async {
        let got = node.sample(&engine, &ids).await.expect("sample");
        assert_eq!(got.len(), CONTAINERS);
    };
    let one_by_one = || async {
        let calls = futures_util::stream::iter(&ids).map(|id| engine.stats(id)).buffer_unordered(IN_FLIGHT);
        let got: Vec<_> = calls.collect().await;
        assert!(got.iter().all(Result::is_ok), "a stats call failed");
    };
    let mut cli_args = vec!["stats", "--no-stream", "--format", "{{.ID}} {{.CPUPerc}} {{.MemUsage}}"];
    cli_args.extend(ids.iter().map(String::as_str));
    let cli = || {
        let out = docker(&cli_args).expect("docker stats");
        assert_eq!(out.lines().count(), CONTAINERS);
    };

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut fast = c.benchmark_group("stats_200_docker_runc");
    fast.sample_size(20);
    fast.bench_function("node_stats_one_call", |b| {
        b.iter_custom(|n| timings.run(&rt, "criterion_one_call", n, one_call))
    });
    fast.bench_function("cgroup_only", |b| b.iter_custom(|n| timings.run_blocking("criterion_cgroup", n, cgroup_only)));
    fast.finish();
    c.final_summary();

    for _ in 0..ROUNDS {
        timings.run(&rt, "one_call", 1, one_call);
        timings.run_blocking("cgroup_only", 1, cgroup_only);
        timings.run(&rt, "one_by_one", 1, one_by_one);
        timings.run_blocking("docker_cli", 1, cli);
    }
    let median = |name: &str| timings.median(name).expect("measured");
    let (one, cg, api, cli_t) = (median("one_call"), median("cgroup_only"), median("one_by_one"), median("docker_cli"));
    let verdict = if one <= Duration::from_millis(50) { "met" } else { "NOT met" };
    println!(
        "SUMMARY stats of {CONTAINERS} running containers, interleaved medians over {ROUNDS} rounds: \
         NodeStats one call {} (target <= 50 ms: {verdict}; criterion median {}), cgroup reads alone {} \
         (criterion {}), API one by one ({IN_FLIGHT} in flight) {} (x{:.1} the one call), docker stats --no-stream {} (x{:.1})",
        ms(one),
        ms(median("criterion_one_call")),
        ms(cg),
        ms(median("criterion_cgroup")),
        ms(api),
        api.as_secs_f64() / one.as_secs_f64(),
        ms(cli_t),
        cli_t.as_secs_f64() / one.as_secs_f64(),
    );
    drop(guard);
}
