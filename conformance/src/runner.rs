//! Runs one setup: fixture, trials (each followed by its cleanup), declared checks, fixture
//! removal, the leak check and the coverage verdict.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::report::{Coverage, Outcome, SetupReport, TrialReport};
use super::{FixtureSetup, Leftover, TRIAL_TIMEOUT, TrialContext, TrialResult, all_trials, coverage, fixture};
use anyctr_core::ErrorKind;

/// Bound on one daemon call the runner makes itself (identify, inspect, a removal).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the suite for one setup: makes the fixture, runs every registered trial, removes the
/// fixture and checks nothing of the run is left. `filter` keeps trials whose name contains it
/// (and then a capability without results is reported as not run rather than failing the run).
/// `progress` is told each result as it comes.
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
    let mut record = |report: &mut SetupReport, r: TrialReport| {
        progress(&r);
        report.push(r);
    };
    let fixture = match tokio::time::timeout(TRIAL_TIMEOUT, setup.factory.create_main(&run_id)).await {
        Ok(Ok(f)) => f,
        failed => {
            let why = match failed {
                Ok(Err(e)) => format!("creating the fixture failed: {e}"),
                _ => "creating the fixture timed out".to_owned(),
            };
            record(&mut report, TrialReport::new("fixture.create", Outcome::Fail, why, 0));
            check_leftovers(&setup, &run_id, &mut report).await;
            return report;
        }
    };
    let claims = setup.engine.capabilities();
    // The fixture's own capabilities (its runtime refines the engine's). An engine that claims no
    // inspect has nothing to refine them with; one that claims it must answer for the fixture.
    let capabilities = if claims.inspect.is_supported() {
        match tokio::time::timeout(CALL_TIMEOUT, setup.engine.inspect(&fixture.id)).await {
            Ok(Ok(detail)) => Some(setup.engine.container_capabilities(&detail)),
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("inspect of the fixture failed, so its capabilities are unknown: {e}"),
                    _ => "inspect of the fixture timed out, so its capabilities are unknown".to_owned(),
                };
                record(&mut report, TrialReport::new("fixture.inspect", Outcome::Fail, why, 0));
                None
            }
        }
    } else {
        Some(claims)
    };
    if fixture.expect.pod != fixture.pod.is_some() {
        let why = format!(
            "the setup expects the fixture {} a pod, but the factory made it {}",
            if fixture.expect.pod { "in" } else { "outside" },
            if fixture.pod.is_some() { "in one" } else { "without one" }
        );
        record(&mut report, TrialReport::new("fixture.expectations", Outcome::Fail, why, 0));
    }
    let ctx = TrialContext {
        engine: setup.engine.clone(),
        fixture,
        capabilities: capabilities.unwrap_or_default(),
        factory: setup.factory.clone(),
        run_id: run_id.clone(),
        cleanup: Mutex::new(Vec::new()),
    };
    if let Some(capabilities) = capabilities {
        let wanted = |name: &str| filter.is_none_or(|f| name.contains(f));
        for trial in all_trials() {
            let claimed = trial.requires.iter().all(|c| capabilities.get(c).is_some_and(|s| s.is_supported()));
            if !wanted(trial.name) || !claimed {
                continue;
            }
            let r = match setup.not_applicable.iter().find(|(prefix, _)| trial.name.starts_with(prefix)) {
                Some((_, why)) => TrialReport::new(trial.name, Outcome::Skipped, format!("not applicable: {why}"), 0),
                None => run_trial(&ctx, trial.name, Outcome::Pass, TRIAL_TIMEOUT, (trial.run)(&ctx)).await,
            };
            record(&mut report, r);
        }
        for row in coverage::table() {
            let (name, check) = row.declared;
            if capabilities.get(row.capability).is_some_and(|s| s.is_supported()) || !wanted(name) {
                continue;
            }
            record(&mut report, run_trial(&ctx, name, Outcome::Unsupported, TRIAL_TIMEOUT, check(&ctx)).await);
        }
        report.capabilities = coverage::assess(&capabilities, &report.trials, filter.is_some());
        if filter.is_none() {
            coverage_problems(&setup, &mut report);
        }
    }
    match tokio::time::timeout(TRIAL_TIMEOUT, setup.factory.remove(&ctx.fixture)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => report.problems.push(format!("removing the fixture failed: {e}")),
        Err(_) => report.problems.push("removing the fixture timed out".into()),
    }
    check_leftovers(&setup, &run_id, &mut report).await;
    report
}

