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
#[non_exhaustive]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Paused (frozen).
    Paused,
    /// Being restarted by the engine.
    Restarting,
    /// Being removed.
    Removing,
    /// Its main process exited (pouch's `stopped`).
    Exited,
    /// Failed to be removed; unusable.
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

/// The environment variable that extends the list of runc-class (host-visible) runtimes: names
/// separated by commas or whitespace, matched case-insensitively against the runtime name an
/// engine reports, its last path component (`/opt/bin/youki` → `youki`) and its containerd shim
/// key (`io.containerd.youki.v1` → `youki`). Read once per process.
///
/// Only list a runtime whose containers are ordinary host processes with their root filesystem on
/// the host (as with runc): anyctr then reads `/proc/<pid>/root`, the merged dir and enters the
/// init's namespaces for it.
pub const HOST_VISIBLE_RUNTIMES_ENV: &str = "ANYCTR_HOST_VISIBLE_RUNTIMES";

/// The OCI runtime a container runs under, normalized from what each engine reports.
///
/// Classification fails closed: only runc, crun and the runtimes listed in
/// [`HOST_VISIBLE_RUNTIMES_ENV`] are host-visible; any other runtime (Firecracker, Cloud
/// Hypervisor, a custom handler, …) is treated as sandboxed — no rootfs path, no `/proc` root, no
/// namespace fast path — and [`RuntimeClass::sandbox_reason`] says why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuntimeClass {
    /// runc.
    Runc,
    /// crun.
    Crun,
    /// gVisor.
    Runsc,
    /// Kata Containers.
    Kata,
    /// RunD (Alibaba's secure container runtime).
    Rund,
    /// A runtime anyctr does not know that the user declared runc-class in
    /// [`HOST_VISIBLE_RUNTIMES_ENV`], by the name the engine reported. Host-visible.
    DeclaredRuncClass(String),
    /// Anything else, by the name the engine reported. Treated as sandboxed.
    Other(String),
}

impl RuntimeClass {
    /// Classifies a runtime name as engines report it: a docker/pouch runtime name (`runc`,
    /// `rund`, `kata-runtime`, `runsc`, …; empty is docker's default, runc), a containerd shim name
    /// (`io.containerd.runc.v2`, `io.containerd.rund.v2`, `io.containerd.kata.v2`,
    /// `io.containerd.runsc.v1`), or a path to a runtime binary (`/usr/bin/runsc`, as containerd's
    /// runc shim `BinaryName` holds it). Names listed in [`HOST_VISIBLE_RUNTIMES_ENV`] become
    /// [`RuntimeClass::DeclaredRuncClass`]; other unknown names [`RuntimeClass::Other`].
    pub fn from_name(name: &str) -> Self {
        Self::from_name_with(name, declared_host_visible())
    }

    /// [`from_name`](Self::from_name) with an explicit list of declared runc-class names
    /// (lowercase) instead of the environment's.
    pub fn from_name_with(name: &str, declared: &[String]) -> Self {
        let trimmed = name.trim();
        let base = trimmed.rsplit('/').next().unwrap_or(trimmed).to_ascii_lowercase();
        let key =
            base.strip_prefix("io.containerd.").map(|rest| rest.split('.').next().unwrap_or(rest)).unwrap_or(&base);
        let key = key.strip_prefix("containerd-shim-").unwrap_or(key);
        match key {
            "" | "runc" | "runc-v1" | "runc-v2" | "runtime" | "linux" => RuntimeClass::Runc,
            "crun" => RuntimeClass::Crun,
            k if k.starts_with("runsc") || k == "gvisor" => RuntimeClass::Runsc,
            k if k.starts_with("kata") => RuntimeClass::Kata,
            k if k.starts_with("rund") => RuntimeClass::Rund,
            k => {
                let full = trimmed.to_ascii_lowercase();
                if declared.iter().any(|d| *d == full || *d == base || d == k) {
                    RuntimeClass::DeclaredRuncClass(trimmed.to_owned())
                } else {
                    RuntimeClass::Other(trimmed.to_owned())
                }
            }
        }
    }

