//! Lenient models of pouchd's answers.
//!
//! Generated Docker models are strict: a state of `stopped` or a missing `GraphDriver.Data`
//! fails the whole answer (one bad container fails a whole list). Here every field is optional
//! in effect: a missing key or `null` is the default, enum-like values stay strings (normalized
//! later, unknown words kept), numbers may come as strings (pouch sends `"size":"18"`), and
//! keys we do not read are ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// `null` → default.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A number sent as a number, a string or `null`; anything unparsable is `None`.
pub fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A bool sent as a bool, a string or `null`.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    })
}

pub type Labels = BTreeMap<String, String>;

/// `GET /version`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Version {
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    #[serde(deserialize_with = "nullable")]
    pub api_version: String,
    /// Docker sets these; pouchd 1.x has none of them.
    pub components: Option<serde_json::Value>,
    pub platform: Option<serde_json::Value>,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: Option<serde_json::Value>,
}

/// `GET /info` (only what identify needs).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Info {
    #[serde(deserialize_with = "nullable")]
    pub runtimes: BTreeMap<String, serde_json::Value>,
    #[serde(deserialize_with = "nullable")]
    pub default_runtime: String,
    #[serde(deserialize_with = "nullable")]
    pub pouch_root_dir: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct MountPoint {
    #[serde(deserialize_with = "nullable")]
    pub source: String,
    #[serde(deserialize_with = "nullable")]
    pub destination: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub driver: String,
    #[serde(deserialize_with = "nullable")]
    pub mode: String,
    /// Absent (not `false`) for read-only mounts: pouch omits false booleans.
    #[serde(rename = "RW", deserialize_with = "lenient_bool")]
    pub rw: Option<bool>,
    #[serde(deserialize_with = "nullable")]
    pub propagation: String,
    /// Only some pouch builds send a type.
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
    /// pouch-only: whether the mount was named in the request.
    #[serde(deserialize_with = "lenient_bool")]
    pub named: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(deserialize_with = "nullable")]
    pub r#type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(deserialize_with = "nullable")]
    pub binds: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub runtime: String,
    /// pouch-only: the containerd shim type (`io.containerd.runtime.v1.linux`, `io.containerd.kata.v2`).
    #[serde(deserialize_with = "nullable")]
    pub runtime_type: String,
    #[serde(deserialize_with = "nullable")]
    pub network_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub pid_mode: String,
    #[serde(deserialize_with = "nullable")]
    pub log_config: LogConfig,
}

/// One element of `GET /containers/json`. pouch sends `Status` ("Up 2 seconds",
/// "Exited (3) 2 seconds", "Stopped (0) …") and often no `State`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerListItem {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub names: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    #[serde(deserialize_with = "nullable")]
    pub labels: Labels,
    #[serde(deserialize_with = "nullable")]
    pub state: String,
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    #[serde(deserialize_with = "lenient_i64")]
    pub created: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub host_config: HostConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    #[serde(deserialize_with = "nullable")]
    pub hostname: String,
    #[serde(deserialize_with = "nullable")]
    pub env: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub labels: Labels,
    #[serde(deserialize_with = "nullable")]
    pub working_dir: String,
    #[serde(deserialize_with = "nullable")]
    pub user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerState {
    #[serde(deserialize_with = "nullable")]
    pub status: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub running: Option<bool>,
    #[serde(deserialize_with = "lenient_bool")]
    pub paused: Option<bool>,
    #[serde(deserialize_with = "lenient_i64")]
    pub pid: Option<i64>,
    #[serde(deserialize_with = "lenient_i64")]
    pub exit_code: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub started_at: String,
    #[serde(deserialize_with = "nullable")]
    pub finished_at: String,
    #[serde(rename = "OOMKilled", deserialize_with = "lenient_bool")]
    pub oom_killed: Option<bool>,
}

/// `GraphDriver` and pouch's second copy, `Snapshotter`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct DriverData {
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    #[serde(deserialize_with = "nullable")]
    pub data: BTreeMap<String, serde_json::Value>,
}

