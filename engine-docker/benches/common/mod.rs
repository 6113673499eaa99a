//! The docker benchmarks' own pieces (the harness's dockerd, a guard that removes every container
//! of a run, also on panic); the rest (bounds, names, timings for the summary lines) is
//! `anyctr-testkit`'s. Targets are reported, never asserted: the machine is shared and noisy.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use anyctr_core::model::CreateSpec;
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ListOptions};
use anyctr_engine_docker::DockerEngine;
pub use anyctr_testkit::{BOUND, Timings, bounded, docker_socket as socket, image, ms, ratio_line, runtime, unique};
use futures_util::StreamExt;

pub async fn engine() -> Arc<DockerEngine> {
    let socket = socket();
    let config = EngineConfig::new(EngineAddress::new("docker", &socket));
    Arc::new(anyctr_testkit::connect("docker", &socket, anyctr_engine_docker::connect(config)).await)
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
        anyctr_testkit::label_filter(&self.label)
    }

    /// A `sleep` container spec with the guard's label and a unique name.
    pub fn sleeper_spec(&self, runtime: &str) -> CreateSpec {
        let mut spec =
            anyctr_testkit::labelled_spec(&self.label, &format!("anyctr-bench-{runtime}"), &["sleep", "3600"]);
        spec.runtime = Some(runtime.to_owned());
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
        futures_util::stream::iter(0..count).map(|_| self.sleeper(runtime)).buffer_unordered(parallel).collect().await
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let label = self.label.clone();
        // A connection of our own: the bench's runtime may be gone or unwinding.
        anyctr_testkit::on_own_runtime(move || async move {
            let config = EngineConfig::new(EngineAddress::new("docker", socket()));
            let Ok(Ok(engine)) = tokio::time::timeout(BOUND, anyctr_engine_docker::connect(config)).await else {
                eprintln!("cleanup: dockerd did not answer; containers labelled {label} may be left");
                return;
            };
            anyctr_testkit::remove_labelled(&engine, &label).await;
        });
    }
}
