//! `anyctr host-path ID PATH`: where a container path lives on this host, and how that was found.

use std::process::ExitCode;

use anyctr::{HostPathSource, Result};

use crate::args::HostPathArgs;
use crate::node::Node;
use crate::output::{self, Format};

pub fn run(node: &Node, args: &HostPathArgs) -> Result<ExitCode> {
    let row = node.resolve(&args.container)?;
    let found = node.inner.host_path(&row.detail.id, &args.path)?;
    match args.output.format {
        Format::Json | Format::Yaml => output::print_data(args.output.format, &found)?,
        Format::Wide => {
            let from = match &found.source {
                HostPathSource::MergedRootfs => "merged rootfs".to_owned(),
                other => serde_json::to_string(other).unwrap_or_default(),
            };
            output::line(format_args!(
                "{}\t{from}\t{}",
                found.path.display(),
                if found.writable { "rw" } else { "ro" }
            ))?;
        }
        Format::Table => output::line(found.path.display())?,
    }
    Ok(ExitCode::SUCCESS)
}