impl DriverData {
    pub fn merged_dir(&self) -> Option<&str> {
        self.data.get("MergedDir").and_then(|v| v.as_str()).filter(|s| !s.is_empty())
    }
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerInspect {
    #[serde(deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The image id (`sha256:…`); the reference is `Config.Image`.
    #[serde(deserialize_with = "nullable")]
    pub image: String,
    #[serde(deserialize_with = "nullable")]
    pub created: String,
    #[serde(deserialize_with = "nullable")]
    pub config: ContainerConfig,
    #[serde(deserialize_with = "nullable")]
    pub state: ContainerState,
    #[serde(deserialize_with = "nullable")]
    pub host_config: HostConfig,
    #[serde(deserialize_with = "nullable")]
    pub graph_driver: DriverData,
    #[serde(deserialize_with = "nullable")]
    pub snapshotter: DriverData,
    /// pouch-only: the rootfs as the host sees it (the merged dir while running).
    #[serde(deserialize_with = "nullable")]
    pub host_root_path: String,
    #[serde(deserialize_with = "nullable")]
    pub log_path: String,
    #[serde(deserialize_with = "nullable")]
    pub mounts: Vec<MountPoint>,
}

/// `POST /containers/{id}/exec` and `POST /containers/create` answers.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IdResponse {
    #[serde(rename = "Id", alias = "ID", alias = "id", deserialize_with = "nullable")]
    pub id: String,
}

/// `GET /exec/{id}/json`. pouchd 1.x reports no `Pid` and an `ExitCode` of 0 until the process
/// has exited (Docker sends `null`): see `exec::ExecWaiter` for how the exit is recognized.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ExecInspect {
    #[serde(rename = "ID", alias = "Id", deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "lenient_bool")]
    pub running: Option<bool>,
    #[serde(deserialize_with = "lenient_i64")]
    pub exit_code: Option<i64>,
    #[serde(deserialize_with = "lenient_i64")]
    pub pid: Option<i64>,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct WaitResponse {
    #[serde(deserialize_with = "lenient_i64")]
    pub status_code: Option<i64>,
    #[serde(deserialize_with = "nullable")]
    pub error: serde_json::Value,
}

/// One line of `GET /events`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    #[serde(rename = "Type", alias = "type", deserialize_with = "nullable")]
    pub kind: String,
    #[serde(rename = "Action", alias = "action", deserialize_with = "nullable")]
    pub action: String,
    #[serde(alias = "Status", deserialize_with = "nullable")]
    pub status: String,
    #[serde(alias = "ID", deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Actor", alias = "actor", deserialize_with = "nullable")]
    pub actor: EventActor,
    #[serde(deserialize_with = "lenient_i64")]
    pub time: Option<i64>,
    #[serde(rename = "timeNano", deserialize_with = "lenient_i64")]
    pub time_nano: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventActor {
    #[serde(rename = "ID", alias = "Id", alias = "id", deserialize_with = "nullable")]
    pub id: String,
    #[serde(rename = "Attributes", alias = "attributes", deserialize_with = "nullable")]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// One element of `GET /images/json`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageItem {
    #[serde(rename = "Id", alias = "ID", deserialize_with = "nullable")]
    pub id: String,
    #[serde(deserialize_with = "nullable")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "lenient_i64")]
    pub size: Option<i64>,
}

/// `GET /images/{name}/json` (only the env, for the default PATH at create).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ImageInspect {
    #[serde(deserialize_with = "nullable")]
    pub config: ContainerConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_missing_keys_and_odd_types_are_tolerated() {
        let c: ContainerInspect = serde_json::from_str(
            r#"{"Id":"x","Config":null,"Mounts":null,"GraphDriver":{"Name":"overlayfs"},
                "State":{"Status":"stopped","Pid":"0","ExitCode":3,"Weird":[1]},"Extra":{}}"#,
        )
        .unwrap();
        assert_eq!(c.state.status, "stopped");
        assert_eq!(c.state.pid, Some(0));
        assert!(c.mounts.is_empty() && c.config.env.is_empty());
        assert_eq!(c.graph_driver.merged_dir(), None);
        let e: ExecInspect = serde_json::from_str(r#"{"ID":"e","Running":false,"ExitCode":null}"#).unwrap();
        assert_eq!(e.exit_code, None);
    }
}
