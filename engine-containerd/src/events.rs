//! Events.Subscribe, normalized. The subscription runs in a task of its own: grpc-go sends the
//! response headers lazily, so the subscribe call itself resolves only when the first event
//! arrives. To know when the subscription is live, the task publishes a marker event of its own
//! and waits for it to come back; `events()` returns after that, so nothing that happens after it
//! returned is missed. A broken stream is resubscribed and an [`EventKind::Gap`] says that events
//! may have been lost in between (containerd keeps no history to replay).

use std::collections::BTreeMap;
use std::time::Duration;

use anyctr_core::model::{Event, EventKind};
use anyctr_core::{Error, EventStream, Result};
use chrono::Utc;
use containerd_client::events::{
    ContainerCreate, ContainerDelete, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOom, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_client::services::v1::{PublishRequest, SubscribeRequest};
use containerd_client::types::Envelope;
use futures_util::StreamExt;
use prost::Message;
use prost_types::Any;
use tokio::sync::{mpsc, oneshot};

use crate::client::{Client, status_error};
use crate::convert::timestamp;

/// The topic of the marker that proves a subscription is live.
const SYNC_TOPIC: &str = "/anyctr/sync";
const MAX_BACKOFF: Duration = Duration::from_secs(5);

fn filters() -> Vec<String> {
    vec![r#"topic~="^/tasks/""#.into(), r#"topic~="^/containers/""#.into(), format!(r#"topic=="{SYNC_TOPIC}""#)]
}

/// Subscribes; `namespaces` limits the events to those namespaces (`None`: all).
pub async fn subscribe(client: Client, namespaces: Option<Vec<String>>) -> Result<EventStream> {
    let (tx, rx) = mpsc::channel(1024);
    let (ready_tx, ready_rx) = oneshot::channel();
    let bound = client.call_timeout();
    tokio::spawn(run(client.clone(), namespaces, tx, ready_tx));
    match tokio::time::timeout(bound, ready_rx).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e),
        Ok(Err(_)) => return Err(Error::unexpected("the event subscription ended before it started")),
        Err(_) => return Err(Error::timeout("events", bound).with_engine(client.engine())),
    }
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
    Ok(stream.boxed())
}

