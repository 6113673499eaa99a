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

impl EventKind {
    /// Reads a Docker-API event action (docker and pouch share the vocabulary). Docker writes
    /// `exec_start: sh -c …` with the command after the colon; pouch writes `exec_start`.
    pub fn from_docker_action(action: &str) -> EventKind {
        match action.split(':').next().unwrap_or_default().trim() {
            "create" => EventKind::Create,
            "start" => EventKind::Start,
            "die" => EventKind::Exit,
            "oom" => EventKind::Oom,
            "pause" => EventKind::Pause,
            "unpause" => EventKind::Unpause,
            "destroy" => EventKind::Destroy,
            "exec_start" => EventKind::ExecStart,
            "exec_die" => EventKind::ExecExit,
            other => EventKind::Other(other.to_owned()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn docker_actions() {
        assert_eq!(EventKind::from_docker_action("exec_start: sh -c echo"), EventKind::ExecStart);
        assert_eq!(EventKind::from_docker_action("die"), EventKind::Exit);
        assert_eq!(EventKind::from_docker_action("rename"), EventKind::Other("rename".into()));
    }
}
