//! Where Podman's Docker-compatible API answers differently from Docker's, and what this engine
//! does about each difference.

use anyctr_core::exec_failure::start_failure_kind;
use anyctr_core::model::{ContainerDetail, LogFormat, PodIdentity, PodRole};
use anyctr_core::{Capabilities, EngineInfo, Error, ErrorKind, Result};
use anyctr_engine_docker::Compatibility;
use serde_json::Value;

use crate::ENGINE;

/// The `/version` component Podman lists instead of Docker's `Engine`.
const PODMAN_COMPONENT: &str = "Podman Engine";

/// Refuses a daemon that is not Podman: its `/version` must list the `Podman Engine` component.
pub(crate) fn check_is_podman(version: &Value) -> Result<()> {
    if podman_component(version).is_some() {
        return Ok(());
    }
    let product = version.pointer("/Platform/Name").and_then(Value::as_str).unwrap_or("?");
    Err(Error::new(
        ErrorKind::Unsupported,
        format!(
            "the daemon answering /version ({product}) lists no `{PODMAN_COMPONENT}` component, so it is not Podman"
        ),
    )
    .with_engine(ENGINE))
}

fn podman_component(version: &Value) -> Option<&Value> {
    version
        .get("Components")?
        .as_array()?
        .iter()
        .find(|c| c.get("Name").and_then(Value::as_str) == Some(PODMAN_COMPONENT))
}

/// Who the daemon is, from `/version` (the probe's answer: no runtimes).
pub(crate) fn engine_info(version: &Value, api_version: &str) -> EngineInfo {
    let podman_version = podman_component(version).and_then(|c| c.get("Version")).or_else(|| version.get("Version"));
    let mut info =
        EngineInfo::new(ENGINE, PODMAN_COMPONENT, podman_version.and_then(Value::as_str).unwrap_or_default());
    info.api_version = Some(api_version.to_owned());
    info
}

/// What Docker's engine said about the daemon, named as Podman (its top-level `Version` is
/// Podman's own; its `Platform` names the OS, not the product).
pub(crate) fn as_podman(mut info: EngineInfo) -> EngineInfo {
    info.engine = ENGINE.to_owned();
    info.product = PODMAN_COMPONENT.to_owned();
    info
}

/// Docker's, because every call goes through Docker's engine: runc-class containers are
/// host-visible, exec kill is emulated (by the exec's env token, as on Docker) and pods are
/// emulated with a sandbox container. Sandboxed runtimes are refined by the core as for Docker.
pub(crate) fn capabilities() -> Capabilities {
    anyctr_engine_docker::docker_capabilities()
}

/// How Podman's exec differs from dockerd's, as the compatible engine needs to know.
pub(crate) fn compatibility() -> Compatibility {
    Compatibility {
        amend_inspect: None,
        // conmon ends the exec's attach when its main process exits; a background child's later
        // output is never forwarded (dockerd forwards until the last writer closes).
        exec_output_ends_at_exit: true,
        // exec inspect reports `Pid: 0` once the process exited.
        exec_pid_kept_after_exit: false,
    }
}

/// libpod's API root for the service's libpod version (`/v4.3.1/libpod`).
pub(crate) fn libpod_prefix(version: &Value) -> String {
    let api = podman_component(version)
        .and_then(|c| c.pointer("/Details/APIVersion"))
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        .unwrap_or("4.0.0");
    format!("/v{api}/libpod")
}

/// The full container id of an inspect answer, checked before it goes into a URL path.
pub(crate) fn container_id(inspect: &Value) -> Result<&str> {
    let id = inspect.get("Id").and_then(Value::as_str).unwrap_or_default();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::unexpected(format!("Podman's inspect answer carries no usable container id ({id:?})"))
            .with_engine(ENGINE));
    }
    Ok(id)
}

