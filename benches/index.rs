//! The live container index on docker:
//!
//! 1. Latency from a container's start to its appearance, running, in a `ContainerIndex` (fed by
//!    docker's events), over 50 starts: p50 and p99, measured from docker's `State.StartedAt` and
//!    from the start call's return. Target (issue 17): p99 ≤ 50 ms, from `State.StartedAt`.
//! 2. Memory per 1,000 indexed containers: an index built through the public API
//!    (`ContainerIndex::start`) over an in-memory engine that answers 1,000 copies of a real
//!    docker inspect (unique ids and names; `raw` kept, as the docker engine keeps it), measured
//!    as the VmRSS growth of a fresh child process. Printed per container, with and without `raw`.
//!
//! 3. The update path under load, in process (a benchmark of the index's data structure and
//!    worker, not of an engine): an in-memory engine with 1,000 containers (copies of a synthetic
//!    detail, 20 of them grouped in pods) feeds 100 events/s for 10 s, each about a container
//!    whose detail changed; measured: the latency from sending the event to a published snapshot
//!    that holds the new detail (p50, p99, max), and the process's CPU time (user + system, from
//!    `/proc/self/stat`, so the synthetic engine is included: an upper bound) per second of wall
//!    time. Runs first and alone with `ANYCTR_BENCH_INDEX_ONLY=update` (no daemon needed).
//!
//! Targets are reported, not asserted. Containers are removed at the end, also on panic.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyctr::index::{ContainerIndex, IndexOptions};
use anyctr::prelude::*;
use anyctr::{
    Capabilities, ContainerDetail, ContainerEngine, ContainerSummary, EngineInfo, Error, ListOptions, Result, Support,
};
use common::{Guard, ms};

const STARTS: usize = 50;
const INDEXED: usize = 1000;
/// Set in the child that measures memory: `raw` or `bare` (raw JSON dropped).
const MEMORY_CHILD: &str = "ANYCTR_BENCH_INDEX_MEMORY";
/// The container whose inspect the child copies.
const TEMPLATE_ID: &str = "ANYCTR_BENCH_INDEX_TEMPLATE";

fn main() {
    if let Ok(mode) = std::env::var(MEMORY_CHILD) {
        memory_child(&mode, &std::env::var(TEMPLATE_ID).expect("template container id"));
        return;
    }
    let rt = common::runtime();
    rt.block_on(update_path::run());
    if std::env::var("ANYCTR_BENCH_INDEX_ONLY").is_ok_and(|v| v == "update") {
        return;
    }
    let engine = rt.block_on(common::docker());
    let guard = common::guard(&engine, "index");
    rt.block_on(start_latency(&engine, &guard));
    let template = rt.block_on(guard.sleeper("runc"));
    for mode in ["raw", "bare"] {
        let status = Command::new(std::env::current_exe().expect("this binary"))
            .env(MEMORY_CHILD, mode)
            .env(TEMPLATE_ID, &template)
            .status()
            .expect("run the memory child");
        assert!(status.success(), "the memory child ({mode}) failed: {status}");
    }
    drop(guard);
}

fn unix_micros_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

async fn start_latency(engine: &anyctr::Engine, guard: &Guard) {
    let options = IndexOptions::default().list(guard.label_filter());
    let index = common::bounded("index start", engine.index(options)).await.expect("index");
    let mut from_started_at = Vec::new();
    let mut from_start_return = Vec::new();
    let mut from_start_call = Vec::new();
    for _ in 0..STARTS {
        let id = common::bounded("create", engine.create(&guard.sleeper_spec("runc"))).await.expect("create");
        let mut snapshots = index.watch();
        let called = Instant::now();
        common::bounded("start", engine.start(&id)).await.expect("start");
        let returned = Instant::now();
        let seen = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let snapshot = snapshots.borrow_and_update().clone();
                if let Some(d) = snapshot.container(&id).filter(|d| d.state.status.is_running()) {
                    return (Instant::now(), unix_micros_now(), d.state.started_at);
                }
                snapshots.changed().await.expect("the index stopped");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("container {id} did not appear running in the index within 30 s"));
        let (at, wall_micros, started_at) = seen;
        from_start_call.push(at - called);
        from_start_return.push(at.saturating_duration_since(returned));
        let started = started_at.expect("docker reports StartedAt").timestamp_micros();
        from_started_at.push(Duration::from_micros(u64::try_from(wall_micros - started).unwrap_or(0)));
    }
    index.shutdown().await;
    let p = |v: &mut Vec<Duration>, q: f64| {
        v.sort();
        v[((q / 100.0) * (v.len() - 1) as f64).round() as usize]
    };
    let p99 = p(&mut from_started_at, 99.0);
    let verdict = if p99 <= Duration::from_millis(50) { "met" } else { "NOT met" };
    println!(
        "SUMMARY index start->running on docker, {STARTS} starts: from State.StartedAt p50 {} p99 {} \
         (target p99 <= 50 ms): {verdict}; from the start call's return p50 {} p99 {}; \
         from the start call p50 {} p99 {}",
        ms(p(&mut from_started_at, 50.0)),
        ms(p99),
        ms(p(&mut from_start_return, 50.0)),
        ms(p(&mut from_start_return, 99.0)),
        ms(p(&mut from_start_call, 50.0)),
        ms(p(&mut from_start_call, 99.0)),
    );
}

