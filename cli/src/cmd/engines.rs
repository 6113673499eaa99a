//! `anyctr engines`: what was detected and why, versions, runtimes, health.

use std::process::ExitCode;

use anyctr::{EngineHealth, EngineInfo, Result};
use serde::Serialize;

use crate::node::Node;
use crate::output::{self, Format, or_dash};

/// One connection as `-o json|yaml` prints it.
#[derive(Serialize)]
struct EngineRow {
    engine: String,
    /// The connection: engine, socket and, for containerd, the namespace.
    member: String,
    namespace: Option<String>,
    /// Why the node has it: the variable, the flag or the probe that named it.
    source: String,
    /// What the daemon said about itself (absent when down).
    info: Option<EngineInfo>,
    /// `healthy`, `degraded: …` or `down: …`.
    health: String,
}

/// One address considered, or one known socket probed.
#[derive(Serialize)]
struct ProbeRow {
    source: String,
    address: Option<String>,
    answered: bool,
    version: Option<String>,
    why: Option<String>,
}

#[derive(Serialize)]
struct Report {
    engines: Vec<EngineRow>,
    candidates: Vec<ProbeRow>,
    probes: Vec<ProbeRow>,
}

fn health_word(health: &EngineHealth) -> String {
    match health {
        EngineHealth::Healthy => "healthy".into(),
        EngineHealth::Degraded(why) => format!("degraded: {why}"),
        EngineHealth::Down { why, .. } => format!("down: {why}"),
        _ => "unknown".into(),
    }
}

pub async fn run(node: &Node, format: Format) -> Result<ExitCode> {
    let report = node.inner.report();
    let engines = node
        .connections()
        .into_iter()
        .map(|(s, engine)| EngineRow {
            engine: s.engine.to_string(),
            member: s.member.to_string(),
            namespace: s.namespace.clone(),
            source: s.source.to_string(),
            info: engine.map(|e| e.info().clone()),
            health: health_word(&s.health),
        })
        .collect();
    let candidates = report
        .candidates
        .iter()
        .map(|c| ProbeRow {
            source: c.source.clone(),
            address: c.address.clone(),
            answered: c.rejected.is_none(),
            version: None,
            why: c.rejected.clone(),
        })
        .collect();
    let probes = report
        .detect
        .probes
        .iter()
        .map(|p| ProbeRow {
            source: p.engine.to_owned(),
            address: Some(p.socket.display().to_string()),
            answered: p.answered,
            version: p.version.clone(),
            why: p.rejected.clone(),
        })
        .collect();
    let report = Report { engines, candidates, probes };
    match format {
        Format::Json | Format::Yaml => output::print_data(format, &report)?,
        Format::Table | Format::Wide => {
            let mut table = output::table(&["ENGINE", "CONNECTION", "VERSION", "API", "RUNTIMES", "HEALTH", "WHY"]);
            for e in &report.engines {
                let info = e.info.as_ref();
                table.add_row(vec![
                    e.engine.clone(),
                    e.member.clone(),
                    or_dash(info.map(|i| format!("{} {}", i.product, i.version))),
                    or_dash(info.and_then(|i| i.api_version.clone())),
                    or_dash(info.map(|i| i.runtimes.join(","))),
                    e.health.clone(),
                    e.source.clone(),
                ]);
            }
            output::print_table(&table)?;
            if !report.probes.is_empty() {
                output::line("")?;
                output::line("Known sockets probed:")?;
                let mut table = output::table(&["ENGINE", "SOCKET", "ANSWER"]);
                for p in &report.probes {
                    let answer = match (&p.version, &p.why) {
                        (Some(v), _) if p.answered => format!("answered, version {v}"),
                        (_, Some(why)) => format!("rejected: {why}"),
                        _ => "not tried".into(),
                    };
                    table.add_row(vec![p.source.clone(), or_dash(p.address.as_ref()), answer]);
                }
                output::print_table(&table)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
