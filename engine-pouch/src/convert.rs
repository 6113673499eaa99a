//! pouch's answers → anyctr's normalized models.

use std::path::PathBuf;

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, ContainerSummary, LogFormat, Mount, MountKind, PodIdentity,
    PodRole, RootfsView, RuntimeClass,
};
use chrono::{DateTime, TimeZone, Utc};

use crate::models;

/// pouch (and dockershim-style) Kubernetes labels.
pub mod labels {
    pub const POUCH_TYPE: &str = "io.kubernetes.pouch.type";
    pub const DOCKER_TYPE: &str = "io.kubernetes.docker.type";
    pub const SANDBOX_ID: &str = "io.kubernetes.sandbox.id";
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
}

/// Status of a list element: `State` when pouch sends one, else the first word of `Status`
/// ("Up 2 seconds", "Up 1 minute(paused)", "Exited (3) …", "Stopped (0) …", "created").
pub fn list_status(state: &str, status: &str) -> ContainerStatus {
    if !state.trim().is_empty() {
        return ContainerStatus::parse(state);
    }
    let status = status.trim();
    if status.ends_with("(paused)") {
        return ContainerStatus::Paused;
    }
    ContainerStatus::parse(status.split([' ', '(']).next().unwrap_or(""))
}

/// The runtime class: pouch's runtime name (`runc`, `rund`, `kata-runtime`) decides; a custom
/// name falls back to the shim type (`io.containerd.kata.v2`), except the generic v1 shim that
/// every runc-style runtime shares.
pub fn runtime_class(host: &models::HostConfig) -> RuntimeClass {
    let by_name = RuntimeClass::from_name(&host.runtime);
    if matches!(by_name, RuntimeClass::Other(_)) && !host.runtime_type.is_empty() {
        let by_type = RuntimeClass::from_name(&host.runtime_type);
        if !matches!(by_type, RuntimeClass::Other(_) | RuntimeClass::Runc) {
            return by_type;
        }
    }
    by_name
}

pub fn summary(item: models::ContainerListItem) -> ContainerSummary {
    let runtime = (!item.host_config.runtime.is_empty()).then(|| runtime_class(&item.host_config));
    let mut summary = ContainerSummary::new(item.id, item.image, list_status(&item.state, &item.status));
    summary.names = item.names.iter().map(|n| n.trim_start_matches('/').to_owned()).collect();
    summary.labels = item.labels;
    summary.created = item.created.and_then(list_created);
    summary.runtime = runtime;
    summary
}

/// The list's `Created`: pouchd 1.3.0 sends Unix nanoseconds where Docker sends seconds. Told apart
/// by size (any date after 1973 in nanoseconds is over 10^17; seconds stay under 10^11 until the
/// year 5138), with milli- and microseconds by the same rule.
pub fn list_created(value: i64) -> Option<DateTime<Utc>> {
    let (secs, nanos) = match value {
        v if v <= 0 => return None,
        v if v >= 100_000_000_000_000_000 => (v / 1_000_000_000, v % 1_000_000_000),
        v if v >= 100_000_000_000_000 => (v / 1_000_000, (v % 1_000_000) * 1_000),
        v if v >= 100_000_000_000 => (v / 1_000, (v % 1_000) * 1_000_000),
        v => (v, 0),
    };
    Utc.timestamp_opt(secs, u32::try_from(nanos).ok()?).single()
}

/// A path pouchd reports for the host: absolute, or not a path at all (`""`, a placeholder such as
/// `<unknown>` for a created container).
fn reported_host_path(value: &str) -> Option<&str> {
    (value.starts_with('/') && !value.contains('\0')).then_some(value)
}

/// A list element that does not even fit the lenient model still names a container; keep it
/// rather than hide it (or fail the whole list, as strict models do).
pub fn summary_from_value(value: &serde_json::Value) -> Option<ContainerSummary> {
    let id = value.get("Id").and_then(|v| v.as_str())?.to_owned();
    let names = value
        .get("Names")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|n| n.as_str()).map(|n| n.trim_start_matches('/').to_owned()).collect())
        .unwrap_or_default();
    let status = value.get("Status").and_then(|v| v.as_str()).unwrap_or("");
    let image = value.get("Image").and_then(|v| v.as_str()).unwrap_or("");
    let mut summary = ContainerSummary::new(id, image, list_status("", status));
    summary.names = names;
    Some(summary)
}

/// RFC 3339 time; Go's zero time (`0001-01-01T00:00:00Z`) and empty strings are `None`.
pub fn time(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s.trim()).ok()?.with_timezone(&Utc);
    (t.timestamp() > 0).then_some(t)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.to_owned())
}

