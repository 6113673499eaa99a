#![forbid(unsafe_code)]
//! `cargo xtask …`: the project's tasks, above all the real-engine harness the tests run on.
//!
//! - `engines up|down|status`: containerd (CRI; handlers runc, crun, runsc, rund), dockerd
//!   (runtimes runc, crun, runsc, rund) and the Podman API service (runc) on the harness's own
//!   sockets; see `engines/up.sh` and `engines/podman-up.sh`.
//!   `up` writes `/run/anyctr-engines/env` (ANYCTR_* variables for the tests, DOCKER_HOST
//!   and CONTAINERD_ADDRESS for the CLIs).
//! - `test [ARGS]`: engines up, then `cargo test --workspace [ARGS]` with the ANYCTR_* variables.
//! - `ci`: what `.ci/run` runs: prerequisites, fmt, check-deps, clippy, build, package, engines
//!   up, test, and engines down if this run brought them up.
//! - `check-deps`: the dependency directions between the workspace crates (ARCHITECTURE.md).
//! - `conformance [ARGS]`, `bench [ARGS]`: engines up, then the conformance example or
//!   `cargo bench --workspace`.
//!
//! Knobs (environment): ENGINES_NAME (default `anyctr-engines`) names the instance and its
//! dirs /run/NAME and /var/lib/NAME; a second instance gets its own bridges and subnets derived
//! from its name (ENGINES_BRIDGE, ENGINES_BRIDGE_CIDR, ENGINES_CRI_BRIDGE and ENGINES_CRI_SUBNET
//! override them).
//!
//! This crate depends on no workspace crate on purpose: those need protoc to build, and
//! installing protoc on a fresh machine is one of the things `cargo xtask ci` does.

mod apt;
mod ci;
mod cmd;
mod deps;
mod engines;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engines::Layout;

/// Project tasks. Engines live on dedicated paths named by ENGINES_NAME
/// (default anyctr-engines: /run/anyctr-engines, /var/lib/anyctr-engines).
#[derive(Parser)]
#[command(name = "xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Manage the real containerd (with CRI) and dockerd the integration tests use
    #[command(subcommand)]
    Engines(EnginesAction),
    /// Engines up, then `cargo test --workspace [ARGS]` with the engines' env
    Test {
        /// Passed on to `cargo test --workspace` (e.g. `-p anyctr-engine-docker -- --nocapture`)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Exactly what CI runs: prerequisites, fmt, check-deps, clippy, build, package, engines up,
    /// test, engines down
    Ci,
    /// Fail if a workspace crate depends on one it must not (the directions of ARCHITECTURE.md)
    CheckDeps,
    /// Engines up, then the conformance runner (`cargo run -p anyctr --example conformance -- ARGS`)
    Conformance {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Engines up, then `cargo bench --workspace [ARGS]`
    Bench {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum EnginesAction {
    /// Install what is missing, start (or adopt) containerd and dockerd, load the images,
    /// smoke-test, write the env file. Idempotent and fast when everything is up.
    Up {
        /// Skip the smoke tests (`docker run` with runc and rund, `podman run`)
        #[arg(long)]
        no_smoke: bool,
        /// Bring up only this engine, leaving the others exactly as they are
        #[arg(long, value_enum)]
        only: Option<engines::Only>,
    },
    /// Remove the harness's containers, stop the daemons `up` started, delete its dirs and bridges
    Down,
    /// Per daemon: pid, alive, socket, answering, version. Exits 1 unless all are up and answering
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let layout = Layout::from_env();
    let result = match cli.task {
        Task::Engines(EnginesAction::Up { no_smoke, only }) => engines::up_only(&layout, !no_smoke, only),
        Task::Engines(EnginesAction::Down) => engines::down(&layout),
        Task::Engines(EnginesAction::Status) if status::status(&layout) => Ok(()),
        Task::Engines(EnginesAction::Status) => return ExitCode::FAILURE,
        Task::Test { args } => ci::test(&layout, &args),
        Task::Ci => ci::ci(&layout),
        Task::CheckDeps => ci::check_deps(),
        Task::Conformance { args } => ci::conformance(&layout, &args),
        Task::Bench { args } => ci::bench(&layout, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Task {
        Cli::try_parse_from(std::iter::once("xtask").chain(words.iter().copied())).expect("parses").task
    }

    #[test]
    fn pass_through_arguments_reach_cargo_verbatim() {
        let Task::Test { args } = parse(&["test", "-p", "anyctr-engine-docker", "--", "--nocapture"]) else {
            panic!("not test")
        };
        assert_eq!(args, ["-p", "anyctr-engine-docker", "--", "--nocapture"]);
        let Task::Conformance { args } = parse(&["conformance", "--engine", "docker", "--json", "r.json"]) else {
            panic!("not conformance")
        };
        assert_eq!(args, ["--engine", "docker", "--json", "r.json"]);
        let Task::Bench { args } = parse(&["bench"]) else { panic!("not bench") };
        assert!(args.is_empty());
    }

    #[test]
    fn engines_actions_parse() {
        assert!(matches!(
            parse(&["engines", "up", "--no-smoke"]),
            Task::Engines(EnginesAction::Up { no_smoke: true, only: None })
        ));
        assert!(matches!(
            parse(&["engines", "up", "--only", "podman"]),
            Task::Engines(EnginesAction::Up { no_smoke: false, only: Some(engines::Only::Podman) })
        ));
        assert!(Cli::try_parse_from(["xtask", "engines", "up", "--only", "pouch"]).is_err());
        assert!(matches!(parse(&["engines", "down"]), Task::Engines(EnginesAction::Down)));
        assert!(matches!(parse(&["engines", "status"]), Task::Engines(EnginesAction::Status)));
        assert!(Cli::try_parse_from(["xtask", "engines", "restart"]).is_err());
        assert!(matches!(parse(&["check-deps"]), Task::CheckDeps));
    }
}
