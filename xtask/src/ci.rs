//! `cargo xtask ci|test|conformance|bench`: cargo runs that need the real engines.

use std::ffi::OsString;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::engines::{self, Layout};
use crate::{apt, cmd, deps};

const MINUTE: Duration = Duration::from_secs(60);
// Generous bounds, each well inside CI's 90 minutes: a hung step must end with a message
// naming it (and still bring the engines down), not with CI killing everything.
const FMT_LIMIT: Duration = Duration::from_secs(5 * 60);
const BUILD_LIMIT: Duration = Duration::from_secs(40 * 60);
const TEST_LIMIT: Duration = Duration::from_secs(30 * 60);
const TOOL_LIMIT: Duration = Duration::from_secs(10 * 60);

/// The cargo that runs xtask (`cargo run` sets CARGO), so every step uses one toolchain.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// `cargo <args>` with the engines' env, so integration tests find the engines.
fn cargo_with_engines(layout: &Layout, args: &[String]) -> Command {
    let mut c = cargo();
    c.args(args).envs(layout.test_env());
    c
}

/// Every library crate packages as crates.io would take it (manifests, versions on every path
/// dependency, the files its tests need inside the crate). Without verification: building each
/// packaged crate on its own takes far longer than CI can spare (see ARCHITECTURE.md); the
/// build and test steps compile the same sources. `--allow-dirty`: a developer runs this with
/// edits not yet committed.
const PACKAGE: [&str; 7] = ["cargo", "package", "--workspace", "--exclude", "xtask", "--no-verify", "--allow-dirty"];

/// Numbered steps with a header (name, time since start) and a result line (duration).
struct Steps {
    total: usize,
    done: usize,
    start: Instant,
}

impl Steps {
    fn run(&mut self, name: &str, step: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        self.done += 1;
        let n = format!("[{}/{}]", self.done, self.total);
        println!("\n==> {n} {name}   (ci +{})", cmd::secs(self.start.elapsed()));
        let began = Instant::now();
        let result = step();
        let took = cmd::secs(began.elapsed());
        match &result {
            Ok(()) => println!("<== {n} {name}: ok in {took}"),
            Err(_) => println!("<== {n} {name}: FAILED after {took}"),
        }
        result.map_err(|e| format!("ci stopped at step {n} ({name}): {e}"))
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.done += 1;
        println!("\n==> [{}/{}] {name}: skipped ({why})", self.done, self.total);
    }
}

/// Exactly what CI runs, in order, stopping at the first failure. The engines come down
/// at the end (also after a failure) only if this run brought them up.
pub fn ci(layout: &Layout) -> Result<(), String> {
    let mut steps = Steps { total: 11, done: 0, start: Instant::now() };
    steps.run("prerequisites: protoc, rustfmt, clippy", || prerequisites(layout))?;
    steps.run("cargo fmt --all -- --check", || {
        cmd::run_ok(cargo().args(["fmt", "--all", "--", "--check"]), FMT_LIMIT)
    })?;
    steps.run("cargo xtask check-deps", check_deps)?;
    let clippy = ["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"];
    steps.run("cargo clippy --workspace --all-targets -- -D warnings", || {
        cmd::run_ok(cargo().args(clippy), BUILD_LIMIT)
    })?;
    let build = ["build", "--workspace", "--all-targets"];
    steps.run("cargo build --workspace --all-targets", || cmd::run_ok(cargo().args(build), BUILD_LIMIT))?;
    // Broken intra-doc links and missing docs fail here, not on docs.rs.
    let doc = ["doc", "--no-deps", "--workspace"];
    steps.run("cargo doc --no-deps --workspace (RUSTDOCFLAGS=-D warnings)", || {
        cmd::run_ok(cargo().args(doc).env("RUSTDOCFLAGS", "-D warnings"), BUILD_LIMIT)
    })?;
    steps.run(&PACKAGE.join(" "), || cmd::run_ok(cargo().args(&PACKAGE[1..]), BUILD_LIMIT))?;

    let were_up = layout.any_running();
    let mut result = steps.run("engines up", || engines::up(layout, true));
    if result.is_ok() {
        // --no-fail-fast: one failing test binary must not hide the others' results.
        let test = ["test", "--workspace", "--no-fail-fast"].map(String::from);
        result = steps.run("cargo test --workspace --no-fail-fast", || {
            cmd::run_ok(&mut cargo_with_engines(layout, &test), TEST_LIMIT)
        });
        let report = layout.run.join("conformance.json").display().to_string();
        let conformance = steps.run("conformance matrix", || {
            cmd::run_ok(
                &mut cargo_with_engines(layout, &conformance_args(&["--json".into(), report.clone()])),
                TEST_LIMIT,
            )
        });
        result = result.and(conformance);
    } else {
        steps.skip("cargo test --workspace --no-fail-fast", "engines up failed");
        steps.skip("conformance matrix", "engines up failed");
    }
    if were_up {
        steps.skip("engines down", "the engines were up before this run, so they stay up");
    } else {
        let down = steps.run("engines down", || engines::down(layout));
        result = result.and(down);
    }
    if result.is_ok() {
        println!("\nci: passed in {}", cmd::secs(steps.start.elapsed()));
    }
    result
}