    /// Whether the host must not be assumed to see the container's processes and root
    /// filesystem: a VM or user-space kernel (gVisor, Kata, RunD), or a runtime anyctr does not
    /// know to be runc-class (fail closed).
    pub fn is_sandboxed(&self) -> bool {
        !matches!(self, RuntimeClass::Runc | RuntimeClass::Crun | RuntimeClass::DeclaredRuncClass(_))
    }

    /// Why the runtime counts as sandboxed, for error messages and reports; `None` when it is
    /// host-visible.
    pub fn sandbox_reason(&self) -> Option<String> {
        let isolation = match self {
            RuntimeClass::Runc | RuntimeClass::Crun | RuntimeClass::DeclaredRuncClass(_) => return None,
            RuntimeClass::Runsc => "runs the container on a user-space kernel (gVisor)",
            RuntimeClass::Kata => "runs the container in a virtual machine (Kata Containers)",
            RuntimeClass::Rund => "runs the container in a virtual machine (RunD)",
            RuntimeClass::Other(name) => {
                return Some(format!(
                    "runtime `{name}` is not known to be runc-class; treated as sandboxed (list it in \
                     {HOST_VISIBLE_RUNTIMES_ENV} if its containers are host processes with a host rootfs)"
                ));
            }
        };
        Some(format!(
            "runtime `{}` {isolation}, whose processes and root filesystem the host does not see",
            self.as_str()
        ))
    }

    /// The normalized name (`runc`, `rund`, …; the verbatim name for `Other` and
    /// `DeclaredRuncClass`).
    pub fn as_str(&self) -> &str {
        match self {
            RuntimeClass::Runc => "runc",
            RuntimeClass::Crun => "crun",
            RuntimeClass::Runsc => "runsc",
            RuntimeClass::Kata => "kata",
            RuntimeClass::Rund => "rund",
            RuntimeClass::DeclaredRuncClass(name) | RuntimeClass::Other(name) => name,
        }
    }
}

/// The names in [`HOST_VISIBLE_RUNTIMES_ENV`], lowercase, read once.
fn declared_host_visible() -> &'static [String] {
    static DECLARED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    DECLARED.get_or_init(|| {
        std::env::var(HOST_VISIBLE_RUNTIMES_ENV)
            .unwrap_or_default()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|n| !n.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

/// State of a container's main process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ContainerState {
    /// The normalized status.
    pub status: ContainerStatus,
    /// The pid the engine reports, as a host pid. For a sandboxed runtime it is the sandbox (VM or
    /// gVisor sentry), not the container's init: see [`ContainerDetail::proc_root_pid`].
    pub pid: Option<u32>,
    /// The last exit code, when it exited.
    pub exit_code: Option<i64>,
    /// When the main process last started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the main process last exited.
    pub finished_at: Option<DateTime<Utc>>,
    /// The last exit was caused by the OOM killer.
    pub oom_killed: bool,
}

impl ContainerState {
    /// A state with only a status (no pid, exit code or times); set the other public fields as
    /// the engine reports them.
    pub fn with_status(status: ContainerStatus) -> Self {
        ContainerState { status, pid: None, exit_code: None, started_at: None, finished_at: None, oom_killed: false }
    }
}

/// What a mount is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MountKind {
    /// A host path.
    Bind,
    /// A named volume.
    Volume,
    /// A tmpfs.
    Tmpfs,
    /// `proc`, `sysfs`, `devpts`, `mqueue`, `cgroup`, … (no host source to speak of).
    Special(String),
    /// Anything else, by the engine's name for it.
    Other(String),
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Mount {
    /// Where the data lives on the host, as the engine reports it (without any host-root prefix).
    /// Empty for tmpfs and special mounts.
    pub source: PathBuf,
    /// Where it appears in the container.
    pub destination: PathBuf,
    /// What is mounted.
    pub kind: MountKind,
    /// Mounted read-only.
    pub read_only: bool,
    /// `rprivate`, `rshared`, `rslave`, … when the engine says.
    pub propagation: Option<String>,
    /// The volume name for named volumes.
    pub name: Option<String>,
}

impl Mount {
    /// A read-write mount of `source` at `destination` without propagation or volume name; set
    /// the other public fields as the engine reports them.
    pub fn new(source: impl Into<PathBuf>, destination: impl Into<PathBuf>, kind: MountKind) -> Self {
        Mount {
            source: source.into(),
            destination: destination.into(),
            kind,
            read_only: false,
            propagation: None,
            name: None,
        }
    }
}

/// Format of the container log file an engine writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogFormat {
    /// Docker's `json-file`: `{"log":…,"stream":…,"time":…}` per line.
    JsonFile,
    /// CRI's text format: `<time> <stream> <P|F> <text>` per line.
    Cri,
    /// Anything else, by the engine's name for it.
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
///
/// Every field is optional: start from [`PodIdentity::default`] and set what the engine reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PodIdentity {
    /// The pod name.
    pub pod_name: Option<String>,
    /// The Kubernetes namespace.
    pub namespace: Option<String>,
    /// The pod uid.
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
#[non_exhaustive]
pub enum RootfsView {
    /// A live host directory showing the container's rootfs (overlay merged dir; no mounts in it).
    Merged(PathBuf),
    /// The engine reports no host directory; `/proc/<pid>/root` may still work for runc-class runtimes.
    NotReported,
    /// The runtime keeps the rootfs out of the host's reach (VM or user-space kernel); a host
    /// directory may exist but does not show what the container sees.
    NotHostVisible,
}

impl std::fmt::Display for RootfsView {
    /// The merged directory, `not reported` or `not host-visible`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootfsView::Merged(dir) => write!(f, "{}", dir.display()),
            RootfsView::NotReported => f.write_str("not reported"),
            RootfsView::NotHostVisible => f.write_str("not host-visible"),
        }
    }
}

