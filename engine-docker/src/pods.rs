//! Pods, dockershim-style: a pod is a sandbox container (the pause image, or busybox running
//! `sleep` where no pause image is loaded) named `k8s_POD_<pod>_<ns>_<uid>_0`, and its members are
//! containers named `k8s_<name>_<pod>_<ns>_<uid>_0` that join the sandbox's network and IPC
//! namespaces (`container:<sandbox id>`), all tied together by kubelet's labels.
//!
//! The sandbox is created with `IpcMode=shareable` (docker's default `private` refuses joiners).
//! Under gVisor (`rund`/`runsc`) docker accepts both joins: members see the sandbox's interfaces
//! and reach its loopback, and `/dev/shm` (a host bind mount) is shared; System V IPC objects are
//! not shared between two gVisor sandboxes, as each has its own kernel (not verified here: the
//! test image has no ipcs).

use std::collections::HashMap;

use anyctr_core::model::{CreateSpec, PodSpec};
use anyctr_core::{Error, Result};
use bollard::models::{ContainerCreateBody, HostConfig};

use crate::client::{Client, ENGINE, container_ref};
use crate::containers;
use crate::convert::{
    LABEL_CONTAINER_NAME, LABEL_DOCKER_TYPE, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_SANDBOX_ID,
    TYPE_CONTAINER, TYPE_SANDBOX,
};

/// The pause image looked for first (the `pause_image` address parameter overrides it).
pub(crate) const DEFAULT_PAUSE_IMAGE: &str = "localhost/pause:local";
/// Used with `sleep` when no pause image is loaded.
pub(crate) const FALLBACK_SANDBOX_IMAGE: &str = "busybox:local";

