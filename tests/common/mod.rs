//! Shared helpers for the facade's real-engine tests.
#![allow(dead_code, unused_imports)]

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine};
pub use anyctr_testkit::{eventually, image, unique};

/// The harness dockerd's socket; fails the test with the "engines not up" message if it is missing.
pub fn docker_socket() -> String {
    let p = anyctr_testkit::docker_socket();
    if !std::path::Path::new(&p).exists() {
        anyctr_testkit::engines_not_up("docker", &p, "socket missing");
    }
    p
}

pub async fn docker() -> Engine {
    let socket = docker_socket();
    anyctr_testkit::connect("docker", &socket, anyctr::connect(&format!("docker://{socket}"))).await
}

/// A spec of the test image named `name`, labelled `anyctr.test=<label>`.
pub fn spec(label: &str, name: &str, argv: &[&str]) -> CreateSpec {
    CreateSpec::new(image()).name(name).argv(argv).label("anyctr.test", label)
}

/// Removes every container carrying `anyctr.test=<label>` when dropped, even after a failed assertion.
pub struct Cleanup {
    pub engine: Engine,
    pub label: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (engine, label) = (self.engine.clone(), self.label.clone());
        anyctr_testkit::on_own_runtime(move || async move { anyctr_testkit::remove_labelled(&engine, &label).await });
    }
}
