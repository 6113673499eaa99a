use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Length of a short container id, as docker prints it.
pub const SHORT_ID_LEN: usize = 12;

/// The first 12 characters of an id (the whole id when it is shorter).
pub fn short_id(id: &str) -> &str {
    id.get(..SHORT_ID_LEN).unwrap_or(id)
}

/// A container's lifecycle state, normalized across engines (pouch's `stopped` is `Exited`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    /// A status the engine reported that has no normalized meaning; kept verbatim.
    Unknown(String),
}

impl ContainerStatus {
    /// Parses an engine's status word leniently: unknown words become `Unknown`, never an error.
    pub fn parse(word: &str) -> Self {
        match word.trim().to_ascii_lowercase().as_str() {
            "created" | "create" => ContainerStatus::Created,
            "running" | "up" => ContainerStatus::Running,
            "paused" | "pausing" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" | "stopped" | "stopping" => ContainerStatus::Exited,
            "dead" => ContainerStatus::Dead,
            other => ContainerStatus::Unknown(other.to_owned()),
        }
    }

    /// Whether processes of the container are running (so exec can work).
    pub fn is_running(&self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Restarting)
    }
}

/// The OCI runtime a container runs under, normalized from what each engine reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuntimeClass {
    Runc,
    Crun,
    /// gVisor.
    Runsc,
    /// Kata Containers.
    Kata,
    /// RunD (Alibaba's secure container runtime).
    Rund,
    /// Anything else, by the name the engine reported.
    Other(String),
}

impl RuntimeClass {
    /// Classifies a runtime name as engines report it: a docker/pouch runtime name (`runc`,
    /// `rund`, `kata-runtime`, `runsc`, …), a containerd shim name (`io.containerd.runc.v2`,
    /// `io.containerd.rund.v2`, `io.containerd.kata.v2`, `io.containerd.runsc.v1`), or a path to a
    /// runtime binary (`/usr/bin/runsc`, as containerd's runc shim `BinaryName` holds it).
    pub fn from_name(name: &str) -> Self {
        let trimmed = name.trim();
        let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
        let key =
            base.strip_prefix("io.containerd.").map(|rest| rest.split('.').next().unwrap_or(rest)).unwrap_or(base);
        let key = key.to_ascii_lowercase();
        let key = key.strip_prefix("containerd-shim-").unwrap_or(&key);
        match key {
            "" | "runc" | "runc-v1" | "runc-v2" | "runtime" | "linux" => RuntimeClass::Runc,
            "crun" => RuntimeClass::Crun,
            k if k.starts_with("runsc") || k == "gvisor" => RuntimeClass::Runsc,
            k if k.starts_with("kata") => RuntimeClass::Kata,
            k if k.starts_with("rund") => RuntimeClass::Rund,
            _ => RuntimeClass::Other(trimmed.to_owned()),
        }
    }

    /// Whether the runtime isolates the container from the host kernel's view (VM or user-space
    /// kernel): then the host sees neither its processes nor its root filesystem.
    pub fn is_sandboxed(&self) -> bool {
        matches!(self, RuntimeClass::Runsc | RuntimeClass::Kata | RuntimeClass::Rund)
    }

    /// The normalized name (`runc`, `rund`, …; the verbatim name for `Other`).
    pub fn as_str(&self) -> &str {
        match self {
            RuntimeClass::Runc => "runc",
            RuntimeClass::Crun => "crun",
            RuntimeClass::Runsc => "runsc",
            RuntimeClass::Kata => "kata",
            RuntimeClass::Rund => "rund",
            RuntimeClass::Other(name) => name,
        }
    }
}

/// State of a container's main process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerState {
    pub status: ContainerStatus,
    /// The pid the engine reports, as a host pid. For a sandboxed runtime it is the sandbox (VM or
    /// gVisor sentry), not the container's init: see [`ContainerDetail::proc_root`].
    pub pid: Option<u32>,
    pub exit_code: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The last exit was caused by the OOM killer.
    pub oom_killed: bool,
}

impl ContainerState {
    /// A state with only a status.
    pub fn with_status(status: ContainerStatus) -> Self {
        ContainerState { status, pid: None, exit_code: None, started_at: None, finished_at: None, oom_killed: false }
    }
}

/// What a mount is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
    /// `proc`, `sysfs`, `devpts`, `mqueue`, `cgroup`, … (no host source to speak of).
    Special(String),
    Other(String),
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Where the data lives on the host, as the engine reports it (without any host-root prefix).
    /// Empty for tmpfs and special mounts.
    pub source: PathBuf,
    /// Where it appears in the container.
    pub destination: PathBuf,
    pub kind: MountKind,
    pub read_only: bool,
    /// `rprivate`, `rshared`, `rslave`, … when the engine says.
    pub propagation: Option<String>,
    /// The volume name for named volumes.
    pub name: Option<String>,
}

/// Format of the container log file an engine writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Docker's `json-file`: `{"log":…,"stream":…,"time":…}` per line.
    JsonFile,
    /// CRI's text format: `<time> <stream> <P|F> <text>` per line.
    Cri,
    Other(String),
}

/// The role of a container in its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PodRole {
    /// The pod's sandbox (pause) container.
    Sandbox,
    /// The pod's main (business) container.
    Main,
    /// Any other container of the pod.
    Sidecar,
}

