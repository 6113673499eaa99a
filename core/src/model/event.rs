use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What happened to a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Create,
    Start,
    /// The main process exited (docker `die`, containerd `/tasks/exit` of the init process).
    Exit,
    Oom,
    Pause,
    Unpause,
    /// The container was removed.
    Destroy,
    ExecStart,
    ExecExit,
    /// Anything else, by the engine's action name.
    Other(String),
}

/// A normalized engine event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub kind: EventKind,
    pub container_id: String,
    pub time: DateTime<Utc>,
    /// For `Exit` and `ExecExit`.
    pub exit_code: Option<i64>,
    /// For `ExecStart` and `ExecExit`, when the engine says.
    pub exec_id: Option<String>,
    /// The containerd namespace (containerd engines only).
    pub namespace: Option<String>,
    /// The engine's action or topic verbatim (`die`, `/tasks/exit`, …).
    pub action: String,
    /// Extra attributes the engine attached (docker actor attributes, …).
    pub attributes: BTreeMap<String, String>,
}

/// What [`ContainerEngine::events`](crate::ContainerEngine::events) should deliver.
#[derive(Debug, Clone, Default)]
pub struct EventOptions {
    /// Replay events from this time on, where the engine keeps history (docker does).
    pub since: Option<DateTime<Utc>>,
}
