//! `anyctr`, the command line: one view of a node's containers across every engine it runs.
//! Exit codes: see [`exit`].
#![forbid(unsafe_code)]

mod args;
mod cmd;
mod exit;
mod node;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::node::{Node, Where};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => exit::BAD_INPUT,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "anyctr", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return exit::report("", &anyctr::Error::from(e)),
    };
    let name = command_name(&cli.command);
    let code = runtime.block_on(run(cli));
    // Do not wait for tasks still parked on a daemon (a follow, an index worker).
    runtime.shutdown_timeout(Duration::from_millis(100));
    match code {
        Ok(code) => code,
        Err(e) => exit::report(name, &e),
    }
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Engines(_) => "engines",
        Command::Ps(_) => "ps",
        Command::Pods(_) => "pods",
        Command::Inspect(_) => "inspect",
        Command::Exec(_) => "exec",
        Command::Cp(_) => "cp",
        Command::Logs(_) => "logs",
        Command::HostPath(_) => "host-path",
        Command::Who(_) => "who",
        Command::Events(_) => "events",
        Command::Stats(_) => "stats",
        Command::Top(_) => "top",
        Command::Conformance(_) => "conformance",
        Command::Completions { .. } => "completions",
    }
}

async fn run(cli: Cli) -> anyctr::Result<ExitCode> {
    let connect = anyctr::ConnectOptions::default().call_timeout(Duration::from_secs(cli.call_timeout.max(1)));
    // What needs no engine is checked before connecting any.
    if let Command::Conformance(args) = &cli.command {
        cmd::conformance::image(args)?;
    }
    let at = Where { addresses: cli.addresses, connect: connect.clone() };
    let node = Node::connect(&at).await?;
    match cli.command {
        Command::Engines(args) => cmd::engines::run(&node, args.format).await,
        Command::Ps(args) => cmd::ps::run(&node, &args),
        Command::Pods(args) => cmd::pods::run(&node, args.format),
        Command::Inspect(args) => cmd::inspect::run(&node, &args).await,
        Command::Exec(args) => cmd::exec::run(&node, args).await,
        Command::Cp(args) => cmd::cp::run(&node, &args).await,
        Command::Logs(args) => cmd::logs::run(&node, &args).await,
        Command::HostPath(args) => cmd::host_path::run(&node, &args),
        Command::Who(args) => cmd::who::run(&node, &args).await,
        Command::Events(args) => cmd::events::run(&node, &args).await,
        Command::Stats(args) => cmd::stats::run(&node, &args).await,
        Command::Top(args) => cmd::top::run(&node, &args).await,
        Command::Conformance(args) => cmd::conformance::run(&node, &args, connect).await,
        // Answered before any engine is connected.
        Command::Completions { .. } => Ok(ExitCode::SUCCESS),
    }
}
