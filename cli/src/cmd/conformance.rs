//! `anyctr conformance`: the suite on this node's engines, one setup per engine × runtime
//! (`anyctr::certify::node_plans`), the matrix, and exit code 3 when anything failed.

use std::io::Write;
use std::process::ExitCode;

use anyctr::certify::{CertifyOptions, certify, node_plans, print_progress};
use anyctr::{ConnectOptions, Error, ErrorKind, Result};

use crate::args::{ConformanceArgs, ConformanceFormat};
use crate::exit;
use crate::node::Node;
use crate::output;

/// The image the fixtures run: `--image`, else `ANYCTR_TEST_IMAGE` (clap reads both).
pub fn image(args: &ConformanceArgs) -> Result<String> {
    match args.image.as_deref().map(str::trim) {
        Some(image) if !image.is_empty() => Ok(image.to_owned()),
        _ => Err(Error::invalid_argument(
            "the fixtures need an image present on the engines (they run sleep, sh and busybox's tools in it): \
             give --image IMAGE or set ANYCTR_TEST_IMAGE, e.g. busybox:latest",
        )),
    }
}

pub async fn run(node: &Node, args: &ConformanceArgs, connect: ConnectOptions) -> Result<ExitCode> {
    let found = node_plans(&node.inner, &connect).await;
    if found.plans.is_empty() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("no engine of this node can be certified: {}", found.notes.join("; ")),
        ));
    }
    let mut options = CertifyOptions::new(image(args)?);
    options.engine = args.engine.clone();
    options.trial = args.trial.clone();
    options.connect = connect;
    // What is not certified is told once the run starts: a filter that matches nothing is then
    // the one line the command prints.
    let mut notes = Some(found.notes);
    let run = certify(&found.plans, &options, |progress| {
        for note in notes.take().into_iter().flatten() {
            eprintln!("anyctr conformance: not certified: {note}");
        }
        print_progress(progress)
    })
    .await?;
    match args.format {
        ConformanceFormat::Table => output::written(std::io::stdout().lock().write_all(run.render().as_bytes()))?,
        ConformanceFormat::Json => output::print_data(output::Format::Json, &run.json())?,
    }
    if let Some(path) = &args.json {
        run.write_json(path)?;
        eprintln!("anyctr conformance: JSON report: {}", path.display());
    }
    Ok(match run.failed {
        true => ExitCode::from(exit::CONFORMANCE_FAILED),
        false => ExitCode::SUCCESS,
    })
}
