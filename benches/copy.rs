//! Copy throughput on docker, one strategy forced at a time (`CopyOptions::strategies`), without
//! the post-copy verification (so each number is the transfer itself):
//!
//! - runc container, 256 MiB: host-path strategy in and out vs `cp` of the same file on the host
//!   (target >= 0.8x cp's throughput); tar over exec in and out (target >= 100 MB/s); the engine's
//!   archive API in and out vs `docker cp` (reported side by side).
//! - `--runtime rund` container, 64 MiB: tar over exec in and out (target >= 100 MB/s).
//!
//! Targets are reported, not asserted. The containers are removed at the end, also on panic.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyctr::copy::{CopyOptions, CopyStrategy, copy_from_container, copy_to_container};
use anyctr::prelude::*;
use anyctr::{ContainerDetail, Engine};
use common::Timings;
use criterion::{Criterion, SamplingMode, Throughput};

const RUNC_SIZE: u64 = 256 << 20;
const RUND_SIZE: u64 = 64 << 20;

/// A file of `size` pseudo-random bytes (not zeros: nothing may shortcut them).
fn data_file(path: &Path, size: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create data file"));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..size / block.len() as u64 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).expect("write data file");
    }
    f.flush().expect("flush data file");
}

fn options(strategy: CopyStrategy) -> CopyOptions {
    CopyOptions::default().strategies([strategy]).verify(false).timeout(Duration::from_secs(600))
}

/// One container to copy with, and the engine.
struct Target<'a> {
    engine: &'a Engine,
    detail: ContainerDetail,
}

