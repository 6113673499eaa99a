//! `anyctr who PID|--cgroup-id N`: which container (and pod) a host process or cgroup belongs
//! to, from each engine's live index.

use std::process::ExitCode;

use anyctr::prelude::*;
use anyctr::{Engine, Error, ErrorKind, IndexOptions, Result};
use serde::Serialize;

use crate::args::WhoArgs;
use crate::cmd::ps::JsonContainer;
use crate::node::Node;
use crate::output::{self, Format, or_dash};

#[derive(Serialize)]
struct Answer<'a> {
    container: JsonContainer<'a>,
    pod: Option<String>,
    found_by: String,
}

#[derive(Clone, Copy)]
enum Target {
    Pid(u32),
    CgroupId(u64),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Pid(pid) => write!(f, "pid {pid}"),
            Target::CgroupId(id) => write!(f, "cgroup id {id}"),
        }
    }
}

pub async fn run(node: &Node, args: &WhoArgs) -> Result<ExitCode> {
    let target = match (args.pid, args.cgroup_id) {
        (Some(0), _) => return Err(Error::invalid_argument("pid 0 is no process")),
        (Some(pid), _) => Target::Pid(pid),
        (None, Some(id)) => Target::CgroupId(id),
        (None, None) => return Err(Error::invalid_argument("give a PID or --cgroup-id N")),
    };
    let engines: Vec<Engine> = node.connections().into_iter().filter_map(|(_, e)| e).collect();
    let indexes =
        futures_util::future::join_all(engines.iter().map(|e| e.index(IndexOptions::default().running_only()))).await;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (engine, index) in engines.iter().zip(indexes) {
        let index = match index {
            Ok(index) => index,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let owner = match target {
            Target::Pid(pid) => index.container_of_pid(pid),
            Target::CgroupId(id) => index.container_of_cgroup_id(id),
        };
        match owner {
            Ok(owner) => found.push((engine.name().to_owned(), owner)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => errors.push(e),
        }
        index.shutdown().await;
    }
    // dockerd's containers are also containerd's (`moby`): the docker answer is the one.
    if found.iter().any(|(_, o)| o.container.namespace.is_none()) {
        found.retain(|(_, o)| o.container.namespace.as_deref() != Some("moby"));
    }
    let Some((engine, owner)) = found.into_iter().next() else {
        return Err(errors
            .into_iter()
            .next()
            .unwrap_or_else(|| Error::not_found(format!("{target} is in no container"))));
    };
    let label = crate::node::label(&engine, &owner.container);
    let answer = Answer {
        container: JsonContainer { engine: &label, detail: &owner.container },
        pod: owner.pod.as_ref().and_then(|p| p.full_name()),
        found_by: format!("{:?}", owner.found_by),
    };
    match args.output.format {
        Format::Json | Format::Yaml => output::print_data(args.output.format, &answer)?,
        Format::Table | Format::Wide => {
            let mut table = output::table(&["ENGINE", "CONTAINER", "NAME", "POD", "FOUND BY"]);
            table.add_row(vec![
                label.clone(),
                owner.container.short_id().to_owned(),
                owner.container.name.clone(),
                or_dash(answer.pod.as_ref()),
                answer.found_by.clone(),
            ]);
            output::print_table(&table)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
