//! Completeness of the event stream under a burst, on the real dockerd: 200 containers from 8
//! parallel `docker run -d` streams, then removed by 8 parallel `docker rm -f`. An `events()`
//! subscriber must receive every event dockerd's own stream (a `docker events` CLI process
//! running alongside) shows for them: 0 missing, 0 duplicated. dockerd sends concurrent events out
//! of timestamp order; the test counts how many, to show the case was exercised.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyctr_core::ContainerEngine;
use anyctr_core::model::{EventKind, EventOptions};
use common::*;
use futures_util::StreamExt;
use tokio::io::AsyncBufReadExt;

const CONTAINERS: usize = 200;
const STREAMS: usize = 8;

/// (container id, action, time in ns): one event, as both streams show it.
type Key = (String, String, i64);

fn docker_cli() -> tokio::process::Command {
    let mut c = tokio::process::Command::new("docker");
    c.args(["-H", &format!("unix://{}", socket())]);
    c
}

async fn run_cli(args: Vec<String>) {
    let out = bounded("docker CLI", docker_cli().args(&args).output()).await.unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_gets_every_event_of_a_200_container_burst() {
    let engine = engine().await;
    let guard = Guard::new(&engine, "events-burst");
    let label = format!("anyctr.test={}", guard.label);
    let t0 = chrono::Utc::now();

    // dockerd's own stream, from t0 (replayed from its log if the CLI subscribes a little later).
    let since = format!("{}.{:09}", t0.timestamp(), t0.timestamp_subsec_nanos());
    let mut cli = docker_cli()
        .args(["events", "--since", &since, "--filter", "type=container", "--filter", &format!("label={label}")])
        .args(["--format", "{{json .}}"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the docker CLI");
    let daemon_seen: Arc<Mutex<Vec<Key>>> = Arc::default();
    let lines = tokio::io::BufReader::new(cli.stdout.take().unwrap()).lines();
    let sink = daemon_seen.clone();
    let daemon_reader = tokio::spawn(async move {
        let mut lines = lines;
        while let Ok(Some(line)) = lines.next_line().await {
            let v: serde_json::Value = serde_json::from_str(&line).expect("docker events --format json");
            let id = v["Actor"]["ID"].as_str().unwrap_or_default().to_owned();
            let action = v["Action"].as_str().unwrap_or_default().to_owned();
            sink.lock().unwrap().push((id, action, v["timeNano"].as_i64().unwrap_or_default()));
        }
    });

    // The subscriber under test, from t0 as well.
    let mut stream = bounded("events", engine.events(EventOptions::new().since(t0))).await.unwrap();
    let ours: Arc<Mutex<Vec<Key>>> = Arc::default();
    let gaps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (sink, gap_count, wanted) = (ours.clone(), gaps.clone(), guard.label.clone());
    let subscriber = tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            let event = event.expect("the event stream failed");
            if event.kind == EventKind::Gap {
                gap_count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            if event.attributes.get("anyctr.test") == Some(&wanted) {
                let nanos = event.time.timestamp_nanos_opt().unwrap();
                sink.lock().unwrap().push((event.container_id, event.action, nanos));
            }
        }
    });

    // 8 parallel creators of 25 containers each.
    let per_stream = CONTAINERS / STREAMS;
    let creators = (0..STREAMS).map(|s| {
        let (label, image) = (label.clone(), image());
        let prefix = unique("burst");
        tokio::spawn(async move {
            for i in 0..per_stream {
                let args =
                    ["run", "-d", "--label", &label, "--name", &format!("{prefix}-{s}-{i}"), &image, "sleep", "600"];
                run_cli(args.iter().map(|a| a.to_string()).collect()).await;
            }
        })
    });
    for c in futures_util::future::join_all(creators).await {
        c.expect("a creator failed");
    }
    let ids: Vec<String> =
        bounded("list", engine.list(&guard.label_filter())).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), CONTAINERS);
    // ... then removed by 8 parallel removers.
    let removers = ids.chunks(per_stream).map(|chunk| {
        let args: Vec<String> = ["rm", "-f"].iter().map(|a| a.to_string()).chain(chunk.iter().cloned()).collect();
        tokio::spawn(run_cli(args))
    });
    for r in futures_util::future::join_all(removers).await {
        r.expect("a remover failed");
    }

    // Wait for dockerd's stream to show every destroy, then for the subscriber to catch up.
    let destroyed = |v: &Vec<Key>| v.iter().filter(|k| k.1 == "destroy").count();
    let deadline = tokio::time::Instant::now() + BOUND;
    while destroyed(&daemon_seen.lock().unwrap()) < CONTAINERS {
        assert!(tokio::time::Instant::now() < deadline, "docker events did not show {CONTAINERS} destroys");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let want: Vec<Key> = daemon_seen.lock().unwrap().clone();
    let want_set: BTreeSet<Key> = want.iter().cloned().collect();
    let settle = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let have: BTreeSet<Key> = ours.lock().unwrap().iter().cloned().collect();
        if want_set.is_subset(&have) || tokio::time::Instant::now() > settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    subscriber.abort();
    daemon_reader.abort();
    let got: Vec<Key> = ours.lock().unwrap().clone();
    let got_set: HashSet<&Key> = got.iter().collect();
    let missing: Vec<&Key> = want.iter().filter(|k| !got_set.contains(k)).collect();
    let mut newest = i64::MIN;
    let out_of_order = want
        .iter()
        .filter(|k| {
            let late = k.2 < newest;
            newest = newest.max(k.2);
            late
        })
        .count();
    println!(
        "burst: dockerd's stream {} events ({out_of_order} out of timestamp order); subscriber {} events, {} missing, \
         {} duplicated, {} gaps announced",
        want.len(),
        got.len(),
        missing.len(),
        got.len() - got_set.len(),
        gaps.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(missing.is_empty(), "the subscriber missed {} of {} events: {missing:?}", missing.len(), want.len());
    assert_eq!(got.len(), got_set.len(), "duplicates delivered");
    assert!(want.len() >= CONTAINERS * 4, "create, start, die and destroy each: {}", want.len());
}
