//! Which engines a node has: every address the environment names (each engine's own variables,
//! all of them, not only the first by precedence as [`from_env`](crate::from_env) takes) and every
//! known socket that answers (detection, as [`Engines::detect`](crate::Engines::detect)). Each
//! candidate is explained in the [`NodeReport`].

use std::fmt;
use std::path::PathBuf;

use anyctr_core::{EngineAddress, EnvRole, Registry};

use crate::detect::{self, DetectReport};
use crate::env::{ANYCTR_ADDRESS, with_params};
use crate::select::ConnectOptions;

/// An address the node will connect, and why.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub address: EngineAddress,
    /// `DOCKER_HOST=unix:///…`, `probed: docker answered on /var/run/docker.sock (20.10.24)`, `given`.
    pub source: String,
}

/// What the node found and did, candidate by candidate.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NodeReport {
    /// Addresses taken from the environment or given, and unusable variables, in order.
    pub candidates: Vec<CandidateReport>,
    /// The probe of every known socket (sockets an address above already named are skipped).
    pub detect: DetectReport,
}

/// One address considered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CandidateReport {
    /// Where it came from.
    pub source: String,
    /// The address, when one could be read.
    pub address: Option<String>,
    /// Why it was not used (an unusable variable); `None` when it was.
    pub rejected: Option<String>,
}

impl fmt::Display for NodeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.candidates {
            match (&c.address, &c.rejected) {
                (_, Some(why)) => writeln!(f, "{:<45} rejected: {why}", c.source)?,
                (Some(a), None) => writeln!(f, "{:<45} {a}", c.source)?,
                (None, None) => writeln!(f, "{}", c.source)?,
            }
        }
        write!(f, "{}", self.detect)
    }
}

/// Every address variable of every compiled-in engine that is set (and `ANYCTR_ADDRESS`), as
/// candidates; one per socket (the first by precedence). Unusable values are reported, not fatal:
/// the node still connects what it can.
pub(crate) fn from_env(
    registry: &Registry,
    get: &impl Fn(&str) -> Option<String>,
    report: &mut NodeReport,
) -> Vec<Candidate> {
    let mut variables: Vec<(Option<&'static str>, &'static str, EnvRole, i32)> =
        vec![(None, ANYCTR_ADDRESS, EnvRole::Endpoint, 0)];
    for r in registry.iter() {
        for v in r.env_vars {
            if matches!(v.role, EnvRole::Address | EnvRole::Endpoint) {
                variables.push((Some(r.name), v.name, v.role, v.precedence));
            }
        }
    }
    variables.sort_by_key(|(_, _, _, precedence)| *precedence);
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen_vars: Vec<&str> = Vec::new();
    for (engine, variable, role, _) in variables {
        if seen_vars.contains(&variable) {
            continue;
        }
        seen_vars.push(variable);
        let Some(value) = get(variable) else { continue };
        let source = format!("{variable}={value}");
        let mut address = match EngineAddress::parse(&value) {
            Ok(a) => a,
            Err(e) => {
                let rejected = Some(format!("not a usable engine address: {}", e.message()));
                report.candidates.push(CandidateReport { source, address: None, rejected });
                continue;
            }
        };
        if role == EnvRole::Address && address.engine.is_none() {
            address.engine = engine.map(str::to_owned);
        }
        if address.socket.is_none() {
            let rejected = Some("names no socket".to_owned());
            report.candidates.push(CandidateReport { source, address: Some(address.to_string()), rejected });
            continue;
        }
        let address = with_params(registry, address, get);
        if out.iter().any(|c| c.address.socket == address.socket) {
            let rejected = Some("socket already named by a variable read before".to_owned());
            report.candidates.push(CandidateReport { source, address: Some(address.to_string()), rejected });
            continue;
        }
        report.candidates.push(CandidateReport {
            source: source.clone(),
            address: Some(address.to_string()),
            rejected: None,
        });
        out.push(Candidate { address, source });
    }
    out
}

/// Probes every known socket no candidate names yet, and adds those that answered.
pub(crate) async fn probed(
    registry: &Registry,
    options: &ConnectOptions,
    get: &impl Fn(&str) -> Option<String>,
    taken: &[PathBuf],
) -> (Vec<Candidate>, DetectReport) {
    let report = detect::run_except(registry, options, taken).await;
    let mut out = Vec::new();
    for p in report.probes.iter().filter(|p| p.answered) {
        let address = with_params(registry, EngineAddress::new(p.engine, p.socket.clone()), get);
        let source = format!(
            "probed: {} answered on {} ({})",
            p.engine,
            p.socket.display(),
            p.version.as_deref().unwrap_or("?")
        );
        out.push(Candidate { address, source });
    }
    (out, report)
}

/// The OCI runtimes' roots (`oci://`: the known defaults and those running daemons name), when
/// the engine is compiled in and no candidate reads them already: the node's fallback source.
pub(crate) fn runtime_fallback(
    registry: &Registry,
    candidates: &[Candidate],
    report: &mut NodeReport,
) -> Option<Candidate> {
    let engine = crate::node::view::RUNTIME_ENGINE;
    registry.find(engine)?;
    if candidates.iter().any(|c| c.address.engine.as_deref() == Some(engine)) {
        return None;
    }
    let address = EngineAddress::parse("oci://").ok()?;
    let source = "runtime roots: containers whose daemon does not answer".to_owned();
    report.candidates.push(CandidateReport {
        source: source.clone(),
        address: Some(address.to_string()),
        rejected: None,
    });
    Some(Candidate { address, source })
}
