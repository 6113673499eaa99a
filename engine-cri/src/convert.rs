//! CRI answers as anyctr models: `ListContainers`/`ListPodSandbox` entries as summaries,
//! `ContainerStatus`/`PodSandboxStatus` (verbose) as details. Pure functions, tested with
//! recorded-shape values.
//!
//! The verbose `info` map is the runtime's own: containerd and CRI-O both put a JSON object under
//! `info` with `pid` and `runtimeSpec`; containerd adds `runtimeType`, `runtimeOptions` and the
//! `config` it was created with. Everything read from it is optional.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, ContainerSummary, LogFormat, Mount, MountKind, PodIdentity,
    PodRole, RootfsView, RuntimeClass,
};
use anyctr_engine_containerd::cri_config::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};
use chrono::{DateTime, Utc};
use k8s_cri::v1::{Container, ContainerStatus as CriContainerStatus, PodSandbox, PodSandboxStatus};
use serde_json::Value;

/// CRI `ContainerState` as a status.
pub fn container_status(state: i32) -> ContainerStatus {
    match state {
        0 => ContainerStatus::Created,
        1 => ContainerStatus::Running,
        2 => ContainerStatus::Exited,
        _ => ContainerStatus::Unknown("CONTAINER_UNKNOWN".into()),
    }
}

/// CRI `PodSandboxState`: a ready sandbox runs; a not-ready one has stopped.
pub fn sandbox_status(state: i32) -> ContainerStatus {
    if state == 0 { ContainerStatus::Running } else { ContainerStatus::Exited }
}

/// CRI timestamps are nanoseconds since the epoch; 0 means unset.
pub fn time(nanos: i64) -> Option<DateTime<Utc>> {
    (nanos > 0).then(|| DateTime::from_timestamp_nanos(nanos))
}

