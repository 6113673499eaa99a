//! `anyctr ps`: every engine's containers, filtered, as a table or the library's models.

use std::process::ExitCode;

use anyctr::{ContainerDetail, ContainerStatus, Error, ListOptions, Result};
use regex::Regex;
use serde::Serialize;

use crate::args::PsArgs;
use crate::node::{Node, Row};
use crate::output::{self, Format, age, or_dash, state_cell};

/// One container as `-o json|yaml` prints it: the library's `ContainerDetail`, plus the engine
/// that holds it.
#[derive(Serialize)]
pub struct JsonContainer<'a> {
    pub engine: &'a str,
    #[serde(flatten)]
    pub detail: &'a ContainerDetail,
}

/// The filters, checked before any daemon is asked.
struct Filters {
    engines: Vec<String>,
    name: Option<Regex>,
    labels: ListOptions,
    pod: Option<String>,
    namespace: Option<String>,
    state: Option<ContainerStatus>,
    runtime: Option<String>,
}

impl Filters {
    fn parse(args: &PsArgs) -> Result<Filters> {
        let name = match &args.name {
            Some(pattern) => Some(Regex::new(pattern).map_err(|e| {
                Error::invalid_argument(format!("--name {pattern:?} is not a regular expression: {e}"))
            })?),
            None => None,
        };
        let mut labels = ListOptions::all();
        for label in &args.label {
            if label.is_empty() || label.starts_with('=') {
                return Err(Error::invalid_argument(format!("--label {label:?}: expected key=value or key")));
            }
            labels = labels.label(label);
        }
        let state = match &args.state {
            Some(word) => match ContainerStatus::parse(word) {
                ContainerStatus::Unknown(_) => {
                    return Err(Error::invalid_argument(format!(
                        "--state {word:?}: expected created, running, paused, restarting, removing, exited or dead"
                    )));
                }
                status => Some(status),
            },
            None => None,
        };
        Ok(Filters {
            engines: args.engine.clone(),
            name,
            labels,
            pod: args.pod.clone(),
            namespace: args.namespace.clone(),
            state,
            runtime: args.runtime.clone(),
        })
    }

    fn admits(&self, row: &Row) -> bool {
        let d = &row.detail;
        (self.engines.is_empty() || self.engines.iter().any(|e| *e == row.engine || *e == row.engine_name))
            && self.name.as_ref().is_none_or(|re| re.is_match(&d.name))
            && self.labels.matches_labels(&d.labels)
            && self.pod.as_ref().is_none_or(|p| d.pod.pod_name.as_ref() == Some(p))
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| d.pod.namespace.as_ref() == Some(ns) || d.namespace.as_ref() == Some(ns))
            && self.state.as_ref().is_none_or(|s| *s == d.state.status)
            && self.runtime.as_ref().is_none_or(|r| r.eq_ignore_ascii_case(d.runtime.as_str()))
    }
}

/// A status as one word (`running`, `exited`, an unknown engine word verbatim).
pub fn status_word(status: &ContainerStatus) -> String {
    match status {
        ContainerStatus::Unknown(word) => word.clone(),
        other => serde_json::to_value(other).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    }
}

pub fn run(node: &Node, args: &PsArgs) -> Result<ExitCode> {
    let filters = Filters::parse(args)?;
    let rows = node.list(args.all || filters.state.as_ref().is_some_and(|s| !s.is_running()));
    super::warn(&node.unhealthy());
    let rows: Vec<Row> = rows.into_iter().filter(|r| filters.admits(r)).collect();
    let format = args.output.format;
    match format {
        Format::Json | Format::Yaml => {
            let out: Vec<JsonContainer<'_>> =
                rows.iter().map(|r| JsonContainer { engine: &r.engine, detail: &r.detail }).collect();
            output::print_data(format, &out)?;
        }
        Format::Table | Format::Wide => {
            let mut header =
                vec!["ENGINE", "CONTAINER", "NAME", "POD", "NAMESPACE", "RUNTIME", "STATE", "PID", "IMAGE", "CREATED"];
            if format == Format::Wide {
                header.extend(["LOG", "ROOTFS/MERGED"]);
            }
            let mut table = output::table(&header);
            for row in &rows {
                let d = &row.detail;
                let mut cells = vec![
                    comfy_table::Cell::new(&row.engine),
                    comfy_table::Cell::new(d.short_id()),
                    comfy_table::Cell::new(&d.name),
                    comfy_table::Cell::new(or_dash(d.pod.pod_name.as_ref())),
                    comfy_table::Cell::new(or_dash(d.pod.namespace.as_ref())),
                    comfy_table::Cell::new(d.runtime.as_str()),
                    state_cell(&status_word(&d.state.status)),
                    comfy_table::Cell::new(or_dash(d.state.pid.filter(|p| *p > 0))),
                    comfy_table::Cell::new(&d.image),
                    comfy_table::Cell::new(age(d.created)),
                ];
                if format == Format::Wide {
                    cells.push(comfy_table::Cell::new(or_dash(d.log_path.as_ref().map(|p| p.display()))));
                    cells.push(comfy_table::Cell::new(d.rootfs.to_string()));
                }
                table.add_row(cells);
            }
            output::print_table(&table)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
