//! Pure normalization: a container record, its OCI spec, its task and CRI's metadata → the
//! normalized summary and detail. No I/O here (the caller says whether the rootfs exists), so
//! everything is unit-tested from JSON.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, ContainerSummary, LogFormat, Mount, MountKind, PodIdentity,
    PodRole, RootfsView, RuntimeClass, normalize_image_ref,
};
use chrono::{DateTime, Utc};
use containerd_client::services::v1::Container;
use containerd_client::types::v1::Process;
use serde_json::{Value, json};

use crate::cri::{self, ContainerMetadata, CriState, SandboxMetadata};
use crate::runtime::RuntimeInfo;

/// Where containerd's v2 runtime keeps task bundles under its state dir.
pub const TASK_DIR: &str = "io.containerd.runtime.v2.task";

/// The task's status enum (`containerd.v1.types.Status`).
const TASK_CREATED: i32 = 1;
const TASK_RUNNING: i32 = 2;
const TASK_STOPPED: i32 = 3;
const TASK_PAUSED: i32 = 4;
const TASK_PAUSING: i32 = 5;

/// The sandbox of a CRI container, as far as it matters for the container.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxFacts {
    /// The sandbox's runtime.
    pub runtime: RuntimeInfo,
    /// CRI's metadata of the sandbox.
    pub metadata: Option<SandboxMetadata>,
}

/// Everything gathered about one container.
#[derive(Debug, Clone)]
pub struct ContainerFacts {
    /// The containerd namespace.
    pub namespace: String,
    /// containerd's record of the container.
    pub record: Container,
    /// The init process's task, when there is one.
    pub task: Option<Process>,
    /// CRI's state, asked for when a CRI container has no task.
    pub cri_state: Option<CriState>,
    /// The sandbox, for a CRI container.
    pub sandbox: Option<SandboxFacts>,
}

/// The parsed parts of a record, computed once per conversion.
struct Parsed {
    spec: Value,
    runtime: RuntimeInfo,
    class: RuntimeClass,
    container_meta: Option<ContainerMetadata>,
    sandbox_meta: Option<SandboxMetadata>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

impl ContainerFacts {
    fn parse(&self) -> Parsed {
        let spec = spec_json(&self.record);
        let runtime = RuntimeInfo::from_record(self.record.runtime.as_ref());
        let container_meta = cri::container_metadata(&self.record.extensions);
        let sandbox_meta = cri::sandbox_metadata(&self.record.extensions);
        let handler = self
            .sandbox
            .as_ref()
            .and_then(|s| s.metadata.as_ref())
            .or(sandbox_meta.as_ref())
            .map(|m| m.runtime_handler.as_str())
            .filter(|h| !h.is_empty());
        let class = runtime.with_sandbox(self.sandbox.as_ref().map(|s| &s.runtime), handler);
        let annotations = string_map(spec.get("annotations"));
        Parsed { spec, runtime, class, container_meta, sandbox_meta, labels: sorted(&self.record.labels), annotations }
    }

    /// The runtime class, with the sandbox's handler taken into account.
    pub fn runtime_class(&self) -> RuntimeClass {
        self.parse().class
    }

    /// The OCI spec as JSON (`Null` when the record has none).
    pub fn spec(&self) -> Value {
        spec_json(&self.record)
    }

    /// Whether the record is a CRI sandbox.
    pub fn is_sandbox(&self) -> bool {
        self.record.labels.get(cri::KIND_LABEL).is_some_and(|k| k == "sandbox")
    }

    /// The CRI sandbox id of a CRI container (its own id for a sandbox).
    pub fn cri_sandbox_id(&self) -> Option<String> {
        if self.is_sandbox() {
            return Some(self.record.id.clone());
        }
        cri::container_metadata(&self.record.extensions).map(|m| m.sandbox_id).filter(|s| !s.is_empty())
    }

    /// Whether CRI manages the record (container or sandbox).
    pub fn is_cri(&self) -> bool {
        self.record.extensions.contains_key(cri::CONTAINER_METADATA)
            || self.record.extensions.contains_key(cri::SANDBOX_METADATA)
    }

