//! `cargo xtask engines up|down|status`: the real containerd, dockerd and Podman service the
//! tests use.
//!
//! The daemon work is in `xtask/engines/up.sh` and `down.sh` (containerd, dockerd) and
//! `podman-up.sh` and `podman-down.sh` (shell is the natural language for starting daemons and
//! writing their configs); this side installs the packages, bounds the scripts in time, writes
//! the env file and reports.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{apt, cmd};

/// Everything `engines up` needs on a bare Debian 12. python3 gives /usr/bin/python3
/// (mkimage.py, the runsc wrapper); a pyenv python3 on PATH does not count.
/// protobuf-compiler is here because the workspace crates need protoc to build.
pub const PACKAGES: &[&str] = &[
    "docker.io",
    "containerd",
    "runc",
    // runc-class runtime of Red Hat-family nodes: docker runtime and CRI handler `crun`
    "crun",
    "runsc",
    "busybox-static",
    // core's race test builds its attacker as a static C program.
    "gcc",
    "libc6-dev",
    "protobuf-compiler",
    "iptables",
    "iproute2",
    "curl",
    "containernetworking-plugins",
    "python3",
    // The Podman API service (podman-up.sh); its OCI runtime is runc.
    "podman",
    "conmon",
    // The loopback registry image pull is tested against (up.sh).
    "docker-registry",
    // The CLI's progress-bar test runs `anyctr cp` in a real terminal (cli/tests/progress.rs).
    "tmux",
];

pub const TEST_IMAGE: &str = "busybox:local";
pub const PAUSE_IMAGE: &str = "localhost/pause:local";
const UP_LIMIT: Duration = Duration::from_secs(10 * 60);
const DOWN_LIMIT: Duration = Duration::from_secs(10 * 60);

/// A daemon `up.sh` starts: its pid file is `<run>/<name>.pid`, and `/proc/<pid>/comm`
/// must equal `name` (so a pid reused after a crash is never mistaken for it).
#[derive(Clone, Copy)]
pub enum Daemon {
    Containerd,
    Dockerd,
    /// `podman system service`, started by podman-up.sh.
    Podman,
}

impl Daemon {
    pub const ALL: [Daemon; 3] = [Daemon::Containerd, Daemon::Dockerd, Daemon::Podman];

    pub fn name(self) -> &'static str {
        match self {
            Daemon::Containerd => "containerd",
            Daemon::Dockerd => "dockerd",
            Daemon::Podman => "podman",
        }
    }
}

/// What `engines up` brings up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    /// The Podman service alone: containerd and dockerd are neither started nor touched
    /// (their configs are not rewritten, dockerd is not reloaded).
    Podman,
}

/// The dedicated paths of one harness instance, named by ENGINES_NAME (default
/// `anyctr-engines`): `/run/<name>` and `/var/lib/<name>`. A second instance with another
/// name runs beside the first: its bridges and subnets derive from the name (`engines/net.sh`).
pub struct Layout {
    pub name: String,
    pub run: PathBuf,
    pub lib: PathBuf,
}

impl Layout {
    pub fn from_env() -> Layout {
        let name = std::env::var("ENGINES_NAME").ok().filter(|n| !n.is_empty());
        let name = name.unwrap_or_else(|| "anyctr-engines".to_owned());
        Layout { run: Path::new("/run").join(&name), lib: Path::new("/var/lib").join(&name), name }
    }

    pub fn docker_socket(&self) -> PathBuf {
        self.run.join("docker.sock")
    }

    pub fn containerd_state(&self) -> PathBuf {
        self.run.join("containerd")
    }

    pub fn containerd_socket(&self) -> PathBuf {
        self.containerd_state().join("containerd.sock")
    }

    pub fn podman_socket(&self) -> PathBuf {
        self.run.join("podman.sock")
    }

    pub fn env_file(&self) -> PathBuf {
        self.run.join("env")
    }

    pub fn pid_file(&self, daemon: Daemon) -> PathBuf {
        self.run.join(format!("{}.pid", daemon.name()))
    }

    /// The pid of `daemon` if its pid file names a live process that is that daemon.
    pub fn live_pid(&self, daemon: Daemon) -> Option<u32> {
        let pid: u32 = fs::read_to_string(self.pid_file(daemon)).ok()?.trim().parse().ok()?;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        // A zombie keeps its comm: it is not the daemon any more.
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let zombie = status.lines().any(|l| l.starts_with("State:") && l.contains('Z'));
        (comm.trim() == daemon.name() && !zombie).then_some(pid)
    }

    /// True if any daemon of this instance runs: then someone else brought it up,
    /// and a run that found it so must not bring it down.
    pub fn any_running(&self) -> bool {
        Daemon::ALL.iter().any(|&d| self.live_pid(d).is_some())
    }

