//! Normalized events on the real dockerd, replay with `since`, a reconnect after the connection
//! was dropped (through a local socket proxy in front of dockerd), and OOM.

mod common;

use std::sync::{Arc, Mutex};

use anyctr_core::model::Signal;
use anyctr_core::model::{Event, EventKind, EventOptions, ExecRequest};
use anyctr_core::{ContainerEngine, EventStream};
use common::*;
use futures_util::StreamExt;

per_runtime!(container_and_exec_events_are_normalized);

/// Events for `id` until `until` matches one (bounded).
async fn collect_until(stream: &mut EventStream, id: &str, until: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    // Other people's events keep the stream busy: bound the whole search, not each event.
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        let e = next.unwrap_or_else(|_| panic!("no matching event for {id} within {BOUND:?}; seen {seen:?}"));
        let e = e.expect("stream ended").expect("event");
        if e.container_id == id {
            let done = until(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
    }
}

async fn container_and_exec_events_are_normalized(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "events");
    let t0 = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut stream = bounded("events", engine.events(EventOptions::default())).await.unwrap();
    let id = guard.sleeper(runtime).await;
    let r = exec(&engine, &id, ExecRequest::shell("exit 3")).await.unwrap();
    assert_eq!(r.exit_code, 3);
    bounded("kill", engine.kill(&id, Signal::KILL)).await.unwrap();
    bounded("wait", engine.wait(&id)).await.unwrap();
    bounded("remove", engine.remove(&id, true)).await.unwrap();
    let events = collect_until(&mut stream, &id, |e| e.kind == EventKind::Destroy).await;
    let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
    for want in [EventKind::Create, EventKind::Start, EventKind::ExecStart, EventKind::ExecExit, EventKind::Exit] {
        assert_eq!(kinds.iter().filter(|k| ***k == want).count(), 1, "{want:?} once in {kinds:?}");
    }
    let pos = |k: EventKind| kinds.iter().position(|x| **x == k).unwrap();
    assert!(pos(EventKind::Create) < pos(EventKind::Start) && pos(EventKind::Start) < pos(EventKind::ExecStart));
    assert!(pos(EventKind::ExecExit) < pos(EventKind::Exit) && pos(EventKind::Exit) < pos(EventKind::Destroy));
    let exec_start = events.iter().find(|e| e.kind == EventKind::ExecStart).unwrap();
    let exec_exit = events.iter().find(|e| e.kind == EventKind::ExecExit).unwrap();
    assert!(exec_start.exec_id.is_some());
    assert_eq!(exec_exit.exec_id, exec_start.exec_id);
    assert_eq!(exec_exit.exit_code, Some(3));
    assert!(exec_start.action.starts_with("exec_start: sh -c exit 3"), "{}", exec_start.action);
    let exit = events.iter().find(|e| e.kind == EventKind::Exit).unwrap();
    assert_eq!(exit.exit_code, Some(137));
    assert_eq!(exit.attributes.get("anyctr.test"), Some(&guard.label));
    assert!(events.windows(2).all(|w| w[0].time <= w[1].time));

    // Replay from before the container existed.
    let mut replay = bounded("events", engine.events(EventOptions::new().since(t0))).await.unwrap();
    let again = collect_until(&mut replay, &id, |e| e.kind == EventKind::Destroy).await;
    assert_eq!(again, events, "since replays the same normalized events");
}

