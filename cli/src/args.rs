//! The command line, as clap reads it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// One view of a node's containers across every engine it runs: Docker, containerd (and its
/// CRI), Podman, PouchContainer and sandboxed runtimes.
#[derive(Parser)]
#[command(name = "anyctr", version, max_term_width = 110, after_help = EXIT_CODES)]
pub struct Cli {
    /// An engine address (repeatable; comma-separated in ANYCTR_ADDRESSES), e.g.
    /// `docker:///var/run/docker.sock`, `containerd:///run/containerd/containerd.sock?namespace=k8s.io`.
    /// Without any: every engine the environment names (DOCKER_HOST, CONTAINERD_ADDRESS,
    /// CONTAINER_HOST, …) and every known socket that answers.
    #[arg(long = "address", global = true, env = "ANYCTR_ADDRESSES", value_delimiter = ',')]
    pub addresses: Vec<String>,
    /// Bound on each daemon call, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub call_timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "Exit codes: 0 ok (exec: the command's own), 1 other failure, \
3 conformance: a trial failed or the suite found a problem, 64 bad input, \
65 unsupported, 66 not found, 69 engine unavailable, 75 timeout, 77 permission denied, \
127 exec: no such command in the container";

#[derive(Subcommand)]
pub enum Command {
    /// The engines detected: each probe's answer and why, versions, runtimes, health.
    Engines(OutputArg),
    /// The containers of every engine (running ones; -a for all).
    Ps(PsArgs),
    /// The pods of every engine.
    Pods(OutputArg),
    /// Everything about containers (the library's model, JSON by default).
    Inspect(InspectArgs),
    /// Runs a command in a container; its exit code becomes anyctr's.
    Exec(ExecArgs),
    /// Copies between a container and this host: `ID:/path` on either side.
    Cp(CpArgs),
    /// A container's logs.
    Logs(LogsArgs),
    /// Where a container path lives on this host.
    HostPath(HostPathArgs),
    /// Which container a host process (or cgroup) belongs to.
    Who(WhoArgs),
    /// The engines' events, live.
    Events(EventsArgs),
    /// Resource usage of running containers (all, or those named): a refreshing table on a
    /// terminal (q or Ctrl-C ends it), one sample with --no-stream.
    Stats(StatsArgs),
    /// A container's processes, pid 1 and whether it reaps zombies.
    Top(TopArgs),
    /// Runs the conformance suite against this node's engines and prints the engine × trial matrix.
    #[command(long_about = CONFORMANCE_ABOUT)]
    Conformance(ConformanceArgs),
    /// Shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
pub struct OutputArg {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub format: Format,
}

#[derive(Args)]
pub struct PsArgs {
    /// All containers, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    #[command(flatten)]
    pub output: OutputArg,
    /// Only this engine (`docker`, `containerd`, `containerd/k8s.io`, `podman`, …).
    #[arg(long)]
    pub engine: Vec<String>,
    /// Only names matching this regular expression.
    #[arg(long)]
    pub name: Option<String>,
    /// Only containers with this label (`key=value`, or `key` for any value); repeatable.
    #[arg(long)]
    pub label: Vec<String>,
    /// Only containers of this pod (pod name).
    #[arg(long)]
    pub pod: Option<String>,
    /// Only this Kubernetes or containerd namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Only this state (`running`, `exited`, `created`, `paused`, …).
    #[arg(long)]
    pub state: Option<String>,
    /// Only this runtime (`runc`, `crun`, `runsc`, `kata`, `rund`, …).
    #[arg(long)]
    pub runtime: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Containers: id, unique prefix or name (`ENGINE:ID` to pick an engine).
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Output format (json or yaml).
    #[arg(short = 'o', long = "output", value_enum, default_value = "json")]
    pub format: Format,
}

#[derive(Args)]
pub struct ExecArgs {
    /// Pass this process's stdin to the command.
    #[arg(short, long)]
    pub interactive: bool,
    /// Enter the container's namespaces from this host instead of asking the engine (root,
    /// runc-class runtimes).
    #[arg(long)]
    pub fast: bool,
    /// User (name or `uid[:gid]`) to run as.
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Environment entry `KEY=VALUE`; repeatable.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Kill the command after this many seconds (default: no bound).
    #[arg(long)]
    pub timeout: Option<u64>,
    /// The container.
    pub container: String,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args)]
pub struct CpArgs {
    /// Source: a local path or `CONTAINER:/path`.
    pub source: String,
    /// Destination: a local path or `CONTAINER:/path`.
    pub destination: String,
    /// No progress bar even on a terminal.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct LogsArgs {
    /// Keep printing new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines since this time: RFC 3339 (`2026-11-30T19:00:00Z`) or an age (`10m`, `2h`, `30s`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Prefix each line with its time.
    #[arg(short, long)]
    pub timestamps: bool,
    /// The container.
    pub container: String,
}

#[derive(Args)]
pub struct HostPathArgs {
    /// The container.
    pub container: String,
    /// An absolute path as the container sees it.
    pub path: PathBuf,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Args)]
