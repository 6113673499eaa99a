//! Events by polling, for CRI runtimes without `GetContainerEvents` (containerd 1.6, CRI-O
//! before 1.26; see `container_events.rs` for the choice): the stream lists containers and
//! sandboxes every [`CriOptions::event_poll`](crate::CriOptions) (default [`DEFAULT_EVENT_POLL`])
//! and turns the difference between two lists into normalized events: `Create`, `Start`, `Exit`
//! (with the exit code from `ContainerStatus`), `Destroy`. Sandboxes are containers here too:
//! ready is running, not ready has exited (no exit code).
//!
//! Polling starts when the stream is made, in a task of its own, so a consumer that reads late
//! misses nothing. A change that begins and ends between two polls shows as the events the states
//! imply (a container created and exited in between yields Create, Start when it had started,
//! Exit); an event for a state no poll saw (a Create of a container first seen running or exited,
//! a Start of one first seen exited, an Exit of one removed while last seen running) carries the
//! attribute [`INFERRED`] saying what was seen instead.
//!
//! What polling cannot see, and the stream says so: a container created and removed within one
//! interval leaves no trace in either list, and a container restarted within one (CRI creates a
//! new container per attempt, so only a runtime's in-place restart) shows no exit. The stream's
//! first item is therefore an [`EventKind::Gap`] naming the interval (attributes `reason`,
//! `poll_interval_ms`, and `polled_because`: why the runtime's own stream is not used): events may be missing from it, as after a broken stream. A poll that fails
//! yields one `Gap` (its reason attached); when polling works again the new list is diffed
//! against the last good one, so the changes made during the outage arrive as events after the
//! gap. `since` is refused: CRI keeps no history.

use std::collections::HashMap;
use std::time::Duration;

use anyctr_core::model::{ContainerStatus, Event, EventKind};
use anyctr_core::{EventStream, Result};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::CriEngine;

/// How often the event stream lists containers when the address does not say (`event_poll_ms`).
pub const DEFAULT_EVENT_POLL: Duration = Duration::from_millis(500);

/// The attribute of an event deduced from a poll rather than seen: its value says what was seen.
pub const INFERRED: &str = "inferred";

/// Events held for a consumer that reads slower than the poller finds them.
const EVENT_BUFFER: usize = 256;

/// What one poll knows of a container or sandbox.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub status: ContainerStatus,
    pub created: Option<DateTime<Utc>>,
    pub is_sandbox: bool,
}

/// The facts of an exit, asked of `ContainerStatus` when a diff finds one.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ExitFacts {
    pub exit_code: Option<i64>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
}

/// The stream's first item: what a poll every `interval` cannot see, and why the stream polls.
pub(crate) fn polling_notice(interval: Duration, why: &str) -> Event {
    let ms = interval.as_millis();
    let mut notice = Event::gap(format!(
        "events are polled every {ms} ms (CRI without GetContainerEvents): a container created and \
         removed within one interval leaves no event, and an in-place restart within one shows no exit"
    ));
    notice.attributes.insert("poll_interval_ms".to_owned(), ms.to_string());
    notice.attributes.insert("polled_because".to_owned(), why.to_owned());
    notice
}

fn inferred(mut event: Event, seen: &str) -> Event {
    event.attributes.insert(INFERRED.to_owned(), seen.to_owned());
    event
}

fn event(kind: EventKind, id: &str, time: Option<DateTime<Utc>>, sandbox: bool) -> Event {
    let action = match &kind {
        EventKind::Create => "create",
        EventKind::Start => "start",
        EventKind::Exit => "exit",
        EventKind::Destroy => "destroy",
        _ => "other",
    };
    let mut event = Event::new(kind, id, time.unwrap_or_else(Utc::now), action);
    if sandbox {
        event.attributes.insert("sandbox".to_owned(), "true".to_owned());
    }
    event
}

