//! `anyctr inspect ID…`: the library's `ContainerDetail` of each, with its engine.

use std::process::ExitCode;

use anyctr::{Error, Result};

use crate::args::InspectArgs;
use crate::cmd::ps::JsonContainer;
use crate::node::Node;
use crate::output::{self, Format};

pub async fn run(node: &Node, args: &InspectArgs) -> Result<ExitCode> {
    if matches!(args.format, Format::Table | Format::Wide) {
        return Err(Error::invalid_argument("inspect prints json or yaml (-o json|yaml)"));
    }
    // As the owning engine answers now, not the index's copy.
    let mut rows = Vec::new();
    for key in &args.containers {
        let row = node.resolve(key)?;
        let fresh = node.inner.inspect(&row.detail.id).await?;
        rows.push((row.engine, fresh));
    }
    let out: Vec<JsonContainer<'_>> = rows.iter().map(|(engine, detail)| JsonContainer { engine, detail }).collect();
    output::print_data(args.format, &out)?;
    Ok(ExitCode::SUCCESS)
}