/// A unix-socket proxy in front of dockerd whose live connections can be cut.
struct Proxy {
    path: std::path::PathBuf,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start() -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker-proxy.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let tracked = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut daemon) = tokio::net::UnixStream::connect(socket()).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                    }
                });
                tracked.lock().unwrap().push(task);
            }
        });
        Proxy { path, conns, accept, _dir: dir }
    }

    /// Cuts every connection open now (the listener stays, so reconnects work).
    fn cut(&self) -> usize {
        let mut conns = self.conns.lock().unwrap();
        let live = conns.iter().filter(|t| !t.is_finished()).count();
        for t in conns.drain(..) {
            t.abort();
        }
        live
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_survives_a_dropped_connection_without_duplicates() {
    let engine = engine().await;
    let guard = Guard::new(&engine, "events-reconnect");
    let proxy = Proxy::start();
    let proxied =
        bounded("connect", anyctr_engine_docker::connect(config_for(proxy.path.to_str().unwrap()))).await.unwrap();
    let mut stream = bounded("events", proxied.events(EventOptions::default())).await.unwrap();
    let first = bounded("create", engine.create(&guard.spec("runc", &["sleep", "3600"]))).await.unwrap();
    let before = collect_until(&mut stream, &first, |e| e.kind == EventKind::Create).await;
    assert_eq!(before.len(), 1);

    assert!(proxy.cut() >= 1, "the event connection was open");
    // These happen while the stream is down (or reconnecting): they must still arrive, once.
    let second = bounded("create", engine.create(&guard.spec("runc", &["sleep", "3600"]))).await.unwrap();
    bounded("start", engine.start(&second)).await.unwrap();
    bounded("start", engine.start(&first)).await.unwrap();

    let mut after = Vec::new();
    let mut want = vec![
        (second.clone(), EventKind::Create),
        (second.clone(), EventKind::Start),
        (first.clone(), EventKind::Start),
    ];
    let deadline = tokio::time::Instant::now() + BOUND;
    while !want.is_empty() {
        let next = tokio::time::timeout_at(deadline, stream.next()).await;
        let e =
            next.unwrap_or_else(|_| panic!("missing {want:?}; got {after:?}")).expect("stream ended").expect("event");
        if e.container_id == first || e.container_id == second {
            want.retain(|(id, k)| !(id == &e.container_id && k == &e.kind));
            after.push(e);
        }
    }
    let summary: Vec<(bool, &EventKind)> = after.iter().map(|e| (e.container_id == first, &e.kind)).collect();
    assert!(
        !after.iter().any(|e| e.container_id == first && e.kind == EventKind::Create),
        "the event delivered before the cut came again: {summary:?}"
    );
    let mut keys: Vec<(String, String, i64)> = after
        .iter()
        .map(|e| (e.container_id.clone(), e.action.clone(), e.time.timestamp_nanos_opt().unwrap()))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "no duplicates: {summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oom_kill_is_an_event_and_in_the_state() {
    let engine = engine().await;
    let guard = Guard::new(&engine, "oom");
    let mut stream = bounded("events", engine.events(EventOptions::default())).await.unwrap();
    // The engine's CreateSpec has no memory limit: create this one with bollard directly.
    let docker = bollard::Docker::connect_with_unix(&socket(), 60, bollard::API_DEFAULT_VERSION).unwrap();
    let name = unique("anyctr-oom");
    let body = bollard::models::ContainerCreateBody {
        image: Some(image()),
        cmd: Some(vec!["sh".into(), "-c".into(), "x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 5".into()]),
        labels: Some([("anyctr.test".to_owned(), guard.label.clone())].into()),
        host_config: Some(bollard::models::HostConfig {
            memory: Some(16 << 20),
            memory_swap: Some(16 << 20),
            ..Default::default()
        }),
        ..Default::default()
    };
    let options = bollard::query_parameters::CreateContainerOptionsBuilder::default().name(&name).build();
    let id = bounded("create", docker.create_container(Some(options), body)).await.unwrap().id;
    bounded("start", engine.start(&id)).await.unwrap();
    let events = collect_until(&mut stream, &id, |e| e.kind == EventKind::Exit).await;
    assert!(events.iter().any(|e| e.kind == EventKind::Oom), "{events:?}");
    let d = bounded("inspect", engine.inspect(&id)).await.unwrap();
    assert!(d.state.oom_killed, "{:?}", d.state);
    assert_eq!(d.state.exit_code, Some(137));
}
