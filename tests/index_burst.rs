//! Events alone keep the index current under a burst: 200 containers created from 8 parallel
//! streams, then removed from 8 parallel streams, by the engine's own CLI (so the index sees the
//! node's events, not its own calls). The periodic resync is 10 minutes and the test checks that
//! none ran (nor any gap or repair resync): the index must equal a fresh list after the creations
//! and be empty after the removals, from events only; the missed count is printed either way.
//! On docker (`docker run -d`) and on containerd (native containers, `ctr run -d`).
//!
//! `ANYCTR_BURST_ROUNDS` repeats the burst in one test run (CI runs 1; see the report for 10 in a
//! row).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyctr::index::{ContainerIndex, IndexOptions};
use anyctr::prelude::*;
use anyctr::{Engine, ListOptions};
use common::*;

const CONTAINERS: usize = 200;
const STREAMS: usize = 8;
/// How long the index may take to catch up after the last CLI call returned.
const CATCH_UP: Duration = Duration::from_secs(60);

fn rounds() -> usize {
    std::env::var("ANYCTR_BURST_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1)
}

/// Commands run one after the other (each an argv).
type Job = Vec<Vec<String>>;

/// The CLI commands of one engine: create container `name` with label value `label`, remove
/// container `id`.
struct Cli {
    create: Box<CreateJob>,
    remove: Box<dyn Fn(&str) -> Job + Send + Sync>,
}

type CreateJob = dyn Fn(&str, &str) -> Job + Send + Sync;

async fn run(argv: Vec<String>) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(&argv[0]).args(&argv[1..]).output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{argv:?} did not finish in 120 s"))
    .unwrap();
    assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `jobs` (each a list of commands run in order) from `STREAMS` parallel streams.
async fn parallel(jobs: Vec<Job>) {
    let per = jobs.len().div_ceil(STREAMS);
    let mut jobs = jobs.into_iter();
    let streams: Vec<_> = (0..STREAMS)
        .map(|_| {
            let mine: Vec<Job> = jobs.by_ref().take(per).collect();
            tokio::spawn(async move {
                for job in mine {
                    for argv in job {
                        run(argv).await;
                    }
                }
            })
        })
        .collect();
    for s in futures_util::future::join_all(streams).await {
        s.expect("a CLI stream failed");
    }
}

/// Waits until the index holds exactly `want`; the containers missed (and extra) at the end.
async fn converge(index: &ContainerIndex, want: &BTreeSet<String>) -> (usize, usize, Duration) {
    let started = Instant::now();
    loop {
        let have: BTreeSet<String> = index.snapshot().containers().map(|c| c.id.clone()).collect();
        let (missed, extra) = (want.difference(&have).count(), have.difference(want).count());
        if (missed, extra) == (0, 0) || started.elapsed() > CATCH_UP {
            return (missed, extra, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn burst(engine: Engine, cli: Cli, what: &str) {
    let label = unique("index-burst");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    let filter = ListOptions::all().label(&format!("anyctr.test={label}"));
    let options = IndexOptions::default().list(filter.clone()).resync_interval(Duration::from_secs(600));
    let index = ContainerIndex::start(engine.dyn_engine().clone(), options).await.unwrap();
    let mut failures = Vec::new();
    for round in 0..rounds() {
        let prefix = unique("burst");
        let creations = (0..CONTAINERS).map(|i| (cli.create)(&label, &format!("{prefix}-{round}-{i}"))).collect();
        parallel(creations).await;
        let fresh: BTreeSet<String> = engine.list(&filter).await.unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(fresh.len(), CONTAINERS, "the CLI created them all");
        let (missed, extra, took) = converge(&index, &fresh).await;
        println!("{what} round {round}: created {CONTAINERS}: {missed} missed, {extra} extra (caught up in {took:?})");
        if missed + extra > 0 {
            failures.push(format!("round {round} after creating: {missed} missed, {extra} extra"));
        }

        parallel(fresh.iter().map(|id| (cli.remove)(id)).collect()).await;
        let (missed, extra, took) = converge(&index, &BTreeSet::new()).await;
        println!("{what} round {round}: removed {CONTAINERS}: {extra} removals missed (caught up in {took:?})");
        if missed + extra > 0 {
            failures.push(format!("round {round} after removing: {extra} removed containers still indexed"));
        }
    }
    let resyncs = index.resyncs();
    let health = index.health();
    index.shutdown().await;
    assert!(failures.is_empty(), "{what}: {failures:?}");
    assert_eq!(resyncs, 0, "{what}: the index resynced ({health:?}): events alone did not carry the burst");
}

/// `docker run -d` and `docker rm -f` against the daemon at `host`.
fn docker_cli(host: String) -> Cli {
    let (h1, h2) = (host.clone(), host);
    Cli {
        create: Box::new(move |label, name| {
            let argv = ["docker", "-H", &h1, "run", "-d", "--label", &format!("anyctr.test={label}"), "--name", name];
            vec![argv.iter().map(|s| s.to_string()).chain([image(), "sleep".into(), "600".into()]).collect()]
        }),
        remove: Box::new(move |id| vec![["docker", "-H", &h2, "rm", "-f", id].iter().map(|s| s.to_string()).collect()]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn docker_burst_of_200_from_8_streams_events_only() {
    let host = format!("unix://{}", docker_socket());
    let cli = docker_cli(host);
    burst(docker().await, cli, "docker").await;
}

/// The case fresh CI clones hit: a dockerd started seconds before the burst (its own, see
/// `anyctr_testkit::private_dockerd`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn docker_burst_on_a_daemon_started_seconds_earlier() {
    let daemon = anyctr_testkit::private_dockerd::PrivateDockerd::started_with_image();
    let socket = daemon.socket().display().to_string();
    let cli = docker_cli(format!("unix://{socket}"));
    let engine = anyctr::connect(&format!("docker://{socket}")).await.unwrap();
    burst(engine, cli, "fresh dockerd").await;
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn containerd_burst_of_200_from_8_streams_events_only() {
    let (socket, state) = (anyctr_testkit::containerd_socket(), anyctr_testkit::containerd_state_dir());
    if !std::path::Path::new(&socket).exists() {
        anyctr_testkit::engines_not_up("containerd", &socket, "socket missing");
    }
    let engine = anyctr::connect(&format!("containerd://{socket}?namespace=default&state_dir={state}")).await.unwrap();
    let ctr = move |args: &[&str]| -> Vec<String> {
        ["ctr", "-a", &socket, "-n", "default"].iter().chain(args).map(|s| s.to_string()).collect()
    };
    let ctr2 = ctr.clone();
    let _native = CtrCleanup { ctr: ctr(&[]) };
    let cli = Cli {
        create: Box::new(move |label, name| {
            let image = format!("docker.io/library/{}", image());
            vec![ctr(&["run", "-d", "--label", &format!("anyctr.test={label}"), &image, name, "sleep", "600"])]
        }),
        remove: Box::new(move |id| vec![ctr2(&["task", "rm", "-f", id]), ctr2(&["containers", "rm", id])]),
    };
    burst(engine, cli, "containerd").await;
}

/// Removes, when dropped, the native containers a failed containerd burst left (the engine's
/// `remove` goes through CRI and refuses them).
struct CtrCleanup {
    ctr: Vec<String>,
}

impl Drop for CtrCleanup {
    fn drop(&mut self) {
        let base = self.ctr.join(" ");
        let script = format!(
            "for id in $({base} containers ls -q | grep '^burst-.*-{pid}-'); do {base} task rm -f $id; {base} containers rm $id; done",
            pid = std::process::id()
        );
        let _ = std::process::Command::new("sh").args(["-c", &script]).status();
    }
}
