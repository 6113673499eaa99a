use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What happened to a container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A container was created.
    Create,
    /// A container started.
    Start,
    /// The main process exited (docker `die`, containerd `/tasks/exit` of the init process).
    Exit,
    /// The OOM killer killed a process of the container.
    Oom,
    /// The container was paused.
    Pause,
    /// The container was unpaused.
    Unpause,
    /// The container was removed.
    Destroy,
    /// An exec process started.
    ExecStart,
    /// An exec process exited.
    ExecExit,
    /// The stream broke and was (or is being) reopened: events between the break and the reopen
    /// may be missing. Not about one container (`container_id` is empty). A consumer that keeps
    /// state (the index) repairs it with a full list; the engine still replays what its own
    /// history keeps (docker, pouch) and drops duplicates. A stream that can miss events by
    /// design says so the same way when it opens (the CRI engine's polled stream: a container
    /// created and removed within one poll interval leaves no event).
    Gap,
    /// Anything else, by the engine's action name.
    Other(String),
}

/// A normalized engine event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The container it happened to (empty for a `Gap`).
    pub container_id: String,
    /// When, as the engine says.
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

impl Event {
    /// An event without exit code, exec id, namespace or attributes; set the other public fields
    /// as the engine reports them.
    pub fn new(
        kind: EventKind,
        container_id: impl Into<String>,
        time: DateTime<Utc>,
        action: impl Into<String>,
    ) -> Event {
        Event {
            kind,
            container_id: container_id.into(),
            time,
            exit_code: None,
            exec_id: None,
            namespace: None,
            action: action.into(),
            attributes: BTreeMap::new(),
        }
    }

    /// The gap announcement every engine's stream yields when its connection broke (see
    /// [`EventKind::Gap`]); `why` goes into the `reason` attribute.
    pub fn gap(why: impl Into<String>) -> Event {
        let mut gap = Event::new(EventKind::Gap, "", Utc::now(), "gap");
        gap.attributes.insert("reason".to_owned(), why.into());
        gap
    }

    /// Whether the event is about an exec (start, exit, docker's `exec_create`/`exec_detach`, a
    /// containerd topic naming an exec), which changes nothing a container's inspect shows.
    pub fn is_exec(&self) -> bool {
        match &self.kind {
            EventKind::ExecStart | EventKind::ExecExit => true,
            EventKind::Other(action) => self.exec_id.is_some() || action.starts_with("exec_"),
            _ => false,
        }
    }
}

/// What [`ContainerEngine::events`](crate::ContainerEngine::events) should deliver.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EventOptions {
    /// Replay events from this time on, where the engine keeps history (docker and pouch do).
    /// An engine without history (containerd) refuses it with `Unsupported` rather than
    /// silently starting from now.
    pub since: Option<DateTime<Utc>>,
}

impl EventOptions {
    /// Events from now on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replays events from `time` on (see [`since`](Self#structfield.since)).
    pub fn since(mut self, time: DateTime<Utc>) -> Self {
        self.since = Some(time);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn exec_events_are_recognized() {
        let mut e = super::Event::gap("test");
        assert_eq!((e.kind.clone(), e.container_id.as_str(), e.is_exec()), (EventKind::Gap, "", false));
        for (kind, exec_id, is_exec) in [
            (EventKind::ExecStart, None, true),
            (EventKind::Other("exec_create".into()), None, true),
            (EventKind::Other("/tasks/exec-added".into()), Some("x"), true),
            (EventKind::Other("/tasks/delete".into()), None, false),
            (EventKind::Start, None, false),
        ] {
            e.kind = kind;
            e.exec_id = exec_id.map(str::to_owned);
            assert_eq!(e.is_exec(), is_exec, "{e:?}");
        }
    }
}