pub fn detail(c: models::ContainerInspect, raw: serde_json::Value) -> ContainerDetail {
    let status = ContainerStatus::parse(&c.state.status);
    let exited = matches!(status, ContainerStatus::Exited | ContainerStatus::Dead);
    let mut state = ContainerState::with_status(status);
    state.pid = c.state.pid.filter(|p| *p > 0).and_then(|p| u32::try_from(p).ok());
    state.exit_code = if exited { c.state.exit_code } else { None };
    state.started_at = time(&c.state.started_at);
    state.finished_at = time(&c.state.finished_at);
    state.oom_killed = c.state.oom_killed.unwrap_or(false);
    let runtime = runtime_class(&c.host_config);
    let rootfs = rootfs_view(&c, &runtime);
    let mounts = c.mounts.iter().map(|m| mount(m, &c.host_config.binds)).collect();
    let log_format = match c.host_config.log_config.r#type.as_str() {
        "" | "none" => None,
        "json-file" => Some(LogFormat::JsonFile),
        other => Some(LogFormat::Other(other.to_owned())),
    };
    let pod = pod_identity(&c.id, &c.config.labels);
    let image = if c.config.image.is_empty() { c.image.clone() } else { c.config.image.clone() };
    let mut detail = ContainerDetail::new(c.id, c.name.trim_start_matches('/'), image, state, runtime);
    detail.labels = c.config.labels;
    detail.env = c.config.env;
    detail.runtime_name = c.host_config.runtime.clone();
    detail.hostname = non_empty(&c.config.hostname);
    detail.network_mode = non_empty(&c.host_config.network_mode);
    detail.pid_mode = non_empty(&c.host_config.pid_mode);
    detail.log_path = non_empty(&c.log_path).map(PathBuf::from);
    detail.log_format = log_format;
    detail.rootfs = rootfs;
    detail.mounts = mounts;
    detail.pod = pod;
    detail.created = time(&c.created);
    detail.raw = raw;
    detail
}

/// pouch reports the merged dir under the containerd v1 runtime state dir, in `GraphDriver`,
/// again in `Snapshotter` and as `HostRootPath`; it is empty while the container is stopped.
fn rootfs_view(c: &models::ContainerInspect, runtime: &RuntimeClass) -> RootfsView {
    if runtime.is_sandboxed() {
        return RootfsView::NotHostVisible;
    }
    let merged = [c.graph_driver.merged_dir(), c.snapshotter.merged_dir(), Some(c.host_root_path.as_str())]
        .into_iter()
        .flatten()
        .find_map(reported_host_path);
    match merged {
        Some(dir) => RootfsView::Merged(PathBuf::from(dir)),
        None => RootfsView::NotReported,
    }
}

fn mount(m: &models::MountPoint, binds: &[String]) -> Mount {
    let mode_flags: Vec<&str> = m.mode.split(',').map(str::trim).collect();
    // pouch omits `RW` when it is false, so a missing RW means read-only unless the mode says rw.
    let read_only = mode_flags.contains(&"ro") || (m.rw != Some(true) && !mode_flags.contains(&"rw"));
    let kind = match m.r#type.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        "" if binds.iter().any(|b| bind_destination(b) == Some(m.destination.as_str())) => MountKind::Bind,
        "" if !m.name.is_empty() => MountKind::Volume,
        "" if m.source.starts_with('/') => MountKind::Bind,
        "" => MountKind::Other(String::new()),
        other => MountKind::Other(other.to_owned()),
    };
    let propagation = non_empty(&m.propagation).or_else(|| {
        mode_flags
            .iter()
            .find(|f| f.ends_with("private") || f.ends_with("shared") || f.ends_with("slave"))
            .map(|f| f.to_string())
    });
    let mut mount = Mount::new(&m.source, &m.destination, kind);
    mount.read_only = read_only;
    mount.propagation = propagation;
    mount.name = non_empty(&m.name);
    mount
}

/// `src:dst[:mode]` → `dst`.
fn bind_destination(bind: &str) -> Option<&str> {
    bind.split(':').nth(1)
}