    /// The normalized status and the rest of the state.
    pub fn state(&self) -> ContainerState {
        state(self.task.as_ref(), self.cri_state.as_ref())
    }
}

/// The record's OCI spec as JSON (containerd stores it as an `Any` holding JSON).
pub fn spec_json(record: &Container) -> Value {
    record.spec.as_ref().and_then(|any| serde_json::from_slice(&any.value).ok()).unwrap_or(Value::Null)
}

/// The list entry for a container.
pub fn summary(facts: &ContainerFacts) -> ContainerSummary {
    let p = facts.parse();
    let mut summary =
        ContainerSummary::new(&facts.record.id, normalize_image_ref(&facts.record.image), facts.state().status);
    summary.names = names(&p);
    summary.created = timestamp(facts.record.created_at.as_ref());
    summary.namespace = Some(facts.namespace.clone());
    summary.runtime = Some(p.class);
    summary.labels = p.labels;
    summary
}

/// The full detail. `rootfs_exists` says whether [`rootfs_path`] exists on the host.
pub fn detail(facts: &ContainerFacts, rootfs: &Path, rootfs_exists: bool) -> ContainerDetail {
    let p = facts.parse();
    let state = facts.state();
    let rootfs = if p.class.is_sandboxed() {
        RootfsView::NotHostVisible
    } else if rootfs_exists && state.status.is_running() {
        RootfsView::Merged(rootfs.to_path_buf())
    } else {
        RootfsView::NotReported
    };
    let pid = state.pid;
    let log_path = p.container_meta.as_ref().map(|m| m.log_path.clone()).filter(|l| !l.is_empty()).map(PathBuf::from);
    // A container without CRI metadata (docker's, ctr's) has no name but its id.
    let name = names(&p).into_iter().next().unwrap_or_else(|| facts.record.id.clone());
    let mut detail =
        ContainerDetail::new(&facts.record.id, name, normalize_image_ref(&facts.record.image), state, p.class.clone());
    detail.env = string_list(p.spec.pointer("/process/env"));
    detail.hostname = p.spec.get("hostname").and_then(Value::as_str).filter(|h| !h.is_empty()).map(str::to_owned);
    detail.network_mode = network_mode(&p, facts.sandbox.as_ref(), pid);
    detail.pid_mode = pid_mode(&p, facts.sandbox.as_ref(), pid);
    detail.log_format = log_path.as_ref().map(|_| LogFormat::Cri);
    detail.log_path = log_path;
    detail.rootfs = rootfs;
    detail.mounts = mounts(&p.spec);
    detail.pod = pod_identity(facts, &p);
    detail.created = timestamp(facts.record.created_at.as_ref());
    detail.namespace = Some(facts.namespace.clone());
    detail.raw = raw(facts, &p);
    detail.runtime_name = p.runtime.name.clone();
    detail.labels = p.labels;
    detail.annotations = p.annotations;
    detail
}

/// Where the host sees the container's rootfs: the spec's root path when absolute (docker's
/// containers), else `<state>/io.containerd.runtime.v2.task/<ns>/<id>/<root>`.
pub fn rootfs_path(facts: &ContainerFacts, state_dir: &Path) -> PathBuf {
    let spec = spec_json(&facts.record);
    let root = spec.pointer("/root/path").and_then(Value::as_str).filter(|r| !r.is_empty()).unwrap_or("rootfs");
    if root.starts_with('/') {
        return PathBuf::from(root);
    }
    state_dir.join(TASK_DIR).join(&facts.namespace).join(&facts.record.id).join(root)
}

fn names(p: &Parsed) -> Vec<String> {
    let cri_name = p.container_meta.as_ref().map(|m| &m.name).or(p.sandbox_meta.as_ref().map(|m| &m.name));
    cri_name.filter(|n| !n.is_empty()).cloned().into_iter().collect()
}

fn state(task: Option<&Process>, cri: Option<&CriState>) -> ContainerState {
    if let Some(t) = task {
        let status = match t.status {
            TASK_CREATED => ContainerStatus::Created,
            TASK_RUNNING => ContainerStatus::Running,
            TASK_STOPPED => ContainerStatus::Exited,
            TASK_PAUSED | TASK_PAUSING => ContainerStatus::Paused,
            _ => ContainerStatus::Unknown("unknown".into()),
        };
        let exited = status == ContainerStatus::Exited;
        let mut state = ContainerState::with_status(status);
        state.pid = Some(t.pid).filter(|p| *p > 0 && !exited);
        state.exit_code = exited.then_some(i64::from(t.exit_status));
        state.finished_at = if exited { timestamp(t.exited_at.as_ref()) } else { None };
        return state;
    }
    match cri {
        Some(c) => {
            let mut state = ContainerState::with_status(match ContainerStatus::parse(c.state) {
                // Running needs a live task. With the task gone the container has exited and CRI
                // has not processed the exit yet (it learns of it asynchronously).
                s if s.is_running() => ContainerStatus::Exited,
                s => s,
            });
            state.exit_code = c.exit_code;
            state.started_at = nanos(c.started_at_ns);
            state.finished_at = nanos(c.finished_at_ns);
            state.oom_killed = c.reason == "OOMKilled";
            state
        }
        // A record without a task has not been started, or its task was deleted after the exit;
        // containerd keeps no state to tell which.
        None => ContainerState::with_status(ContainerStatus::Created),
    }
}

fn namespace_entry<'a>(spec: &'a Value, kind: &str) -> Option<&'a Value> {
    spec.pointer("/linux/namespaces")?.as_array()?.iter().find(|n| n.get("type").and_then(Value::as_str) == Some(kind))
}

