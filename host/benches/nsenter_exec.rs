//! `echo hi` in a running runc container through the namespace fast path
//! (`anyctr_host::nsenter::exec_in_namespaces`), and for comparison through util-linux
//! `nsenter(1)` (namespaces only: no cgroups, user or tree kill) and the `docker exec` CLI.
//! Needs the harness's dockerd and root; the container is made with the docker CLI and removed at
//! the end.
//!
//! Target (reported, not asserted): fast-path p50 at most 1.5 ms (issue 12).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyctr_core::model::ExecRequest;
use anyctr_host::nsenter::exec_in_namespaces;
use criterion::{Criterion, SamplingMode};
use support::docker::{detail_from_inspect, require_engine, run, socket, unique};

const TARGET_P50: Duration = Duration::from_micros(1500);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    require_engine();
    let name = unique("bench-nsenter");
    let _guard = run(&name, &[]);
    let mut detail = detail_from_inspect(&name);
    detail.env = detail.raw[0]["Config"]["Env"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let fast = || {
        let r = rt.block_on(exec_in_namespaces(&detail, ExecRequest::new(["echo", "hi"]), None)).expect("fast path");
        assert_eq!(r.stdout, b"hi\n");
    };
    let pid = detail.state.pid.expect("a running container has a pid").to_string();
    let nsenter = || {
        let out = Command::new("nsenter").args(["-t", &pid, "-m", "-u", "-i", "-n", "-p", "echo", "hi"]).output();
        let out = out.expect("nsenter(1)");
        assert!(out.status.success() && out.stdout == b"hi\n", "{out:?}");
    };
    let host = format!("unix://{}", socket());
    let cli = || {
        let out = Command::new("docker").args(["-H", &host, "exec", &name, "echo", "hi"]).output().expect("docker");
        assert!(out.status.success() && out.stdout == b"hi\n", "{out:?}");
    };
    fast();
    nsenter();
    cli();

    // Every single run's time, for percentiles (criterion reports means and medians of samples).
    let runs: Mutex<BTreeMap<&str, Vec<Duration>>> = Mutex::default();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20)
        .configure_from_args();
    let mut group = c.benchmark_group("nsenter_exec_echo");
    group.sampling_mode(SamplingMode::Flat);
    let cases: [(&str, &dyn Fn()); 3] = [("fast_path", &fast), ("nsenter_1", &nsenter), ("docker_exec_cli", &cli)];
    for (label, run_once) in cases {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    run_once();
                    let took = start.elapsed();
                    total += took;
                    runs.lock().unwrap().entry(label).or_default().push(took);
                }
                total
            })
        });
    }
    group.finish();
    c.final_summary();

    let mut runs = runs.into_inner().unwrap();
    let mut p50s = BTreeMap::new();
    for (label, v) in runs.iter_mut() {
        v.sort();
        let (p50, p90) = (percentile(v, 0.5), percentile(v, 0.9));
        p50s.insert(*label, p50);
        println!(
            "SUMMARY nsenter_exec_echo {label}: p50 {:.2} ms, p90 {:.2} ms, min {:.2} ms over {} runs",
            p50.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
            v[0].as_secs_f64() * 1e3,
            v.len()
        );
    }
    if let (Some(fast), Some(cli)) = (p50s.get("fast_path"), p50s.get("docker_exec_cli")) {
        let verdict = if *fast <= TARGET_P50 { "met" } else { "NOT met" };
        println!(
            "SUMMARY nsenter_exec_echo: fast path p50 {:.2} ms (target <= 1.5 ms): {verdict}; {:.1}x faster than docker exec",
            fast.as_secs_f64() * 1e3,
            cli.as_secs_f64() / fast.as_secs_f64()
        );
    }
}
