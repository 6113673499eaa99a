//! [`certify`]: plans connected, the suite run on each, the verdict.

use std::path::Path;
use std::sync::Arc;

use anyctr_conformance::{
    EngineFixtures, FixtureFactory, FixtureSetup, REGISTRY_ENV, SetupReport, TrialReport, render_coverage,
    render_matrix, run_setup, trial_names,
};
use anyctr_core::{Error, Result};

use super::{ObservedFixtures, Plan};
use crate::select::ConnectOptions;

/// What to run: which setups and trials, with which image.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CertifyOptions {
    /// The image fixtures run (it must be present on every engine certified; the trials run
    /// `sleep`, `sh` and busybox's tools in it).
    pub image: String,
    /// Only setups whose name contains this.
    pub engine: Option<String>,
    /// Only trials whose name contains this.
    pub trial: Option<String>,
    /// How each setup's engine is connected.
    pub connect: ConnectOptions,
}

impl CertifyOptions {
    /// Every setup and trial, fixtures from `image`.
    pub fn new(image: impl Into<String>) -> Self {
        CertifyOptions { image: image.into(), engine: None, trial: None, connect: ConnectOptions::default() }
    }
}

/// What [`certify`] tells as it goes.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// A setup starts.
    Setup(&'a Plan),
    /// A trial of a setup ended.
    Trial(&'a Plan, &'a TrialReport),
    /// A setup could not be reached (the detail says why).
    Unreachable(&'a Plan, &'a str),
}

/// Tells progress on stderr, one line each: `== setup (address)`, `[setup] trial outcome ms detail`.
pub fn print_progress(progress: Progress<'_>) {
    match progress {
        Progress::Setup(plan) => eprintln!("== {} ({})", plan.name, plan.address),
        Progress::Trial(plan, t) => eprintln!(
            "[{}] {:<40} {:<5} {:>6} ms  {}",
            plan.name,
            t.name,
            t.outcome.symbol(),
            t.millis,
            t.detail.lines().next().unwrap_or("")
        ),
        Progress::Unreachable(plan, detail) => eprintln!("[{}] {detail}", plan.name),
    }
}

/// What a run found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Certification {
    /// One report per setup run, in plan order.
    pub reports: Vec<SetupReport>,
    /// A trial failed, the suite found a problem, or a setup that must be there was not reachable.
    pub failed: bool,
}

impl Certification {
    /// The engine × trial matrix, the capability × setup coverage and a `[setup] PROBLEM: …` line
    /// per problem, each block followed by an empty line.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n{}\n", render_matrix(&self.reports), render_coverage(&self.reports));
        for r in &self.reports {
            for problem in &r.problems {
                out.push_str(&format!("[{}] PROBLEM: {problem}\n", r.setup));
            }
        }
        out
    }

    /// The JSON report: `{"setups": [...]}`, every trial and every capability of each setup.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "setups": self.reports })
    }

    /// Writes [`json`](Self::json), pretty, to `path`.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(&self.json())
            .map_err(|e| Error::unexpected(format!("encoding the JSON report: {e}")))?;
        std::fs::write(path, text).map_err(|e| {
            let what = format!("writing the JSON report {}: {e}", path.display());
            Error::new(Error::from(e).kind(), what)
        })
    }
}

