//! The behaviour suite every engine must pass (feature `conformance`).
//!
//! Engines outside this repository can run it too: connect your engine, describe how fixture
//! containers are made ([`FixtureFactory`]; [`EngineFixtures`] uses the engine's own lifecycle), and
//! call [`run_setup`]. Each trial is registered only when the fixture container's capabilities
//! claim what it needs; for every capability that is *not* claimed, a `*.declared_unsupported`
//! trial checks that the call really returns `Unsupported` — so capability flags cannot lie in
//! either direction.
//!
//! Trials are named `area.case` (`exec.stdin_eof`, `lookup.short_prefix`, …) and produce a
//! [`SetupReport`] that serializes to the JSON the xtask publishes.

mod declared;
mod fixture;
mod report;
mod trials_copy;
mod trials_events;
mod trials_exec;
mod trials_exec_errors;
mod trials_host_path;
mod trials_index;
mod trials_inspect;
mod trials_lifecycle;
mod trials_nsenter;

use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

pub use fixture::{EngineFixtures, Expectations, Fixture, FixtureFactory, FixtureSetup};
pub use report::{Outcome, SetupReport, TrialReport, render_matrix};

use crate::capability::Capabilities;
use crate::engine::DynEngine;

/// What every trial gets: the engine, the main fixture container and what it was made from.
pub struct TrialContext {
    pub engine: DynEngine,
    pub fixture: Fixture,
    /// The fixture container's capabilities (engine capabilities refined by its runtime).
    pub capabilities: Capabilities,
    pub factory: std::sync::Arc<dyn FixtureFactory>,
    /// Unique per run: used in labels and names so concurrent runs do not collide.
    pub run_id: String,
}

/// A trial's verdict: `Ok(detail)` passes, `Err(why)` fails.
pub type TrialResult = Result<String, String>;

/// One behaviour check.
pub struct Trial {
    pub name: &'static str,
    /// Capability names that must be claimed for the trial to be registered.
    pub requires: &'static [&'static str],
    pub run: for<'a> fn(&'a TrialContext) -> BoxFuture<'a, TrialResult>,
}

/// Bound on one trial; a hung daemon call fails the trial instead of hanging the suite.
pub const TRIAL_TIMEOUT: Duration = Duration::from_secs(120);

/// Every trial of the suite, in report order.
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
    all.extend(trials_index::trials());
    all
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
pub(crate) fn fail(what: &str) -> impl FnOnce(crate::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Runs the suite for one setup: makes the fixture, runs every registered trial, removes the
/// fixture. `filter` keeps trials whose name contains it. `progress` is told each result as it comes.
pub async fn run_setup(
    setup: FixtureSetup,
    filter: Option<&str>,
    mut progress: impl FnMut(&TrialReport),
) -> SetupReport {
    let mut report = SetupReport::new(&setup.name, setup.engine.name());
    match tokio::time::timeout(Duration::from_secs(30), setup.engine.identify()).await {
        Ok(Ok(info)) => {
            report.reachable = true;
            report.version = Some(info.version);
        }
        Ok(Err(e)) => {
            report.detail = Some(format!("not reachable: {e}"));
            return report;
        }
        Err(_) => {
            report.detail = Some("not reachable: identify timed out".into());
            return report;
        }
    }
    let run_id = fixture::run_id();
    let fixture = match tokio::time::timeout(TRIAL_TIMEOUT, setup.factory.create_main(&run_id)).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            report.push(TrialReport::new(
                "lifecycle.fixture",
                Outcome::Fail,
                format!("creating the fixture failed: {e}"),
                0,
            ));
            return report;
        }
        Err(_) => {
            report.push(TrialReport::new(
                "lifecycle.fixture",
                Outcome::Fail,
                "creating the fixture timed out".into(),
                0,
            ));
            return report;
        }
    };
    let capabilities = match setup.engine.inspect(&fixture.id).await {
        Ok(detail) => setup.engine.container_capabilities(&detail),
        Err(_) => setup.engine.capabilities(),
    };
    let ctx =
        TrialContext { engine: setup.engine.clone(), fixture, capabilities, factory: setup.factory.clone(), run_id };
    let wanted = |name: &str| filter.is_none_or(|f| name.contains(f));

    for trial in all_trials() {
        if !wanted(trial.name) {
            continue;
        }
        let claimed = trial.requires.iter().all(|c| capabilities.get(c).is_some_and(|s| s.is_supported()));
        if !claimed {
            continue;
        }
        if let Some((_, why)) = setup.not_applicable.iter().find(|(prefix, _)| trial.name.starts_with(prefix)) {
            let r = TrialReport::new(trial.name, Outcome::Skipped, format!("not applicable: {why}"), 0);
            progress(&r);
            report.push(r);
            continue;
        }
        let r = run_trial(trial.name, (trial.run)(&ctx)).await;
        progress(&r);
        report.push(r);
    }
    for (name, check) in declared::trials_for(&capabilities) {
        if !wanted(name) {
            continue;
        }
        let r = run_trial(name, check(&ctx)).await;
        progress(&r);
        report.push(r);
    }
    if let Err(e) = setup.factory.remove(&ctx.fixture).await {
        report.detail = Some(format!("removing the fixture failed: {e}"));
    }
    report
}

async fn run_trial(name: &'static str, fut: BoxFuture<'_, TrialResult>) -> TrialReport {
    let started = Instant::now();
    // A panicking trial is a failing trial, not a crashed suite.
    let outcome = tokio::time::timeout(TRIAL_TIMEOUT, std::panic::AssertUnwindSafe(fut).catch_unwind()).await;
    let millis = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Ok(Ok(detail))) if detail.starts_with("unsupported:") => {
            TrialReport::new(name, Outcome::Unsupported, detail, millis)
        }
        Ok(Ok(Ok(detail))) if detail.starts_with("skipped:") => {
            TrialReport::new(name, Outcome::Skipped, detail, millis)
        }
        Ok(Ok(Ok(detail))) => TrialReport::new(name, Outcome::Pass, detail, millis),
        Ok(Ok(Err(why))) => TrialReport::new(name, Outcome::Fail, why, millis),
        Ok(Err(_)) => TrialReport::new(name, Outcome::Fail, "the trial panicked".into(), millis),
        Err(_) => TrialReport::new(name, Outcome::Fail, format!("timed out after {TRIAL_TIMEOUT:?}"), millis),
    }
}
