//! The docker benchmarks' own piece: the harness's dockerd; the rest (the labelled-container
//! guard, bounds, names, timings for the summary lines) is `anyctr-testkit`'s. Targets are
//! reported, never asserted: the machine is shared and noisy.
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use anyctr_core::{EngineAddress, EngineConfig};
use anyctr_engine_docker::DockerEngine;
pub use anyctr_testkit::{BOUND, Timings, bounded, docker_socket as socket, image, ms, ratio_line, runtime, unique};

/// Removes every container of the run when dropped (see [`anyctr_testkit::LabelGuard`]).
pub type Guard = anyctr_testkit::LabelGuard<Arc<DockerEngine>>;

fn config() -> EngineConfig {
    EngineConfig::new(EngineAddress::new("docker", socket()))
}

pub async fn engine() -> Arc<DockerEngine> {
    Arc::new(anyctr_testkit::connect("docker", &socket(), anyctr_engine_docker::connect(config())).await)
}

/// A guard for the bench `name` on `engine` (the harness's dockerd).
pub fn guard(engine: &Arc<DockerEngine>, name: &str) -> Guard {
    Guard::new(engine, &format!("bench-{name}"), || anyctr_engine_docker::connect(config()))
}
