//! What containerd's CRI plugin stores about its containers and sandboxes: the metadata
//! extensions on the container record (JSON), the labels and annotations, and CRI's own view of
//! a container's state (which outlives the task: CRI deletes the task when a container exits).

use std::collections::HashMap;

use prost_types::Any;
use serde::Deserialize;
use serde_json::Value;

/// Extension holding a CRI container's metadata.
pub const CONTAINER_METADATA: &str = "io.cri-containerd.container.metadata";
/// Extension holding a CRI sandbox's metadata.
pub const SANDBOX_METADATA: &str = "io.cri-containerd.sandbox.metadata";
/// Label saying what a CRI record is (`sandbox` or `container`).
pub const KIND_LABEL: &str = "io.cri-containerd.kind";

/// CRI `NamespaceMode::NODE`: the host's namespace.
pub const NAMESPACE_MODE_NODE: i64 = 2;

/// The envelope CRI wraps its metadata in: `{"Version":"v1","Metadata":{…}}`.
#[derive(Debug, Deserialize)]
struct Versioned<T> {
    #[serde(rename = "Metadata")]
    metadata: T,
}

/// `io.cri-containerd.container.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerMetadata {
    /// The container id.
    #[serde(rename = "ID")]
    pub id: String,
    /// CRI's unique name: `<ctr>_<pod>_<ns>_<uid>_<attempt>`.
    #[serde(rename = "Name")]
    pub name: String,
    /// Its sandbox's id.
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// The CRI `ContainerConfig` as JSON (proto field names).
    #[serde(rename = "Config")]
    pub config: Value,
    /// The image reference.
    #[serde(rename = "ImageRef")]
    pub image_ref: String,
    /// The log path, relative to the sandbox's log directory.
    #[serde(rename = "LogPath")]
    pub log_path: String,
}

/// `io.cri-containerd.sandbox.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SandboxMetadata {
    /// The sandbox id.
    #[serde(rename = "ID")]
    pub id: String,
    /// CRI's unique name of the sandbox.
    #[serde(rename = "Name")]
    pub name: String,
    /// The CRI `PodSandboxConfig` as JSON (proto field names).
    #[serde(rename = "Config")]
    pub config: Value,
    /// The network namespace's path.
    #[serde(rename = "NetNSPath")]
    pub netns_path: String,
    /// The pod IP.
    #[serde(rename = "IP")]
    pub ip: String,
    /// The CRI runtime handler.
    #[serde(rename = "RuntimeHandler")]
    pub runtime_handler: String,
}

impl SandboxMetadata {
    /// The pod's network namespace mode (`NamespaceOption.network`), POD when unset.
    pub fn network_mode(&self) -> i64 {
        namespace_option(&self.config, "network")
    }

    /// The pod's pid namespace mode.
    pub fn pid_mode(&self) -> i64 {
        namespace_option(&self.config, "pid")
    }

    /// `metadata.{name,namespace,uid}` of the pod config.
    pub fn pod_field(&self, field: &str) -> Option<String> {
        non_empty(self.config.pointer(&format!("/metadata/{field}")).and_then(Value::as_str))
    }

    /// The pod's log directory.
    pub fn log_directory(&self) -> Option<String> {
        non_empty(self.config.get("log_directory").and_then(Value::as_str))
    }
}

impl ContainerMetadata {
    /// The container's pid namespace mode from its own config (POD when unset).
    pub fn pid_mode(&self) -> i64 {
        namespace_option(&self.config, "pid")
    }

    /// The Kubernetes container name (`metadata.name` of the config).
    pub fn k8s_name(&self) -> Option<String> {
        non_empty(self.config.pointer("/metadata/name").and_then(Value::as_str))
    }
}

