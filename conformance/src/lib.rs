//! The behaviour suite every engine must pass (the facade re-exports it as `anyctr::conformance`
//! behind its `conformance` feature).
//!
//! Engines outside this repository can run it too: connect your engine, describe how fixture
//! containers are made ([`FixtureFactory`]; [`EngineFixtures`] uses the engine's own lifecycle), and
//! call [`run_setup`]. Each trial is registered only when the fixture container's capabilities
//! claim what it needs; for every capability that is *not* claimed, a `*.declared_unsupported`
//! trial checks that the call really returns `Unsupported` — so capability flags cannot lie in
//! either direction. `coverage` holds the one table of which trials stand behind which flag; a
//! claimed capability that no trial exercised fails the run, and so does an engine that claims
//! nothing.
//!
//! A trial never skips itself: only the setup's not-applicable list, stated up front, skips
//! trials. What a trial makes is removed when it ends, also after a timeout, and a container of
//! the run still present at the end fails the run.
//!
//! Trials are named `area.case` (`exec.stdin_eof`, `lookup.short_prefix`, …) and produce a
//! [`SetupReport`] that serializes to the JSON the xtask publishes.
#![forbid(unsafe_code)]

mod coverage;
mod declared;
mod fixture;
mod report;
mod runner;
mod trials_control;
mod trials_copy;
mod trials_events;
mod trials_exec;
mod trials_exec_errors;
mod trials_host_path;
mod trials_images;
mod trials_index;
mod trials_inspect;
mod trials_lifecycle;
mod trials_logs;
mod trials_lookup;
mod trials_nsenter;
mod trials_probe;
mod trials_stats;
mod trials_top;

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use fixture::{EngineFixtures, Expectations, ExpectedLog, Fixture, FixtureFactory, FixtureSetup};
pub use report::{CapabilityReport, Coverage, Outcome, SetupReport, TrialReport, render_coverage, render_matrix};
pub use runner::run_setup;
pub use trials_images::{REGISTRY_ENV, REGISTRY_IMAGE};

use anyctr_core::capability::Capabilities;
use anyctr_core::engine::DynEngine;
use anyctr_core::model::CreateSpec;

/// What every trial gets: the engine, the main fixture container and what it was made from.
pub struct TrialContext {
    /// The engine under test.
    pub engine: DynEngine,
    /// The fixture container the trial works on.
    pub fixture: Fixture,
    /// The fixture container's capabilities (engine capabilities refined by its runtime).
    pub capabilities: Capabilities,
    /// Creates extra containers for trials that need them.
    pub factory: std::sync::Arc<dyn FixtureFactory>,
    /// Unique per run: used in labels and names so concurrent runs do not collide.
    pub run_id: String,
    /// What the running trial made, removed when it ends however it ends (timeout included).
    cleanup: Mutex<Vec<Leftover>>,
}

/// Something a trial made that must not outlive it.
#[derive(Debug, Clone)]
enum Leftover {
    Container(String),
    Pod(String),
}

impl TrialContext {
    /// Creates an extra container through the factory and registers it for removal after the
    /// trial, so a trial that fails or times out still leaves nothing behind.
    pub async fn create_extra(&self, spec: CreateSpec) -> Result<String, String> {
        let id = self.factory.create_extra(spec).await.map_err(fail("create"))?;
        self.lock_cleanup().push(Leftover::Container(id.clone()));
        Ok(id)
    }

    /// Registers a pod sandbox the trial made for removal after the trial.
    pub fn cleanup_pod(&self, sandbox: &str) {
        self.lock_cleanup().push(Leftover::Pod(sandbox.to_owned()));
    }

    fn lock_cleanup(&self) -> std::sync::MutexGuard<'_, Vec<Leftover>> {
        // A trial that panicked while holding the lock left a valid list behind.
        self.cleanup.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A trial's verdict: `Ok(detail)` passes, `Err(why)` fails. (For a `*.declared_unsupported`
/// check, `Ok` means the engine refused as declared.) A trial has no way to skip itself: only
/// the setup's not-applicable list skips trials.
pub type TrialResult = Result<String, String>;

/// One behaviour check.
pub struct Trial {
    /// The trial's name (`exec.stdout`).
    pub name: &'static str,
    /// Capability names that must be claimed for the trial to be registered.
    pub requires: &'static [&'static str],
    /// Runs the trial.
    pub run: for<'a> fn(&'a TrialContext) -> BoxFuture<'a, TrialResult>,
}

/// Bound on one trial; a hung daemon call fails the trial instead of hanging the suite.
pub const TRIAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Every trial of the suite, in report order. Each must appear in `coverage::table`.
pub fn all_trials() -> Vec<Trial> {
    let mut all = Vec::new();
    all.extend(trials_inspect::trials());
    all.extend(trials_exec::trials());
    all.extend(trials_exec_errors::trials());
    all.extend(trials_nsenter::trials());
    all.extend(trials_copy::trials());
    all.extend(trials_host_path::trials());
    all.extend(trials_events::trials());
    all.extend(trials_lifecycle::trials());
    all.extend(trials_control::trials());
    all.extend(trials_index::trials());
    all.extend(trials_lookup::trials());
    all.extend(trials_images::trials());
    all.extend(trials_logs::trials());
    all.extend(trials_top::trials());
    all.extend(trials_probe::trials());
    all.extend(trials_stats::trials());
    all
}

/// Every name a trial report can carry: the trials and the `*.declared_unsupported` checks, in
/// report order (what a trial filter is matched against).
pub fn trial_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = all_trials().iter().map(|t| t.name).collect();
    names.extend(coverage::table().iter().map(|row| row.declared.0));
    names
}

/// Fails a trial with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}
pub(crate) use ensure;

/// Turns an anyctr error into a trial failure with context.
pub(crate) fn fail(what: &str) -> impl FnOnce(anyctr_core::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}