/// `host` without a namespace of this kind in the spec, the namespace path when the spec joins
/// one, else the task's own namespace as `/proc/<pid>/ns/<kind>` (`private` without a task).
fn spec_namespace_mode(spec: &Value, kind: &str, proc_name: &str, pid: Option<u32>) -> Option<String> {
    spec.pointer("/linux")?;
    match namespace_entry(spec, kind) {
        None => Some("host".into()),
        Some(ns) => match ns.get("path").and_then(Value::as_str).filter(|p| !p.is_empty()) {
            Some(path) => Some(path.to_owned()),
            None => Some(pid.map(|p| format!("/proc/{p}/ns/{proc_name}")).unwrap_or_else(|| "private".into())),
        },
    }
}

fn network_mode(p: &Parsed, sandbox: Option<&SandboxFacts>, pid: Option<u32>) -> Option<String> {
    let pod = sandbox.and_then(|s| s.metadata.as_ref()).or(p.sandbox_meta.as_ref());
    if let Some(meta) = pod {
        if meta.network_mode() == cri::NAMESPACE_MODE_NODE {
            return Some("host".into());
        }
        if !meta.netns_path.is_empty() {
            return Some(meta.netns_path.clone());
        }
    }
    spec_namespace_mode(&p.spec, "network", "net", pid)
}

fn pid_mode(p: &Parsed, sandbox: Option<&SandboxFacts>, pid: Option<u32>) -> Option<String> {
    let node = match (&p.container_meta, &p.sandbox_meta) {
        (Some(c), _) => {
            c.pid_mode() == cri::NAMESPACE_MODE_NODE
                || sandbox.and_then(|s| s.metadata.as_ref()).is_some_and(|m| m.pid_mode() == cri::NAMESPACE_MODE_NODE)
        }
        (None, Some(s)) => s.pid_mode() == cri::NAMESPACE_MODE_NODE,
        (None, None) => false,
    };
    if node {
        return Some("host".into());
    }
    spec_namespace_mode(&p.spec, "pid", "pid", pid)
}

const SPECIAL_FS: &[&str] = &["proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2", "devtmpfs", "securityfs"];
const PROPAGATION: &[&str] = &["rprivate", "private", "rshared", "shared", "rslave", "slave"];

/// The spec's mounts, read-only ones included (`ro` in the options).
pub fn mounts(spec: &Value) -> Vec<Mount> {
    let Some(list) = spec.get("mounts").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|m| {
            let fstype = m.get("type").and_then(Value::as_str).unwrap_or_default();
            let options = string_list(m.get("options"));
            let has = |o: &str| options.iter().any(|x| x == o);
            let source = m.get("source").and_then(Value::as_str).unwrap_or_default();
            let is_bind = fstype == "bind" || has("bind") || has("rbind");
            let (kind, name) = if is_bind {
                match docker_volume_name(source) {
                    Some(name) => (MountKind::Volume, Some(name)),
                    None => (MountKind::Bind, None),
                }
            } else if fstype == "tmpfs" {
                (MountKind::Tmpfs, None)
            } else if SPECIAL_FS.contains(&fstype) {
                (MountKind::Special(fstype.to_owned()), None)
            } else {
                (MountKind::Other(fstype.to_owned()), None)
            };
            let source = if is_bind { PathBuf::from(source) } else { PathBuf::new() };
            let mut mount = Mount::new(source, m.get("destination").and_then(Value::as_str).unwrap_or_default(), kind);
            mount.read_only = has("ro");
            mount.propagation = options.iter().find(|o| PROPAGATION.contains(&o.as_str())).cloned();
            mount.name = name;
            mount
        })
        .collect()
}

