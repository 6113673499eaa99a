//! Shared pieces of the facade's benchmarks: the harness's dockerd through `Engines::connect`,
//! unique names, a guard that removes every container of a run (also on panic), and per-iteration
//! timings for the summary lines. Targets are reported, never asserted: the machine is noisy.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine, Engines, ListOptions};
use futures_util::StreamExt;

mod timings;
pub use timings::{Timings, ms, ratio_line};

/// Bound on any single setup or cleanup step.
pub const BOUND: Duration = Duration::from_secs(180);

pub fn docker_socket() -> String {
    std::env::var("ANYCTR_DOCKER_SOCKET").unwrap_or_else(|_| "/run/anyctr-engines/docker.sock".into())
}

pub fn image() -> String {
    std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into())
}

/// A multi-thread runtime with the machine's two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

pub async fn docker() -> Engine {
    let socket = docker_socket();
    match tokio::time::timeout(BOUND, Engines::connect(&format!("docker://{socket}"))).await {
        Ok(Ok(e)) => e,
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
    pub engine: Engine,
}

impl Guard {
    pub fn new(engine: &Engine, bench: &str) -> Guard {
        Guard { label: unique(&format!("bench-{bench}")), engine: engine.clone() }
    }

    pub fn filter(&self) -> ListOptions {
        ListOptions::all().label(&format!("anyctr.test={}", self.label))
    }

    /// A `sleep` container spec of `runtime` with the guard's label and a unique name.
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
        let id = bounded("create", self.engine.create(&self.sleeper_spec(runtime))).await.expect("create");
        bounded("start", self.engine.start(&id)).await.expect("start");
        id
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let filter = self.filter();
        // The bench's runtime may be gone or unwinding: clean up on a runtime and connection of
        // our own.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cleanup runtime");
            rt.block_on(async move {
                let Ok(Ok(engine)) =
                    tokio::time::timeout(BOUND, Engines::connect(&format!("docker://{}", docker_socket()))).await
                else {
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
