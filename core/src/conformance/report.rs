use serde::Serialize;

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The capability is not claimed and the call returned `Unsupported`, as declared.
    Unsupported,
    /// Does not apply to this setup (said why in the detail).
    Skipped,
}

impl Outcome {
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
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub millis: u64,
}

impl TrialReport {
    pub fn new(name: &'static str, outcome: Outcome, detail: String, millis: u64) -> Self {
        TrialReport { name, outcome, detail, millis }
    }
}

/// The results of one setup (`docker/runc`, …).
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub setup: String,
    pub engine: String,
    pub reachable: bool,
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub trials: Vec<TrialReport>,
}

impl SetupReport {
    pub fn new(setup: &str, engine: &str) -> Self {
        SetupReport {
            setup: setup.to_owned(),
            engine: engine.to_owned(),
            reachable: false,
            version: None,
            detail: None,
            trials: Vec::new(),
        }
    }

    pub fn push(&mut self, trial: TrialReport) {
        self.trials.push(trial);
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.trials.iter().filter(|t| t.outcome == outcome).count()
    }

    /// Failed trials, or a failure to tidy up: anything that should make the run exit non-zero.
    pub fn failed(&self) -> bool {
        self.count(Outcome::Fail) > 0 || (self.reachable && self.detail.is_some())
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
    let width = names.iter().map(|n| n.len()).max().unwrap_or(5).max(5);
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
    out
}
