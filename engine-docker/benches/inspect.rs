//! Inspect of 200 running containers into normalized details: 16 at a time vs one by one.
//!
//! Target (reported, not asserted): the bounded-concurrency pass under 0.5 s; the ratio of the
//! two is printed. The 200 busybox `sleep` containers are made once, in parallel, and removed at
//! the end (also on panic).

mod common;

use std::time::Duration;

use anyctr_core::ContainerEngine;
use anyctr_core::model::ContainerStatus;
use anyctr_engine_docker::DockerEngine;
use common::{Timings, ms};
use criterion::{Criterion, SamplingMode};
use futures_util::StreamExt;

const CONTAINERS: usize = 200;
const CONCURRENCY: usize = 16;
const GROUP: &str = "docker_inspect_200";

async fn inspect_all(engine: &DockerEngine, ids: &[String], concurrency: usize) {
    let details: Vec<_> =
        futures_util::stream::iter(ids).map(|id| engine.inspect(id)).buffer_unordered(concurrency).collect().await;
    assert_eq!(details.len(), ids.len());
    for d in details {
        assert_eq!(d.expect("inspect").state.status, ContainerStatus::Running);
    }
}

fn main() {
    let rt = common::runtime();
    let engine = rt.block_on(common::engine());
    let guard = common::guard(&engine, "inspect");
    let made = std::time::Instant::now();
    let ids = rt.block_on(guard.sleepers("runc", CONTAINERS, 8));
    println!("setup: {CONTAINERS} running containers in {:.1} s", made.elapsed().as_secs_f64());
    let timings = Timings::default();

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    {
        let mut group = c.benchmark_group(GROUP);
        group.sampling_mode(SamplingMode::Flat);
        let concurrent = format!("concurrency_{CONCURRENCY}");
        group.bench_function(&concurrent, |b| {
            b.iter_custom(|iters| timings.run(&rt, &concurrent, iters, || inspect_all(&engine, &ids, CONCURRENCY)))
        });
        group.bench_function("sequential", |b| {
            b.iter_custom(|iters| timings.run(&rt, "sequential", iters, || inspect_all(&engine, &ids, 1)))
        });
        group.finish();
    }
    c.final_summary();

    let concurrent = format!("concurrency_{CONCURRENCY}");
    match (timings.median(&concurrent), timings.median("sequential")) {
        (Some(fast), Some(slow)) => {
            let verdict = if fast < Duration::from_millis(500) { "met" } else { "NOT met" };
            println!(
                "SUMMARY docker inspect of {CONTAINERS}: {concurrent} median {} (target < 500 ms: {verdict}); \
                 sequential median {}; sequential/concurrent = {:.2}x",
                ms(fast),
                ms(slow),
                slow.as_secs_f64() / fast.as_secs_f64()
            );
        }
        _ => println!("SUMMARY docker inspect of {CONTAINERS}: not measured (filtered out?)"),
    }
    drop(guard);
}
