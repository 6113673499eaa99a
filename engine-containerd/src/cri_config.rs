//! Pure builders of CRI requests, with the labels kubelet would set (containerd does not add
//! `io.kubernetes.pod.*` itself; agents and anyctr's own pod identity read them).

use std::collections::HashMap;

use anyctr_core::model::{CreateSpec, MountSpecKind, PodSpec};
use anyctr_core::{Error, Result};
use k8s_cri::v1::{
    ContainerConfig, ContainerMetadata, ImageSpec, Int64Value, KeyValue, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata,
};
use serde_json::Value;

/// kubelet's label: the pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// kubelet's label: the pod's Kubernetes namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// kubelet's label: the pod's uid.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// kubelet's label: the container's name in its pod.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// On pods anyctr created: their log directory is anyctr's to remove with them.
pub const MANAGED_LABEL: &str = "io.anyctr.managed";
/// On a container whose pod anyctr created for it alone: the pod's id, removed with the container.
pub const AUTO_POD_LABEL: &str = "io.anyctr.auto-pod";

/// CRI `NamespaceMode`: shared by the pod.
pub const MODE_POD: i32 = 0;
/// CRI `NamespaceMode`: the container's own.
pub const MODE_CONTAINER: i32 = 1;
/// CRI `NamespaceMode`: the node's.
pub const MODE_NODE: i32 = 2;

/// Whether a pod shares the host's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodNetwork {
    /// The node's network namespace.
    Host,
    /// A network namespace of the pod's own.
    Pod,
}

impl PodNetwork {
    /// `None`/`host` → host; `none`, `pod`, `private`, `bridge` → a pod network namespace.
    pub fn parse(mode: Option<&str>) -> Result<Self> {
        match mode.map(str::trim) {
            None | Some("" | "host") => Ok(PodNetwork::Host),
            Some("none" | "pod" | "private" | "bridge" | "default") => Ok(PodNetwork::Pod),
            Some(other) => Err(Error::invalid_argument(format!(
                "network mode {other:?} is not available through CRI (host or pod)"
            ))),
        }
    }
}

/// The pod's log directory, as kubelet names it.
pub fn pod_log_directory(spec: &PodSpec) -> String {
    format!("/var/log/pods/{}_{}_{}", spec.namespace, spec.name, spec.uid)
}

/// A `RunPodSandbox` config for `spec`.
pub fn pod_config(
    spec: &PodSpec,
    network: PodNetwork,
    hostname: Option<&str>,
    extra_labels: &[(&str, &str)],
) -> Result<PodSandboxConfig> {
    for (what, v) in [("name", &spec.name), ("namespace", &spec.namespace), ("uid", &spec.uid)] {
        if v.trim().is_empty() {
            return Err(Error::invalid_argument(format!("a pod needs a {what}")));
        }
    }
    if network == PodNetwork::Host && hostname.is_some_and(|h| !h.is_empty()) {
        return Err(Error::invalid_argument(
            "a host-network pod cannot have its own hostname (no private UTS namespace)",
        ));
    }
    let mut labels: HashMap<String, String> = spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(POD_NAME.into(), spec.name.clone());
    labels.insert(POD_NAMESPACE.into(), spec.namespace.clone());
    labels.insert(POD_UID.into(), spec.uid.clone());
    labels.insert(MANAGED_LABEL.into(), "true".into());
    for (k, v) in extra_labels {
        labels.insert((*k).into(), (*v).into());
    }
    let network_mode = if network == PodNetwork::Host { MODE_NODE } else { MODE_POD };
    Ok(PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: spec.name.clone(),
            uid: spec.uid.clone(),
            namespace: spec.namespace.clone(),
            attempt: 0,
        }),
        hostname: hostname.unwrap_or_default().to_owned(),
        log_directory: pod_log_directory(spec),
        labels,
        annotations: HashMap::from([("kubernetes.io/config.source".to_owned(), "api".to_owned())]),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: network_mode,
                    pid: MODE_POD,
                    ipc: MODE_POD,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The pod config again, from the sandbox's stored metadata (`CreateContainer` wants it).