/// A claimed capability no trial stood behind, an engine that claims nothing, a not-applicable
/// entry that names no trial: each fails the run.
fn coverage_problems(setup: &FixtureSetup, report: &mut SetupReport) {
    for c in &report.capabilities {
        if let Coverage::NotCovered { why } = &c.coverage {
            report.problems.push(format!("capability {}: {why}", c.capability));
        }
    }
    if !report.capabilities.iter().any(|c| matches!(c.coverage, Coverage::Exercised { .. })) {
        report.problems.push("the fixture claims no capability that a trial exercised: nothing is certified".into());
    }
    let names: Vec<&str> = all_trials().iter().map(|t| t.name).collect();
    for (prefix, _) in &setup.not_applicable {
        if !names.iter().any(|n| n.starts_with(prefix)) {
            report.problems.push(format!("the not-applicable entry {prefix:?} names no trial"));
        }
    }
}

/// Fails the run for every container of this run still present, and removes it.
async fn check_leftovers(setup: &FixtureSetup, run_id: &str, report: &mut SetupReport) {
    let left = match tokio::time::timeout(CALL_TIMEOUT, setup.factory.leftovers(run_id)).await {
        Ok(Ok(left)) => left,
        Ok(Err(e)) => return report.problems.push(format!("listing this run's containers failed: {e}")),
        Err(_) => return report.problems.push("listing this run's containers timed out".into()),
    };
    for id in left {
        let removed = match tokio::time::timeout(CALL_TIMEOUT, setup.factory.remove_extra(&id)).await {
            Ok(Ok(())) => "removed now".to_owned(),
            Ok(Err(e)) => format!("removing it failed: {e}"),
            Err(_) => "removing it timed out".to_owned(),
        };
        report.problems.push(format!("container {id} of this run was left behind ({removed})"));
    }
}

/// Runs one trial, bounded by `limit` (a panic is a failure), then removes what it made. A
/// passing trial ends as `ok` (`Pass`, or `Unsupported` for a declared check). What the cleanup
/// ran into is told in the detail; a container it could not remove fails the trial.
pub(super) async fn run_trial<'a>(
    ctx: &'a TrialContext,
    name: &'static str,
    ok: Outcome,
    limit: Duration,
    fut: impl Future<Output = TrialResult> + 'a,
) -> TrialReport {
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, std::panic::AssertUnwindSafe(fut).catch_unwind()).await;
    let (mut outcome, mut detail) = match outcome {
        Ok(Ok(Ok(detail))) => (ok, detail),
        Ok(Ok(Err(why))) => (Outcome::Fail, why),
        Ok(Err(_)) => (Outcome::Fail, "the trial panicked".into()),
        Err(_) => (Outcome::Fail, format!("timed out after {limit:?}")),
    };
    let cleanup = clean_up(ctx).await;
    if !cleanup.notes.is_empty() {
        detail.push_str(&format!("; cleanup: {}", cleanup.notes.join("; ")));
    }
    if cleanup.left_behind {
        outcome = Outcome::Fail;
    }
    TrialReport::new(name, outcome, detail, started.elapsed().as_millis() as u64)
}

/// What removing a trial's leftovers ran into.
struct Cleanup {
    notes: Vec<String>,
    /// Something could not be removed and is still there.
    left_behind: bool,
}

/// Removes what the trial registered. Already gone is fine; a removal that fails is told, and
/// fails the trial if the thing is still there afterwards.
async fn clean_up(ctx: &TrialContext) -> Cleanup {
    let leftovers = std::mem::take(&mut *ctx.lock_cleanup());
    let mut cleanup = Cleanup { notes: Vec::new(), left_behind: false };
    for leftover in leftovers.into_iter().rev() {
        let removal: BoxFuture<'_, anyctr_core::Result<()>> = match &leftover {
            Leftover::Container(id) => ctx.factory.remove_extra(id),
            Leftover::Pod(id) => ctx.engine.remove_pod(id),
        };
        let failed = match tokio::time::timeout(CALL_TIMEOUT, removal).await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => continue,
            Ok(Err(e)) => format!("removing {leftover:?} failed: {e}"),
            Err(_) => format!("removing {leftover:?} timed out"),
        };
        let id = match &leftover {
            Leftover::Container(id) | Leftover::Pod(id) => id,
        };
        let still_there = match tokio::time::timeout(CALL_TIMEOUT, ctx.factory.leftovers(&ctx.run_id)).await {
            Ok(Ok(left)) => left.contains(id),
            _ => true,
        };
        cleanup.left_behind |= still_there;
        let state = if still_there { "it is still there" } else { "it is gone all the same" };
        cleanup.notes.push(format!("{failed} ({state})"));
    }
    cleanup
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
