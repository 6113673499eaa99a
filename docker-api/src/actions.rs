//! The Docker Engine API's event vocabulary, which docker and pouch share: the actions, and the
//! `since` a stream is (re)opened with.

use anyctr_core::model::EventKind;
use chrono::{DateTime, Utc};

/// `since` as the daemons parse it: `seconds[.nanoseconds]`.
pub fn since_param(t: DateTime<Utc>) -> String {
    match t.timestamp_subsec_nanos() {
        0 => t.timestamp().to_string(),
        n => format!("{}.{n:09}", t.timestamp()),
    }
}

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
    fn since_is_seconds_and_nanoseconds() {
        use chrono::TimeZone;
        assert_eq!(since_param(Utc.timestamp_nanos(1_795_412_870_353_588_311)), "1795412870.353588311");
        assert_eq!(since_param(Utc.timestamp_nanos(5)), "0.000000005");
        assert_eq!(since_param(Utc.timestamp_opt(1_795_411_222, 0).unwrap()), "1795411222");
    }

    #[test]
    fn actions_map_to_kinds() {
        assert_eq!(event_kind("exec_start: sh -c echo"), EventKind::ExecStart);
        assert_eq!(event_kind("exec_start"), EventKind::ExecStart);
        assert_eq!(event_kind("die"), EventKind::Exit);
        assert_eq!(event_kind("exec_create: ls"), EventKind::Other("exec_create".into()));
        assert_eq!(event_kind("rename"), EventKind::Other("rename".into()));
    }
}