pub fn pod_config_from_metadata(config: &Value) -> PodSandboxConfig {
    let s = |p: &str| config.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    let map = |p: &str| -> HashMap<String, String> {
        config
            .pointer(p)
            .and_then(Value::as_object)
            .map(|o| o.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default()
    };
    let mode = |which: &str| {
        config
            .pointer(&format!("/linux/security_context/namespace_options/{which}"))
            .and_then(Value::as_i64)
            .and_then(|m| i32::try_from(m).ok())
            .unwrap_or(MODE_POD)
    };
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
            namespace: s("/metadata/namespace"),
            attempt: config
                .pointer("/metadata/attempt")
                .and_then(Value::as_u64)
                .and_then(|a| u32::try_from(a).ok())
                .unwrap_or(0),
        }),
        hostname: s("/hostname"),
        log_directory: s("/log_directory"),
        labels: map("/labels"),
        annotations: map("/annotations"),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: s("/linux/cgroup_parent"),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(NamespaceOption {
                    network: mode("network"),
                    pid: mode("pid"),
                    ipc: mode("ipc"),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A `CreateContainer` config for `spec` in the pod `pod` (its config).
pub fn container_config(
    spec: &CreateSpec,
    name: &str,
    pod: &PodSandboxConfig,
    extra_labels: &[(&str, &str)],
) -> Result<ContainerConfig> {
    spec.validate()?;
    let mut mounts = Vec::new();
    for m in &spec.mounts {
        match m.kind {
            MountSpecKind::Bind => mounts.push(Mount {
                container_path: m.destination.clone(),
                host_path: m.source.clone(),
                readonly: m.read_only,
                ..Default::default()
            }),
            MountSpecKind::Volume | MountSpecKind::Tmpfs => {
                return Err(Error::invalid_argument(format!(
                    "mount at {:?}: CRI takes host-path (bind) mounts only",
                    m.destination
                )));
            }
        }
    }
    let envs = spec
        .env
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| KeyValue { key: k.to_owned(), value: v.to_owned() })
        .collect();
    let meta = pod.metadata.clone().unwrap_or_default();
    let mut labels: HashMap<String, String> = spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(CONTAINER_NAME.into(), name.to_owned());
    labels.insert(POD_NAME.into(), meta.name);
    labels.insert(POD_NAMESPACE.into(), meta.namespace);
    labels.insert(POD_UID.into(), meta.uid);
    for (k, v) in extra_labels {
        labels.insert((*k).into(), (*v).into());
    }
    let pod_network = pod
        .linux
        .as_ref()
        .and_then(|l| l.security_context.as_ref())
        .and_then(|s| s.namespace_options.as_ref())
        .map_or(MODE_POD, |n| n.network);
    let mut security = LinuxContainerSecurityContext {
        // The container's own pid namespace, as kubelet does without shareProcessNamespace.
        namespace_options: Some(NamespaceOption {
            network: pod_network,
            pid: MODE_CONTAINER,
            ipc: MODE_POD,
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Some(user) = &spec.user {
        let (u, g) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user.as_str(), None),
        };
        match u.parse::<i64>() {
            Ok(uid) => security.run_as_user = Some(Int64Value { value: uid }),
            Err(_) => security.run_as_username = u.to_owned(),
        }
        if let Some(g) = g {
            let gid = g
                .parse::<i64>()
                .map_err(|_| Error::invalid_argument(format!("CRI takes a numeric group, not {g:?}")))?;
            security.run_as_group = Some(Int64Value { value: gid });
        }
    }
    Ok(ContainerConfig {
        metadata: Some(ContainerMetadata { name: name.to_owned(), attempt: 0 }),
        image: Some(ImageSpec { image: spec.image.clone(), ..Default::default() }),
        command: spec.argv.clone(),
        working_dir: spec.working_dir.clone().unwrap_or_default(),
        envs,
        mounts,
        labels,
        log_path: format!("{name}/0.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(security),
            // Only the memory limit: a zero field is "not set" to containerd.
            resources: spec.memory_limit.map(|m| LinuxContainerResources {
                memory_limit_in_bytes: i64::try_from(m).unwrap_or(i64::MAX),
                ..Default::default()
            }),
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::MountSpec;
    use serde_json::json;

    fn pod() -> PodSpec {
        PodSpec::new("web", "team", "u-1").label("app", "x")
    }

    #[test]
    fn pod_config_is_kubelet_like() {
        let c = pod_config(&pod(), PodNetwork::Host, None, &[("extra", "1")]).unwrap();
        assert_eq!(c.log_directory, "/var/log/pods/team_web_u-1");
        assert_eq!(c.hostname, "");
        assert_eq!(c.labels[POD_NAME], "web");
        assert_eq!(c.labels[POD_NAMESPACE], "team");
        assert_eq!(c.labels[POD_UID], "u-1");
        assert_eq!(c.labels["app"], "x");
        assert_eq!(c.labels["extra"], "1");
        let ns = c.linux.unwrap().security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, MODE_NODE);
        assert!(pod_config(&pod(), PodNetwork::Host, Some("h"), &[]).is_err());
        assert_eq!(pod_config(&pod(), PodNetwork::Pod, Some("h"), &[]).unwrap().hostname, "h");
        let mut bad = pod();
        bad.uid.clear();
        assert!(pod_config(&bad, PodNetwork::Host, None, &[]).is_err());
    }

    #[test]
    fn pod_config_round_trips_through_metadata_json() {
        let original = pod_config(&pod(), PodNetwork::Host, None, &[]).unwrap();
        // containerd stores the config with proto field names; serde's names are the same.
        let stored = serde_json::to_value(&original).unwrap();
        let rebuilt = pod_config_from_metadata(&stored);
        assert_eq!(rebuilt.metadata, original.metadata);
        assert_eq!(rebuilt.log_directory, original.log_directory);
        assert_eq!(rebuilt.labels, original.labels);
        let ns = rebuilt.linux.unwrap().security_context.unwrap().namespace_options.unwrap();
        assert_eq!(ns.network, MODE_NODE);
        let sparse = pod_config_from_metadata(&json!({"metadata": {"name": "p"}}));
        assert_eq!(sparse.metadata.unwrap().name, "p");
    }

    #[test]
    fn container_config_from_spec() {
        let pod = pod_config(&pod(), PodNetwork::Host, None, &[]).unwrap();
        let mut spec = CreateSpec::new("busybox:local");
        spec.argv = vec!["sleep".into(), "60".into()];
        spec.env = vec!["A=1".into()];
        spec.labels.insert("anyctr.test".into(), "t".into());
        spec.mounts.push(MountSpec::bind("/tmp", "/h").read_only());
        spec.user = Some("1000:1000".into());
        let c = container_config(&spec, "app", &pod, &[]).unwrap();
        assert!(c.linux.as_ref().unwrap().resources.is_none(), "no limit asked: none set");
        let limited = container_config(&spec.clone().memory_limit(96 << 20), "app", &pod, &[]).unwrap();
        assert_eq!(limited.linux.unwrap().resources.unwrap().memory_limit_in_bytes, 96 << 20);
        assert_eq!(c.command, ["sleep", "60"]);
        assert!(c.args.is_empty());
        assert_eq!(c.log_path, "app/0.log");
        assert_eq!(c.labels[CONTAINER_NAME], "app");
        assert_eq!(c.labels[POD_UID], "u-1");
        assert_eq!(c.labels["anyctr.test"], "t");
        assert!(c.mounts[0].readonly);
        let sec = c.linux.unwrap().security_context.unwrap();
        assert_eq!(sec.run_as_user.unwrap().value, 1000);
        assert_eq!(sec.run_as_group.unwrap().value, 1000);
        assert_eq!(sec.namespace_options.unwrap().network, MODE_NODE);
        spec.user = Some("app:staff".into());
        assert!(container_config(&spec, "app", &pod, &[]).is_err());
        spec.user = Some("app".into());
        assert_eq!(
            container_config(&spec, "app", &pod, &[]).unwrap().linux.unwrap().security_context.unwrap().run_as_username,
            "app"
        );
        spec.mounts = vec![MountSpec::tmpfs("/t")];
        assert!(container_config(&spec, "app", &pod, &[]).is_err());
    }

    #[test]
    fn network_modes() {
        assert_eq!(PodNetwork::parse(None).unwrap(), PodNetwork::Host);
        assert_eq!(PodNetwork::parse(Some("host")).unwrap(), PodNetwork::Host);
        assert_eq!(PodNetwork::parse(Some("none")).unwrap(), PodNetwork::Pod);
        assert!(PodNetwork::parse(Some("container:x")).is_err());
    }
}
