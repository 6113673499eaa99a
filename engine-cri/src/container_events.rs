//! Events from CRI `GetContainerEvents` (runtime.v1, containerd 1.7+, CRI-O 1.26+), else polled
//! (`events.rs`). The choice is made when the stream is opened:
//!
//! - a runtime known to hand each event to only one of its subscribers is polled without asking:
//!   containerd 1.7 (one channel read by every caller, containerd#7318, broadcast from 2.0 by
//!   containerd#9661) and CRI-O before 1.28 (cri-o#6466, fixed by cri-o#6838). Subscribing there
//!   would take events from the kubelet's evented PLEG and give this stream only some of them;
//! - otherwise `GetContainerEvents` is called. A runtime without it answers `Unimplemented` at
//!   once (containerd 1.6 here; runtime.v1alpha2 never had the call): the stream is polled. A
//!   runtime with it answers only when it has a first event (grpc servers send the stream's
//!   headers with its first message), so a call still pending after [`ANSWER_WAIT`] is taken to
//!   be open; should its answer later be `Unimplemented` after all, the stream announces a
//!   `Gap` and goes on polling.
//!
//! The streamed events are normalized by [`normalize`]. A stream that breaks yields a `Gap` (its
//! reason attached) and is reopened: the runtime keeps no history to replay, so a consumer that
//! keeps state resyncs, as after any gap. What the runtime itself drops is not visible here
//! (containerd 1.7 discards events when its buffer of 1000 is full).
//!
//! Only the `Unimplemented` fallback could be run against a daemon on the machine this was
//! written on (containerd 1.6); the streaming path is covered by [`normalize`]'s unit test on real
//! protobuf messages, not by a runtime that streams.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyctr_core::model::{Event, EventKind, EventOptions};
use anyctr_core::{Error, ErrorKind, EventStream, Result};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use k8s_cri::v1::{ContainerEventResponse, ContainerEventType, ContainerState, GetEventsRequest};
use tokio::sync::mpsc;
use tonic::{Code, Response, Status, Streaming};

use crate::CriEngine;
use crate::events::{AbortOnDrop, channel_stream, event_channel, poll};

/// How long opening the stream waits for `GetContainerEvents`' answer before taking the pending
/// call for an open stream (`Unimplemented` comes back at once over a local socket).
pub const ANSWER_WAIT: Duration = Duration::from_millis(500);

/// The pause before reopening a broken stream.
const REOPEN_DELAY: Duration = Duration::from_secs(1);

type Answer = std::result::Result<Response<Streaming<ContainerEventResponse>>, Status>;
type Opening = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// Whether the runtime `Version` named (`runtime_name`, `runtime_version`) is known to hand each
/// `GetContainerEvents` event to only one of its subscribers (see the module docs).
pub(crate) fn splits_events(name: &str, version: &str) -> bool {
    let mut numbers = version.trim_start_matches('v').split(|c: char| !c.is_ascii_digit()).map(str::parse::<u64>);
    let (major, minor) = (numbers.next().and_then(|n| n.ok()), numbers.next().and_then(|n| n.ok()));
    match (name, major, minor) {
        ("containerd", Some(1), Some(7)) => true,
        ("cri-o", Some(1), Some(minor)) => minor < 28,
        _ => false,
    }
}

/// One `ContainerEventResponse` as a normalized event: created, started, stopped, deleted become
/// `Create`, `Start`, `Exit` (the exit code from the container's status the runtime attached),
/// `Destroy`; the action is CRI's event type name. An event about a sandbox (its id is the pod
/// sandbox status's) carries the attribute `sandbox`, as in the polled stream.
pub(crate) fn normalize(response: &ContainerEventResponse) -> Event {
    let id = response.container_id.as_str();
    let (kind, action) = match ContainerEventType::try_from(response.container_event_type) {
        Ok(t) => {
            let kind = match t {
                ContainerEventType::ContainerCreatedEvent => EventKind::Create,
                ContainerEventType::ContainerStartedEvent => EventKind::Start,
                ContainerEventType::ContainerStoppedEvent => EventKind::Exit,
                ContainerEventType::ContainerDeletedEvent => EventKind::Destroy,
            };
            (kind, t.as_str_name().to_owned())
        }
        Err(_) => {
            let action = format!("CONTAINER_EVENT_TYPE_{}", response.container_event_type);
            (EventKind::Other(action.clone()), action)
        }
    };
    let time = Some(response.created_at).filter(|&ns| ns > 0).map(DateTime::from_timestamp_nanos);
    let sandbox = response.pod_sandbox_status.as_ref().is_some_and(|s| s.id == id);
    let mut event = Event::new(kind, id, time.unwrap_or_else(Utc::now), action);
    if sandbox {
        event.attributes.insert("sandbox".to_owned(), "true".to_owned());
    } else if event.kind == EventKind::Exit {
        let exited = ContainerState::ContainerExited as i32;
        event.exit_code = response
            .containers_statuses
            .iter()
            .find(|s| s.id == id && s.state == exited)
            .map(|s| i64::from(s.exit_code));
    }
    event
}

