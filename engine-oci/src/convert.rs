//! A runtime's state plus the bundle's `config.json` → anyctr's models.
//!
//! The bundle path comes from the runtime's state and `config.json` from whoever made the
//! container, so both are treated as hostile: the bundle directory is opened as a directory, its
//! `config.json` is read by name without following a symlink, only if it is a regular file, and
//! capped; every field is optional and wrong types are ignored rather than trusted.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, ContainerSummary, Mount, MountKind, PodIdentity, PodRole,
    RootfsView, RuntimeClass,
};
use anyctr_host::hostfs::Dir;
use serde_json::Value;

use crate::roots::RuntimeRoot;
use crate::state::{Layout, RuntimeState, read_capped};

/// Cap on a bundle's `config.json`.
pub const CONFIG_CAP: u64 = 4 << 20;

/// Annotations anyctr writes on the containers it creates: the image reference.
pub const IMAGE_ANNOTATION: &str = "io.anyctr.image";

/// … and the name it was created with (a runtime knows ids only).
pub const NAME_ANNOTATION: &str = "io.anyctr.name";

/// The name: the one anyctr recorded, else the id.
fn name(id: &str, annotations: &BTreeMap<String, String>) -> String {
    annotations.get(NAME_ANNOTATION).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| id.to_owned())
}

/// What anyctr knows of one container: where it is and what its runtime and bundle say.
#[derive(Debug, Clone)]
pub struct Record {
    /// The root it lives in.
    pub root: RuntimeRoot,
    /// The runtime's state; `None` for a bundle anyctr prepared and has not started (or whose
    /// container exited: `runc run` deletes it on exit).
    pub state: Option<RuntimeState>,
    /// The bundle directory (host path).
    pub bundle: Option<PathBuf>,
    /// The container id.
    pub id: String,
    /// The exit code anyctr's monitor recorded.
    pub exit_code: Option<i64>,
    /// When anyctr prepared the bundle (for bundles without state).
    pub prepared: Option<chrono::DateTime<chrono::Utc>>,
    /// anyctr started it (its monitor runs or ran).
    pub started: bool,
}

impl Record {
    /// The runtime that runs (or would run) it.
    pub fn layout(&self, default: Layout) -> Layout {
        self.state.as_ref().map_or(default, |s| s.layout)
    }

    /// The status, liveness checked in `proc`.
    pub fn status(&self, proc: &Path) -> ContainerStatus {
        match (&self.state, self.exit_code) {
            (Some(s), _) => s.status(proc),
            (None, Some(_)) => ContainerStatus::Exited,
            // Between the runtime's exit (which deletes its state) and the monitor's record of it.
            (None, None) if self.started => ContainerStatus::Running,
            (None, None) => ContainerStatus::Created,
        }
    }
}