/// An engine that lists `count` containers and answers each inspect with a copy of `template`
/// under the container's own id and name: what the index holds, without a daemon's noise.
struct CopiesEngine {
    template: Arc<ContainerDetail>,
    count: usize,
}

fn synthetic_id(i: usize) -> String {
    format!("{i:064x}")
}

#[async_trait::async_trait]
impl ContainerEngine for CopiesEngine {
    fn name(&self) -> &str {
        "copies"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { inspect: Support::Native, ..Default::default() }
    }

    async fn identify(&self) -> Result<EngineInfo> {
        Ok(EngineInfo::new("copies", "in-memory copies of one docker inspect", "0"))
    }

    async fn list(&self, _: &ListOptions) -> Result<Vec<ContainerSummary>> {
        Ok((0..self.count)
            .map(|i| {
                let t = &self.template;
                let mut summary = ContainerSummary::new(synthetic_id(i), &t.image, t.state.status.clone());
                summary.names = vec![format!("c{i}")];
                summary.labels = t.labels.clone();
                summary.created = t.created;
                summary.runtime = Some(t.runtime.clone());
                summary
            })
            .collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        let i = usize::from_str_radix(container, 16).map_err(|_| Error::not_found(container.to_owned()))?;
        let mut d = (*self.template).clone();
        d.id = synthetic_id(i);
        d.name = format!("c{i}");
        Ok(d)
    }
}

fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).expect("kB") * 1024
}

/// Runs in a fresh process, so the growth is the index's and not memory freed earlier.
fn memory_child(mode: &str, template_id: &str) {
    let rt = common::runtime();
    rt.block_on(async {
        let engine = common::docker().await;
        let mut template = engine.inspect(template_id).await.expect("inspect the template container");
        let raw_len = serde_json::to_vec(&template.raw).map(|v| v.len()).unwrap_or(0);
        if mode == "bare" {
            template.raw = serde_json::Value::Null;
        }
        let template = Arc::new(template);
        let options = || IndexOptions::default().resync_interval(Duration::from_secs(3600));
        // Warm-up: the runtime, the index's channels and the allocator's arenas exist before the
        // baseline.
        let small = Arc::new(CopiesEngine { template: template.clone(), count: 10 });
        ContainerIndex::start(small, options()).await.expect("warm-up index").shutdown().await;

        let before = vm_rss();
        let engine = Arc::new(CopiesEngine { template, count: INDEXED });
        let index = ContainerIndex::start(engine, options()).await.expect("index of 1,000");
        let snapshot = index.snapshot();
        assert_eq!(snapshot.container_count(), INDEXED);
        let after = vm_rss();
        let per = after.saturating_sub(before) / INDEXED as u64;
        let what = if mode == "raw" {
            format!("with raw inspect JSON ({raw_len} bytes serialized)")
        } else {
            "without raw JSON".to_owned()
        };
        println!(
            "SUMMARY index memory, {INDEXED} containers {what}: VmRSS {:.1} MiB -> {:.1} MiB = {per} bytes per container",
            before as f64 / (1 << 20) as f64,
            after as f64 / (1 << 20) as f64,
        );
        drop(snapshot);
        index.shutdown().await;
    });
}

/// Benchmark 3 (see the module docs).
mod update_path {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use anyctr::index::{ContainerIndex, IndexOptions};
    use anyctr::{
        Capabilities, ContainerDetail, ContainerEngine, ContainerState, ContainerStatus, ContainerSummary, EngineInfo,
        Error, Event, EventKind, EventOptions, EventStream, ListOptions, PodIdentity, PodRole, Result, RuntimeClass,
        Support,
    };
    use futures_util::StreamExt;
    use tokio::sync::mpsc;

    use super::common::ms;

    const CONTAINERS: usize = 1000;
    const RATE: u64 = 100;
    const SECONDS: u64 = 10;

