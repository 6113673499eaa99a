//! `anyctr ps -a -o json` on 200 containers across docker and containerd, cold process start to
//! exit (target ≤ 150 ms), against what an operator runs without anyctr: `docker ps -a` plus
//! `ctr containers ls` for each containerd namespace (crictl is not installed here; `ctr` is the
//! containerd CLI that talks to the same socket).
//!
//! Setup: 100 containers created on the harness dockerd and 100 in the harness containerd's
//! `default` namespace (created, not started: no shim per container on the shared machine; a
//! listing inspects them all the same), labelled and removed at the end, also on panic. The
//! containerd ones are made with `ctr`: the containerd engine creates through CRI, which puts a
//! pod sandbox (a running shim) per container in `k8s.io`, and refuses to create for an engine
//! limited to `default`.
//!
//! Figures: the interleaved rounds (each round runs both sides, alternating which goes first) are
//! printed as median and p90, with the ratio of the medians; criterion then measures each side on
//! its own. Targets are reported, never asserted.

use std::process::Command;
use std::time::{Duration, Instant};

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine, Engines};
use anyctr_testkit::ctr_cli::CtrContainers;
use criterion::Criterion;
use futures_util::StreamExt;

const PER_ENGINE: usize = 100;
const ROUNDS: usize = 20;
const TARGET_MS: f64 = 150.0;

struct Harness {
    docker: String,
    containerd: String,
    state: String,
}

impl Harness {
    fn from_env() -> Harness {
        Harness {
            docker: anyctr_testkit::docker_socket(),
            containerd: anyctr_testkit::containerd_socket(),
            state: anyctr_testkit::containerd_state_dir(),
        }
    }

    fn addresses(&self) -> String {
        format!("docker://{},containerd://{}?state_dir={}", self.docker, self.containerd, self.state)
    }

    fn anyctr(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anyctr"));
        cmd.args(["ps", "-a", "-o", "json"]).env("ANYCTR_ADDRESSES", self.addresses());
        cmd
    }

    /// `docker ps -a` and `ctr containers ls` in each namespace, one after the other.
    fn without_anyctr(&self) -> Vec<Command> {
        let mut docker = Command::new("docker");
        docker.args(["-H", &format!("unix://{}", self.docker), "ps", "-a", "--no-trunc"]);
        let ctr = |ns: &str| {
            let mut c = Command::new("ctr");
            c.args(["-a", &self.containerd, "-n", ns, "containers", "ls"]);
            c
        };
        vec![docker, ctr("default"), ctr("k8s.io")]
    }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

/// Creates the containers; removes them when dropped.
struct Containers {
    docker: Engine,
    label: String,
    rt: tokio::runtime::Runtime,
    _containerd: CtrContainers,
}

impl Containers {
    fn create(h: &Harness) -> Containers {
        let rt = anyctr_testkit::runtime();
        let label = anyctr_testkit::unique("cli-bench");
        let docker = rt.block_on(async {
            let address = format!("docker://{}", h.docker);
            anyctr_testkit::connect("docker", &h.docker, Engines::connect(&address)).await
        });
        let containerd = CtrContainers::create("default", &label, PER_ENGINE);
        let containers = Containers { docker, label, rt, _containerd: containerd };
        let specs: Vec<CreateSpec> = (0..PER_ENGINE)
            .map(|i| {
                CreateSpec::new(anyctr_testkit::image())
                    .name(format!("{}-{i}", containers.label))
                    .argv(["sleep", "600"])
                    .label(anyctr_testkit::TEST_LABEL, &containers.label)
            })
            .collect();
        let engine = &containers.docker;
        containers.rt.block_on(async {
            let made: Vec<_> = futures_util::stream::iter(specs)
                .map(|s| async move { anyctr_testkit::bounded("create", engine.create(&s)).await })
                .buffer_unordered(8)
                .collect()
                .await;
            for m in made {
                m.expect("docker create");
            }
        });
        containers
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        // The containerd ones go with `_containerd`.
        self.rt.block_on(anyctr_testkit::remove_labelled(&self.docker, &self.label));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let h = Harness::from_env();
    let containers = Containers::create(&h);
    // The listing sees them all (once each).
    let rows: serde_json::Value = serde_json::from_slice(&run(&mut h.anyctr())).expect("JSON");
    let ours = rows
        .as_array()
        .expect("an array")
        .iter()
        .filter(|r| r["labels"][anyctr_testkit::TEST_LABEL] == containers.label.as_str())
        .count();
    assert_eq!(ours, 2 * PER_ENGINE, "anyctr ps lists the bench's containers once each");
    let total = rows.as_array().map(Vec::len).unwrap_or(0);

    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut a = || with.push(timed(|| drop(run(&mut h.anyctr()))));
        let mut b = || without.push(timed(|| h.without_anyctr().iter_mut().for_each(|c| drop(run(c)))));
        if round % 2 == 0 {
            a();
            b();
        } else {
            b();
            a();
        }
    }
    with.sort();
    without.sort();
    let (median, p90) = (percentile(&with, 0.5), percentile(&with, 0.9));
    let peer = percentile(&without, 0.5);
    println!(
        "SUMMARY ps_200 interleaved, {ROUNDS} rounds, {total} containers listed: anyctr ps -a -o json median {median:.1} ms \
         p90 {p90:.1} ms; docker ps -a + ctr containers ls ×2 median {peer:.1} ms p90 {:.1} ms; ratio anyctr/peers \
         {:.2}; target ≤ {TARGET_MS} ms: {}",
        percentile(&without, 0.9),
        median / peer,
        if median <= TARGET_MS { "met" } else { "NOT met" }
    );

    let mut c = Criterion::default().configure_from_args().sample_size(10).measurement_time(Duration::from_secs(15));
    let mut group = c.benchmark_group("ps_200");
    group.bench_function("anyctr_ps_json", |b| b.iter(|| run(&mut h.anyctr())));
    group.bench_function("docker_ps_plus_ctr_ls", |b| {
        b.iter(|| h.without_anyctr().iter_mut().for_each(|c| drop(run(c))))
    });
    group.finish();
    c.final_summary();
    drop(containers);
}