fn sorted(map: &HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The name a CRI container answers to: its Kubernetes container name (`metadata.name`).
fn container_name(metadata: Option<&k8s_cri::v1::ContainerMetadata>) -> String {
    metadata.map(|m| m.name.clone()).unwrap_or_default()
}

/// The name a sandbox answers to: `<namespace>/<pod name>` would clash with paths, so the pod name.
fn sandbox_name(metadata: Option<&k8s_cri::v1::PodSandboxMetadata>) -> String {
    metadata.map(|m| m.name.clone()).unwrap_or_default()
}

pub fn container_summary(c: &Container) -> ContainerSummary {
    let image = c.image.as_ref().map(|i| i.image.clone()).unwrap_or_else(|| c.image_ref.clone());
    // The runtime stays unset: ListContainers does not say; the sandbox's handler and
    // ContainerStatus do.
    let mut summary = ContainerSummary::new(&c.id, image, container_status(c.state));
    summary.names = Some(container_name(c.metadata.as_ref())).filter(|n| !n.is_empty()).into_iter().collect();
    summary.labels = sorted(&c.labels);
    summary.created = time(c.created_at);
    summary
}

pub fn sandbox_summary(s: &PodSandbox) -> ContainerSummary {
    let mut summary = ContainerSummary::new(&s.id, "", sandbox_status(s.state));
    summary.names = Some(sandbox_name(s.metadata.as_ref())).filter(|n| !n.is_empty()).into_iter().collect();
    summary.labels = sorted(&s.labels);
    summary.created = time(s.created_at);
    summary
}

/// The JSON object under the verbose `info` key, or `Null`.
pub fn verbose_info(info: &HashMap<String, String>) -> Value {
    info.get("info").and_then(|s| serde_json::from_str(s).ok()).unwrap_or(Value::Null)
}

/// The runtime of a container or sandbox: the runtime binary where the runtime names it (a runc
/// shim's `BinaryName`), else its shim type, else the CRI runtime handler. Nothing known is
/// `Other("")`, which counts as sandboxed: a generic CRI runtime's default may be a VM runtime.
pub fn runtime(info: &Value, handler: &str) -> (RuntimeClass, String) {
    let binary = info.pointer("/runtimeOptions/binary_name").and_then(Value::as_str).filter(|s| !s.is_empty());
    let shim = info.get("runtimeType").and_then(Value::as_str).filter(|s| !s.is_empty());
    let handler = Some(handler).filter(|s| !s.is_empty());
    match binary.or(shim).or(handler) {
        Some(name) => (RuntimeClass::from_name(name), name.to_owned()),
        None => (RuntimeClass::Other(String::new()), String::new()),
    }
}

/// The runtime spec's `process.env`, order kept.
fn spec_env(info: &Value) -> Vec<String> {
    info.pointer("/runtimeSpec/process/env")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn pid(info: &Value) -> Option<u32> {
    info.get("pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0)
}

fn pod_identity(labels: &HashMap<String, String>, sandbox_id: &str, role: Option<PodRole>) -> PodIdentity {
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    let mut pod = PodIdentity::default();
    pod.pod_name = get(POD_NAME);
    pod.namespace = get(POD_NAMESPACE);
    pod.pod_uid = get(POD_UID);
    pod.container_name = if role == Some(PodRole::Sandbox) { None } else { get(CONTAINER_NAME) };
    pod.sandbox_id = Some(sandbox_id.to_owned()).filter(|s| !s.is_empty());
    pod.role = role;
    pod
}

/// A container from `ContainerStatus` (verbose `info` parsed), with the sandbox's runtime handler
/// and log directory when known.
pub fn container_detail(
    status: &CriContainerStatus,
    info: &Value,
    sandbox_id: &str,
    handler: &str,
    log_directory: Option<&str>,
) -> ContainerDetail {
    let (runtime, runtime_name) = runtime(info, handler);
    let mut state = ContainerState::with_status(container_status(status.state));
    state.pid = pid(info).filter(|_| status.state == 1);
    state.exit_code = (status.state == 2).then_some(i64::from(status.exit_code));
    state.started_at = time(status.started_at);
    state.finished_at = time(status.finished_at);
    state.oom_killed = status.reason == "OOMKilled";
    let mounts = status
        .mounts
        .iter()
        .map(|m| {
            let mut mount = Mount::new(&m.host_path, &m.container_path, MountKind::Bind);
            mount.read_only = m.readonly;
            let propagation = match m.propagation {
                1 => "rslave",
                2 => "rshared",
                _ => "rprivate",
            };
            mount.propagation = Some(propagation.to_owned());
            mount
        })
        .collect();
    // CRI's log path is relative to the pod's log directory; containerd reports it joined already.
    let log_path = Some(status.log_path.as_str()).filter(|p| !p.is_empty()).and_then(|p| {
        if p.starts_with('/') { Some(PathBuf::from(p)) } else { log_directory.map(|d| PathBuf::from(d).join(p)) }
    });
    let rootfs = if runtime.is_sandboxed() { RootfsView::NotHostVisible } else { RootfsView::NotReported };
    let sandbox_id = info.get("sandboxID").and_then(Value::as_str).unwrap_or(sandbox_id);
    let image = status.image.as_ref().map(|i| i.image.clone()).unwrap_or_else(|| status.image_ref.clone());
    let mut detail = ContainerDetail::new(&status.id, container_name(status.metadata.as_ref()), image, state, runtime);
    detail.labels = sorted(&status.labels);
    detail.annotations = sorted(&status.annotations);
    detail.env = spec_env(info);
    detail.runtime_name = runtime_name;
    detail.hostname = info.pointer("/runtimeSpec/hostname").and_then(Value::as_str).map(str::to_owned);
    detail.log_format = log_path.as_ref().map(|_| LogFormat::Cri);
    detail.log_path = log_path;
    detail.rootfs = rootfs;
    detail.mounts = mounts;
    detail.pod = pod_identity(&status.labels, sandbox_id, None);
    detail.created = time(status.created_at);
    detail.raw = serde_json::json!({ "info": info });
    detail
}

/// A pod sandbox from `PodSandboxStatus` (verbose `info` parsed), as a container in the role
/// `Sandbox`.
pub fn sandbox_detail(status: &PodSandboxStatus, info: &Value) -> ContainerDetail {
    let (runtime, runtime_name) = runtime(info, &status.runtime_handler);
    let running = status.state == 0;
    let network = status
        .linux
        .as_ref()
        .and_then(|l| l.namespaces.as_ref())
        .and_then(|n| n.options.as_ref())
        .map(|o| if o.network == 2 { "host" } else { "pod" }.to_owned());
    let rootfs = if runtime.is_sandboxed() { RootfsView::NotHostVisible } else { RootfsView::NotReported };
    let mut state = ContainerState::with_status(sandbox_status(status.state));
    state.pid = pid(info).filter(|_| running);
    let image = info.get("image").and_then(Value::as_str).unwrap_or_default();
    let mut detail = ContainerDetail::new(&status.id, sandbox_name(status.metadata.as_ref()), image, state, runtime);
    detail.labels = sorted(&status.labels);
    detail.annotations = sorted(&status.annotations);
    detail.env = spec_env(info);
    detail.runtime_name = runtime_name;
    detail.hostname = info.pointer("/config/hostname").and_then(Value::as_str).map(str::to_owned);
    detail.network_mode = network;
    detail.rootfs = rootfs;
    detail.pod = pod_identity(&status.labels, &status.id, Some(PodRole::Sandbox));
    detail.created = time(status.created_at);
    detail.raw = serde_json::json!({ "info": info });
    detail
}

/// The pod's log directory from the sandbox's verbose info (containerd keeps the config it was
/// created with), else kubelet's layout from the pod's metadata.
pub fn log_directory(status: &PodSandboxStatus, info: &Value) -> Option<String> {
    if let Some(dir) = info.pointer("/config/log_directory").and_then(Value::as_str).filter(|d| !d.is_empty()) {
        return Some(dir.to_owned());
    }
    let m = status.metadata.as_ref()?;
    Some(format!("/var/log/pods/{}_{}_{}", m.namespace, m.name, m.uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::{ContainerMetadata, Mount as CriMount, PodSandboxMetadata};
    use serde_json::json;

    fn labels() -> HashMap<String, String> {
        [(POD_NAME, "web"), (POD_NAMESPACE, "team"), (POD_UID, "u1"), (CONTAINER_NAME, "app"), ("x", "1")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn runtime_prefers_binary_then_shim_then_handler_and_fails_closed() {
        let crun = json!({"runtimeType": "io.containerd.runc.v2", "runtimeOptions": {"binary_name": "/x/bin/crun"}});
        assert_eq!(runtime(&crun, "crun").0, RuntimeClass::Crun);
        assert_eq!(runtime(&json!({"runtimeType": "io.containerd.rund.v2"}), "runc").0, RuntimeClass::Rund);
        assert_eq!(runtime(&json!({"runtimeType": "io.containerd.runc.v2"}), "").0, RuntimeClass::Runc);
        assert_eq!(runtime(&Value::Null, "runc").0, RuntimeClass::Runc);
        assert!(runtime(&Value::Null, "").0.is_sandboxed(), "an unknown default must not be host-visible");
    }

    #[test]
    fn container_detail_from_status_and_verbose_info() {
        let status = CriContainerStatus {
            id: "abc".into(),
            metadata: Some(ContainerMetadata { name: "app".into(), attempt: 0 }),
            state: 1,
            started_at: 1_700_000_000_000_000_000,
            labels: labels(),
            mounts: vec![CriMount {
                container_path: "/data".into(),
                host_path: "/srv/data".into(),
                readonly: true,
                ..Default::default()
            }],
            log_path: "app/0.log".into(),
            ..Default::default()
        };
        let info = json!({"pid": 42, "sandboxID": "sb", "runtimeType": "io.containerd.runc.v2",
                          "runtimeSpec": {"process": {"env": ["A=1", "B=2"]}}});
        let d = container_detail(&status, &info, "ignored", "runc", Some("/var/log/pods/team_web_u1"));
        assert_eq!(d.name, "app");
        assert_eq!(d.state.pid, Some(42));
        assert_eq!(d.proc_root_pid(), Some(42));
        assert_eq!(d.env, ["A=1", "B=2"]);
        assert_eq!(d.log_path.as_deref(), Some(std::path::Path::new("/var/log/pods/team_web_u1/app/0.log")));
        assert_eq!(d.pod.sandbox_id.as_deref(), Some("sb"));
        assert_eq!(d.pod.pod_uid.as_deref(), Some("u1"));
        assert_eq!(d.pod.container_name.as_deref(), Some("app"));
        assert!(d.mounts[0].read_only);
        assert_eq!(d.runtime, RuntimeClass::Runc);
        // An exited container keeps its exit code and offers no pid.
        let exited = CriContainerStatus { state: 2, exit_code: 7, ..status };
        let d = container_detail(&exited, &info, "sb", "runc", None);
        assert_eq!((d.state.exit_code, d.state.pid), (Some(7), None));
        assert_eq!(d.log_path, None, "a relative log path without a log directory is not guessed");
    }

    #[test]
    fn sandbox_detail_is_a_sandbox() {
        let status = PodSandboxStatus {
            id: "sb".into(),
            metadata: Some(PodSandboxMetadata {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "team".into(),
                attempt: 0,
            }),
            state: 0,
            labels: labels(),
            runtime_handler: "runc".into(),
            ..Default::default()
        };
        let d = sandbox_detail(&status, &json!({"pid": 7}));
        assert!(d.is_sandbox());
        assert_eq!(d.pod.sandbox_id.as_deref(), Some("sb"));
        assert_eq!(d.pod.container_name, None);
        assert_eq!(d.state.pid, Some(7));
        assert_eq!(log_directory(&status, &Value::Null).as_deref(), Some("/var/log/pods/team_web_u1"));
        let not_ready = PodSandboxStatus { state: 1, ..status };
        assert_eq!(sandbox_detail(&not_ready, &json!({"pid": 7})).state.pid, None);
    }
}
