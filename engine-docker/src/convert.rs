//! Docker JSON → anyctr models. Pure functions over the daemon's JSON, parsed leniently: a field
//! missing or `null` takes its default, so a daemon version with fewer fields still converts.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, ContainerSummary, Event, EventKind, ImageSummary, LogFormat,
    Mount, MountKind, PodIdentity, PodRole, RootfsView, RuntimeClass, normalize_image_ref,
};
use anyctr_core::{EngineInfo, Error, ErrorKind, Result};
use bollard::models::{EventMessage, EventMessageTypeEnum};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::client::ENGINE;
use crate::own_mounts::{self, OwnMountFacts};

/// dockershim's labels (kubelet's docker integration), which cri-dockerd still writes.
pub(crate) const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub(crate) const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub(crate) const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub(crate) const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
pub(crate) const LABEL_SANDBOX_ID: &str = "io.kubernetes.sandbox.id";
pub(crate) const LABEL_DOCKER_TYPE: &str = "io.kubernetes.docker.type";
pub(crate) const TYPE_SANDBOX: &str = "podsandbox";
pub(crate) const TYPE_CONTAINER: &str = "container";

/// `null` → default, for every field of docker's JSON that may be `null`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawSummary {
    #[serde(deserialize_with = "nullable")]
    id: String,
    #[serde(deserialize_with = "nullable")]
    names: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    image: String,
    #[serde(deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    state: String,
    #[serde(deserialize_with = "nullable")]
    created: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawInspect {
    #[serde(deserialize_with = "nullable")]
    id: String,
    #[serde(deserialize_with = "nullable")]
    created: String,
    #[serde(deserialize_with = "nullable")]
    state: RawState,
    #[serde(deserialize_with = "nullable")]
    image: String,
    #[serde(deserialize_with = "nullable")]
    log_path: String,
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    host_config: RawHostConfig,
    #[serde(deserialize_with = "nullable")]
    graph_driver: RawGraphDriver,
    #[serde(deserialize_with = "nullable")]
    mounts: Vec<RawMount>,
    #[serde(deserialize_with = "nullable")]
    config: RawConfig,
    #[serde(deserialize_with = "nullable")]
    hostname_path: String,
    #[serde(deserialize_with = "nullable")]
    hosts_path: String,
    #[serde(deserialize_with = "nullable")]
    resolv_conf_path: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawState {
    #[serde(deserialize_with = "nullable")]
    status: String,
    #[serde(deserialize_with = "nullable")]
    pid: i64,
    #[serde(deserialize_with = "nullable")]
    exit_code: i64,
    #[serde(deserialize_with = "nullable")]
    started_at: String,
    #[serde(deserialize_with = "nullable")]
    finished_at: String,
    #[serde(rename = "OOMKilled", deserialize_with = "nullable")]
    oom_killed: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawHostConfig {
    #[serde(deserialize_with = "nullable")]
    runtime: String,
    #[serde(deserialize_with = "nullable")]
    network_mode: String,
    #[serde(deserialize_with = "nullable")]
    pid_mode: String,
    #[serde(deserialize_with = "nullable")]
    log_config: RawLogConfig,
    /// `--tmpfs` mounts: destination → options. They are not listed in `Mounts`.
    #[serde(deserialize_with = "nullable")]
    tmpfs: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    ipc_mode: String,
    #[serde(deserialize_with = "nullable")]
    privileged: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLogConfig {
    #[serde(rename = "Type", deserialize_with = "nullable")]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawGraphDriver {
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    data: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawMount {
    #[serde(rename = "Type", deserialize_with = "nullable")]
    kind: String,
    #[serde(deserialize_with = "nullable")]
    name: String,
    #[serde(deserialize_with = "nullable")]
    source: String,
    #[serde(deserialize_with = "nullable")]
    destination: String,
    #[serde(rename = "RW", deserialize_with = "nullable")]
    rw: bool,
    #[serde(deserialize_with = "nullable")]
    propagation: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawConfig {
    #[serde(deserialize_with = "nullable")]
    hostname: String,
    #[serde(deserialize_with = "nullable")]
    env: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    image: String,
}

fn parse<T: for<'de> Deserialize<'de>>(value: &Value, what: &str) -> Result<T> {
    T::deserialize(value).map_err(|e| {
        Error::unexpected(format!("dockerd's {what} has an unexpected shape")).with_engine(ENGINE).with_source(e)
    })
}

/// The answer of `GET /containers/json`.
pub(crate) fn container_summaries(list: &Value) -> Result<Vec<ContainerSummary>> {
    let raw: Vec<RawSummary> = parse(list, "container list")?;
    Ok(raw
        .into_iter()
        .map(|c| {
            let mut summary = ContainerSummary::new(c.id, c.image, ContainerStatus::parse(&c.state));
            summary.names = c.names.iter().map(|n| n.trim_start_matches('/').to_owned()).collect();
            summary.labels = c.labels;
            summary.created = Utc.timestamp_opt(c.created, 0).single().filter(|_| c.created > 0);
            summary
        })
        .collect())
}

/// The answer of `GET /containers/{id}/json`; `raw` keeps it whole.
pub(crate) fn container_detail(inspect: Value) -> Result<ContainerDetail> {
    let c: RawInspect = parse(&inspect, "container inspect")?;
    let status = ContainerStatus::parse(&c.state.status);
    let runtime = RuntimeClass::from_name(&c.host_config.runtime);
    let exited = matches!(status, ContainerStatus::Exited | ContainerStatus::Dead);
    let rootfs = if runtime.is_sandboxed() {
        // gVisor/RunD keep the rootfs (or its writes) inside the sandbox: the overlay dir is stale.
        RootfsView::NotHostVisible
    } else {
        match c.graph_driver.data.get("MergedDir") {
            // docker mounts the overlay only while the container runs.
            Some(dir) if !dir.is_empty() && status.is_running() => RootfsView::Merged(PathBuf::from(dir)),
            _ => RootfsView::NotReported,
        }
    };
    let log_format = match c.host_config.log_config.kind.as_str() {
        "" => None,
        "json-file" => Some(LogFormat::JsonFile),
        other => Some(LogFormat::Other(other.to_owned())),
    };
    let mut user: Vec<Mount> = c.mounts.iter().map(mount).collect();
    for dest in c.host_config.tmpfs.keys() {
        if !user.iter().any(|m| m.destination.as_os_str() == dest.as_str()) {
            user.push(Mount::new(PathBuf::new(), dest, MountKind::Tmpfs));
        }
    }
    // Docker's own mounts, in the order they are mounted; one the user replaced is not docker's.
    let own = OwnMountFacts {
        id: &c.id,
        hostname_path: &c.hostname_path,
        hosts_path: &c.hosts_path,
        resolv_conf_path: &c.resolv_conf_path,
        ipc_mode: &c.host_config.ipc_mode,
        privileged: c.host_config.privileged,
    };
    let replaced = |m: &Mount| user.iter().any(|u| u.destination == m.destination);
    let mut mounts: Vec<Mount> = own_mounts::before_user_mounts(&own).into_iter().filter(|m| !replaced(m)).collect();
    let after: Vec<Mount> = own_mounts::after_user_mounts(&own).into_iter().filter(|m| !replaced(m)).collect();
    mounts.append(&mut user);
    mounts.extend(after);
    let pod = pod_identity(&c.config.labels, &c.id);
    let image = if c.config.image.is_empty() { c.image } else { c.config.image };
    let mut state = ContainerState::with_status(status);
    state.pid = u32::try_from(c.state.pid).ok().filter(|p| *p > 0);
    state.exit_code = exited.then_some(c.state.exit_code);
    state.started_at = timestamp(&c.state.started_at);
    state.finished_at = timestamp(&c.state.finished_at);
    state.oom_killed = c.state.oom_killed;
    let mut detail = ContainerDetail::new(c.id, c.name.trim_start_matches('/'), image, state, runtime);
    detail.env = c.config.env;
    detail.runtime_name = c.host_config.runtime;
    detail.hostname = non_empty(c.config.hostname);
    detail.network_mode = non_empty(c.host_config.network_mode);
    detail.pid_mode = non_empty(c.host_config.pid_mode);
    detail.log_path = non_empty(c.log_path).map(PathBuf::from);
    detail.log_format = log_format;
    detail.rootfs = rootfs;
    detail.mounts = mounts;
    detail.pod = pod;
    detail.created = timestamp(&c.created);
    detail.labels = c.config.labels;
    detail.raw = inspect;
    Ok(detail)
}

fn mount(m: &RawMount) -> Mount {
    let kind = match m.kind.as_str() {
        "bind" => MountKind::Bind,
        "volume" => MountKind::Volume,
        "tmpfs" => MountKind::Tmpfs,
        other => MountKind::Other(other.to_owned()),
    };
    let mut mount = Mount::new(&m.source, &m.destination, kind);
    mount.read_only = !m.rw;
    mount.propagation = non_empty(m.propagation.clone());
    mount.name = non_empty(m.name.clone()).filter(|_| mount.kind == MountKind::Volume);
    mount
}

/// Pod identity from dockershim's labels. A sandbox is its own sandbox; for other members the
/// main/sidecar decision is left to pod grouping.
pub(crate) fn pod_identity(labels: &BTreeMap<String, String>, id: &str) -> PodIdentity {
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
    let is_sandbox = labels.get(LABEL_DOCKER_TYPE).map(String::as_str) == Some(TYPE_SANDBOX);
    let mut pod = PodIdentity::default();
    pod.pod_name = get(LABEL_POD_NAME);
    pod.namespace = get(LABEL_POD_NAMESPACE);
    pod.pod_uid = get(LABEL_POD_UID);
    pod.container_name = get(LABEL_CONTAINER_NAME);
    pod.sandbox_id = if is_sandbox { Some(id.to_owned()) } else { get(LABEL_SANDBOX_ID) };
    pod.role = is_sandbox.then_some(PodRole::Sandbox);
    pod
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// RFC 3339; docker's zero time (`0001-01-01T00:00:00Z`) means unset.
pub(crate) fn timestamp(s: &str) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    (t.timestamp() > 0).then_some(t)
}

/// The answer of `GET /images/json`.
pub(crate) fn image_summaries(list: &Value) -> Result<Vec<ImageSummary>> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct RawImage {
        #[serde(deserialize_with = "nullable")]
        id: String,
        #[serde(deserialize_with = "nullable")]
        repo_tags: Vec<String>,
        #[serde(deserialize_with = "nullable")]
        size: i64,
    }
    let raw: Vec<RawImage> = parse(list, "image list")?;
    Ok(raw
        .into_iter()
        .map(|i| {
            let tags = i.repo_tags.iter().filter(|t| *t != "<none>:<none>").map(|t| normalize_image_ref(t)).collect();
            let mut image = ImageSummary::new(i.id, tags);
            image.size = u64::try_from(i.size).ok();
            image
        })
        .collect())
}

/// A container event; `None` for events about other objects (images, networks, …).
pub(crate) fn event(msg: &EventMessage) -> Option<Event> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let action = msg.action.clone().unwrap_or_default();
    let attributes: BTreeMap<String, String> = msg
        .actor
        .as_ref()
        .and_then(|a| a.attributes.as_ref())
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let container_id = msg.actor.as_ref().and_then(|a| a.id.clone()).unwrap_or_default();
    let kind = anyctr_docker_api::actions::event_kind(&action);
    let exit_code = matches!(kind, EventKind::Exit | EventKind::ExecExit)
        .then(|| attributes.get("exitCode").and_then(|c| c.parse().ok()))
        .flatten();
    let exec_id =
        matches!(kind, EventKind::ExecStart | EventKind::ExecExit).then(|| attributes.get("execID").cloned()).flatten();
    let nanos = msg.time_nano.or_else(|| msg.time.map(|s| s * 1_000_000_000)).unwrap_or(0);
    let mut event = Event::new(kind, container_id, Utc.timestamp_nanos(nanos), action);
    event.exit_code = exit_code;
    event.exec_id = exec_id;
    event.attributes = attributes;
    Some(event)
}

/// Refuses a daemon that answers `/version` but is not Docker. PouchContainer (and other look-alikes)
/// speak the Docker API too; Docker (since API 1.35) lists an `Engine` component, pouch has none.
pub(crate) fn check_is_docker(version: &Value) -> Result<()> {
    let text = version.to_string().to_ascii_lowercase();
    let reject = |why: String| Err(Error::new(ErrorKind::Unsupported, why).with_engine(ENGINE));
    if text.contains("pouch") {
        return reject("the daemon answering /version names PouchContainer, not Docker".into());
    }
    let component = |name: &str| {
        version
            .get("Components")
            .and_then(Value::as_array)
            .is_some_and(|cs| cs.iter().any(|c| c.get("Name").and_then(Value::as_str) == Some(name)))
    };
    if component("Podman Engine") {
        return reject(
            "the daemon answering /version is Podman (its Docker-compatible API); connect with podman://<socket>"
                .into(),
        );
    }
    let has_engine = component("Engine");
    if !has_engine {
        let version = version.get("Version").and_then(Value::as_str).unwrap_or("?");
        return reject(format!(
            "the daemon answering /version (version {version}) lists no `Engine` component, so it is not \
             Docker (PouchContainer and other Docker-API look-alikes answer like this)"
        ));
    }
    if version.get("ApiVersion").and_then(Value::as_str).is_none() {
        return reject("the daemon's /version has no ApiVersion".into());
    }
    Ok(())
}

/// Who the daemon is, from `/version` and (for runtimes) `/info`.
pub(crate) fn engine_info(version: &Value, info: Option<&Value>, api_version: &str) -> EngineInfo {
    let platform = version.pointer("/Platform/Name").and_then(Value::as_str).unwrap_or_default();
    let mut runtimes: Vec<String> = info
        .and_then(|i| i.get("Runtimes"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    let product = if platform.is_empty() { "Docker Engine" } else { platform };
    let mut engine_info =
        EngineInfo::new(ENGINE, product, version.get("Version").and_then(Value::as_str).unwrap_or_default());
    engine_info.api_version = Some(api_version.to_owned());
    engine_info.runtimes = runtimes;
    engine_info
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn runc_inspect_normalizes() {
        let d = container_detail(fixture("inspect-runc.json")).unwrap();
        assert_eq!(d.name, "fx-runc");
        assert_eq!(d.image, "busybox:local");
        assert_eq!(d.state.status, ContainerStatus::Running);
        assert_eq!(d.state.pid, Some(23247));
        assert_eq!(d.state.exit_code, None);
        assert!(d.state.started_at.is_some());
        assert_eq!(d.state.finished_at, None);
        assert_eq!(d.runtime, RuntimeClass::Runc);
        assert_eq!(d.runtime_name, "runc");
        assert_eq!(d.hostname.as_deref(), Some("fxhost"));
        assert_eq!(d.network_mode.as_deref(), Some("default"));
        assert_eq!(d.pid_mode, None);
        assert_eq!(d.log_format, Some(LogFormat::JsonFile));
        assert!(d.log_path.as_ref().unwrap().to_string_lossy().ends_with("-json.log"));
        assert!(matches!(&d.rootfs, RootfsView::Merged(p) if p.ends_with("merged")));
        assert_eq!(d.env_var("APP"), Some("demo"));
        let data = d.mounts.iter().find(|m| m.destination == Path::new("/data")).unwrap();
        assert_eq!((data.kind.clone(), data.read_only), (MountKind::Bind, true));
        assert_eq!(data.propagation.as_deref(), Some("rprivate"));
        assert_eq!(data.source, PathBuf::from("/tmp/anyctr-fx-bind"));
        let vol = d.mounts.iter().find(|m| m.destination == Path::new("/vol")).unwrap();
        assert_eq!(
            (vol.kind.clone(), vol.read_only, vol.name.as_deref()),
            (MountKind::Volume, false, Some("anyctr-fx-vol"))
        );
        assert_eq!(vol.propagation, None);
        let tmp = d.mounts.iter().find(|m| m.destination == Path::new("/scratch")).unwrap();
        assert_eq!(tmp.kind, MountKind::Tmpfs);
        assert_eq!(d.pod.pod_name.as_deref(), Some("web-0"));
        assert_eq!(d.pod.namespace.as_deref(), Some("default"));
        assert_eq!(d.pod.pod_uid.as_deref(), Some("1234-5678"));
        assert_eq!(d.pod.container_name.as_deref(), Some("web"));
        assert_eq!(d.pod.sandbox_id.as_deref(), Some("feedface"));
        assert_eq!(d.pod.role, None);
        assert_eq!(d.raw["Name"], "/fx-runc");
        assert_eq!(d.proc_root_pid(), Some(23247));
    }

    #[test]
    fn rund_inspect_is_sandboxed() {
        let d = container_detail(fixture("inspect-rund.json")).unwrap();
        assert_eq!(d.runtime, RuntimeClass::Rund);
        assert_eq!(d.rootfs, RootfsView::NotHostVisible);
        assert_eq!(d.proc_root_pid(), None);
        assert!(d.is_sandbox());
        assert_eq!(d.pod.sandbox_id.as_deref(), Some(d.id.as_str()));
        assert_eq!(d.pod.container_name.as_deref(), Some("POD"));
    }

    #[test]
    fn exited_inspect_has_exit_code_and_no_rootfs() {
        let d = container_detail(fixture("inspect-exited.json")).unwrap();
        assert_eq!(d.state.status, ContainerStatus::Exited);
        assert_eq!(d.state.exit_code, Some(3));
        assert_eq!(d.state.pid, None);
        assert!(d.state.finished_at.is_some());
        assert_eq!(d.rootfs, RootfsView::NotReported);
        assert!(!d.pod.is_pod_member());
    }

    #[test]
    fn lenient_on_nulls_and_missing_fields() {
        let v = serde_json::json!({"Id": "abc", "State": null, "Mounts": null, "GraphDriver": {"Name": "overlay2"},
            "Config": {"Env": null, "Labels": null}, "HostConfig": {"Tmpfs": null}});
        let d = container_detail(v).unwrap();
        assert_eq!(d.id, "abc");
        assert_eq!(d.state.status, ContainerStatus::Unknown(String::new()));
        assert!(d.env.is_empty() && d.labels.is_empty());
        // No user mounts and no file paths: only the kernel filesystems docker always mounts.
        assert!(
            d.mounts.iter().all(|m| m.source.as_os_str().is_empty() && m.kind != MountKind::Bind),
            "{:?}",
            d.mounts
        );
        assert_eq!(d.runtime, RuntimeClass::Runc);
        assert_eq!(d.log_format, None);
        assert!(container_detail(serde_json::json!([1])).is_err());
    }

    #[test]
    fn list_normalizes() {
        let list = container_summaries(&fixture("list.json")).unwrap();
        assert_eq!(list.len(), 3);
        let exited = list.iter().find(|c| c.names == ["fx-exited"]).unwrap();
        assert_eq!(exited.status, ContainerStatus::Exited);
        assert_eq!(exited.image, "busybox:local");
        assert_eq!(exited.labels.get("anyctr.test").map(String::as_str), Some("fixture"));
        assert!(exited.created.is_some());
        assert!(list.iter().any(|c| c.status == ContainerStatus::Running));
    }

    #[test]
    fn images_normalize() {
        let images = image_summaries(&fixture("images.json")).unwrap();
        assert_eq!(images[0].tags, ["busybox:local"]);
        assert_eq!(images[0].size, Some(1984233));
        let v = serde_json::json!([{"Id": "sha256:1", "RepoTags": ["<none>:<none>"], "Size": 1},
            {"Id": "sha256:2", "RepoTags": null}]);
        let images = image_summaries(&v).unwrap();
        assert!(images.iter().all(|i| i.tags.is_empty()));
    }

    #[test]
    fn events_normalize() {
        let msg = |json: Value| -> EventMessage { serde_json::from_value(json).unwrap() };
        let die = event(&msg(serde_json::json!({"Type": "container", "Action": "die",
            "Actor": {"ID": "c1", "Attributes": {"exitCode": "137", "name": "x"}}, "time": 1, "timeNano": 1_000_000_005})))
        .unwrap();
        assert_eq!((die.kind, die.exit_code, die.container_id.as_str()), (EventKind::Exit, Some(137), "c1"));
        assert_eq!(die.time.timestamp_nanos_opt(), Some(1_000_000_005));
        let start = event(&msg(serde_json::json!({"Type": "container", "Action": "exec_start: sh -c exit 3",
            "Actor": {"ID": "c1", "Attributes": {"execID": "e1"}}, "timeNano": 5})))
        .unwrap();
        assert_eq!((start.kind, start.exec_id.as_deref()), (EventKind::ExecStart, Some("e1")));
        assert_eq!(start.action, "exec_start: sh -c exit 3");
        let exit = event(&msg(serde_json::json!({"Type": "container", "Action": "exec_die",
            "Actor": {"ID": "c1", "Attributes": {"execID": "e1", "exitCode": "3"}}, "timeNano": 6})))
        .unwrap();
        assert_eq!((exit.kind, exit.exit_code, exit.exec_id.as_deref()), (EventKind::ExecExit, Some(3), Some("e1")));
        for (action, kind) in [
            ("create", EventKind::Create),
            ("start", EventKind::Start),
            ("oom", EventKind::Oom),
            ("destroy", EventKind::Destroy),
            ("exec_create: ls", EventKind::Other("exec_create".into())),
        ] {
            let e =
                event(&msg(serde_json::json!({"Type": "container", "Action": action, "Actor": {"ID": "c"}}))).unwrap();
            assert_eq!(e.kind, kind, "{action}");
        }
        assert!(event(&msg(serde_json::json!({"Type": "image", "Action": "pull"}))).is_none());
    }

    #[test]
    fn docker_is_told_from_pouch() {
        let docker = fixture("version.json");
        check_is_docker(&docker).unwrap();
        let info = engine_info(&docker, Some(&serde_json::json!({"Runtimes": {"runc": {}, "rund": {}}})), "1.41");
        assert_eq!(info.product, "Docker Engine");
        assert_eq!(info.runtimes, ["runc", "rund"]);
        assert_eq!(info.api_version.as_deref(), Some("1.41"));
        // Recorded from pouchd 1.3.0 (see engine-pouch/tests/fixtures/pouch-1.3.0/version.json).
        let pouch = serde_json::json!({"ApiVersion": "1.24", "Arch": "amd64", "BuildTime": "unknown",
            "GitCommit": "unknown", "GoVersion": "go1.19.8", "KernelVersion": "6.18.44-fc-v669", "Os": "linux",
            "Version": "1.3.0"});
        let e = check_is_docker(&pouch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.message().contains("Engine"), "{e}");
        let named = serde_json::json!({"Components": [{"Name": "Engine"}], "ApiVersion": "1.24", "Version": "pouch-1"});
        assert!(check_is_docker(&named).unwrap_err().message().contains("Pouch"));
    }
}