impl CriEngine {
    fn open_container_events(&self) -> Opening {
        let (client, cri) = (self.client.clone(), self.cri.clone());
        // No deadline: the call lasts as long as the stream.
        Box::pin(async move { cri.get_container_events(client.unbounded_request(None, GetEventsRequest {})).await })
    }

    /// The event stream: `GetContainerEvents`, or polling (see the module docs).
    pub(crate) async fn cri_events(&self, options: EventOptions) -> Result<EventStream> {
        if options.since.is_some() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "CRI keeps no event history: events are followed from now on (`since` is not supported)",
            ));
        }
        let (name, version) = &*self.runtime;
        if splits_events(name, version) {
            let why = format!("{name} {version} hands each GetContainerEvents event to only one subscriber");
            return self.poll_events(why).await;
        }
        let mut opening = self.open_container_events();
        let first = match tokio::time::timeout(ANSWER_WAIT, &mut opening).await {
            Ok(Err(status)) if status.code() == Code::Unimplemented => {
                return self.poll_events(unimplemented(&status)).await;
            }
            Ok(Err(status)) => {
                return Err(anyctr_engine_containerd::status_error(status, self.client.engine(), "events"));
            }
            Ok(Ok(answer)) => Box::pin(std::future::ready(Ok(answer))) as Opening,
            Err(_) => opening,
        };
        let (tx, rx) = event_channel();
        let task = AbortOnDrop(tokio::spawn(follow(self.clone(), first, tx)));
        Ok(channel_stream(rx, task))
    }
}

fn unimplemented(status: &Status) -> String {
    format!("GetContainerEvents: Unimplemented ({})", status.message())
}

/// Reads the runtime's stream into `tx`, reopening it after a break (with a `Gap`), until nobody
/// listens; polls instead if the runtime turns out not to have the call.
async fn follow(engine: CriEngine, first: Opening, tx: mpsc::Sender<Result<Event>>) {
    let mut opening = Some(first);
    let mut in_gap = false;
    loop {
        let answer = opening.take().unwrap_or_else(|| engine.open_container_events()).await;
        let why = match answer {
            Ok(response) => {
                in_gap = false;
                let mut stream = response.into_inner();
                loop {
                    match stream.next().await {
                        Some(Ok(response)) => {
                            if tx.send(Ok(normalize(&response))).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(status)) => break format!("the GetContainerEvents stream broke: {status}"),
                        None => break "the runtime ended the GetContainerEvents stream".to_owned(),
                    }
                }
            }
            Err(status) if status.code() == Code::Unimplemented => {
                let gap = Event::gap(format!(
                    "the runtime answered GetContainerEvents late with Unimplemented ({}): polling from now on",
                    status.message()
                ));
                if tx.send(Ok(gap)).await.is_err() {
                    return;
                }
                return poll_from_now(engine, unimplemented(&status), tx).await;
            }
            Err(status) => format!("GetContainerEvents failed: {status}"),
        };
        if !in_gap {
            in_gap = true;
            if tx.send(Ok(Event::gap(why))).await.is_err() {
                return;
            }
        } else if tx.is_closed() {
            return;
        }
        tokio::time::sleep(REOPEN_DELAY).await;
    }
}

