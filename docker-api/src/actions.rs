//! The Docker Engine API's event actions, which docker and pouch share.

use anyctr_core::model::EventKind;

/// Reads an event action. Docker writes `exec_start: sh -c …` with the command after the colon;
/// pouch writes `exec_start`.
pub fn event_kind(action: &str) -> EventKind {
    match action_name(action) {
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

/// The action without docker's `: <command>` tail (`exec_create: ls` → `exec_create`).
pub fn action_name(action: &str) -> &str {
    action.split(':').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_map_to_kinds() {
        assert_eq!(event_kind("exec_start: sh -c echo"), EventKind::ExecStart);
        assert_eq!(event_kind("exec_start"), EventKind::ExecStart);
        assert_eq!(event_kind("die"), EventKind::Exit);
        assert_eq!(event_kind("exec_create: ls"), EventKind::Other("exec_create".into()));
        assert_eq!(event_kind("rename"), EventKind::Other("rename".into()));
    }
}