/// The events that lead from `before` to `after`. `exit` gives the facts of a container found
/// exited (asked only for those).
pub(crate) async fn diff<F, Fut>(before: &HashMap<String, Seen>, after: &HashMap<String, Seen>, exit: F) -> Vec<Event>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ExitFacts>,
{
    let mut events = Vec::new();
    let mut ids: Vec<&String> = after.keys().collect();
    // Oldest first, so a consumer sees creations in the order they happened.
    ids.sort_by_key(|id| (after[*id].created, (*id).clone()));
    for id in ids {
        let now = &after[id];
        let was = before.get(id);
        let sb = now.is_sandbox;
        if was.is_none() {
            let create = event(EventKind::Create, id, now.created, sb);
            events.push(match now.status {
                ContainerStatus::Created => create,
                ContainerStatus::Running => inferred(create, "first seen running"),
                ContainerStatus::Exited => inferred(create, "first seen exited"),
                _ => inferred(create, "first seen in another state"),
            });
        }
        let was_started = was.is_some_and(|w| !matches!(w.status, ContainerStatus::Created));
        let was_exited = was.is_some_and(|w| matches!(w.status, ContainerStatus::Exited));
        match now.status {
            ContainerStatus::Running if !was_started || was_exited => {
                events.push(event(EventKind::Start, id, None, sb));
            }
            ContainerStatus::Exited if !was_exited => {
                let facts = if sb { ExitFacts::default() } else { exit(id.clone()).await };
                // Exited without a start seen: it ran in between if the runtime says it started.
                if !was_started && (facts.started.is_some() || sb) {
                    events.push(inferred(event(EventKind::Start, id, facts.started, sb), "first seen exited"));
                }
                let mut e = event(EventKind::Exit, id, facts.finished, sb);
                e.exit_code = facts.exit_code;
                events.push(e);
            }
            _ => {}
        }
    }
    let mut gone: Vec<(&String, &Seen)> = before.iter().filter(|(id, _)| !after.contains_key(*id)).collect();
    gone.sort_by_key(|(id, s)| (s.created, (*id).clone()));
    for (id, s) in gone {
        // Exited and removed within one interval: the exit happened, its code is gone with it.
        if matches!(s.status, ContainerStatus::Running) {
            let mut exit = inferred(event(EventKind::Exit, id, None, s.is_sandbox), "gone while running");
            exit.attributes.insert("exit_code".to_owned(), "unknown: removed before a poll saw the exit".to_owned());
            events.push(exit);
        }
        events.push(event(EventKind::Destroy, id, None, s.is_sandbox));
    }
    events
}