pub(crate) async fn create_pod(client: &Client, spec: &PodSpec) -> Result<String> {
    for (what, value) in [("name", &spec.name), ("namespace", &spec.namespace), ("uid", &spec.uid)] {
        if !name_part_ok(value) {
            return Err(Error::invalid_argument(format!("pod {what} {value:?} cannot be part of a docker name"))
                .with_engine(ENGINE)
                .with_operation("create_pod"));
        }
    }
    let pause = client.pause_image.as_deref().unwrap_or(DEFAULT_PAUSE_IMAGE);
    let (image, cmd) = if image_exists(client, pause).await? {
        (pause.to_owned(), None)
    } else {
        (FALLBACK_SANDBOX_IMAGE.to_owned(), Some(vec!["sleep".to_owned(), "2147483647".to_owned()]))
    };
    let mut labels: HashMap<String, String> = spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.extend(pod_labels(&spec.name, &spec.namespace, &spec.uid));
    labels.insert(LABEL_DOCKER_TYPE.into(), TYPE_SANDBOX.into());
    labels.insert(LABEL_CONTAINER_NAME.into(), "POD".into());
    let body = ContainerCreateBody {
        image: Some(image),
        cmd,
        labels: Some(labels),
        hostname: Some(spec.name.chars().take(63).collect()),
        host_config: Some(HostConfig {
            runtime: spec.runtime.clone(),
            ipc_mode: Some("shareable".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let name = format!("k8s_POD_{}_{}_{}_0", spec.name, spec.namespace, spec.uid);
    let id = crate::lifecycle::create_container(client, Some(&name), body)
        .await
        .map_err(|e| e.with_operation("create_pod"))?;
    if let Err(e) = crate::lifecycle::start(client, &id).await {
        let _ = crate::lifecycle::remove(client, &id, true).await;
        return Err(e.with_operation("create_pod"));
    }
    Ok(id)
}

/// Removes the sandbox and every container that names it as its sandbox.
pub(crate) async fn remove_pod(client: &Client, sandbox: &str) -> Result<()> {
    let detail = sandbox_detail(client, sandbox).await.map_err(|e| e.with_operation("remove_pod"))?;
    let members =
        containers::list(client, &anyctr_core::ListOptions::all().label(&format!("{LABEL_SANDBOX_ID}={}", detail.id)))
            .await?;
    for member in members {
        match crate::lifecycle::remove(client, &member.id, true).await {
            Err(e) if e.kind() != anyctr_core::ErrorKind::NotFound => return Err(e.with_operation("remove_pod")),
            _ => {}
        }
    }
    crate::lifecycle::remove(client, &detail.id, true).await.map_err(|e| e.with_operation("remove_pod"))
}

/// Makes `body` a member of the sandbox named by `sandbox`; returns the container name.
pub(crate) async fn join_sandbox(
    client: &Client,
    sandbox: &str,
    spec: &CreateSpec,
    body: &mut ContainerCreateBody,
) -> Result<String> {
    let refuse = |why: String| Err(Error::invalid_argument(why).with_engine(ENGINE).with_operation("create"));
    let Some(name) = spec.name.as_deref() else {
        return refuse("a container in a pod needs a name (its Kubernetes container name)".into());
    };
    if !name_part_ok(name) {
        return refuse(format!("container name {name:?} cannot be part of a docker name"));
    }
    if spec.network_mode.is_some() || spec.hostname.is_some() {
        return refuse("a pod member shares its sandbox's network: network mode and hostname come from it".into());
    }
    let detail = sandbox_detail(client, sandbox).await.map_err(|e| e.with_operation("create"))?;
    let label = |k: &str| detail.labels.get(k).cloned().unwrap_or_default();
    let (pod, ns, uid) = (label(LABEL_POD_NAME), label(LABEL_POD_NAMESPACE), label(LABEL_POD_UID));
    let labels = body.labels.get_or_insert_with(HashMap::new);
    labels.extend(pod_labels(&pod, &ns, &uid));
    labels.insert(LABEL_DOCKER_TYPE.into(), TYPE_CONTAINER.into());
    labels.insert(LABEL_SANDBOX_ID.into(), detail.id.clone());
    labels.insert(LABEL_CONTAINER_NAME.into(), name.to_owned());
    let host = body.host_config.get_or_insert_with(HostConfig::default);
    host.network_mode = Some(format!("container:{}", detail.id));
    host.ipc_mode = Some(format!("container:{}", detail.id));
    if host.runtime.is_none() && !detail.runtime_name.is_empty() {
        // Members run under the sandbox's runtime unless told otherwise, like a pod's RuntimeClass.
        host.runtime = Some(detail.runtime_name.clone());
    }
    Ok(format!("k8s_{name}_{pod}_{ns}_{uid}_0"))
}

async fn sandbox_detail(client: &Client, sandbox: &str) -> Result<anyctr_core::model::ContainerDetail> {
    container_ref(sandbox)?;
    let detail = containers::inspect(client, sandbox).await?;
    if !detail.is_sandbox() {
        return Err(Error::invalid_argument(format!(
            "container {} is not a pod sandbox (no {LABEL_DOCKER_TYPE}={TYPE_SANDBOX} label)",
            detail.name
        ))
        .with_engine(ENGINE)
        .with_container(sandbox));
    }
    Ok(detail)
}

fn pod_labels(pod: &str, ns: &str, uid: &str) -> [(String, String); 3] {
    [(LABEL_POD_NAME.into(), pod.into()), (LABEL_POD_NAMESPACE.into(), ns.into()), (LABEL_POD_UID.into(), uid.into())]
}

/// Docker names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; `_` separates the parts, so none may hold one.
fn name_part_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

async fn image_exists(client: &Client, image: &str) -> Result<bool> {
    match client.get_json("create_pod", &format!("/images/{image}/json")).await {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == anyctr_core::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_parts() {
        assert!(name_part_ok("web-0"));
        assert!(name_part_ok("0b3c-11ee"));
        assert!(!name_part_ok("a_b"));
        assert!(!name_part_ok(""));
        assert!(!name_part_ok("a/b"));
    }
}