    /// What the integration tests read to find the engines; `cargo xtask test` exports exactly these.
    pub fn test_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("ANYCTR_DOCKER_SOCKET", self.docker_socket().display().to_string()),
            ("ANYCTR_CONTAINERD_SOCKET", self.containerd_socket().display().to_string()),
            ("ANYCTR_CONTAINERD_STATE_DIR", self.containerd_state().display().to_string()),
            ("ANYCTR_PODMAN_SOCKET", self.podman_socket().display().to_string()),
            ("ANYCTR_TEST_IMAGE", TEST_IMAGE.to_owned()),
            ("ANYCTR_PAUSE_IMAGE", PAUSE_IMAGE.to_owned()),
        ];
        // up.sh writes the registry's address once it serves; without it pull trials say so.
        if let Some(addr) = self.registry_addr() {
            vars.push(("ANYCTR_REGISTRY", addr));
        }
        vars
    }

    /// `127.0.0.1:PORT` of the loopback registry up.sh started, if it did.
    pub fn registry_addr(&self) -> Option<String> {
        let addr = fs::read_to_string(self.run.join("registry.addr")).ok()?;
        Some(addr.trim().to_owned()).filter(|a| !a.is_empty())
    }

    /// For a human's shell: the test variables, plus what the docker and ctr CLIs read.
    /// Not exported to `cargo test`: DOCKER_HOST and CONTAINERD_ADDRESS steer the facade's
    /// `Engines::from_env`, and tests must not depend on which one a caller happened to set.
    fn shell_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = self.test_env();
        vars.push(("DOCKER_HOST", format!("unix://{}", self.docker_socket().display())));
        vars.push(("CONTAINERD_ADDRESS", self.containerd_socket().display().to_string()));
        // What the podman CLI reads (`podman --remote`).
        vars.push(("CONTAINER_HOST", format!("unix://{}", self.podman_socket().display())));
        vars.push(("ENGINES_RUN", self.run.display().to_string()));
        vars
    }
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("engines")
}

fn require_root(what: &str) -> Result<(), String> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
    if uid == Some("0") {
        Ok(())
    } else {
        Err(format!("{what} must run as root (it installs packages and runs daemons)"))
    }
}

/// Installs what is missing, starts (or adopts) the daemons, loads the images,
/// smoke-tests docker with runc and rund and podman with runc, and writes the env file.
pub fn up(layout: &Layout, smoke: bool) -> Result<(), String> {
    up_only(layout, smoke, None)
}

/// [`up`], limited by `only` to one engine (the others are left exactly as they are).
pub fn up_only(layout: &Layout, smoke: bool, only: Option<Only>) -> Result<(), String> {
    require_root("engines up")?;
    let started = Instant::now();
    apt::ensure(PACKAGES, &layout.run.join("log/apt.log"))?;
    if only.is_none() {
        run_script(layout, "up.sh", smoke)?;
    }
    run_script(layout, "podman-up.sh", smoke)?;
    write_env_file(layout)?;
    if only == Some(Only::Podman) {
        println!("engines up (podman only) in {}: podman answers", cmd::secs(started.elapsed()));
    } else {
        println!("engines up in {}: containerd (CRI), dockerd and podman answer", cmd::secs(started.elapsed()));
        println!("  docker:     {}   runtimes runc crun runsc rund", layout.docker_socket().display());
        println!("  containerd: {}   CRI handlers runc crun runsc rund", layout.containerd_socket().display());
    }
    println!("  podman:     {}   runtime runc", layout.podman_socket().display());
    println!("  images:     {TEST_IMAGE}, {PAUSE_IMAGE}");
    if let Some(addr) = layout.registry_addr() {
        println!("  registry:   {addr}   plain HTTP, holds {addr}/anyctr/busybox:local");
    }
    println!("  env file:   . {}", layout.env_file().display());
    Ok(())
}

fn run_script(layout: &Layout, script: &str, smoke: bool) -> Result<(), String> {
    cmd::run_ok(
        Command::new("bash")
            .arg(scripts_dir().join(script))
            .env("ENGINES_NAME", &layout.name)
            .env("ENGINES_SMOKE", if smoke { "1" } else { "0" }),
        UP_LIMIT,
    )
    .map_err(|e| format!("{e}\nengines up failed; daemon logs are in {}", layout.run.join("log").display()))
}

/// Removes all containers of this instance, stops its daemons (only those whose pid
/// files it wrote) and deletes its directories and bridges. Podman goes first: down.sh
/// deletes the directories its storage lives in.
pub fn down(layout: &Layout) -> Result<(), String> {
    require_root("engines down")?;
    let podman = cmd::run_ok(
        Command::new("bash").arg(scripts_dir().join("podman-down.sh")).env("ENGINES_NAME", &layout.name),
        DOWN_LIMIT,
    );
    let rest = cmd::run_ok(
        Command::new("bash").arg(scripts_dir().join("down.sh")).env("ENGINES_NAME", &layout.name),
        DOWN_LIMIT,
    );
    podman.and(rest).map_err(|e| format!("{e}\nengines down did not finish cleanly (see the warnings above)"))
}

/// Written atomically: tests and shells may source it while `up` runs again.
fn write_env_file(layout: &Layout) -> Result<(), String> {
    let mut text = format!("# written by `cargo xtask engines up`; source me: . {}\n", layout.env_file().display());
    for (key, value) in layout.shell_env() {
        text.push_str(&format!("export {key}='{value}'\n"));
    }
    let path = layout.env_file();
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text)
        .and_then(|()| fs::rename(&tmp, &path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
