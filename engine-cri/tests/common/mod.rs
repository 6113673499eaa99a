//! What the CRI engine's tests against the harness's containerd share: the engine on its socket,
//! bounded waits, unique names.
#![allow(dead_code)]

use std::time::Duration;

use anyctr_core::{EngineAddress, EngineConfig};
use anyctr_engine_cri::CriEngine;

/// Every engine call of these tests is bounded: a hung runtime fails the test.
pub const BOUND: Duration = Duration::from_secs(60);

pub fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

pub fn image() -> String {
    var_or("ANYCTR_TEST_IMAGE", "busybox:local")
}

/// The engine on the harness's containerd, `query` appended to the address (`?api=v1alpha2`).
pub async fn engine(query: &str) -> CriEngine {
    let socket = var_or("ANYCTR_CONTAINERD_SOCKET", "/run/anyctr-engines/containerd/containerd.sock");
    assert!(std::path::Path::new(&socket).exists(), "{socket} missing: engines not up — run `cargo xtask engines up`");
    let address = EngineAddress::parse(&format!("cri://{socket}{query}")).unwrap();
    bounded("connect", anyctr_engine_cri::connect(EngineConfig::new(address))).await.expect("connect through CRI")
}

pub async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.unwrap_or_else(|_| panic!("{what} hung"))
}

/// A name unique to this test run: `prefix` names the test file, `what` the object.
pub fn unique(prefix: &str, what: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{what}-{:x}{:x}", nanos & 0xffff_ffff, std::process::id())
}

/// Runs a test's body, catching a failed assertion, so the test can remove its pod before
/// [`rethrow`] fails it: a pod left behind is seen by every later test of the node.
pub async fn catch<T>(body: impl std::future::Future<Output = T>) -> std::thread::Result<T> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(body).catch_unwind().await
}

/// The body's value, or its failure raised again once the cleanup is done.
pub fn rethrow<T>(outcome: std::thread::Result<T>) -> T {
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
