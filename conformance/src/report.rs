//! What a conformance run found: per setup, every trial's outcome, every capability's coverage,
//! and any problem outside the trials (a fixture left behind, a capability no trial covered).

use serde::Serialize;

use anyctr_core::capability::Support;

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The trial passed.
    Pass,
    /// The trial failed.
    Fail,
    /// The capability is not claimed and the call returned `Unsupported`, as declared.
    Unsupported,
    /// The setup declared up front that it does not apply (the reason is the detail).
    Skipped,
}

impl Outcome {
    /// One symbol for matrices.
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Unsupported => "unsup",
            Outcome::Skipped => "skip",
        }
    }
}

/// One trial's result.
#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    /// The trial's name.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Outcome,
    /// What it found, in words.
    pub detail: String,
    /// How long it ran.
    pub millis: u64,
}

impl TrialReport {
    /// A trial's report.
    pub fn new(name: &'static str, outcome: Outcome, detail: String, millis: u64) -> Self {
        TrialReport { name, outcome, detail, millis }
    }
}

/// The results of one setup (`docker/runc`, …).
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    /// The setup's name (`docker/runc`).
    pub setup: String,
    /// The engine it connected to.
    pub engine: String,
    /// Whether the engine answered.
    pub reachable: bool,
    /// The daemon's version.
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why the setup did not run, or what failed around its trials.
    pub detail: Option<String>,
    /// Every trial, in order.
    pub trials: Vec<TrialReport>,
    /// Every capability of the fixture, and the trials that stand behind its flag.
    pub capabilities: Vec<CapabilityReport>,
    /// What went wrong outside the trials; any entry fails the run.
    pub problems: Vec<String>,
}

/// How one capability's flag was checked on a setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Coverage {
    /// Claimed, and these trials ran on it.
    Exercised {
        /// The trials.
        trials: Vec<&'static str>,
    },
    /// Not claimed, and this trial asked the engine (its outcome says whether it refused).
    DeclaredUnsupported {
        /// The trial.
        trial: &'static str,
    },
    /// Claimed, but the setup declared its trials not applicable.
    NotApplicable {
        /// Why.
        reason: String,
    },
    /// No trial stands behind the flag: fails the run.
    NotCovered {
        /// Why.
        why: String,
    },
    /// The run was limited to other trials.
    NotRun,
}

/// One capability on one setup.
#[derive(Debug, Clone, Serialize)]
pub struct CapabilityReport {
    /// The capability's name.
    pub capability: &'static str,
    /// What the fixture's capabilities claim.
    pub support: Support,
    #[serde(flatten)]
    /// How the suite covered it.
    pub coverage: Coverage,
}

impl SetupReport {
    /// An empty report for a setup.
    pub fn new(setup: &str, engine: &str) -> Self {
        SetupReport {
            setup: setup.to_owned(),
            engine: engine.to_owned(),
            reachable: false,
            version: None,
            detail: None,
            trials: Vec::new(),
            capabilities: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Adds a trial's report.
    pub fn push(&mut self, trial: TrialReport) {
        self.trials.push(trial);
    }

    /// How many trials ended with `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.trials.iter().filter(|t| t.outcome == outcome).count()
    }

    /// Failed trials, or a problem outside them: anything that should make the run exit non-zero.
    pub fn failed(&self) -> bool {
        self.count(Outcome::Fail) > 0 || !self.problems.is_empty()
    }
}

/// Renders an engine × trial matrix: one row per trial, one column per setup, then totals.
pub fn render_matrix(setups: &[SetupReport]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for s in setups {
        for t in &s.trials {
            if !names.contains(&t.name) {
                names.push(t.name);
            }
        }
    }
    // The totals' labels are rows too: a run of short trial names (`--trial exec.env`) must not cut them.
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0).max("total unsupported".len());
    let col = setups.iter().map(|s| s.setup.len()).max().unwrap_or(4).max(6);
    let mut out = format!("{:<width$}", "trial");
    for s in setups {
        out.push_str(&format!("  {:>col$}", s.setup));
    }
    out.push('\n');
    for name in &names {
        out.push_str(&format!("{name:<width$}"));
        for s in setups {
            let cell = if !s.reachable {
                "n/r"
            } else {
                s.trials.iter().find(|t| t.name == *name).map(|t| t.outcome.symbol()).unwrap_or("-")
            };
            out.push_str(&format!("  {cell:>col$}"));
        }
        out.push('\n');
    }
    for (label, outcome) in [
        ("passed", Outcome::Pass),
        ("failed", Outcome::Fail),
        ("unsupported", Outcome::Unsupported),
        ("skipped", Outcome::Skipped),
    ] {
        out.push_str(&format!("{:<width$}", format!("total {label}")));
        for s in setups {
            let cell = if s.reachable { s.count(outcome).to_string() } else { "not reachable".into() };
            out.push_str(&format!("  {cell:>col$}"));
        }
        out.push('\n');
    }
    out.push_str(&format!("{:<width$}", "problems"));
    for s in setups {
        let cell = if s.reachable { s.problems.len().to_string() } else { "not reachable".into() };
        out.push_str(&format!("  {cell:>col$}"));
    }
    out.push('\n');
    out
}

/// Renders a capability × setup matrix: how each setup's flag was checked. `N 5/5`: claimed
/// (`N`ative or `E`mulated), 5 of 5 trials passed; `unsup`: not claimed and refused; `LIES`: not
/// claimed but the engine did not refuse; `n/a`: declared not applicable; `NONE`: no trial.
pub fn render_coverage(setups: &[SetupReport]) -> String {
    let width = anyctr_core::capability::Capabilities::NAMES.iter().map(|n| n.len()).max().unwrap_or(10).max(10);
    let col = setups.iter().map(|s| s.setup.len()).max().unwrap_or(4).max(6);
    let mut out = format!("{:<width$}", "capability");
    for s in setups {
        out.push_str(&format!("  {:>col$}", s.setup));
    }
    out.push('\n');
    for name in anyctr_core::capability::Capabilities::NAMES {
        out.push_str(&format!("{name:<width$}"));
        for s in setups {
            let cell = match s.capabilities.iter().find(|c| c.capability == *name) {
                _ if !s.reachable => "n/r".to_owned(),
                None => "-".to_owned(),
                Some(c) => coverage_cell(s, c),
            };
            out.push_str(&format!("  {cell:>col$}"));
        }
        out.push('\n');
    }
    out
}

fn coverage_cell(setup: &SetupReport, c: &CapabilityReport) -> String {
    let outcome = |name: &str| setup.trials.iter().find(|t| t.name == name).map(|t| t.outcome);
    match &c.coverage {
        Coverage::Exercised { trials } => {
            let passed = trials.iter().filter(|t| outcome(t) == Some(Outcome::Pass)).count();
            format!("{} {passed}/{}", c.support.letter(), trials.len())
        }
        Coverage::DeclaredUnsupported { trial } if outcome(trial) == Some(Outcome::Unsupported) => "unsup".into(),
        Coverage::DeclaredUnsupported { .. } => "LIES".into(),
        Coverage::NotApplicable { .. } => "n/a".into(),
        Coverage::NotCovered { .. } => "NONE".into(),
        Coverage::NotRun => ".".into(),
    }
}