async fn run(
    client: Client,
    namespaces: Option<Vec<String>>,
    tx: mpsc::Sender<Result<Event>>,
    ready: oneshot::Sender<Result<()>>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    // Where the marker is published (any namespace works; it is filtered out below).
    let marker_ns = namespaces.as_ref().and_then(|n| n.first().cloned()).unwrap_or_else(|| "default".into());
    loop {
        let outcome = tokio::select! {
            r = session(&client, &marker_ns, namespaces.as_deref(), &tx, &mut ready) => r,
            _ = tx.closed() => return,
        };
        if let Err(e) = outcome {
            match ready.take() {
                Some(r) => {
                    let _ = r.send(Err(e));
                    return;
                }
                None => {
                    if tx.send(Err(e)).await.is_err() {
                        return;
                    }
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = tx.closed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One subscription, until its stream breaks. `Ok` when it ended, `Err` when it failed to start.
async fn session(
    client: &Client,
    marker_ns: &str,
    namespaces: Option<&[String]>,
    tx: &mpsc::Sender<Result<Event>>,
    ready: &mut Option<oneshot::Sender<Result<()>>>,
) -> Result<()> {
    let marker = crate::exec::new_exec_id();
    let mut events = client.events();
    let request = client.unbounded_request(None, SubscribeRequest { filters: filters() });
    let mut subscribe = tokio::spawn(async move { events.subscribe(request).await });
    let publish_marker = || publish_marker(client, marker_ns, &marker);
    // Publish markers until the subscription answers. Any event may be the first to reach it
    // (another client's, under load), and a marker sent before it existed is lost: so markers
    // keep going out below until our own comes back.
    let mut stream = None;
    let deadline = tokio::time::Instant::now() + client.call_timeout();
    while stream.is_none() {
        publish_marker().await?;
        match tokio::time::timeout(Duration::from_millis(200), &mut subscribe).await {
            Ok(Ok(Ok(resp))) => stream = Some(resp.into_inner()),
            Ok(Ok(Err(status))) => return Err(status_error(status, client.engine(), "events")),
            Ok(Err(join)) => return Err(Error::unexpected(format!("event subscription task failed: {join}"))),
            Err(_) if tokio::time::Instant::now() > deadline => {
                subscribe.abort();
                return Err(Error::timeout("events", client.call_timeout()).with_engine(client.engine()));
            }
            Err(_) => {}
        }
    }
    let mut stream = stream.expect("set above");
    let mut synced = false;
    let mut republish = tokio::time::interval(Duration::from_millis(200));
    loop {
        let message = if synced {
            stream.message().await
        } else {
            tokio::select! {
                m = stream.message() => m,
                _ = republish.tick() => {
                    if tokio::time::Instant::now() > deadline {
                        return Err(Error::timeout("events", client.call_timeout()).with_engine(client.engine()));
                    }
                    publish_marker().await?;
                    continue;
                }
            }
        };
        let envelope = match message {
            Ok(Some(env)) => env,
            Ok(None) | Err(_) => return Ok(()),
        };
        if envelope.topic == SYNC_TOPIC {
            let ours = envelope.event.as_ref().is_some_and(|a| a.value == marker.as_bytes());
            if ours && !synced {
                synced = true;
                match ready.take() {
                    Some(r) => {
                        let _ = r.send(Ok(()));
                    }
                    // A resubscription: events between the two streams may be lost.
                    None => {
                        let gap = Event::gap("the containerd event subscription broke and was renewed");
                        if tx.send(Ok(gap)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
            continue;
        }
        if !synced || namespaces.is_some_and(|n| !n.contains(&envelope.namespace)) {
            continue;
        }
        if let Some(event) = normalize(&envelope)
            && tx.send(Ok(event)).await.is_err()
        {
            return Ok(());
        }
    }
}

/// Publishes this session's marker event.
async fn publish_marker(client: &Client, namespace: &str, marker: &str) -> Result<()> {
    let publish = PublishRequest {
        topic: SYNC_TOPIC.into(),
        event: Some(Any { type_url: "anyctr.io/sync".into(), value: marker.as_bytes().to_vec() }),
    };
    client.call("events", client.events().publish(client.request(Some(namespace), publish))).await?;
    Ok(())
}

/// A containerd envelope → a normalized event; `None` for topics that are not about containers
/// or payloads that do not decode.
pub fn normalize(envelope: &Envelope) -> Option<Event> {
    let any = envelope.event.as_ref()?;
    let bytes = any.value.as_slice();
    let mut attributes = BTreeMap::new();
    let (kind, container_id, exit_code, exec_id) = match envelope.topic.as_str() {
        "/tasks/start" => {
            let e = TaskStart::decode(bytes).ok()?;
            attributes.insert("pid".into(), e.pid.to_string());
            (EventKind::Start, e.container_id, None, None)
        }
        "/tasks/exit" => {
            let e = TaskExit::decode(bytes).ok()?;
            attributes.insert("pid".into(), e.pid.to_string());
            let code = Some(i64::from(e.exit_status));
            if e.id.is_empty() || e.id == e.container_id {
                (EventKind::Exit, e.container_id, code, None)
            } else {
                (EventKind::ExecExit, e.container_id, code, Some(e.id))
            }
        }
        "/tasks/oom" => (EventKind::Oom, TaskOom::decode(bytes).ok()?.container_id, None, None),
        "/tasks/exec-started" => {
            let e = TaskExecStarted::decode(bytes).ok()?;
            attributes.insert("pid".into(), e.pid.to_string());
            (EventKind::ExecStart, e.container_id, None, Some(e.exec_id))
        }
        "/tasks/exec-added" => {
            let e = TaskExecAdded::decode(bytes).ok()?;
            (EventKind::Other(envelope.topic.clone()), e.container_id, None, Some(e.exec_id))
        }
        "/tasks/paused" => (EventKind::Pause, TaskPaused::decode(bytes).ok()?.container_id, None, None),
        "/tasks/resumed" => (EventKind::Unpause, TaskResumed::decode(bytes).ok()?.container_id, None, None),
        "/tasks/delete" => {
            let e = TaskDelete::decode(bytes).ok()?;
            let exec = (!e.id.is_empty() && e.id != e.container_id).then_some(e.id);
            (EventKind::Other(envelope.topic.clone()), e.container_id, Some(i64::from(e.exit_status)), exec)
        }
        "/containers/create" => {
            let e = ContainerCreate::decode(bytes).ok()?;
            attributes.insert("image".into(), e.image);
            if let Some(rt) = e.runtime {
                attributes.insert("runtime".into(), rt.name);
            }
            (EventKind::Create, e.id, None, None)
        }
        "/containers/delete" => (EventKind::Destroy, ContainerDelete::decode(bytes).ok()?.id, None, None),
        topic if topic.starts_with("/tasks/") || topic.starts_with("/containers/") => {
            // Other task and container topics carry the container id in field 1.
            let id = FirstString::decode(bytes).map(|f| f.id).unwrap_or_default();
            (EventKind::Other(topic.to_owned()), id, None, None)
        }
        _ => return None,
    };
    let time = timestamp(envelope.timestamp.as_ref()).unwrap_or_else(Utc::now);
    let mut event = Event::new(kind, container_id, time, envelope.topic.clone());
    event.exit_code = exit_code;
    event.exec_id = exec_id;
    event.namespace = Some(envelope.namespace.clone()).filter(|n| !n.is_empty());
    event.attributes = attributes;
    Some(event)
}

/// Field 1 of containerd's task and container events is the container id.
#[derive(Clone, PartialEq, Message)]
struct FirstString {
    #[prost(string, tag = "1")]
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_client::to_any;

    fn envelope(topic: &str, event: Any) -> Envelope {
        Envelope {
            timestamp: Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 }),
            namespace: "k8s.io".into(),
            topic: topic.into(),
            event: Some(event),
        }
    }

    #[test]
    fn topics_normalize() {
        let exit = TaskExit { container_id: "c1".into(), id: "c1".into(), pid: 5, exit_status: 3, exited_at: None };
        let e = normalize(&envelope("/tasks/exit", to_any(&exit))).unwrap();
        assert_eq!((e.kind, e.exit_code, e.exec_id.as_deref()), (EventKind::Exit, Some(3), None));
        assert_eq!(e.namespace.as_deref(), Some("k8s.io"));
        assert_eq!(e.action, "/tasks/exit");

        let exec_exit =
            TaskExit { container_id: "c1".into(), id: "x1".into(), pid: 6, exit_status: 0, exited_at: None };
        let e = normalize(&envelope("/tasks/exit", to_any(&exec_exit))).unwrap();
        assert_eq!((e.kind, e.exec_id.as_deref()), (EventKind::ExecExit, Some("x1")));

        let start = TaskStart { container_id: "c1".into(), pid: 7 };
        let e = normalize(&envelope("/tasks/start", to_any(&start))).unwrap();
        assert_eq!((e.kind, e.container_id.as_str()), (EventKind::Start, "c1"));
        assert_eq!(e.attributes["pid"], "7");

        let oom = TaskOom { container_id: "c1".into() };
        assert_eq!(normalize(&envelope("/tasks/oom", to_any(&oom))).unwrap().kind, EventKind::Oom);

        let started = TaskExecStarted { container_id: "c1".into(), exec_id: "x1".into(), pid: 8 };
        let e = normalize(&envelope("/tasks/exec-started", to_any(&started))).unwrap();
        assert_eq!((e.kind, e.exec_id.as_deref()), (EventKind::ExecStart, Some("x1")));

        let create = ContainerCreate { id: "c2".into(), image: "busybox:local".into(), runtime: None };
        let e = normalize(&envelope("/containers/create", to_any(&create))).unwrap();
        assert_eq!((e.kind, e.container_id.as_str()), (EventKind::Create, "c2"));
        assert_eq!(e.attributes["image"], "busybox:local");

        let delete = ContainerDelete { id: "c2".into() };
        assert_eq!(normalize(&envelope("/containers/delete", to_any(&delete))).unwrap().kind, EventKind::Destroy);

        let added = TaskExecAdded { container_id: "c1".into(), exec_id: "x2".into() };
        let e = normalize(&envelope("/tasks/exec-added", to_any(&added))).unwrap();
        assert_eq!(e.kind, EventKind::Other("/tasks/exec-added".into()));

        let created = containerd_client::events::TaskCreate { container_id: "c3".into(), ..Default::default() };
        let e = normalize(&envelope("/tasks/create", to_any(&created))).unwrap();
        assert_eq!((e.kind, e.container_id.as_str()), (EventKind::Other("/tasks/create".into()), "c3"));

        let image = Any { type_url: "containerd.services.images.v1.ImageCreate".into(), value: vec![] };
        assert!(normalize(&envelope("/images/create", image)).is_none());
        let garbage = Any { type_url: "x".into(), value: vec![0xff, 0xff] };
        assert!(normalize(&envelope("/tasks/exit", garbage)).is_none());
    }
}