    /// Container `i`'s detail at `version` (its pid): the change an event announces.
    fn detail(i: usize, version: u32) -> ContainerDetail {
        let mut state = ContainerState::with_status(ContainerStatus::Running);
        state.pid = Some(version);
        let pod = (i < 20).then(|| {
            let uid = format!("pod-{}", i / 2);
            let sandbox = format!("{:064x}", i - i % 2);
            let mut pod = PodIdentity::default();
            pod.pod_name = Some(uid.clone());
            pod.namespace = Some("bench".into());
            pod.pod_uid = Some(uid);
            pod.container_name = Some(if i.is_multiple_of(2) { "POD".into() } else { "app".into() });
            pod.sandbox_id = Some(sandbox);
            pod.role = Some(if i.is_multiple_of(2) { PodRole::Sandbox } else { PodRole::Main });
            pod
        });
        let mut detail =
            ContainerDetail::new(format!("{i:064x}"), format!("c{i}"), "busybox:local", state, RuntimeClass::Runc);
        detail.labels = (0..10).map(|l| (format!("label-{l}"), format!("value-{l}"))).collect();
        detail.env = vec!["PATH=/usr/bin:/bin".into(), "HOME=/root".into()];
        detail.hostname = Some(format!("c{i}"));
        detail.network_mode = Some("bridge".into());
        detail.pod = pod.unwrap_or_default();
        detail
    }

    struct Synthetic {
        versions: Mutex<HashMap<usize, u32>>,
        events: Mutex<Option<mpsc::UnboundedReceiver<Result<Event>>>>,
    }

    #[async_trait::async_trait]
    impl ContainerEngine for Synthetic {
        fn name(&self) -> &str {
            "synthetic"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities { inspect: Support::Native, events: Support::Native, ..Default::default() }
        }

        async fn identify(&self) -> Result<EngineInfo> {
            Ok(EngineInfo::new("synthetic", "in-memory", "0"))
        }

        async fn list(&self, _: &ListOptions) -> Result<Vec<ContainerSummary>> {
            Ok((0..CONTAINERS)
                .map(|i| {
                    let mut summary =
                        ContainerSummary::new(format!("{i:064x}"), "busybox:local", ContainerStatus::Running);
                    summary.names = vec![format!("c{i}")];
                    summary
                })
                .collect())
        }

        async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
            let i = usize::from_str_radix(container, 16).map_err(|_| Error::not_found(container.to_owned()))?;
            let version = self.versions.lock().unwrap().get(&i).copied().unwrap_or(1);
            Ok(detail(i, version))
        }

        async fn events(&self, _: EventOptions) -> Result<EventStream> {
            let rx = self.events.lock().unwrap().take().expect("one subscription");
            Ok(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed())
        }
    }

    /// User + system CPU time of this process (`/proc/self/stat`, in clock ticks of 10 ms).
    fn cpu_time() -> Duration {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
        let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }

    pub async fn run() {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = Arc::new(Synthetic { versions: Mutex::default(), events: Mutex::new(Some(rx)) });
        let options = IndexOptions::default().resync_interval(Duration::from_secs(3600));
        let index = ContainerIndex::start(engine.clone(), options).await.expect("index of 1,000");
        assert_eq!(index.snapshot().container_count(), CONTAINERS);
        let mut snapshots = index.watch();
        let pending: Arc<Mutex<HashMap<String, (u32, Instant)>>> = Arc::default();
        let watched = pending.clone();
        let watcher = tokio::spawn(async move {
            let mut latencies = Vec::new();
            while snapshots.changed().await.is_ok() {
                let snapshot = snapshots.borrow_and_update().clone();
                let now = Instant::now();
                watched.lock().unwrap().retain(|id, (version, sent)| {
                    let done = snapshot.container(id).is_some_and(|d| d.state.pid >= Some(*version));
                    if done {
                        latencies.push(now - *sent);
                    }
                    !done
                });
            }
            latencies
        });
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
        for next in 0..(RATE * SECONDS) as usize {
            tick.tick().await;
            // Spread over every container, with a little repetition.
            let i = (next * 7919) % CONTAINERS;
            let version = {
                let mut versions = engine.versions.lock().unwrap();
                let v = versions.entry(i).or_insert(1);
                *v += 1;
                *v
            };
            let id = format!("{i:064x}");
            pending.lock().unwrap().insert(id.clone(), (version, Instant::now()));
            let mut event = Event::gap("");
            event.kind = EventKind::Start;
            event.container_id = id;
            event.action = "start".into();
            event.attributes.clear();
            tx.send(Ok(event)).expect("the index reads events");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pending.lock().unwrap().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
        let unseen = pending.lock().unwrap().len();
        index.shutdown().await;
        let mut latencies = watcher.await.expect("watcher");
        latencies.sort();
        let p = |q: f64| latencies[((q / 100.0) * (latencies.len() - 1) as f64).round() as usize];
        println!(
            "SUMMARY index update path (in process, synthetic engine), {CONTAINERS} containers, {RATE} events/s for \
             {SECONDS} s: event -> snapshot latency p50 {} p99 {} max {} over {} events ({unseen} not seen); \
             CPU {:.1}% of one core ({} ms in {} ms wall, whole process)",
            ms(p(50.0)),
            ms(p(99.0)),
            ms(*latencies.last().unwrap()),
            latencies.len(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            cpu.as_millis(),
            wall.as_millis(),
        );
    }
}