/// Reads `linux.security_context.namespace_options.<which>` (absent = 0 = POD).
fn namespace_option(config: &Value, which: &str) -> i64 {
    config.pointer(&format!("/linux/security_context/namespace_options/{which}")).and_then(Value::as_i64).unwrap_or(0)
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Decodes a CRI metadata extension (its `value` is JSON); `None` when absent or unreadable.
fn decode<T: for<'de> Deserialize<'de>>(extensions: &HashMap<String, Any>, key: &str) -> Option<T> {
    let any = extensions.get(key)?;
    serde_json::from_slice::<Versioned<T>>(&any.value).ok().map(|v| v.metadata)
}

/// The CRI container metadata of a record, if it is a CRI container.
pub fn container_metadata(extensions: &HashMap<String, Any>) -> Option<ContainerMetadata> {
    decode(extensions, CONTAINER_METADATA)
}

/// The CRI sandbox metadata of a record, if it is a CRI sandbox.
pub fn sandbox_metadata(extensions: &HashMap<String, Any>) -> Option<SandboxMetadata> {
    decode(extensions, SANDBOX_METADATA)
}

/// CRI's view of a container's state, for containers without a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CriState {
    /// `created`, `running`, `exited`, `unknown` (containers); `running`/`exited` for sandboxes.
    pub state: &'static str,
    /// The exit code, once exited.
    pub exit_code: Option<i64>,
    /// When it started (Unix nanoseconds; 0 when not).
    pub started_at_ns: i64,
    /// When it finished (Unix nanoseconds; 0 when not).
    pub finished_at_ns: i64,
    /// Why it is in that state, when CRI says.
    pub reason: String,
}

/// Maps CRI's `ContainerState` enum to a status word.
pub fn container_state_word(state: i32) -> &'static str {
    match state {
        0 => "created",
        1 => "running",
        2 => "exited",
        _ => "unknown",
    }
}

/// Maps CRI's `PodSandboxState` enum (READY = 0) to a status word.
pub fn sandbox_state_word(state: i32) -> &'static str {
    if state == 0 { "running" } else { "exited" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(key: &str, json: &str) -> HashMap<String, Any> {
        let any = Any { type_url: "github.com/containerd/cri/pkg/store/container/Metadata".into(), value: json.into() };
        HashMap::from([(key.to_owned(), any)])
    }

    #[test]
    fn container_metadata_parses() {
        let json = r#"{"Version":"v1","Metadata":{"ID":"d20c","Name":"app_pod_default_uid_0","SandboxID":"c20b",
            "Config":{"metadata":{"name":"app"},"linux":{}},"ImageRef":"sha256:c7e3",
            "LogPath":"/var/log/pods/default_pod_uid/app/0.log","StopSignal":"","ProcessLabel":""}}"#;
        let m = container_metadata(&ext(CONTAINER_METADATA, json)).unwrap();
        assert_eq!(m.id, "d20c");
        assert_eq!(m.sandbox_id, "c20b");
        assert_eq!(m.k8s_name().as_deref(), Some("app"));
        assert_eq!(m.log_path, "/var/log/pods/default_pod_uid/app/0.log");
        assert_eq!(m.pid_mode(), 0);
        assert!(sandbox_metadata(&ext(CONTAINER_METADATA, json)).is_none());
    }

    #[test]
    fn sandbox_metadata_parses() {
        let json = r#"{"Version":"v1","Metadata":{"ID":"c20b","Name":"pod_default_uid_0",
            "Config":{"metadata":{"name":"pod","uid":"uid-1","namespace":"default"},
              "log_directory":"/var/log/pods/default_pod_uid-1",
              "linux":{"security_context":{"namespace_options":{"network":2}}}},
            "NetNSPath":"","IP":"","AdditionalIPs":null,"RuntimeHandler":"rund","CNIResult":null}}"#;
        let m = sandbox_metadata(&ext(SANDBOX_METADATA, json)).unwrap();
        assert_eq!(m.runtime_handler, "rund");
        assert_eq!(m.network_mode(), NAMESPACE_MODE_NODE);
        assert_eq!(m.pid_mode(), 0);
        assert_eq!(m.pod_field("uid").as_deref(), Some("uid-1"));
        assert_eq!(m.pod_field("namespace").as_deref(), Some("default"));
        assert_eq!(m.log_directory().as_deref(), Some("/var/log/pods/default_pod_uid-1"));
    }

    #[test]
    fn garbage_is_not_metadata() {
        assert!(container_metadata(&ext(CONTAINER_METADATA, "not json")).is_none());
        assert!(container_metadata(&HashMap::new()).is_none());
    }

    #[test]
    fn state_words() {
        assert_eq!(container_state_word(0), "created");
        assert_eq!(container_state_word(2), "exited");
        assert_eq!(container_state_word(9), "unknown");
        assert_eq!(sandbox_state_word(0), "running");
        assert_eq!(sandbox_state_word(1), "exited");
    }
}
