//! Shared helpers for the facade's real-engine tests.
#![allow(dead_code)]

pub mod private_dockerd;

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine, Engines};

pub fn docker_socket() -> String {
    let p = std::env::var("ANYCTR_DOCKER_SOCKET").unwrap_or_else(|_| "/run/anyctr-engines/docker.sock".into());
    assert!(std::path::Path::new(&p).exists(), "{p} missing: engines not up — run `cargo xtask engines up`");
    p
}

pub fn image() -> String {
    std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into())
}

pub async fn docker() -> Engine {
    Engines::connect(&format!("docker://{}", docker_socket())).await.expect("connect to the harness dockerd")
}

/// A label value unique to this test run.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{tag}-{:x}-{}", nanos & 0xffffffffff, std::process::id())
}

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
        let engine = self.engine.clone();
        let label = self.label.clone();
        // A fresh runtime on a plain thread: drop may run inside a finished test runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let filter = anyctr::ListOptions::all().label(&format!("anyctr.test={label}"));
                if let Ok(list) = engine.list(&filter).await {
                    for c in list {
                        let _ = tokio::time::timeout(Duration::from_secs(30), engine.remove(&c.id, true)).await;
                    }
                }
            })
        })
        .join();
    }
}

/// Polls `check` every 50 ms until it holds or `within` passes.
pub async fn eventually<F: FnMut() -> bool>(within: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