/// The dependency directions between the workspace crates (see `deps`).
pub fn check_deps() -> Result<(), String> {
    deps::check(&mut cargo())
}

/// What building needs beyond cargo: protoc (the workspace's gRPC crates compile .proto
/// files) and the rustfmt and clippy components the next steps run.
fn prerequisites(layout: &Layout) -> Result<(), String> {
    let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| OsString::from("protoc"));
    let has_protoc = cmd::capture(Command::new(&protoc).arg("--version"), MINUTE).is_ok_and(|o| o.status.success());
    if has_protoc {
        println!("protoc: present");
    } else {
        apt::ensure(&["protobuf-compiler"], &layout.run.join("log/apt.log"))?;
    }
    let has = |sub: &str| cmd::capture(cargo().args([sub, "--version"]), MINUTE).is_ok_and(|o| o.status.success());
    if has("fmt") && has("clippy") {
        println!("rustfmt, clippy: present");
        return Ok(());
    }
    cmd::run_ok(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]), TOOL_LIMIT)
        .map_err(|e| format!("rustfmt or clippy is missing and could not be added: {e}"))
}

/// Engines up, then `cargo test --workspace [args]` with the engines' env. The engines
/// stay up afterwards (a developer runs this again and again).
pub fn test(layout: &Layout, extra: &[String]) -> Result<(), String> {
    engines::up(layout, true)?;
    let mut args = vec!["test".to_owned()];
    // cargo lets --workspace override -p; a developer who names packages wants just those
    if !selects_packages(extra) {
        args.push("--workspace".to_owned());
    }
    args.extend_from_slice(extra);
    run_timed(&mut cargo_with_engines(layout, &args), TEST_LIMIT)
}

/// Whether cargo arguments (before a `--`) choose packages with -p/--package.
fn selects_packages(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| a.starts_with("-p") || a.starts_with("--package"))
}

/// Engines up, then the conformance runner (the `conformance` example of the anyctr crate).
pub fn conformance(layout: &Layout, extra: &[String]) -> Result<(), String> {
    engines::up(layout, true)?;
    run_timed(&mut cargo_with_engines(layout, &conformance_args(extra)), TEST_LIMIT)
}

/// The conformance runner's cargo arguments. A debug build: it reuses what the tests built, and
/// the suite's time goes to the daemons, not to our code.
fn conformance_args(extra: &[String]) -> Vec<String> {
    let mut args = ["run", "-p", "anyctr", "--example", "conformance", "--"].map(String::from).to_vec();
    args.extend_from_slice(extra);
    args
}

/// Engines up, then `cargo bench --workspace [args]`.
pub fn bench(layout: &Layout, extra: &[String]) -> Result<(), String> {
    engines::up(layout, true)?;
    let mut args = vec!["bench".to_owned(), "--workspace".to_owned()];
    args.extend_from_slice(extra);
    run_timed(&mut cargo_with_engines(layout, &args), BUILD_LIMIT)
}

fn run_timed(command: &mut Command, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    println!("\n==> {}", cmd::describe(command));
    let result = cmd::run_ok(command, limit);
    let took = cmd::secs(started.elapsed());
    match &result {
        Ok(()) => println!("<== ok in {took}"),
        Err(e) => println!("<== FAILED after {took}: {e}"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::selects_packages;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn package_selection_is_seen_only_before_the_test_binary_args() {
        assert!(selects_packages(&args(&["-p", "anyctr-engine-docker"])));
        assert!(selects_packages(&args(&["--package=anyctr", "--", "--nocapture"])));
        assert!(selects_packages(&args(&["-panyctr"])));
        assert!(!selects_packages(&args(&["--no-fail-fast", "--", "-p"])));
        assert!(!selects_packages(&[]));
    }
}
