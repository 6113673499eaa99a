//! Shared pieces of the docker benchmarks: the harness's dockerd, unique names and labels, a guard
//! that removes every container of a run (also on panic), and per-iteration timings for the
//! summary lines (criterion reports each benchmark; the ratios against the targets are ours).
//!
//! Targets are reported, never asserted: the machine is shared and noisy.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyctr_core::model::CreateSpec;
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ListOptions};
use anyctr_engine_docker::DockerEngine;
use futures_util::StreamExt;

// One copy for every crate's benches: the summary lines must read the same everywhere.
#[path = "../../../benches/common/timings.rs"]
mod timings;
pub use timings::{Timings, ms, ratio_line};

/// Bound on any single setup or cleanup step.
pub const BOUND: Duration = Duration::from_secs(180);

pub fn socket() -> String {
    std::env::var("ANYCTR_DOCKER_SOCKET").unwrap_or_else(|_| "/run/anyctr-engines/docker.sock".into())
}

pub fn image() -> String {
    std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into())
}

/// A multi-thread runtime with the machine's two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

pub async fn engine() -> Arc<DockerEngine> {
    let socket = socket();
    let config = EngineConfig::new(EngineAddress::new("docker", &socket));
    match tokio::time::timeout(BOUND, anyctr_engine_docker::connect(config)).await {
        Ok(Ok(e)) => Arc::new(e),
        Ok(Err(e)) => panic!("engines not up: run `cargo xtask engines up` (docker at {socket}: {e})"),
        Err(_) => panic!("engines not up: run `cargo xtask engines up` (docker at {socket} does not answer)"),
    }
}

/// A name unique across concurrent runs.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Bounds a setup step; a hang fails the benchmark.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, fut).await.unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Removes every container carrying this guard's `anyctr.test` label when dropped.
pub struct Guard {
    pub label: String,
    pub engine: Arc<DockerEngine>,
}

impl Guard {
    pub fn new(engine: &Arc<DockerEngine>, bench: &str) -> Guard {
        Guard { label: unique(&format!("bench-{bench}")), engine: engine.clone() }
    }

    pub fn filter(&self) -> ListOptions {
        ListOptions::all().label(&format!("anyctr.test={}", self.label))
    }

    /// A `sleep` container spec with the guard's label and a unique name.
    pub fn sleeper_spec(&self, runtime: &str) -> CreateSpec {
        let mut spec = CreateSpec::new(image());
        spec.name = Some(unique(&format!("anyctr-bench-{runtime}")));
        spec.argv = vec!["sleep".into(), "3600".into()];
        spec.runtime = Some(runtime.to_owned());
        spec.labels.insert("anyctr.test".into(), self.label.clone());
        spec
    }

    /// Creates and starts a `sleep` container; returns its id.
    pub async fn sleeper(&self, runtime: &str) -> String {
        let spec = self.sleeper_spec(runtime);
        let id = bounded("create", self.engine.create(&spec)).await.expect("create");
        bounded("start", self.engine.start(&id)).await.expect("start");
        id
    }

    /// `count` running `sleep` containers, made `parallel` at a time.
    pub async fn sleepers(&self, runtime: &str, count: usize, parallel: usize) -> Vec<String> {
        let ids: Vec<String> = futures_util::stream::iter(0..count)
            .map(|_| self.sleeper(runtime))
            .buffer_unordered(parallel)
            .collect()
            .await;
        ids
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let filter = self.filter();
        // The bench's runtime may be gone or unwinding: clean up on a runtime of our own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cleanup runtime");
            rt.block_on(async move {
                let config = EngineConfig::new(EngineAddress::new("docker", socket()));
                let Ok(Ok(engine)) = tokio::time::timeout(BOUND, anyctr_engine_docker::connect(config)).await else {
                    eprintln!("cleanup: dockerd did not answer; containers with {filter:?} may be left");
                    return;
                };
                let Ok(Ok(list)) = tokio::time::timeout(BOUND, engine.list(&filter)).await else {
                    eprintln!("cleanup: list failed; containers with {filter:?} may be left");
                    return;
                };
                let engine = &engine;
                futures_util::stream::iter(list)
                    .for_each_concurrent(8, |c| async move {
                        if let Ok(Err(e)) = tokio::time::timeout(BOUND, engine.remove(&c.id, true)).await {
                            eprintln!("cleanup: removing {} failed: {e}", c.id);
                        }
                    })
                    .await;
            });
        });
        let _ = cleanup.join();
    }
}