/// One container in a list: what the engine's list call returns without a per-container inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ContainerSummary {
    /// The full container id.
    pub id: String,
    /// Names without docker's leading `/`.
    pub names: Vec<String>,
    /// The image reference as the engine reports it.
    pub image: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// The normalized status.
    pub status: ContainerStatus,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// The containerd namespace (containerd engines only).
    pub namespace: Option<String>,
    /// The runtime class, when the list call already tells it.
    pub runtime: Option<RuntimeClass>,
}

impl ContainerSummary {
    /// A summary with no names, labels, creation time, namespace or runtime; set the other
    /// public fields as the engine's list call reports them.
    pub fn new(id: impl Into<String>, image: impl Into<String>, status: ContainerStatus) -> Self {
        ContainerSummary {
            id: id.into(),
            names: Vec::new(),
            image: image.into(),
            labels: BTreeMap::new(),
            status,
            created: None,
            namespace: None,
            runtime: None,
        }
    }

    /// The 12-character short id.
    pub fn short_id(&self) -> &str {
        short_id(&self.id)
    }
}

/// Everything an agent needs to know about one container.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ContainerDetail {
    /// The full container id.
    pub id: String,
    /// The engine's name for it, without docker's leading `/`.
    pub name: String,
    /// The image reference as the engine reports it.
    pub image: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// OCI annotations (containerd) — empty where the engine has none.
    pub annotations: BTreeMap<String, String>,
    /// `KEY=VALUE` entries as the engine reports them, order kept.
    pub env: Vec<String>,
    /// The main process's state.
    pub state: ContainerState,
    /// The runtime class (decides host visibility).
    pub runtime: RuntimeClass,
    /// The engine's verbatim runtime name (`io.containerd.rund.v2`, `runc`, …).
    pub runtime_name: String,
    /// The hostname, when the engine says.
    pub hostname: Option<String>,
    /// The network mode (`host`, `bridge`, `container:<id>`, …).
    pub network_mode: Option<String>,
    /// The pid mode (`host`, `container:<id>`, …).
    pub pid_mode: Option<String>,
    /// The host path of its log file, when the engine writes one.
    pub log_path: Option<PathBuf>,
    /// The format of that log file.
    pub log_format: Option<LogFormat>,
    /// Whether and where the host sees its root filesystem.
    pub rootfs: RootfsView,
    /// Its mounts.
    pub mounts: Vec<Mount>,
    /// Its Kubernetes identity, if any.
    pub pod: PodIdentity,
    /// When it was created.
    pub created: Option<DateTime<Utc>>,
    /// The containerd namespace (containerd engines only).
    pub namespace: Option<String>,
    /// The engine's own answer, for fields anyctr does not normalize.
    pub raw: serde_json::Value,
}