/// Polls from the moment the stream is made, in a task of its own: a consumer that reads late
/// still gets the changes made meanwhile (the channel's bound makes the poller wait, and the next
/// diff covers the time it waited).
pub(crate) async fn poll(
    engine: CriEngine,
    interval: Duration,
    why: String,
    mut last: HashMap<String, Seen>,
    tx: mpsc::Sender<Result<Event>>,
) {
    if tx.send(Ok(polling_notice(interval, &why))).await.is_err() {
        return;
    }
    let mut in_gap = false;
    loop {
        tokio::time::sleep(interval).await;
        match engine.seen().await {
            Ok(now) => {
                let events = diff(&last, &now, |id| {
                    let engine = engine.clone();
                    async move { engine.exit_facts(&id).await }
                })
                .await;
                for event in events {
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                last = now;
                in_gap = false;
            }
            Err(e) if !in_gap => {
                in_gap = true;
                let gap = Event::gap(format!("polling the CRI runtime failed: {e}"));
                if tx.send(Ok(gap)).await.is_err() {
                    return;
                }
            }
            // Still failing: the gap is announced; keep trying quietly, unless nobody listens.
            Err(_) if tx.is_closed() => return,
            Err(_) => {}
        }
    }
}

/// Ends the task behind a stream when the stream is dropped.
pub(crate) struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl CriEngine {
    /// Every container and sandbox by id, as one poll sees them.
    pub(crate) async fn seen(&self) -> Result<HashMap<String, Seen>> {
        let all = self.everything().await?;
        Ok(all
            .into_iter()
            .map(|l| {
                let seen = Seen { status: l.summary.status, created: l.summary.created, is_sandbox: l.is_sandbox };
                (l.summary.id, seen)
            })
            .collect())
    }

    /// Exit code and times of a container; nothing when it is gone already.
    pub(crate) async fn exit_facts(&self, id: &str) -> ExitFacts {
        match self.container_status(id, false).await {
            Ok((status, _)) if status.state == 2 => ExitFacts {
                exit_code: Some(i64::from(status.exit_code)),
                started: crate::convert::time(status.started_at),
                finished: crate::convert::time(status.finished_at),
            },
            _ => ExitFacts::default(),
        }
    }

    /// The polled stream, from a baseline taken now; `why` says why it is not streamed.
    pub(crate) async fn poll_events(&self, why: String) -> Result<EventStream> {
        let last = self.seen().await?;
        let (tx, rx) = event_channel();
        let task = AbortOnDrop(tokio::spawn(poll(self.clone(), self.options.event_poll, why, last, tx)));
        Ok(channel_stream(rx, task))
    }
}

/// The stream a task feeds through `rx`; dropping it ends the task.
pub(crate) fn channel_stream(rx: mpsc::Receiver<Result<Event>>, task: AbortOnDrop) -> EventStream {
    Box::pin(futures_util::stream::unfold((rx, task), |(mut rx, task)| async move {
        rx.recv().await.map(|e| (e, (rx, task)))
    }))
}

/// A channel for a stream's task, as large as the poller's.
pub(crate) fn event_channel() -> (mpsc::Sender<Result<Event>>, mpsc::Receiver<Result<Event>>) {
    mpsc::channel(EVENT_BUFFER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: ContainerStatus, secs: i64, is_sandbox: bool) -> Seen {
        Seen { status, created: DateTime::from_timestamp(secs, 0), is_sandbox }
    }

    fn kinds(events: &[Event]) -> Vec<(String, EventKind, Option<i64>)> {
        events.iter().map(|e| (e.container_id.clone(), e.kind.clone(), e.exit_code)).collect()
    }

    async fn exited(_: String) -> ExitFacts {
        ExitFacts { exit_code: Some(5), started: DateTime::from_timestamp(9, 0), finished: None }
    }

    #[tokio::test]
    async fn states_become_events_in_order() {
        use ContainerStatus::*;
        let before = HashMap::from([
            ("a".to_owned(), seen(Created, 1, false)),
            ("b".to_owned(), seen(Running, 2, false)),
            ("gone".to_owned(), seen(Exited, 3, false)),
            ("quick".to_owned(), seen(Running, 5, false)),
            ("pod".to_owned(), seen(Running, 0, true)),
        ]);
        let after = HashMap::from([
            ("a".to_owned(), seen(Running, 1, false)),
            ("b".to_owned(), seen(Exited, 2, false)),
            ("new".to_owned(), seen(Exited, 4, false)),
            ("pod".to_owned(), seen(Exited, 0, true)),
        ]);
        let events = diff(&before, &after, exited).await;
        let s = |x: &str| x.to_owned();
        assert_eq!(
            kinds(&events),
            vec![
                (s("pod"), EventKind::Exit, None),
                (s("a"), EventKind::Start, None),
                (s("b"), EventKind::Exit, Some(5)),
                // Created, started and exited between two polls: all three, none lost.
                (s("new"), EventKind::Create, None),
                (s("new"), EventKind::Start, None),
                (s("new"), EventKind::Exit, Some(5)),
                (s("gone"), EventKind::Destroy, None),
                // Removed while last seen running: its exit is announced, without a code.
                (s("quick"), EventKind::Exit, None),
                (s("quick"), EventKind::Destroy, None),
            ]
        );
        assert_eq!(events[0].attributes.get("sandbox").map(String::as_str), Some("true"));
        // What no poll saw is marked with what was seen instead; what a poll saw is not marked.
        let marks: Vec<Option<&str>> = events.iter().map(|e| e.attributes.get(INFERRED).map(String::as_str)).collect();
        assert_eq!(
            marks,
            [
                None,
                None,
                None,
                Some("first seen exited"),
                Some("first seen exited"),
                None,
                None,
                Some("gone while running"),
                None
            ]
        );
        assert!(diff(&after, &after, exited).await.is_empty(), "no change, no events");
    }

    #[tokio::test]
    async fn a_container_first_seen_created_or_running() {
        let after = HashMap::from([
            ("c".to_owned(), seen(ContainerStatus::Created, 1, false)),
            ("r".to_owned(), seen(ContainerStatus::Running, 2, false)),
        ]);
        let events = diff(&HashMap::new(), &after, exited).await;
        let marks: Vec<(EventKind, Option<&str>)> =
            events.iter().map(|e| (e.kind.clone(), e.attributes.get(INFERRED).map(String::as_str))).collect();
        assert_eq!(
            marks,
            [(EventKind::Create, None), (EventKind::Create, Some("first seen running")), (EventKind::Start, None)]
        );
    }

    #[test]
    fn the_notice_names_the_interval() {
        let notice = polling_notice(Duration::from_millis(750), "GetContainerEvents: Unimplemented");
        assert_eq!((notice.kind, notice.container_id.as_str()), (EventKind::Gap, ""));
        assert_eq!(notice.attributes.get("poll_interval_ms").map(String::as_str), Some("750"));
        assert!(notice.attributes["reason"].contains("every 750 ms"), "{:?}", notice.attributes);
        assert_eq!(notice.attributes["polled_because"], "GetContainerEvents: Unimplemented");
    }

    #[tokio::test]
    async fn an_exit_without_a_start_is_not_invented() {
        let before = HashMap::from([("c".to_owned(), seen(ContainerStatus::Created, 1, false))]);
        let after = HashMap::from([("c".to_owned(), seen(ContainerStatus::Exited, 1, false))]);
        let never = |_| async { ExitFacts { exit_code: Some(128), ..ExitFacts::default() } };
        assert_eq!(kinds(&diff(&before, &after, never).await), vec![("c".to_owned(), EventKind::Exit, Some(128))]);
    }
}