/// The bundle's config.json, `Value::Null` when it cannot be read (a gone or hostile bundle).
/// `open` maps a host path to one this process opens (the host-root prefix).
pub fn read_config(record: &Record, open: &dyn Fn(&Path) -> PathBuf) -> Value {
    if let Some(spec) = record.state.as_ref().and_then(|s| s.inline_spec.clone()) {
        return spec;
    }
    let Some(bundle) = &record.bundle else { return Value::Null };
    let read = || -> std::io::Result<Option<Vec<u8>>> {
        let dir = Dir::open(&open(bundle))?;
        read_capped(&dir, OsStr::new("config.json"), CONFIG_CAP)
    };
    match read() {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Ok(None) => Value::Null,
        Err(e) => {
            tracing::debug!(bundle = %bundle.display(), "config.json not read: {e}");
            Value::Null
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The spec's annotations.
pub fn annotations(config: &Value) -> BTreeMap<String, String> {
    config
        .get("annotations")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// The image, from the annotations that name it (CRI's, anyctr's, the OCI image ref).
fn image(annotations: &BTreeMap<String, String>) -> String {
    ["io.kubernetes.cri.image-name", IMAGE_ANNOTATION, "org.opencontainers.image.ref.name"]
        .iter()
        .find_map(|k| annotations.get(*k).filter(|v| !v.is_empty()).cloned())
        .unwrap_or_default()
}

/// The runtime class: from the layout, and for a runc-layout record of a runtime named by
/// containerd's/dockerd's shim options it stays runc-class (crun and runc both are).
fn runtime(layout: Layout) -> RuntimeClass {
    match layout {
        Layout::Runc => RuntimeClass::Runc,
        Layout::Crun => RuntimeClass::Crun,
        Layout::Runsc => RuntimeClass::Runsc,
    }
}

/// A summary for `list`.
pub fn summary(record: &Record, config: &Value, proc: &Path, default: Layout) -> ContainerSummary {
    let annotations = annotations(config);
    let mut summary = ContainerSummary::new(record.id.clone(), image(&annotations), record.status(proc));
    summary.names = vec![name(&record.id, &annotations)];
    summary.created = record.state.as_ref().and_then(|s| s.created).or(record.prepared);
    summary.namespace = record.root.namespace.clone();
    summary.runtime = Some(runtime(record.layout(default)));
    summary.labels = annotations;
    summary
}

/// The full detail for `inspect`.
pub fn detail(record: &Record, config: &Value, proc: &Path, default: Layout) -> ContainerDetail {
    let annotations = annotations(config);
    let layout = record.layout(default);
    let class = runtime(layout);
    let status = record.status(proc);
    let pid = record.state.as_ref().and_then(|s| s.pid).filter(|_| status.is_running());
    let mut state = ContainerState::with_status(status);
    state.pid = pid;
    state.exit_code = record.exit_code;
    let rootfs_path = record
        .state
        .as_ref()
        .and_then(|s| s.rootfs.clone())
        .or_else(|| config.pointer("/root/path").and_then(Value::as_str).map(|p| resolve_root(record, p)));
    let rootfs = match (&class, rootfs_path) {
        (c, _) if c.is_sandboxed() => RootfsView::NotHostVisible,
        (_, Some(p)) => RootfsView::Merged(p),
        (_, None) => RootfsView::NotReported,
    };
    let namespaces = config.pointer("/linux/namespaces").and_then(Value::as_array).cloned().unwrap_or_default();
    let ns_mode = |kind: &str| {
        let entry = namespaces.iter().find(|n| n.get("type").and_then(Value::as_str) == Some(kind));
        match entry {
            None => Some("host".to_owned()),
            Some(n) => n.get("path").and_then(Value::as_str).map(|p| format!("path:{p}")),
        }
    };
    let mut detail =
        ContainerDetail::new(record.id.clone(), name(&record.id, &annotations), image(&annotations), state, class);
    detail.labels = annotations.clone();
    detail.env = strings(config.pointer("/process/env"));
    detail.runtime_name = layout.binary().to_owned();
    detail.hostname = config.get("hostname").and_then(Value::as_str).map(str::to_owned);
    detail.network_mode = ns_mode("network");
    detail.pid_mode = ns_mode("pid");
    detail.rootfs = rootfs;
    detail.mounts = mounts(config);
    detail.pod = pod_identity(&record.id, &annotations);
    detail.created = record.state.as_ref().and_then(|s| s.created).or(record.prepared);
    detail.namespace = record.root.namespace.clone();
    detail.raw = serde_json::json!({
        "root": record.root.path,
        "bundle": record.bundle,
        "cgroupsPath": record.state.as_ref().and_then(|s| s.cgroup_path.clone())
            .or_else(|| config.pointer("/linux/cgroupsPath").and_then(Value::as_str).map(str::to_owned)),
        "process": config.get("process"),
        "namespaces": namespaces,
    });
    detail.annotations = annotations;
    detail
}

/// A relative `root.path` is relative to the bundle.
fn resolve_root(record: &Record, path: &str) -> PathBuf {
    match &record.bundle {
        Some(b) if !path.starts_with('/') => b.join(path),
        _ => PathBuf::from(path),
    }
}

/// The spec's mounts.
pub fn mounts(config: &Value) -> Vec<Mount> {
    let Some(list) = config.get("mounts").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|m| {
            let destination = PathBuf::from(m.get("destination")?.as_str()?);
            let kind_word = m.get("type").and_then(Value::as_str).unwrap_or("");
            let options = strings(m.get("options"));
            let bind = kind_word == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
            let kind = match kind_word {
                _ if bind => MountKind::Bind,
                "tmpfs" => MountKind::Tmpfs,
                "proc" | "sysfs" | "devpts" | "mqueue" | "cgroup" | "cgroup2" => {
                    MountKind::Special(kind_word.to_owned())
                }
                other => MountKind::Other(other.to_owned()),
            };
            let source = if bind {
                m.get("source").and_then(Value::as_str).map(PathBuf::from).unwrap_or_default()
            } else {
                PathBuf::new()
            };
            let propagation = options
                .iter()
                .find(|o| matches!(o.as_str(), "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave"))
                .cloned();
            let mut mount = Mount::new(source, destination, kind);
            mount.read_only = options.iter().any(|o| o == "ro");
            mount.propagation = propagation;
            Some(mount)
        })
        .collect()
}

/// Kubernetes identity from CRI's annotations (`io.kubernetes.cri.*`).
fn pod_identity(id: &str, a: &BTreeMap<String, String>) -> PodIdentity {
    let get = |k: &str| a.get(&format!("io.kubernetes.cri.{k}")).filter(|v| !v.is_empty()).cloned();
    let sandbox = get("container-type").as_deref() == Some("sandbox");
    let mut pod = PodIdentity::default();
    pod.pod_name = get("sandbox-name");
    pod.namespace = get("sandbox-namespace");
    pod.pod_uid = get("sandbox-uid");
    pod.container_name = if sandbox { None } else { get("container-name") };
    pod.sandbox_id = if sandbox { Some(id.to_owned()) } else { get("sandbox-id") };
    pod.role = sandbox.then_some(PodRole::Sandbox);
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_and_pods_from_a_spec() {
        let config = serde_json::json!({
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro", "rprivate"]},
                {"destination": "/x", "source": "/y", "options": ["rbind"]},
                {"destination": "/t", "type": "tmpfs", "source": "tmpfs"},
                {"no destination": true}
            ],
            "annotations": {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "s1",
                "io.kubernetes.cri.container-name": "web", "io.kubernetes.cri.sandbox-name": "p",
                "io.kubernetes.cri.image-name": "busybox:local", "n": 3}
        });
        let m = mounts(&config);
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[1].source.to_str(), m[1].read_only, m[1].kind.clone()),
            (Some("/srv/data"), true, MountKind::Bind)
        );
        assert_eq!(m[1].propagation.as_deref(), Some("rprivate"));
        assert_eq!(m[2].kind, MountKind::Bind);
        assert_eq!(m[0].source, PathBuf::new());
        let a = annotations(&config);
        assert!(!a.contains_key("n"), "non-string annotations are ignored");
        let pod = pod_identity("c1", &a);
        assert_eq!((pod.sandbox_id.as_deref(), pod.container_name.as_deref()), (Some("s1"), Some("web")));
        assert_eq!(image(&a), "busybox:local");
    }
}
