//! `anyctr pods`: every engine's pods (containers grouped by their Kubernetes identity).

use std::process::ExitCode;
use std::sync::Arc;

use anyctr::pods::group_pods;
use anyctr::{MainContainerRule, Result};
use serde::Serialize;

use crate::node::Node;
use crate::output::{self, Format, or_dash};

/// One pod as `-o json|yaml` prints it.
#[derive(Serialize)]
struct PodRow {
    engine: String,
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    sandbox: Option<String>,
    /// The main container's id, when one is decided.
    main: Option<String>,
    containers: Vec<String>,
    /// Running containers (the sandbox included) over all of them.
    ready: String,
}

pub fn run(node: &Node, format: Format) -> Result<ExitCode> {
    let rows = node.list(true);
    super::warn(&node.unhealthy());
    let mut engines: Vec<&str> = rows.iter().map(|r| r.engine.as_str()).collect();
    engines.dedup();
    let mut out = Vec::new();
    for engine in engines {
        let details: Vec<Arc<anyctr::ContainerDetail>> = rows
            .iter()
            .filter(|r| r.engine == engine && r.detail.pod.is_pod_member())
            .map(|r| r.detail.clone())
            .collect();
        for pod in group_pods(&details, &MainContainerRule::default()) {
            let all: Vec<_> = pod.all().collect();
            let running = all.iter().filter(|c| c.state.status.is_running()).count();
            out.push(PodRow {
                engine: engine.to_owned(),
                name: pod.name.clone(),
                namespace: pod.namespace.clone(),
                uid: pod.uid.clone(),
                sandbox: pod.sandbox_id().map(str::to_owned),
                main: pod.main().ok().map(|c| c.id.clone()),
                containers: pod.containers.iter().map(|c| c.id.clone()).collect(),
                ready: format!("{running}/{}", all.len()),
            });
        }
    }
    match format {
        Format::Json | Format::Yaml => output::print_data(format, &out)?,
        Format::Table | Format::Wide => {
            let mut table = output::table(&["ENGINE", "POD", "NAMESPACE", "UID", "SANDBOX", "CONTAINERS", "RUNNING"]);
            for p in &out {
                table.add_row(vec![
                    p.engine.clone(),
                    or_dash(p.name.as_ref()),
                    or_dash(p.namespace.as_ref()),
                    or_dash(p.uid.as_ref()),
                    or_dash(p.sandbox.as_deref().map(anyctr::model::short_id)),
                    p.containers.len().to_string(),
                    p.ready.clone(),
                ]);
            }
            output::print_table(&table)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