pub struct WhoArgs {
    /// A host pid.
    #[arg(required_unless_present = "cgroup_id", conflicts_with = "cgroup_id")]
    pub pid: Option<u32>,
    /// A cgroup id (the cgroup directory's inode, as eBPF reports it).
    #[arg(long)]
    pub cgroup_id: Option<u64>,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Args)]
pub struct EventsArgs {
    /// Print events as JSON lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct StatsArgs {
    /// Containers: id, unique prefix or name (`ENGINE:ID` to pick an engine). Without any:
    /// every running container of the node.
    pub containers: Vec<String>,
    /// One sample (CPU % over half a second), then exit.
    #[arg(long)]
    pub no_stream: bool,
    /// Seconds between samples when streaming.
    #[arg(long, default_value_t = 2.0)]
    pub interval: f64,
    #[command(flatten)]
    pub output: OutputArg,
}

#[derive(Args)]
pub struct TopArgs {
    /// The container.
    pub container: String,
    #[command(flatten)]
    pub output: OutputArg,
}

const CONFORMANCE_ABOUT: &str = "Runs the conformance suite against this node's engines and prints the engine × \
trial matrix, the capability coverage and any problem.

One setup per engine × runtime it offers: docker/<runtime> and podman/<runtime> for each runtime the daemon \
lists (dockerd's io.containerd.* names of runc are certified as docker/runc; podman lists every runtime its \
configuration knows, so only those with a binary in /usr/bin, /usr/sbin, /usr/local/bin, … are), \
containerd-cri/<handler> for each CRI runtime handler of a containerd (fixtures in pods, namespace k8s.io), \
containerd/moby when that namespace holds containers and a dockerd is connected (fixtures made by dockerd, \
observed through containerd), cri/<handler> for a CRI runtime, pouch. \
Fixtures are expected as each engine makes them by default (the runtime class the runtime's name says, \
dockerd's json-file log, the CRI log layout, podman's k8s-file log). What is not certified (an engine that is \
down, another containerd namespace, the OCI runtimes' roots) is said on stderr. The engines are the ones the \
other commands see: --address / ANYCTR_ADDRESSES, else the environment's and the known sockets that answer.

Every fixture carries the label anyctr.conformance=<run id> and is removed at the end; a leftover fails the \
run. A trial that does not apply is skipped only by its setup's not-applicable list, with the reason (in the \
JSON report); one whose capability is not claimed is replaced by a check that the engine refuses it.

Exit: 0 every trial passed (or was skipped with its reason), 3 a trial failed, a setup was not reachable or \
the suite found a problem; 64 no image, or a filter that matches nothing.";

#[derive(Args)]
pub struct ConformanceArgs {
    /// Only setups whose name contains this (`docker`, `containerd-cri/runc`, …).
    #[arg(long)]
    pub engine: Option<String>,
    /// Only trials whose name contains this (`exec.`, `lookup.name`, …).
    #[arg(long)]
    pub trial: Option<String>,
    /// The image the fixtures run, present on every engine certified (they run `sleep`, `sh` and
    /// busybox's tools in it).
    #[arg(long, env = "ANYCTR_TEST_IMAGE")]
    pub image: Option<String>,
    /// Also write the JSON report (every trial and capability of each setup) here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Output format: the matrices (table) or the JSON report (json).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub format: ConformanceFormat,
}

/// How `conformance` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConformanceFormat {
    /// The engine × trial matrix and the capability coverage.
    Table,
    /// The JSON report.
    Json,
}