/// Polling after a late `Unimplemented`, from the first list that succeeds.
async fn poll_from_now(engine: CriEngine, why: String, tx: mpsc::Sender<Result<Event>>) {
    let interval = engine.options.event_poll;
    loop {
        match engine.seen().await {
            Ok(last) => return poll(engine, interval, why, last, tx).await,
            Err(_) if tx.is_closed() => return,
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_cri::v1::{ContainerMetadata, ContainerStatus, PodSandboxMetadata, PodSandboxStatus};
    use prost::Message;

    /// A response as it arrives: encoded by the runtime, decoded here.
    fn response(id: &str, kind: i32, at: i64, sandbox: &str, statuses: Vec<ContainerStatus>) -> ContainerEventResponse {
        let sent = ContainerEventResponse {
            container_id: id.to_owned(),
            container_event_type: kind,
            created_at: at,
            pod_sandbox_status: Some(PodSandboxStatus {
                id: sandbox.to_owned(),
                metadata: Some(PodSandboxMetadata {
                    name: "web".into(),
                    namespace: "default".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            containers_statuses: statuses,
        };
        ContainerEventResponse::decode(sent.encode_to_vec().as_slice()).unwrap()
    }

    fn status(id: &str, state: ContainerState, exit_code: i32) -> ContainerStatus {
        ContainerStatus {
            id: id.to_owned(),
            state: state as i32,
            exit_code,
            metadata: Some(ContainerMetadata { name: "app".into(), attempt: 0 }),
            ..Default::default()
        }
    }

    #[test]
    fn container_event_responses_become_events() {
        use ContainerEventType::*;
        let at = 1_700_000_000_123_456_789;
        let exited = || {
            vec![status("c1", ContainerState::ContainerExited, 3), status("c2", ContainerState::ContainerRunning, 0)]
        };
        // One row per case: the response (container id, event type, attached statuses), then
        // the kind, action and exit code expected, and whether it is the sandbox's own event.
        let sent = |id: &str, kind: i32, statuses| response(id, kind, at, "p1", statuses);
        let (created, started) = (ContainerCreatedEvent as i32, ContainerStartedEvent as i32);
        let (stopped, deleted) = (ContainerStoppedEvent as i32, ContainerDeletedEvent as i32);
        let unknown = EventKind::Other("CONTAINER_EVENT_TYPE_9".into());
        let table: Vec<(ContainerEventResponse, EventKind, &str, Option<i64>, bool)> = vec![
            (sent("c1", created, vec![]), EventKind::Create, "CONTAINER_CREATED_EVENT", None, false),
            (sent("c1", started, vec![]), EventKind::Start, "CONTAINER_STARTED_EVENT", None, false),
            (sent("c1", stopped, exited()), EventKind::Exit, "CONTAINER_STOPPED_EVENT", Some(3), false),
            // Stopped, but its status is not among those attached (or not exited yet): no code invented.
            (sent("c2", stopped, exited()), EventKind::Exit, "CONTAINER_STOPPED_EVENT", None, false),
            (sent("c1", deleted, vec![]), EventKind::Destroy, "CONTAINER_DELETED_EVENT", None, false),
            // The sandbox's own events: its id is the sandbox status's; a sandbox has no exit code.
            (sent("p1", created, vec![]), EventKind::Create, "CONTAINER_CREATED_EVENT", None, true),
            (sent("p1", stopped, exited()), EventKind::Exit, "CONTAINER_STOPPED_EVENT", None, true),
            // A type this build does not know: kept under its number, not dropped.
            (sent("c1", 9, vec![]), unknown, "CONTAINER_EVENT_TYPE_9", None, false),
        ];
        for (response, kind, action, exit_code, sandbox) in table {
            let e = normalize(&response);
            assert_eq!((&e.kind, e.action.as_str(), e.exit_code), (&kind, action, exit_code), "{response:?}");
            assert_eq!(e.container_id, response.container_id);
            assert_eq!(e.time.timestamp_nanos_opt(), Some(at));
            assert_eq!(e.attributes.contains_key("sandbox"), sandbox, "{e:?}");
        }
        let undated = normalize(&response("c1", started, 0, "p1", vec![]));
        assert!((Utc::now() - undated.time).num_seconds() < 5, "no time given: now, not 1970");
    }

    #[test]
    fn runtimes_that_split_events_among_subscribers() {
        for (name, version, splits) in [
            ("containerd", "v1.7.13", true),
            ("containerd", "1.7.0", true),
            ("containerd", "v1.6.20", false),
            ("containerd", "v2.0.0", false),
            ("cri-o", "1.27.1", true),
            ("cri-o", "1.28.0", false),
            ("isulad", "2.1.0", false),
            ("containerd", "", false),
        ] {
            assert_eq!(splits_events(name, version), splits, "{name} {version}");
        }
    }
}