/// Kubernetes identity of a container, from the labels and annotations kubelet/CRI set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PodIdentity {
    pub pod_name: Option<String>,
    pub namespace: Option<String>,
    pub pod_uid: Option<String>,
    /// The Kubernetes container name (`POD` or absent for a sandbox).
    pub container_name: Option<String>,
    /// The id of the pod's sandbox (the container's own id for a sandbox).
    pub sandbox_id: Option<String>,
    /// Sandbox or not, as the engine says; `Main` vs `Sidecar` is decided when pods are grouped.
    pub role: Option<PodRole>,
}

impl PodIdentity {
    /// Whether anything identifies the container as part of a pod.
    pub fn is_pod_member(&self) -> bool {
        self.pod_uid.is_some() || self.sandbox_id.is_some() || self.pod_name.is_some()
    }
}

/// Whether the host can see a container's root filesystem, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootfsView {
    /// A live host directory showing the container's rootfs (overlay merged dir; no mounts in it).
    Merged(PathBuf),
    /// The engine reports no host directory; `/proc/<pid>/root` may still work for runc-class runtimes.
    NotReported,
    /// The runtime keeps the rootfs out of the host's reach (VM or user-space kernel); a host
    /// directory may exist but does not show what the container sees.
    NotHostVisible,
}

/// One container in a list: what the engine's list call returns without a per-container inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerSummary {
    pub id: String,
    /// Names without docker's leading `/`.
    pub names: Vec<String>,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    pub status: ContainerStatus,
    pub created: Option<DateTime<Utc>>,
    /// The containerd namespace (containerd engines only).
    pub namespace: Option<String>,
    /// The runtime class, when the list call already tells it.
    pub runtime: Option<RuntimeClass>,
}

impl ContainerSummary {
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }
}

/// Everything an agent needs to know about one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContainerDetail {
    pub id: String,
    /// The engine's name for it, without docker's leading `/`.
    pub name: String,
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// OCI annotations (containerd) — empty where the engine has none.
    pub annotations: BTreeMap<String, String>,
    /// `KEY=VALUE` entries as the engine reports them, order kept.
    pub env: Vec<String>,
    pub state: ContainerState,
    pub runtime: RuntimeClass,
    /// The engine's verbatim runtime name (`io.containerd.rund.v2`, `runc`, …).
    pub runtime_name: String,
    pub hostname: Option<String>,
    pub network_mode: Option<String>,
    pub pid_mode: Option<String>,
    pub log_path: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub rootfs: RootfsView,
    pub mounts: Vec<Mount>,
    pub pod: PodIdentity,
    pub created: Option<DateTime<Utc>>,
    /// The containerd namespace (containerd engines only).
    pub namespace: Option<String>,
    /// The engine's own answer, for fields anyctr does not normalize.
    pub raw: serde_json::Value,
}

impl ContainerDetail {
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }

    /// The value of `KEY` in the env, if set.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|e| e.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }

    /// The merged rootfs dir, when the host can see it.
    pub fn merged_dir(&self) -> Option<&std::path::Path> {
        match &self.rootfs {
            RootfsView::Merged(p) => Some(p),
            _ => None,
        }
    }

    /// The host pid whose `/proc/<pid>/root` is the container's root, if there is one: the
    /// running init of a runc-class container; never a sandbox's pid.
    pub fn proc_root_pid(&self) -> Option<u32> {
        if self.runtime.is_sandboxed() || !self.state.status.is_running() {
            return None;
        }
        self.state.pid.filter(|p| *p > 0)
    }

    /// Whether the container is its pod's sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.pod.role == Some(PodRole::Sandbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_class_table() {
        let cases = [
            ("runc", RuntimeClass::Runc),
            ("", RuntimeClass::Runc),
            ("io.containerd.runc.v2", RuntimeClass::Runc),
            ("io.containerd.runc.v1", RuntimeClass::Runc),
            ("io.containerd.runtime.v1.linux", RuntimeClass::Runc),
            ("io.containerd.rund.v2", RuntimeClass::Rund),
            ("rund", RuntimeClass::Rund),
            ("io.containerd.kata.v2", RuntimeClass::Kata),
            ("kata-runtime", RuntimeClass::Kata),
            ("kata-qemu", RuntimeClass::Kata),
            ("io.containerd.runsc.v1", RuntimeClass::Runsc),
            ("runsc", RuntimeClass::Runsc),
            ("/usr/bin/runsc", RuntimeClass::Runsc),
            ("/usr/local/bin/crun", RuntimeClass::Crun),
            ("containerd-shim-runsc-v1", RuntimeClass::Runsc),
            ("youki", RuntimeClass::Other("youki".into())),
        ];
        for (name, want) in cases {
            assert_eq!(RuntimeClass::from_name(name), want, "{name:?}");
        }
        assert!(RuntimeClass::Rund.is_sandboxed() && RuntimeClass::Kata.is_sandboxed());
        assert!(!RuntimeClass::Runc.is_sandboxed() && !RuntimeClass::Crun.is_sandboxed());
    }

    #[test]
    fn status_parse_is_lenient() {
        assert_eq!(ContainerStatus::parse("stopped"), ContainerStatus::Exited);
        assert_eq!(ContainerStatus::parse("Running"), ContainerStatus::Running);
        assert_eq!(ContainerStatus::parse("weird"), ContainerStatus::Unknown("weird".into()));
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
