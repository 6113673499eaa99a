//! The facade's benchmarks' own pieces (the harness's dockerd through `Engines::connect`, a guard
//! that removes every container of a run, also on panic); the rest is `anyctr-testkit`'s.
//! Targets are reported, never asserted: the machine is noisy.
#![allow(dead_code, unused_imports)]

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine, Engines};
pub use anyctr_testkit::{BOUND, Timings, bounded, docker_socket, image, ms, ratio_line, runtime, unique};

pub async fn docker() -> Engine {
    let socket = docker_socket();
    anyctr_testkit::connect("docker", &socket, Engines::connect(&format!("docker://{socket}"))).await
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

    pub fn filter(&self) -> anyctr::ListOptions {
        anyctr_testkit::label_filter(&self.label)
    }

    /// A `sleep` container spec of `runtime` with the guard's label and a unique name.
    pub fn sleeper_spec(&self, runtime: &str) -> CreateSpec {
        let mut spec =
            anyctr_testkit::labelled_spec(&self.label, &format!("anyctr-bench-{runtime}"), &["sleep", "3600"]);
        spec.runtime = Some(runtime.to_owned());
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
        let label = self.label.clone();
        // A connection of our own: the old one's runtime may be gone.
        anyctr_testkit::on_own_runtime(move || async move {
            let Ok(Ok(engine)) =
                tokio::time::timeout(BOUND, Engines::connect(&format!("docker://{}", docker_socket()))).await
            else {
                eprintln!("cleanup: dockerd did not answer; containers labelled {label} may be left");
                return;
            };
            anyctr_testkit::remove_labelled(&engine, &label).await;
        });
    }
}
