//! The facade's benchmarks' own piece: the harness's dockerd through `anyctr::connect`; the
//! rest (the labelled-container guard, bounds, timings) is `anyctr-testkit`'s.
//! Targets are reported, never asserted: the machine is noisy.
#![allow(dead_code, unused_imports)]

use anyctr::Engine;
pub use anyctr_testkit::{BOUND, Timings, bounded, docker_socket, image, ms, ratio_line, runtime, unique};

/// Removes every container of the run when dropped (see [`anyctr_testkit::LabelGuard`]).
pub type Guard = anyctr_testkit::LabelGuard<Engine>;

fn docker_address() -> String {
    format!("docker://{}", docker_socket())
}

pub async fn docker() -> Engine {
    anyctr_testkit::connect("docker", &docker_socket(), anyctr::connect(&docker_address())).await
}

/// A guard for the bench `name` on `engine` (the harness's dockerd).
pub fn guard(engine: &Engine, name: &str) -> Guard {
    Guard::new(engine, &format!("bench-{name}"), || async { anyctr::connect(&docker_address()).await })
}