/// Pod identity from pouch's CRI labels (`io.kubernetes.pouch.type` = `sandbox` | `container`),
/// also accepting dockershim's `io.kubernetes.docker.type` = `podsandbox`.
pub fn pod_identity(id: &str, labels: &models::Labels) -> PodIdentity {
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    let kind = get(labels::POUCH_TYPE).or_else(|| get(labels::DOCKER_TYPE)).unwrap_or_default();
    let is_sandbox = matches!(kind.as_str(), "sandbox" | "podsandbox");
    let mut pod = PodIdentity::default();
    pod.pod_name = get(labels::POD_NAME);
    pod.namespace = get(labels::POD_NAMESPACE);
    pod.pod_uid = get(labels::POD_UID);
    pod.container_name = get(labels::CONTAINER_NAME);
    pod.sandbox_id = if is_sandbox { Some(id.to_owned()) } else { get(labels::SANDBOX_ID) };
    pod.role = is_sandbox.then_some(PodRole::Sandbox);
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_status_words() {
        let cases = [
            ("", "Up 2 seconds", ContainerStatus::Running),
            ("", "Up 1 minute(paused)", ContainerStatus::Paused),
            ("", "Exited (3) 2 seconds", ContainerStatus::Exited),
            ("", "Stopped (0) 1 hour", ContainerStatus::Exited),
            ("", "created", ContainerStatus::Created),
            ("stopped", "whatever", ContainerStatus::Exited),
            ("", "", ContainerStatus::Unknown(String::new())),
        ];
        for (state, status, want) in cases {
            assert_eq!(list_status(state, status), want, "{state:?} {status:?}");
        }
    }

    #[test]
    fn runtime_from_name_then_type() {
        let h = |runtime: &str, ty: &str| models::HostConfig {
            runtime: runtime.into(),
            runtime_type: ty.into(),
            ..Default::default()
        };
        assert_eq!(runtime_class(&h("runc", "io.containerd.runtime.v1.linux")), RuntimeClass::Runc);
        assert_eq!(runtime_class(&h("rund", "io.containerd.rund.v2")), RuntimeClass::Rund);
        assert_eq!(runtime_class(&h("secure", "io.containerd.kata.v2")), RuntimeClass::Kata);
        assert_eq!(runtime_class(&h("myrt", "io.containerd.runtime.v1.linux")), RuntimeClass::Other("myrt".into()));
        assert!(runtime_class(&h("myrt", "io.containerd.runtime.v1.linux")).is_sandboxed(), "unknown: fail closed");
    }

    #[test]
    fn list_created_in_any_unit() {
        let want = Utc.timestamp_opt(1_796_041_569, 559_062_209).single();
        // pouchd 1.3.0 (containers-list-created-nanos.json).
        assert_eq!(list_created(1_796_041_569_559_062_209), want);
        assert_eq!(list_created(1_796_041_569).map(|t| t.timestamp()), Some(1_796_041_569));
        assert_eq!(list_created(1_796_041_569_559).map(|t| t.timestamp_millis()), Some(1_796_041_569_559));
        assert_eq!(list_created(1_796_041_569_559_062).map(|t| t.timestamp_micros()), Some(1_796_041_569_559_062));
        assert_eq!(list_created(0), None);
        assert_eq!(list_created(-5), None);
    }

    #[test]
    fn placeholders_are_not_paths() {
        let inspect = |merged: &str, host_root: &str| models::ContainerInspect {
            graph_driver: models::DriverData {
                name: "overlayfs".into(),
                data: [("MergedDir".to_owned(), serde_json::json!(merged))].into_iter().collect(),
            },
            host_root_path: host_root.into(),
            ..Default::default()
        };
        for placeholder in ["<unknown>", "", "rootfs", "unknown"] {
            assert_eq!(
                rootfs_view(&inspect("", placeholder), &RuntimeClass::Runc),
                RootfsView::NotReported,
                "{placeholder}"
            );
            assert_eq!(
                rootfs_view(&inspect(placeholder, ""), &RuntimeClass::Runc),
                RootfsView::NotReported,
                "{placeholder}"
            );
        }
        let live = "/var/lib/pouch/containerd/state/io.containerd.runtime.v1.linux/default/x/rootfs";
        assert_eq!(rootfs_view(&inspect("", live), &RuntimeClass::Runc), RootfsView::Merged(live.into()));
        assert_eq!(rootfs_view(&inspect("<unknown>", live), &RuntimeClass::Runc), RootfsView::Merged(live.into()));
    }

    #[test]
    fn zero_times_are_none() {
        assert_eq!(time("0001-01-01T00:00:00Z"), None);
        assert_eq!(time(""), None);
        assert!(time("2026-11-23T05:20:13.456829405Z").is_some());
    }

    #[test]
    fn sandbox_label_sets_role_and_own_id() {
        let mut l = models::Labels::new();
        l.insert(labels::POUCH_TYPE.into(), "sandbox".into());
        l.insert(labels::POD_NAME.into(), "p".into());
        let p = pod_identity("abc", &l);
        assert_eq!(p.role, Some(PodRole::Sandbox));
        assert_eq!(p.sandbox_id.as_deref(), Some("abc"));
    }
}
