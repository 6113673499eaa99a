//! anyctr-testkit: what every anyctr test and benchmark needs against the real harness engines
//! (`cargo xtask engines up`), written once.
//!
//! - where the engines are: [`docker_socket`], [`containerd_socket`], [`containerd_state_dir`],
//!   [`image`], [`image_tar`] (the `ANYCTR_*` variables, defaulting to the harness's paths);
//! - every wait bounded: [`bounded`], [`eventually`], [`BOUND`];
//! - one "engines not up" message: [`connect`], [`engines_not_up`];
//! - names and labels no concurrent run shares: [`unique`], [`labelled_spec`], [`TEST_LABEL`];
//! - cleanup that runs even after a failed assertion: [`LabelGuard`] (a run's labelled
//!   containers, removed on drop), [`on_own_runtime`], [`remove_labelled`];
//! - the docker CLI on the harness socket, bounded: [`docker_cli`]; `ctr` on the harness
//!   containerd, bounded, and containers made with it outside CRI: [`ctr_cli`];
//! - container details built by hand for logic that needs no engine: [`detail`];
//! - tar archives for copy tests: [`tar`];
//! - a dockerd of a test's own, to stop and restart: [`private_dockerd`]; ending any daemon a
//!   test started: [`terminate`];
//! - per-iteration timings for benchmark summaries: [`Timings`]; anyctr's side of the exec
//!   benchmarks: [`exec_echo`].
//!
//! Dev-only: a dependency of tests and benches, never of a library.
#![forbid(unsafe_code)]

pub mod ctr_cli;
pub mod detail;
pub mod docker_cli;
mod guard;
pub mod private_dockerd;
pub mod raw_bollard;
pub mod tar;
mod terminate;
mod timings;

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyctr_core::model::{CreateSpec, ExecRequest};
use anyctr_core::{ContainerEngine, ListOptions};
use futures_util::StreamExt;

pub use guard::LabelGuard;
pub use terminate::terminate;
pub use timings::{Timings, ms, ratio_line};

/// Bound on anything a test or a benchmark's setup step waits for: a hung daemon fails the run.
pub const BOUND: Duration = Duration::from_secs(120);

/// The label every test container carries (`anyctr.test=<run label>`), so cleanup finds them.
pub const TEST_LABEL: &str = "anyctr.test";

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The harness dockerd's socket (`ANYCTR_DOCKER_SOCKET`).
pub fn docker_socket() -> String {
    var_or("ANYCTR_DOCKER_SOCKET", "/run/anyctr-engines/docker.sock")
}

/// The harness containerd's socket (`ANYCTR_CONTAINERD_SOCKET`).
pub fn containerd_socket() -> String {
    var_or("ANYCTR_CONTAINERD_SOCKET", "/run/anyctr-engines/containerd/containerd.sock")
}

/// The harness containerd's state dir (`ANYCTR_CONTAINERD_STATE_DIR`).
pub fn containerd_state_dir() -> String {
    var_or("ANYCTR_CONTAINERD_STATE_DIR", "/run/anyctr-engines/containerd")
}

/// The image test containers run (`ANYCTR_TEST_IMAGE`, a local busybox).
pub fn image() -> String {
    var_or("ANYCTR_TEST_IMAGE", "busybox:local")
}

/// The test image as a `docker save` archive, for daemons a test starts itself (`ANYCTR_IMAGE_TAR`).
pub fn image_tar() -> String {
    var_or("ANYCTR_IMAGE_TAR", "/var/lib/anyctr-engines/images/busybox.tar")
}

/// Fails the test: the harness engine `engine` at `at` is not usable, and says how to start it.
pub fn engines_not_up(engine: &str, at: &str, why: impl Display) -> ! {
    panic!("engines not up: run `cargo xtask engines up` ({engine} at {at}: {why})")
}

/// Awaits a connection to a harness engine, bounded; failing or hanging fails the test with the
/// "engines not up" message.
pub async fn connect<T, E: Display>(engine: &str, at: &str, fut: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(BOUND, fut).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) => engines_not_up(engine, at, e),
        Err(_) => engines_not_up(engine, at, "does not answer"),
    }
}

/// A name unique across concurrent runs (process id, clock and a counter).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    format!("{prefix}-{}-{nanos:x}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Bounds a future by [`BOUND`]; a hang fails the test.
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, fut).await.unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

/// Polls `check` every 50 ms until it holds; fails the test after `within`.
pub async fn eventually<F: FnMut() -> bool>(within: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `echo hi` in container `id` through anyctr's buffered exec, checked (exit 0, `hi` on stdout):
/// the anyctr side of the exec benchmarks, whose peers ([`raw_bollard::exec_echo`], the CLIs) run
/// the same command.
pub async fn exec_echo<E: ContainerEngine + ?Sized>(engine: &E, id: &str) {
    let r = engine.exec(id, ExecRequest::new(["echo", "hi"])).await.expect("anyctr exec");
    assert_eq!((r.exit_code, r.stdout.as_slice()), (0, &b"hi\n"[..]), "{r:?}");
}

/// A multi-thread runtime with the machine's two cores (for benchmarks).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Runs `make()`'s future to completion on a runtime and thread of its own, for cleanup from a
/// `Drop`: the test's runtime may be gone or unwinding.
pub fn on_own_runtime<F, Fut>(make: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cleanup runtime");
        rt.block_on(make());
    })
    .join();
}

/// The filter for containers carrying `anyctr.test=<label>`.
pub fn label_filter(label: &str) -> ListOptions {
    ListOptions::all().label(&format!("{TEST_LABEL}={label}"))
}

/// A container spec of the test image with a unique name and `anyctr.test=<label>`.
pub fn labelled_spec(label: &str, name_prefix: &str, argv: &[&str]) -> CreateSpec {
    let mut spec = CreateSpec::new(image());
    spec.name = Some(unique(name_prefix));
    spec.argv = argv.iter().map(|s| s.to_string()).collect();
    spec.labels.insert(TEST_LABEL.into(), label.to_owned());
    spec
}

/// Removes every container labelled `anyctr.test=<label>` (8 at a time, each bounded); says on
/// stderr what it could not remove.
pub async fn remove_labelled<E: ContainerEngine + ?Sized>(engine: &E, label: &str) {
    let filter = label_filter(label);
    let list = match tokio::time::timeout(BOUND, engine.list(&filter)).await {
        Ok(Ok(list)) => list,
        _ => {
            eprintln!("cleanup: listing failed; containers labelled {TEST_LABEL}={label} may be left");
            return;
        }
    };
    futures_util::stream::iter(list)
        .for_each_concurrent(8, |c| async move {
            match tokio::time::timeout(BOUND, engine.remove(&c.id, true)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("cleanup: removing {} failed: {e}", c.id),
                Err(_) => eprintln!("cleanup: removing {} timed out", c.id),
            }
        })
        .await;
}