impl Target<'_> {
    async fn copy_in(&self, strategy: CopyStrategy, local: &Path, dest: &str) {
        let report = copy_to_container(&**self.engine.dyn_engine(), &self.detail, local, dest, &options(strategy))
            .await
            .unwrap_or_else(|e| panic!("copy in with {strategy:?}: {e}"));
        assert_eq!(report.strategy, strategy);
    }

    async fn copy_out(&self, strategy: CopyStrategy, src: &str, local: &Path) {
        let report = copy_from_container(&**self.engine.dyn_engine(), &self.detail, src, local, &options(strategy))
            .await
            .unwrap_or_else(|e| panic!("copy out with {strategy:?}: {e}"));
        assert_eq!(report.strategy, strategy);
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn docker_cli(args: &[&str]) {
    let host = format!("unix://{}", common::docker_socket());
    let mut all = vec!["-H", host.as_str()];
    all.extend_from_slice(args);
    run("docker", &all);
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let rt = common::runtime();
    let engine = rt.block_on(common::docker());
    let guard = common::guard(&engine, "copy");
    let dir = tempfile::tempdir().expect("temp dir");
    let (big, small) = (dir.path().join("big.bin"), dir.path().join("small.bin"));
    data_file(&big, RUNC_SIZE);
    data_file(&small, RUND_SIZE);
    let local_out: PathBuf = dir.path().join("out.bin");
    let (runc, rund) = rt.block_on(async {
        let runc = guard.sleeper("runc").await;
        let rund = guard.sleeper("rund").await;
        let runc = Target { engine: &engine, detail: engine.inspect(&runc).await.expect("inspect runc") };
        let rund = Target { engine: &engine, detail: engine.inspect(&rund).await.expect("inspect rund") };
        // What the copy-out benchmarks read.
        runc.copy_in(CopyStrategy::HostPath, &big, "/tmp/src.bin").await;
        rund.copy_in(CopyStrategy::TarOverExec, &small, "/tmp/src.bin").await;
        (runc, rund)
    });
    let runc_ref = format!("{}:/tmp/src.bin", runc.detail.id);
    let timings = Timings::default();
    let big_str = big.to_str().expect("UTF-8 temp path");
    let out_str = local_out.to_str().expect("UTF-8 temp path");
    let cp_dest = dir.path().join("cp.bin");
    let cp_dest = cp_dest.to_str().expect("UTF-8 temp path");
    let runc_dcp_dest = format!("{}:/tmp/dcp.bin", runc.detail.id);

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("copy_docker_runc_256MiB");
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Bytes(RUNC_SIZE));
        g.bench_function("host_cp", |b| {
            b.iter_custom(|n| timings.run_blocking("host_cp", n, || run("cp", &[big_str, cp_dest])))
        });
        let cases = [
            ("host_path_in", CopyStrategy::HostPath, true),
            ("host_path_out", CopyStrategy::HostPath, false),
            ("tar_over_exec_in", CopyStrategy::TarOverExec, true),
            ("tar_over_exec_out", CopyStrategy::TarOverExec, false),
            ("engine_archive_in", CopyStrategy::EngineArchive, true),
            ("engine_archive_out", CopyStrategy::EngineArchive, false),
        ];
        for (name, strategy, inward) in cases {
            g.bench_function(name, |b| {
                b.iter_custom(|n| {
                    timings.run(&rt, name, n, || async {
                        if inward {
                            runc.copy_in(strategy, &big, "/tmp/dst.bin").await;
                        } else {
                            runc.copy_out(strategy, "/tmp/src.bin", &local_out).await;
                        }
                    })
                })
            });
        }
        g.bench_function("docker_cp_in", |b| {
            b.iter_custom(|n| timings.run_blocking("docker_cp_in", n, || docker_cli(&["cp", big_str, &runc_dcp_dest])))
        });
        g.bench_function("docker_cp_out", |b| {
            b.iter_custom(|n| timings.run_blocking("docker_cp_out", n, || docker_cli(&["cp", &runc_ref, out_str])))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("copy_docker_rund_64MiB");
        g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Bytes(RUND_SIZE));
        g.bench_function("tar_over_exec_in", |b| {
            b.iter_custom(|n| {
                timings.run(&rt, "rund_tar_over_exec_in", n, || {
                    rund.copy_in(CopyStrategy::TarOverExec, &small, "/tmp/dst.bin")
                })
            })
        });
        g.bench_function("tar_over_exec_out", |b| {
            b.iter_custom(|n| {
                timings.run(&rt, "rund_tar_over_exec_out", n, || {
                    rund.copy_out(CopyStrategy::TarOverExec, "/tmp/src.bin", &local_out)
                })
            })
        });
        g.finish();
    }
    c.final_summary();

    let rate = |name: &str, bytes: u64| timings.median(name).map(|d| mb_per_s(bytes, d));
    let show = |v: Option<f64>| v.map_or_else(|| "not measured".to_owned(), |r| format!("{r:.0} MB/s"));
    let cp = rate("host_cp", RUNC_SIZE);
    for name in ["host_path_in", "host_path_out"] {
        let r = rate(name, RUNC_SIZE);
        let verdict = match (r, cp) {
            (Some(r), Some(cp)) if r >= 0.8 * cp => format!("{:.2}x of cp: met", r / cp),
            (Some(r), Some(cp)) => format!("{:.2}x of cp: NOT met", r / cp),
            _ => "not measured".to_owned(),
        };
        println!("SUMMARY copy runc 256 MiB {name}: {} vs host cp {} (target >= 0.8x): {verdict}", show(r), show(cp));
    }
    for (name, bytes) in [
        ("tar_over_exec_in", RUNC_SIZE),
        ("tar_over_exec_out", RUNC_SIZE),
        ("rund_tar_over_exec_in", RUND_SIZE),
        ("rund_tar_over_exec_out", RUND_SIZE),
    ] {
        let r = rate(name, bytes);
        let verdict = match r {
            Some(r) if r >= 100.0 => "met",
            Some(_) => "NOT met",
            None => "not measured",
        };
        println!("SUMMARY copy {} MiB {name}: {} (target >= 100 MB/s): {verdict}", bytes >> 20, show(r));
    }
    for (ours, cli) in [("engine_archive_in", "docker_cp_in"), ("engine_archive_out", "docker_cp_out")] {
        let (a, b) = (rate(ours, RUNC_SIZE), rate(cli, RUNC_SIZE));
        let ratio = a.zip(b).map_or_else(String::new, |(a, b)| format!(" ({:.2}x)", a / b));
        println!("SUMMARY copy runc 256 MiB {ours}: {} vs {cli} {}{ratio}", show(a), show(b));
    }
    drop(guard);
}