/// `…/volumes/<name>/_data` is a docker named volume.
fn docker_volume_name(source: &str) -> Option<String> {
    let rest = source.strip_suffix("/_data")?;
    let (parent, name) = rest.rsplit_once('/')?;
    parent.ends_with("/volumes").then(|| name.to_owned())
}

fn pod_identity(facts: &ContainerFacts, p: &Parsed) -> PodIdentity {
    let label = |k: &str| p.labels.get(k).filter(|v| !v.is_empty()).cloned();
    let annotation = |k: &str| p.annotations.get(&format!("io.kubernetes.cri.{k}")).filter(|v| !v.is_empty()).cloned();
    let pod_meta = facts.sandbox.as_ref().and_then(|s| s.metadata.as_ref()).or(p.sandbox_meta.as_ref());
    let is_sandbox = facts.is_sandbox() || annotation("container-type").as_deref() == Some("sandbox");
    let sandbox_id = if is_sandbox {
        Some(facts.record.id.clone())
    } else {
        p.container_meta.as_ref().map(|m| m.sandbox_id.clone()).filter(|s| !s.is_empty()).or(annotation("sandbox-id"))
    };
    let container_name = if is_sandbox {
        None
    } else {
        label("io.kubernetes.container.name")
            .or(annotation("container-name"))
            .or(p.container_meta.as_ref().and_then(ContainerMetadata::k8s_name))
    };
    let mut pod = PodIdentity::default();
    pod.pod_name =
        label("io.kubernetes.pod.name").or(annotation("sandbox-name")).or(pod_meta.and_then(|m| m.pod_field("name")));
    pod.namespace = label("io.kubernetes.pod.namespace")
        .or(annotation("sandbox-namespace"))
        .or(pod_meta.and_then(|m| m.pod_field("namespace")));
    pod.pod_uid =
        label("io.kubernetes.pod.uid").or(annotation("sandbox-uid")).or(pod_meta.and_then(|m| m.pod_field("uid")));
    pod.container_name = container_name;
    pod.role = is_sandbox.then_some(PodRole::Sandbox);
    pod.sandbox_id = sandbox_id;
    pod
}

fn raw(facts: &ContainerFacts, p: &Parsed) -> Value {
    let extensions: serde_json::Map<String, Value> = facts
        .record
        .extensions
        .iter()
        .map(|(k, any)| {
            let value = serde_json::from_slice(&any.value).unwrap_or_else(|_| json!({ "bytes": any.value.len() }));
            (k.clone(), json!({ "type_url": any.type_url, "value": value }))
        })
        .collect();
    let task = facts.task.as_ref().map(|t| {
        json!({ "id": t.id, "pid": t.pid, "status": t.status, "exit_status": t.exit_status,
                "stdin": t.stdin, "stdout": t.stdout, "stderr": t.stderr, "terminal": t.terminal })
    });
    json!({
        "id": facts.record.id,
        "namespace": facts.namespace,
        "labels": p.labels,
        "image": facts.record.image,
        "runtime": { "name": p.runtime.name, "binary_name": p.runtime.binary_name },
        "snapshotter": facts.record.snapshotter,
        "snapshot_key": facts.record.snapshot_key,
        "sandbox": facts.record.sandbox,
        "spec": p.spec,
        "extensions": extensions,
        "task": task,
        "cri_state": facts.cri_state.as_ref().map(|c| json!({ "state": c.state, "exit_code": c.exit_code, "reason": c.reason })),
    })
}

/// A protobuf timestamp as UTC; Go's zero time (year 1) and the epoch are "unset".
pub fn timestamp(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    if ts.seconds <= 0 {
        return None;
    }
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).unwrap_or(0))
}

fn nanos(ns: i64) -> Option<DateTime<Utc>> {
    (ns > 0).then(|| DateTime::from_timestamp_nanos(ns))
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

fn sorted(m: &HashMap<String, String>) -> BTreeMap<String, String> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
