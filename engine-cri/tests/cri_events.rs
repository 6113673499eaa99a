//! The event stream against the real containerd 1.6 the harness started, through CRI alone:
//! `GetContainerEvents` is asked for and answered `Unimplemented`, so the stream polls and says
//! so first (a `Gap` naming the interval and why); and what polling can and cannot see of
//! containers that live less than one interval: one created, started and removed between two
//! polls leaves no event (the notice is all that covers it), one created, started and exited
//! between two polls arrives as Create, Start and Exit marked `inferred`.

use std::time::{Duration, Instant};

use anyctr_core::model::{Event, EventKind, EventOptions};
use anyctr_core::{ContainerEngine, CreateSpec, EventStream, PodSpec};
use futures_util::StreamExt;

mod common;

use common::{bounded, engine, unique, var_or};

fn tag(what: &str) -> String {
    unique("anyctr-criev", what)
}

async fn next(events: &mut EventStream) -> Event {
    bounded("next event", events.next()).await.expect("stream ended").expect("event")
}

/// Reads events into `seen` up to and with `kind` of container `id`.
async fn read_until(events: &mut EventStream, seen: &mut Vec<Event>, id: &str, kind: EventKind) {
    loop {
        let e = next(events).await;
        let done = e.container_id == id && e.kind == kind;
        seen.push(e);
        if done {
            return;
        }
    }
}

/// The first item of a polled stream: the notice, with the interval and why it polls.
async fn notice(events: &mut EventStream, interval_ms: u64) -> Event {
    let first = next(events).await;
    assert_eq!((&first.kind, first.container_id.as_str()), (&EventKind::Gap, ""), "{first:?}");
    assert_eq!(first.attributes.get("poll_interval_ms"), Some(&interval_ms.to_string()), "{first:?}");
    let reason = &first.attributes["reason"];
    assert!(reason.contains(&format!("every {interval_ms} ms")) && reason.contains("created and removed"), "{reason}");
    first
}

#[tokio::test]
async fn get_container_events_unimplemented_falls_back_to_polling() {
    // containerd 1.6 has runtime.v1 but not its GetContainerEvents: asked, it answers Unimplemented.
    let v1 = engine("?event_poll_ms=250").await;
    let mut events = bounded("events", v1.events(EventOptions::new())).await.expect("event stream");
    let first = notice(&mut events, 250).await;
    let why = &first.attributes["polled_because"];
    assert!(why.starts_with("GetContainerEvents: Unimplemented"), "{why}");
    // runtime.v1alpha2 never had the call.
    let alpha = engine("?api=v1alpha2&event_poll_ms=300").await;
    let mut events = bounded("events", alpha.events(EventOptions::new())).await.expect("event stream");
    let first = notice(&mut events, 300).await;
    assert!(first.attributes["polled_because"].contains("v1alpha2"), "{first:?}");
}

#[tokio::test]
async fn containers_shorter_than_one_poll() {
    const INTERVAL_MS: u64 = 4000;
    let engine = engine(&format!("?event_poll_ms={INTERVAL_MS}")).await;
    let mut events = bounded("events", engine.events(EventOptions::new())).await.expect("event stream");
    notice(&mut events, INTERVAL_MS).await;
    let pod = PodSpec::new(tag("pod"), "anyctr-test", tag("uid")).runtime("runc");
    let sandbox = bounded("create_pod", engine.create_pod(&pod)).await.expect("RunPodSandbox");
    let outcome = common::catch(async {
        // The sandbox's Create arrives right after the poll that saw it: the next poll is one
        // interval away.
        let mut seen = Vec::new();
        read_until(&mut events, &mut seen, &sandbox, EventKind::Create).await;
        let polled = Instant::now();
        let spec = |name: &str, script: &str| {
            let mut spec = CreateSpec::new(var_or("ANYCTR_TEST_IMAGE", "busybox:local"));
            spec.name = Some(tag(name));
            spec.argv = vec!["sh".into(), "-c".into(), script.into()];
            spec.pod_sandbox = Some(sandbox.clone());
            spec
        };
        // Created, started and removed between two polls.
        let quick = bounded("create", engine.create(&spec("quick", "sleep 600"))).await.expect("create");
        bounded("start", engine.start(&quick)).await.expect("start");
        bounded("remove", engine.remove(&quick, true)).await.expect("remove");
        // Created, started and exited between the same two polls, not removed.
        let exited = bounded("create", engine.create(&spec("exited", "exit 7"))).await.expect("create");
        bounded("start", engine.start(&exited)).await.expect("start");
        assert_eq!(bounded("wait", engine.wait(&exited)).await.expect("wait"), 7);
        let within = polled.elapsed();
        assert!(
            within < Duration::from_millis(INTERVAL_MS / 2),
            "the containers took {within:?}, too long to be sure they fell between two polls"
        );
        read_until(&mut events, &mut seen, &exited, EventKind::Exit).await;
        let of = |id: &str| -> Vec<(EventKind, Option<i64>, Option<String>)> {
            seen.iter()
                .filter(|e| e.container_id == id)
                .map(|e| (e.kind.clone(), e.exit_code, e.attributes.get("inferred").cloned()))
                .collect()
        };
        // What polling could not see is not reported, and nothing is made up about it: the
        // notice at the start of the stream is what said it may happen.
        assert_eq!(of(&quick), [], "a container that lived between two polls: {seen:?}");
        let inferred = Some("first seen exited".to_owned());
        assert_eq!(
            of(&exited),
            [
                (EventKind::Create, None, inferred.clone()),
                (EventKind::Start, None, inferred),
                (EventKind::Exit, Some(7), None),
            ],
            "{seen:?}"
        );
        assert!(seen.iter().all(|e| e.kind != EventKind::Gap), "no poll failed: {seen:?}");
        bounded("remove", engine.remove(&exited, false)).await.expect("remove");
    })
    .await;
    bounded("remove_pod", engine.remove_pod(&sandbox)).await.expect("remove pod");
    common::rethrow(outcome)
}
