//! The node view on the harness's engines with 200 containers: 100 running docker sleepers (so
//! containerd's `moby` namespace holds them too) and 100 containers created in containerd's
//! `default` namespace (created, not started: no shim each on the shared machine; the index
//! inspects them all the same).
//!
//! - `cold_start`: `Node::connect_to` (docker and containerd, every namespace that holds
//!   containers) until it answers with every container listed once. Target: ≤ 0.5 s.
//! - `exec`: `echo hi` in a docker sleeper routed through the node view vs the raw bollard
//!   sequence (create, start + read the output, inspect until the exit code). Target: ≤ 1.05×.
//!
//! Before criterion, one cold start is taken apart: each connection's own connect and index
//! build, timed alone (what the node runs concurrently), so the phase that costs is named.
//! Targets are reported, never asserted. Every container made here carries the run's label and is
//! removed at the end, also on panic.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyctr::prelude::*;
use anyctr::{Engine, Engines, ExecRequest, IndexOptions, Node, NodeOptions};
use anyctr_testkit::ctr_cli::CtrContainers;
use common::{Guard, Timings, ms, ratio_line};
use criterion::{Criterion, SamplingMode};

const PER_ENGINE: usize = 100;
const COLD_TARGET: Duration = Duration::from_millis(500);

fn docker_address() -> String {
    format!("docker://{}", anyctr_testkit::docker_socket())
}

fn containerd_address(namespace: Option<&str>) -> String {
    let (socket, state) = (anyctr_testkit::containerd_socket(), anyctr_testkit::containerd_state_dir());
    match namespace {
        Some(ns) => format!("containerd://{socket}?namespace={ns}&state_dir={state}"),
        None => format!("containerd://{socket}?state_dir={state}"),
    }
}

/// The bench's containers on both engines; removed when dropped.
struct Fixture {
    _docker: Guard,
    /// Created natively with `ctr` (the engine's own `create` goes through CRI, which makes a pod
    /// sandbox, with a shim, per container).
    _containerd: CtrContainers,
    /// Every container made, by id, with the engine that must own it.
    ours: HashMap<String, &'static str>,
}

async fn fixture() -> Fixture {
    let docker = common::docker().await;
    let docker = common::guard(&docker, "node");
    let containerd = CtrContainers::create("default", &anyctr_testkit::unique("bench-node"), PER_ENGINE);
    let mut ours = HashMap::new();
    for id in docker.sleepers("runc", PER_ENGINE, 8).await {
        ours.insert(id, "docker");
    }
    for id in &containerd.ids {
        ours.insert(id.clone(), "containerd");
    }
    Fixture { _docker: docker, _containerd: containerd, ours }
}

async fn cold_start(addresses: &[&str], fixture: &Fixture) -> Node {
    let node = Node::connect_to(addresses, NodeOptions::default()).await.expect("node");
    let mut listed: HashMap<&str, usize> = HashMap::new();
    for c in node.containers() {
        if let Some(engine) = fixture.ours.get(&c.detail.id) {
            assert_eq!(&*c.engine, *engine, "{}", c.detail.id);
            *listed.entry(fixture.ours.get_key_value(&c.detail.id).unwrap().0).or_default() += 1;
        }
    }
    assert_eq!(listed.len(), fixture.ours.len(), "every container of the bench in the node view");
    assert!(listed.values().all(|n| *n == 1), "each once");
    node
}

/// One connection's connect and index build, alone.
async fn phase(address: &str) -> (Duration, Duration, usize) {
    let started = Instant::now();
    let engine: Engine = Engines::connect(address).await.expect("connect");
    let connected = started.elapsed();
    let index = engine.index(IndexOptions::default()).await.expect("index");
    let n = index.snapshot().containers().count();
    (connected, started.elapsed() - connected, n)
}

fn main() {
    let rt = common::runtime();
    let fixture = rt.block_on(fixture());
    let (docker, containerd) = (docker_address(), containerd_address(None));
    let addresses = [docker.as_str(), containerd.as_str()];

    // One cold start taken apart: each connection alone.
    rt.block_on(async {
        let started = Instant::now();
        let node = cold_start(&addresses, &fixture).await;
        println!("node cold start (first): {} for {} containers", ms(started.elapsed()), node.containers().len());
        for e in node.engines() {
            println!("  member {}", e.member);
        }
        let mut members = vec![docker.clone()];
        for e in node.engines() {
            if let Some(ns) = &e.namespace {
                members.push(containerd_address(Some(ns)));
            }
        }
        drop(node);
        for address in members {
            let (connect, index, n) = phase(&address).await;
            println!("  phase {address}: connect {} index {} ({n} containers)", ms(connect), ms(index));
        }
    });

    let timings = Timings::default();
    let api_version = rt.block_on(async {
        let probe = common::docker().await;
        probe.identify().await.expect("identify").api_version.unwrap_or_else(|| "1.41".to_owned())
    });
    let raw = anyctr_testkit::raw_bollard::client(&anyctr_testkit::docker_socket(), &api_version);
    let target = fixture.ours.iter().find(|(_, e)| **e == "docker").map(|(id, _)| id.clone()).expect("a sleeper");
    let node = rt.block_on(cold_start(&addresses, &fixture));

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("node_200");
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("cold_start", |b| {
            b.iter_custom(|iters| {
                timings.run(&rt, "cold_start", iters, || async { drop(cold_start(&addresses, &fixture).await) })
            })
        });
        group.finish();
    }
    {
        let mut group = c.benchmark_group("node_exec_docker");
        group.sample_size(20).measurement_time(Duration::from_secs(8));
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("node", |b| {
            b.iter_custom(|iters| {
                timings.run(&rt, "node", iters, || async {
                    let r = node.exec(&target, ExecRequest::new(["echo", "hi"])).await.expect("node exec");
                    assert_eq!((r.exit_code, r.stdout.as_slice()), (0, &b"hi\n"[..]));
                })
            })
        });
        group.bench_function("raw_bollard", |b| {
            b.iter_custom(|iters| {
                timings.run(&rt, "raw_bollard", iters, || anyctr_testkit::raw_bollard::exec_echo(&raw, &target))
            })
        });
        group.finish();
    }
    c.final_summary();

    if let Some(median) = timings.median("cold_start") {
        let verdict = if median <= COLD_TARGET { "met" } else { "NOT met" };
        println!(
            "SUMMARY node cold start, {} containers of the bench (docker + containerd): median {} p90 {} (target <= {}): {verdict}",
            fixture.ours.len(),
            ms(median),
            ms(timings.percentile("cold_start", 90.0).unwrap_or(median)),
            ms(COLD_TARGET)
        );
    }
    ratio_line(&timings, "routed docker exec echo", "node", "raw_bollard", 1.05);
    drop(node);
    drop(fixture);
}