impl ContainerDetail {
    /// A detail with what every engine knows; everything else starts empty (no labels,
    /// annotations, env, mounts, pod identity or times; rootfs [`RootfsView::NotReported`];
    /// `runtime_name` the class's name; `raw` null). Set the other public fields as the engine
    /// reports them.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        image: impl Into<String>,
        state: ContainerState,
        runtime: RuntimeClass,
    ) -> Self {
        ContainerDetail {
            id: id.into(),
            name: name.into(),
            image: image.into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            env: Vec::new(),
            state,
            runtime_name: runtime.as_str().to_owned(),
            runtime,
            hostname: None,
            network_mode: None,
            pid_mode: None,
            log_path: None,
            log_format: None,
            rootfs: RootfsView::NotReported,
            mounts: Vec::new(),
            pod: PodIdentity::default(),
            created: None,
            namespace: None,
            raw: serde_json::Value::Null,
        }
    }

    /// The 12-character short id.
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
    fn rootfs_view_displays() {
        assert_eq!(RootfsView::Merged("/m".into()).to_string(), "/m");
        assert_eq!(RootfsView::NotReported.to_string(), "not reported");
        assert_eq!(RootfsView::NotHostVisible.to_string(), "not host-visible");
    }

    #[test]
    fn runtime_class_table() {
        let cases = [
            ("runc", RuntimeClass::Runc),
            ("", RuntimeClass::Runc),
            ("io.containerd.runc.v2", RuntimeClass::Runc),
            ("io.containerd.runc.v1", RuntimeClass::Runc),
            ("io.containerd.runtime.v1.linux", RuntimeClass::Runc),
            ("containerd-shim-runc-v2", RuntimeClass::Runc),
            ("/usr/bin/runc", RuntimeClass::Runc),
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
            ("io.containerd.firecracker.v1", RuntimeClass::Other("io.containerd.firecracker.v1".into())),
            ("aws.firecracker", RuntimeClass::Other("aws.firecracker".into())),
            ("cloud-hypervisor", RuntimeClass::Other("cloud-hypervisor".into())),
            ("my-handler", RuntimeClass::Other("my-handler".into())),
        ];
        for (name, want) in cases {
            assert_eq!(RuntimeClass::from_name_with(name, &[]), want, "{name:?}");
        }
        let host_visible = [RuntimeClass::Runc, RuntimeClass::Crun, RuntimeClass::DeclaredRuncClass("youki".into())];
        for class in host_visible {
            assert!(!class.is_sandboxed() && class.sandbox_reason().is_none(), "{class:?}");
        }
        for class in [RuntimeClass::Runsc, RuntimeClass::Kata, RuntimeClass::Rund, RuntimeClass::Other("x".into())] {
            assert!(class.is_sandboxed(), "{class:?}");
            let reason = class.sandbox_reason().unwrap();
            assert!(reason.contains(&format!("`{}`", class.as_str())), "{reason}");
        }
    }

    #[test]
    fn unknown_runtimes_fail_closed_unless_declared() {
        let firecracker = RuntimeClass::from_name_with("firecracker", &[]);
        assert!(firecracker.is_sandboxed());
        assert_eq!(
            firecracker.sandbox_reason().unwrap(),
            "runtime `firecracker` is not known to be runc-class; treated as sandboxed (list it in \
             ANYCTR_HOST_VISIBLE_RUNTIMES if its containers are host processes with a host rootfs)"
        );
        let declared = ["youki".to_owned(), "nvidia".to_owned()];
        for name in ["youki", "YOUKI", "/opt/bin/youki", "io.containerd.youki.v1", "nvidia"] {
            let class = RuntimeClass::from_name_with(name, &declared);
            assert_eq!(class, RuntimeClass::DeclaredRuncClass(name.to_owned()), "{name}");
            assert!(!class.is_sandboxed());
        }
        // Known sandboxes stay sandboxed whatever the list says.
        assert_eq!(RuntimeClass::from_name_with("runsc", &["runsc".to_owned()]), RuntimeClass::Runsc);
        assert!(RuntimeClass::from_name_with("youki2", &declared).is_sandboxed());
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
