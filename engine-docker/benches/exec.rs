//! Exec of `echo hi` in a running runc container: anyctr (`DockerEngine::exec`) vs the same calls
//! made with bollard by hand (create, start + read the output, inspect for the exit code) vs the
//! `docker exec` CLI.
//!
//! Targets (reported, not asserted): anyctr within 1.10x of raw bollard, at most 0.7x of the CLI.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Timings, ratio_line};
use criterion::{Criterion, SamplingMode};

const GROUP: &str = "docker_exec_echo";

fn cli_exec(id: &str) {
    let out = Command::new("docker")
        .args(["-H", &format!("unix://{}", common::socket()), "exec", id, "echo", "hi"])
        .output()
        .expect("run the docker CLI");
    assert!(out.status.success(), "docker exec: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hi\n");
}

fn main() {
    let rt = common::runtime();
    let engine = rt.block_on(common::engine());
    let guard = common::guard(&engine, "exec");
    let id = rt.block_on(guard.sleeper("runc"));
    let docker = anyctr_testkit::raw_bollard::client(&common::socket(), engine.api_version());
    let timings = Timings::default();

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    {
        let mut group = c.benchmark_group(GROUP);
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("anyctr", |b| {
            b.iter_custom(|iters| timings.run(&rt, "anyctr", iters, || anyctr_testkit::exec_echo(&engine, &id)))
        });
        group.bench_function("raw_bollard", |b| {
            b.iter_custom(|iters| {
                timings.run(&rt, "raw_bollard", iters, || anyctr_testkit::raw_bollard::exec_echo(&docker, &id))
            })
        });
        group.bench_function("docker_cli", |b| {
            b.iter_custom(|iters| timings.run_blocking("docker_cli", iters, || cli_exec(&id)))
        });
        group.finish();
    }
    c.final_summary();

    ratio_line(&timings, "docker exec echo", "anyctr", "raw_bollard", 1.10);
    ratio_line(&timings, "docker exec echo", "anyctr", "docker_cli", 0.7);
    drop(guard);
}
