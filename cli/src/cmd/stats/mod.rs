//! `anyctr stats [ID…]`: resource usage of the node's running containers (or the named ones),
//! each from the cheapest correct source the library picks (the host cgroup for runc-class
//! containers, the engine's API otherwise; `-o wide` says which). A refreshing table on a
//! terminal (`q` or Ctrl-C ends it; it also ends when every named container has stopped); one
//! sample with `--no-stream`; piped, a table (or a JSON line, a YAML document) per sweep.

mod live;
mod render;
mod sample;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyctr::{Error, Result};

use crate::args::StatsArgs;
use crate::node::Node;
use crate::output::{self, Format};
use sample::{Sampler, Sweep};

/// The window `--no-stream` measures CPU use over (two samples this far apart), as docker's
/// one-shot stats measure theirs between two daemon reads.
const CPU_WINDOW: Duration = Duration::from_millis(500);

/// The shortest refresh interval accepted.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

pub async fn run(node: &Node, args: &StatsArgs) -> Result<ExitCode> {
    let interval = Duration::try_from_secs_f64(args.interval).ok().filter(|i| *i >= MIN_INTERVAL).ok_or_else(|| {
        Error::invalid_argument(format!("--interval {}: expected at least 0.2 seconds", args.interval))
    })?;
    let mut sampler = Sampler::new(node, &args.containers)?;
    let format = args.output.format;
    if args.no_stream {
        let first = sampler.sweep(node).await?;
        let sweep = match first.samples.is_empty() {
            true => first,
            false => {
                tokio::time::sleep(CPU_WINDOW).await;
                sampler.sweep(node).await?
            }
        };
        warn(&sweep);
        print(&sweep, format, false)?;
        return Ok(ExitCode::SUCCESS);
    }
    if matches!(format, Format::Table | Format::Wide) && std::io::stdout().is_terminal() {
        return live::run(node, sampler, format, interval).await;
    }
    let mut stop = std::pin::pin!(live::interrupted());
    loop {
        let sweep = sampler.sweep(node).await?;
        warn(&sweep);
        print(&sweep, format, true)?;
        if sampler.finished() {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// Prints one sweep: a table, a JSON array (on one line when `streaming`, JSON Lines), a YAML
/// document (`---`-separated when `streaming`).
fn print(sweep: &Sweep, format: Format, streaming: bool) -> Result<()> {
    match format {
        Format::Table | Format::Wide => {
            output::print_table(&render::table(sweep, format))?;
            if streaming {
                output::line("")?;
            }
            Ok(())
        }
        Format::Json if streaming => {
            let text = serde_json::to_string(&render::data(sweep))
                .map_err(|e| Error::unexpected(format!("JSON output: {e}")))?;
            output::line(text)
        }
        Format::Yaml if streaming => {
            output::line("---")?;
            output::print_data(format, &render::data(sweep))
        }
        _ => output::print_data(format, &render::data(sweep)),
    }
}

/// The sweep's problems and stopped containers, on stderr.
fn warn(sweep: &Sweep) {
    super::warn(&sweep.problems);
    for row in &sweep.gone {
        eprintln!("anyctr stats: {} ({}) stopped", row.detail.name, row.detail.short_id());
    }
}
