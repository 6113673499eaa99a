//! Runs a command in a container and prints its output and exit code.
//!
//! `cargo run --example exec -- <container> <program> [args…]`

use std::time::Duration;

use anyctr::ExecRequest;
use anyctr::prelude::*;

#[tokio::main]
async fn main() -> anyctr::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(container), argv) = (args.next(), args.collect::<Vec<String>>()) else {
        eprintln!("usage: exec <container> <program> [args…]");
        std::process::exit(2);
    };
    let argv = if argv.is_empty() { vec!["hostname".to_owned()] } else { argv };
    let engine = anyctr::from_env().await?;
    // Without `.timeout` the exec is bounded by anyctr::DEFAULT_EXEC_TIMEOUT (5 minutes).
    let request = ExecRequest::new(argv).timeout(Duration::from_secs(30));
    let result = engine.exec(&container, request).await?;
    print!("{}", result.stdout_lossy());
    eprint!("{}", result.stderr_lossy());
    println!("exit code {} after {:?}", result.exit_code, result.duration);
    Ok(())
}
