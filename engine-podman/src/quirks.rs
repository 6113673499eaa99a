//! Where Podman's Docker-compatible API answers differently from Docker's, and what this engine
//! does about each difference.

use anyctr_core::exec_failure::start_failure_kind;
use anyctr_core::model::{ContainerDetail, LogFormat};
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

/// Who the daemon is, from `/version` and (for runtimes) `/info`.
pub(crate) fn engine_info(version: &Value, info: Option<&Value>, api_version: &str) -> EngineInfo {
    let component = podman_component(version);
    let podman_version = component.and_then(|c| c.get("Version")).or_else(|| version.get("Version"));
    let mut runtimes: Vec<String> = info
        .and_then(|i| i.get("Runtimes"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    EngineInfo {
        engine: ENGINE.to_owned(),
        product: PODMAN_COMPONENT.to_owned(),
        version: podman_version.and_then(Value::as_str).unwrap_or_default().to_owned(),
        api_version: Some(api_version.to_owned()),
        runtimes,
    }
}

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

/// Podman's log driver names as anyctr's formats: `k8s-file` is the CRI line format.
pub(crate) fn detail(mut detail: ContainerDetail) -> ContainerDetail {
    if matches!(&detail.log_format, Some(LogFormat::Other(driver)) if driver == "k8s-file") {
        detail.log_format = Some(LogFormat::Cri);
    }
    detail
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