/// Runs the suite on every plan `options` selects, one after the other, telling `progress`.
/// A filter that selects nothing is `InvalidArgument` naming what there is (an empty run would
/// certify nothing while looking like a pass).
pub async fn certify(
    plans: &[Plan],
    options: &CertifyOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Certification> {
    let selected: Vec<&Plan> =
        plans.iter().filter(|p| options.engine.as_deref().is_none_or(|e| p.name.contains(e))).collect();
    if selected.is_empty() {
        let names: Vec<&str> = plans.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::invalid_argument(match &options.engine {
            Some(e) => format!("no setup matches --engine {e:?}; the setups are: {}", names.join(", ")),
            None => "no setup to certify".to_owned(),
        }));
    }
    if let Some(t) = &options.trial
        && !trial_names().iter().any(|n| n.contains(t.as_str()))
    {
        return Err(Error::invalid_argument(format!(
            "no trial matches --trial {t:?}; trials are named area.case (exec.env, lookup.name, …): {}",
            trial_areas().join(", ")
        )));
    }
    let mut reports = Vec::new();
    let mut failed = false;
    for plan in selected {
        progress(Progress::Setup(plan));
        let report = match setup_for(plan, options).await {
            Ok(setup) => run_setup(setup, options.trial.as_deref(), |t| progress(Progress::Trial(plan, t))).await,
            Err(e) => {
                let mut r = SetupReport::new(&plan.name, plan.address.split(':').next().unwrap_or("?"));
                r.detail = Some(format!("not reachable: {e}"));
                r
            }
        };
        if !report.reachable {
            // The detail already says "not reachable: <why>".
            progress(Progress::Unreachable(plan, report.detail.as_deref().unwrap_or("not reachable")));
            failed |= !plan.optional;
        }
        failed |= report.failed();
        reports.push(report);
    }
    Ok(Certification { reports, failed })
}

/// The trial areas (`exec.`, `lookup.`, …), for an error message.
fn trial_areas() -> Vec<String> {
    let areas: std::collections::BTreeSet<&str> = trial_names().iter().filter_map(|n| n.split('.').next()).collect();
    areas.into_iter().map(|a| format!("{a}.")).collect()
}

/// Connects the plan's engine (and its fixtures' maker) and states what does not apply.
async fn setup_for(plan: &Plan, options: &CertifyOptions) -> Result<FixtureSetup> {
    if let Some(docker) = &plan.export_from {
        #[cfg(feature = "oci")]
        super::prepare_oci_image(&plan.address, &options.image, docker)?;
        #[cfg(not(feature = "oci"))]
        return Err(Error::new(
            anyctr_core::ErrorKind::Unsupported,
            format!("exporting the image from {docker} is for OCI runtime setups, and this anyctr has no engine `oci`"),
        ));
    }
    let engine = crate::connect_with(&plan.address, &options.connect).await?.into_dyn();
    let fixtures = |engine| EngineFixtures {
        engine,
        image: options.image.clone(),
        runtime: plan.runtime.clone(),
        expect: plan.expect.clone(),
    };
    let factory: Arc<dyn FixtureFactory> = match &plan.made_by {
        Some(maker) => {
            let maker = fixtures(crate::connect_with(maker, &options.connect).await?.into_dyn());
            Arc::new(ObservedFixtures { maker, observer: engine.clone() })
        }
        None => Arc::new(fixtures(engine.clone())),
    };
    let mut not_applicable = plan.not_applicable.clone();
    let factory = match &plan.rotate_logs_through {
        None => factory,
        #[cfg(feature = "cri")]
        Some(cri) => {
            let config = crate::select::config_for(anyctr_core::EngineAddress::parse(cri)?, &options.connect);
            let cri = anyctr_engine_cri::connect(config).await?;
            let host_root = options.connect.host_root.clone();
            Arc::new(super::KubeletRotation { inner: factory, cri, host_root })
        }
        #[cfg(not(feature = "cri"))]
        Some(_) => {
            not_applicable.push(("logs.rotation", super::CRI_ROTATION.into()));
            factory
        }
    };
    // Honestly not applicable only when there is no registry: `cargo xtask engines up` starts one.
    if std::env::var_os(REGISTRY_ENV).is_none() {
        let why = format!(
            "{REGISTRY_ENV} is not set: no registry to pull from (`cargo xtask engines up` starts one on loopback)"
        );
        not_applicable.push(("images.pull_remove", why));
    }
    Ok(FixtureSetup { name: plan.name.clone(), engine, factory, not_applicable })
}
