//! `logs` through dockerd's logs API (the source used when the json-file is not visible here).

mod common;

use std::time::Duration;

use anyctr_core::ContainerEngine;
use anyctr_core::model::{LogOptions, LogRecord, LogSource, LogStreamKind};
use anyctr_engine_docker::DockerEngine;
use common::*;
use futures_util::StreamExt;

per_runtime!(api_tail_streams_partial_since, api_follow);

async fn read(engine: &DockerEngine, id: &str, options: LogOptions) -> Vec<LogRecord> {
    let s = bounded("logs", engine.logs(id, &options)).await.expect("logs");
    assert_eq!(s.source, LogSource::EngineApi);
    bounded("read logs", s.records.collect::<Vec<_>>()).await.into_iter().map(|r| r.expect("record")).collect()
}

fn texts(r: &[LogRecord]) -> Vec<String> {
    r.iter().map(|r| String::from_utf8_lossy(&r.bytes).into_owned()).collect()
}

async fn api_tail_streams_partial_since(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "logs-api");
    let script = "echo one; echo two >&2; sleep 2; echo three; head -c 40960 /dev/zero | tr '\\0' x";
    let id = guard.run_spec(&guard.spec(runtime, &["sh", "-c", script])).await;
    bounded("wait", engine.wait(&id)).await.expect("wait");
    let all = read(&engine, &id, LogOptions::new()).await;
    assert_eq!(all.len(), 4, "{:?}", &texts(&all)[..all.len().min(3)]);
    // stdout and stderr are separate pipes: their relative order is not kept, each one's is.
    let of = |s: LogStreamKind| texts(&all.iter().filter(|r| r.stream == s).cloned().collect::<Vec<_>>());
    assert_eq!(of(LogStreamKind::Stderr), ["two"]);
    assert_eq!(of(LogStreamKind::Stdout)[..2], ["one", "three"]);
    assert_eq!(texts(&all[2..3]), ["three"]);
    assert_eq!(all[3].bytes, vec![b'x'; 40960]);
    assert!(all[3].partial_rejoined);
    let tail = read(&engine, &id, LogOptions::new().tail(2)).await;
    assert_eq!(tail.len(), 2);
    assert_eq!(texts(&tail[..1]), ["three"]);
    // since/until to the nanosecond, though the API takes whole seconds.
    let three = all[2].time;
    let mut before = texts(&read(&engine, &id, LogOptions::new().until(three)).await);
    before.sort();
    assert_eq!(before, ["one", "two"]);
    assert_eq!(read(&engine, &id, LogOptions::new().since(three)).await.len(), 2);
    // A name that is no container.
    let e = engine.logs("anyctr-no-such-container", &LogOptions::new()).await.unwrap_err();
    assert_eq!(e.kind(), anyctr_core::ErrorKind::NotFound, "{e}");
}

async fn api_follow(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "logs-follow");
    let script = "sleep 1; for i in $(seq 1 20); do echo tick $i; sleep 0.05; done; sleep 3600";
    let id = guard.run_spec(&guard.spec(runtime, &["sh", "-c", script])).await;
    let s = bounded("logs", engine.logs(&id, &LogOptions::new().follow(true))).await.expect("logs");
    let mut records = s.records;
    let mut got = Vec::new();
    while got.len() < 20 {
        let r = tokio::time::timeout(Duration::from_secs(20), records.next()).await.expect("follow stalled");
        got.push(String::from_utf8(r.expect("stream ended").expect("record").bytes).unwrap());
    }
    assert_eq!(got, (1..=20).map(|i| format!("tick {i}")).collect::<Vec<_>>());
}
