//! Listing a runtime root: anyctr's state-file read (`state::read_root` and the engine's `list`,
//! liveness checked) vs a runtime process per call (`runc --root R list --format json`), on the
//! harness dockerd's `runtime-runc/moby` with four running containers. Why the engine reads the
//! files: the figure below (reported, not asserted; target: the file read at least 10x faster).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ListOptions};
use criterion::Criterion;

const ROOT: &str = "/run/anyctr-engines/docker/exec/runtime-runc/moby";

fn docker(args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["60", "docker", "-H", "unix:///run/anyctr-engines/docker.sock"])
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

struct Containers(Vec<String>);
impl Drop for Containers {
    fn drop(&mut self) {
        for id in &self.0 {
            let _ = Command::new("timeout")
                .args(["60", "docker", "-H", "unix:///run/anyctr-engines/docker.sock", "rm", "-f", id])
                .output();
        }
    }
}

fn main() {
    let image = std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into());
    let containers = Containers(
        (0..4).map(|_| docker(&["run", "-d", "--label", "anyctr.bench=oci-list", &image, "sleep", "600"])).collect(),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let config = EngineConfig::new(EngineAddress::parse(&format!("oci://{ROOT}")).unwrap());
    let engine = rt.block_on(anyctr_engine_oci::connect(config)).unwrap();
    let listed = rt.block_on(engine.list(&ListOptions::running())).unwrap();
    assert!(containers.0.iter().all(|id| listed.iter().any(|s| &s.id == id)), "the bench containers are listed");

    let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5)).sample_size(30);
    let mut group = c.benchmark_group("oci_list_moby_root");
    group.bench_function("state_files_read_root", |b| {
        b.iter(|| anyctr_engine_oci::state::read_root(Path::new(ROOT)).unwrap())
    });
    group.bench_function("engine_list", |b| b.iter(|| rt.block_on(engine.list(&ListOptions::running())).unwrap()));
    group.bench_function("runc_list_process", |b| {
        b.iter(|| {
            let out = Command::new("runc").args(["--root", ROOT, "list", "--format", "json"]).output().unwrap();
            assert!(out.status.success());
            out.stdout
        })
    });
    group.finish();
    c.final_summary();
    drop(containers);
}
