//! `anyctr top ID`: a container's processes (host `/proc` for a runc-class container, `/proc`
//! read inside by one exec for a sandboxed one), pid 1 and whether it reaps zombies.

use std::process::ExitCode;

use anyctr::Result;
use anyctr::model::{ContainerTop, ProcessInfo, ProcessState, ReapingEvidence};
use anyctr::prelude::*;
use comfy_table::Cell;
use serde::Serialize;

use crate::args::TopArgs;
use crate::node::Node;
use crate::output::{self, Format, bytes, or_dash};

/// The answer as `-o json|yaml` prints it: the library's `ContainerTop`, with the container.
#[derive(Serialize)]
struct JsonTop<'a> {
    engine: &'a str,
    container: &'a str,
    name: &'a str,
    #[serde(flatten)]
    top: &'a ContainerTop,
}

pub async fn run(node: &Node, args: &TopArgs) -> Result<ExitCode> {
    let row = node.resolve(&args.container)?;
    let engine = node.engine_of(&row)?;
    let top = engine.container_top(&row.detail.id).await?;
    let format = args.output.format;
    match format {
        Format::Json | Format::Yaml => output::print_data(
            format,
            &JsonTop { engine: &row.engine, container: &row.detail.id, name: &row.detail.name, top: &top },
        )?,
        Format::Table | Format::Wide => {
            let mut header = vec!["PID", "PPID", "USER", "STATE", "RSS", "TIME", "COMMAND"];
            if format == Format::Wide {
                header.insert(1, "HOST PID");
            }
            let mut table = output::table(&header);
            for p in &top.processes {
                table.add_row(cells(p, format));
            }
            output::align_right(&mut table, &header, &["PID", "HOST PID", "PPID", "RSS", "TIME"]);
            output::print_table(&table)?;
            output::line(summary(&top))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cells(p: &ProcessInfo, format: Format) -> Vec<Cell> {
    let command = match p.cmdline.is_empty() {
        true => format!("[{}]", p.name),
        false => p.cmdline.join(" ") + if p.cmdline_truncated { " …" } else { "" },
    };
    let user = p.user.clone().or_else(|| p.uid.map(|u| u.to_string()));
    let secs = p.cpu_time.as_secs();
    let mut cells = vec![
        Cell::new(p.pid),
        Cell::new(or_dash(p.ppid)),
        Cell::new(or_dash(user)),
        Cell::new(state_word(p.state)),
        Cell::new(p.rss_bytes.map_or("-".into(), bytes)),
        Cell::new(format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)),
        Cell::new(command),
    ];
    if format == Format::Wide {
        cells.insert(1, Cell::new(or_dash(p.host_pid)));
    }
    cells
}

/// A process state as `ps` spells it.
fn state_word(state: ProcessState) -> String {
    match state {
        ProcessState::Other(letter) => letter.to_string(),
        other => serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    }
}

/// The line under the table: pid 1, its reaping verdict and why, the zombies, the source.
fn summary(top: &ContainerTop) -> String {
    let verdict = match top.pid1_reaps_zombies() {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "unknown",
    };
    let why = match &top.pid1_reaping {
        ReapingEvidence::UnreapedChildren { count } => format!("{count} of its children stayed zombies"),
        ReapingEvidence::IgnoresSigchld => "it ignores SIGCHLD".into(),
        ReapingEvidence::KnownInit(name) => format!("{name} is a known init"),
        ReapingEvidence::CatchesSigchld => "it handles SIGCHLD".into(),
        ReapingEvidence::NoEvidence => "no evidence yet".into(),
        _ => "unrecognized evidence".into(),
    };
    let source = match top.source {
        anyctr::model::TopSource::HostProc => "the host's /proc",
        anyctr::model::TopSource::ExecProc => "/proc inside the container",
        _ => "another source",
    };
    format!(
        "pid 1: {}; reaps zombies: {verdict} ({why}); zombies: {}; processes: {}{}, read from {source}",
        or_dash(top.pid1_name.as_ref()),
        top.zombies,
        top.processes.len(),
        if top.truncated { " (list cut at the reader's cap)" } else { "" },
    )
}