/// libpod's update body: OCI `LinuxResources` with only what changes. Podman 4.3 applies it to the
/// cgroup, though its inspect keeps reporting the limits set at create.
pub(crate) fn libpod_update_body(update: &anyctr_core::model::ResourceUpdate) -> Value {
    let mut cpu = serde_json::Map::new();
    if let Some(v) = update.cpu_shares {
        cpu.insert("shares".into(), v.into());
    }
    if let Some(v) = update.cpu_quota {
        cpu.insert("quota".into(), v.into());
    }
    if let Some(v) = update.cpu_period {
        cpu.insert("period".into(), v.into());
    }
    let mut body = serde_json::Map::new();
    if !cpu.is_empty() {
        body.insert("cpu".into(), cpu.into());
    }
    if let Some(v) = update.memory_limit {
        body.insert("memory".into(), serde_json::json!({ "limit": v }));
    }
    body.into()
}

/// Corrects the compatible API's inspect answer with libpod's facts about the same container:
/// - `HostConfig.Runtime` is always `oci` there; libpod's `OCIRuntime` names the real one
///   (`runc`, `crun`, `runsc`, …), which decides whether the host can see the container.
/// - `HostConfig.LogConfig.Type` is always `json-file` there; libpod's names the real driver
///   (`k8s-file`, Podman's default, writes CRI-format lines; `journald`; `none`).
pub(crate) fn amend_inspect(inspect: &mut Value, libpod: &Value) {
    let Some(host_config) = inspect.get_mut("HostConfig").and_then(Value::as_object_mut) else { return };
    if let Some(runtime) = libpod.get("OCIRuntime").and_then(Value::as_str).filter(|r| !r.is_empty()) {
        host_config.insert("Runtime".into(), Value::String(runtime.to_owned()));
    }
    if let Some(driver) = libpod.pointer("/HostConfig/LogConfig/Type").and_then(Value::as_str) {
        let log_config = host_config.entry("LogConfig").or_insert_with(|| serde_json::json!({}));
        if let Some(log_config) = log_config.as_object_mut() {
            log_config.insert("Type".into(), Value::String(driver.to_owned()));
        }
    }
}

/// Where the engine keeps libpod's facts about a container's pod in the raw inspect answer.
pub(crate) const LIBPOD_POD: &str = "AnyctrLibpodPod";

/// The id of the libpod pod a container belongs to (libpod inspect's `Pod`), checked before it
/// goes into a URL path.
pub(crate) fn libpod_pod_id(libpod: &Value) -> Option<&str> {
    let pod = libpod.get("Pod").and_then(Value::as_str)?;
    (!pod.is_empty() && pod.bytes().all(|b| b.is_ascii_hexdigit())).then_some(pod)
}

/// Keeps the pod's identity (libpod `GET /pods/{id}/json`: id, name, infra container) and whether
/// this container is the pod's infra container, for [`detail`].
pub(crate) fn record_libpod_pod(inspect: &mut Value, libpod: &Value, pod: &Value) {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let facts = serde_json::json!({
        "id": text(pod, "Id"),
        "name": text(pod, "Name"),
        "infra": text(pod, "InfraContainerID"),
        "is_infra": libpod.get("IsInfra").and_then(Value::as_bool).unwrap_or(false),
    });
    if let Some(object) = inspect.as_object_mut() {
        object.insert(LIBPOD_POD.into(), facts);
    }
}

/// The detail with Podman's log driver read as anyctr's format (see [`log_format`]), and the pod
/// identity of a container in a libpod pod (one anyctr did not make: those carry kubelet's labels).
pub(crate) fn detail(mut detail: ContainerDetail) -> ContainerDetail {
    detail.log_format = log_format(detail.log_format.take());
    if !detail.pod.is_pod_member()
        && let Some(pod) = detail.raw.get(LIBPOD_POD).filter(|p| p.is_object())
    {
        let text = |k: &str| pod.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
        let is_infra = pod.get("is_infra").and_then(Value::as_bool).unwrap_or(false);
        let mut identity = PodIdentity::default();
        identity.pod_name = text("name");
        // A libpod pod has no Kubernetes uid; its id identifies it the same way.
        identity.pod_uid = text("id");
        identity.container_name = if is_infra { None } else { Some(detail.name.clone()) };
        identity.sandbox_id = text("infra");
        identity.role = is_infra.then_some(PodRole::Sandbox);
        detail.pod = identity;
    }
    detail
}

/// Podman's log driver names as anyctr's formats: `k8s-file` (conmon's) is the CRI line format.
fn log_format(format: Option<LogFormat>) -> Option<LogFormat> {
    match format {
        Some(LogFormat::Other(driver)) if driver == "k8s-file" => Some(LogFormat::Cri),
        other => other,
    }
}

/// Podman refuses an exec whose user or working directory does not exist with an HTTP error
/// (500) where dockerd runs it and reports the runtime's words as output: the same words, read
/// the same way ([`start_failure_kind`]), give the same kind.
pub(crate) fn exec_error(e: Error) -> Error {
    if e.kind() != ErrorKind::Unexpected {
        return e;
    }
    let Some(kind) = start_failure_kind(126, e.message()) else { return e };
    let mut mapped = Error::new(kind, e.message().to_owned());
    if let Some(operation) = e.operation() {
        mapped = mapped.with_operation(operation);
    }
    if let Some(container) = e.container() {
        mapped = mapped.with_container(container.to_owned());
    }
    mapped.with_quoted_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What Podman 4.3.1's service answered on this machine (trimmed).
    fn podman_version() -> Value {
        json!({
            "Platform": {"Name": "linux/amd64/debian-12"},
            "Components": [
                {"Name": "Podman Engine", "Version": "4.3.1", "Details": {"APIVersion": "4.3.1", "MinAPIVersion": "4.0.0"}},
                {"Name": "Conmon", "Version": "conmon version 2.1.6, commit: unknown"},
                {"Name": "OCI Runtime (crun)", "Version": "crun version 1.8.1"}
            ],
            "Version": "4.3.1", "ApiVersion": "1.41", "MinAPIVersion": "1.24"
        })
    }

    #[test]
    fn podman_is_told_from_docker_and_pouch() {
        assert!(check_is_podman(&podman_version()).is_ok());
        let docker = json!({"Components": [{"Name": "Engine", "Version": "20.10.24"}], "ApiVersion": "1.41"});
        let e = check_is_podman(&docker).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.message().contains("not Podman"), "{e}");
        assert!(check_is_podman(&json!({"Version": "1.3.0", "ApiVersion": "1.24"})).is_err());
    }

    #[test]
    fn engine_info_names_podman() {
        let info = engine_info(&podman_version(), "1.41");
        assert_eq!((info.engine.as_str(), info.product.as_str()), ("podman", "Podman Engine"));
        assert_eq!((info.version.as_str(), info.api_version.as_deref()), ("4.3.1", Some("1.41")));
        let mut docker_said = EngineInfo::new("docker", "linux/amd64/debian-12", "4.3.1");
        docker_said.api_version = Some("1.41".into());
        docker_said.runtimes = vec!["crun".into(), "runc".into()];
        let info = as_podman(docker_said);
        assert_eq!((info.engine.as_str(), info.product.as_str()), ("podman", "Podman Engine"));
        assert_eq!(info.runtimes, ["crun", "runc"]);
    }

    #[test]
    fn libpod_update_body_is_oci_resources() {
        use anyctr_core::model::ResourceUpdate;
        let body = libpod_update_body(&ResourceUpdate::new().memory_limit(96 << 20));
        assert_eq!(body, json!({"memory": {"limit": 100663296}}));
        let body = libpod_update_body(&ResourceUpdate::new().cpu_shares(512).cpu_quota(50_000, 100_000));
        assert_eq!(body, json!({"cpu": {"shares": 512, "quota": 50000, "period": 100000}}));
    }

    #[test]
    fn libpod_prefix_follows_the_service() {
        assert_eq!(libpod_prefix(&podman_version()), "/v4.3.1/libpod");
        // Anything odd in the version string never reaches a URL.
        let odd = json!({"Components": [{"Name": "Podman Engine", "Details": {"APIVersion": "4/../x"}}]});
        assert_eq!(libpod_prefix(&odd), "/v4.0.0/libpod");
    }

    #[test]
    fn container_ids_are_checked_before_use_in_a_path() {
        assert_eq!(container_id(&json!({"Id": "3ca4f2a8ce3e"})).unwrap(), "3ca4f2a8ce3e");
        assert!(container_id(&json!({"Id": "../../x"})).is_err());
        assert!(container_id(&json!({})).is_err());
    }

    #[test]
    fn inspect_takes_the_runtime_and_log_driver_from_libpod() {
        // The compatible API says `oci` and `json-file` whatever the container runs with.
        let mut compat =
            json!({"Id": "ab", "HostConfig": {"Runtime": "oci", "LogConfig": {"Type": "json-file", "Config": null}}});
        let libpod = json!({"OCIRuntime": "runc", "HostConfig": {"Runtime": "oci", "LogConfig": {"Type": "k8s-file"}}});
        amend_inspect(&mut compat, &libpod);
        assert_eq!(compat.pointer("/HostConfig/Runtime"), Some(&json!("runc")));
        assert_eq!(compat.pointer("/HostConfig/LogConfig/Type"), Some(&json!("k8s-file")));
        // A libpod answer without the facts changes nothing.
        let mut compat = json!({"HostConfig": {"Runtime": "oci"}});
        amend_inspect(&mut compat, &json!({}));
        assert_eq!(compat.pointer("/HostConfig/Runtime"), Some(&json!("oci")));
    }

    #[test]
    fn k8s_file_logs_are_cri_lines() {
        assert_eq!(log_format(Some(LogFormat::Other("k8s-file".into()))), Some(LogFormat::Cri));
        let journald = Some(LogFormat::Other("journald".into()));
        assert_eq!(log_format(journald.clone()), journald);
        assert_eq!(log_format(None), None);
    }

    #[test]
    fn exec_refusals_get_the_kind_of_their_words() {
        let refused = Error::new(
            ErrorKind::Unexpected,
            "dockerd answered 500: unable to find user nosuch: no matching entries in passwd file",
        )
        .with_operation("exec")
        .with_container("c1");
        let e = exec_error(refused);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!((e.operation(), e.container()), (Some("exec"), Some("c1")));
        let other = exec_error(Error::new(ErrorKind::Unexpected, "dockerd answered 500: boom"));
        assert_eq!(other.kind(), ErrorKind::Unexpected);
        let conflict = exec_error(Error::new(ErrorKind::Conflict, "unable to find user x"));
        assert_eq!(conflict.kind(), ErrorKind::Conflict);
    }

    #[test]
    fn a_libpod_pod_is_recorded_for_the_detail() {
        let libpod = json!({"Pod": "feb49a74", "IsInfra": false});
        assert_eq!(libpod_pod_id(&libpod), Some("feb49a74"));
        assert_eq!(libpod_pod_id(&json!({"Pod": ""})), None);
        assert_eq!(libpod_pod_id(&json!({"Pod": "../x"})), None, "never put into a URL");
        let pod = json!({"Id": "feb49a74", "Name": "web", "InfraContainerID": "78b8"});
        let mut inspect = json!({"Id": "9702"});
        record_libpod_pod(&mut inspect, &libpod, &pod);
        assert_eq!(inspect[LIBPOD_POD], json!({"id": "feb49a74", "name": "web", "infra": "78b8", "is_infra": false}));
    }
}
