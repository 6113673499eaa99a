//! containerd with CRI (namespace `k8s.io`, runc handler):
//!
//! 1. exec of `echo hi`: anyctr (`exec`) vs the `ctr task exec` CLI vs the bare containerd-client
//!    call sequence a hand-written agent would make (Tasks.Exec, Wait, Start, DeleteProcess, with
//!    regular files for the output and the process spec read once up front), and that sequence
//!    again with the lookups any exec by id needs (Containers.Get for the spec, Tasks.Get).
//!    Targets: at most 0.7x of the CLI, within 1.10x of the bare sequence.
//! 2. list + inspect of 200 CRI containers (4 pods of 50) into normalized details, 16 inspects at
//!    a time. Target: under 0.5 s.
//!
//! Targets are reported, not asserted. Every pod is removed at the end, also on panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyctr_core::model::ContainerStatus;
use anyctr_core::{ContainerEngine, ListOptions};
use anyctr_engine_containerd::{CRI_NAMESPACE, Client, ContainerdEngine};
use common::{Pods, Timings, ms, ratio_line, unique};
use containerd_client::services::v1::{
    DeleteProcessRequest, ExecProcessRequest, GetContainerRequest, GetRequest, StartRequest, WaitRequest,
};
use criterion::{Criterion, SamplingMode};
use futures_util::StreamExt;
use serde_json::{Value, json};

const PODS: usize = 4;
const PER_POD: usize = 50;
const CONCURRENCY: usize = 16;
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// What the bare sequence needs, prepared once: the container's process spec with `echo hi`.
struct Bare {
    client: Client,
    container: String,
    process: Vec<u8>,
    out_dir: PathBuf,
}

/// The container's process spec with `echo hi` (Containers.Get).
async fn echo_process(client: &Client, container: &str) -> Vec<u8> {
    let req = client.request(Some(CRI_NAMESPACE), GetContainerRequest { id: container.to_owned() });
    let record = client.containers().get(req).await.expect("Containers.Get").into_inner().container;
    let record = record.expect("a container record");
    let spec: Value = serde_json::from_slice(&record.spec.expect("container spec").value).expect("spec JSON");
    let mut process = spec["process"].clone();
    process["args"] = json!(["echo", "hi"]);
    process["terminal"] = json!(false);
    serde_json::to_vec(&process).expect("process JSON")
}

impl Bare {
    async fn new(client: Client, container: &str, out_dir: &Path) -> Bare {
        let process = echo_process(&client, container).await;
        std::fs::create_dir_all(out_dir).expect("output dir");
        Bare { client, container: container.to_owned(), process, out_dir: out_dir.to_owned() }
    }

    /// Exec, Wait (issued before Start), Start, the exit status, DeleteProcess, the output file.
    /// With `lookup`, first what any exec by id must ask (as anyctr does): the container's record
    /// for its process spec (Containers.Get) and its task's state (Tasks.Get).
    async fn exec(&self, lookup: bool) {
        let c = &self.client;
        let process = if lookup {
            let task = GetRequest { container_id: self.container.clone(), exec_id: String::new() };
            let mut tasks = c.tasks();
            let (process, task) =
                tokio::join!(echo_process(c, &self.container), tasks.get(c.request(Some(CRI_NAMESPACE), task)));
            assert!(task.expect("Tasks.Get").into_inner().process.is_some_and(|p| p.pid > 0));
            process
        } else {
            self.process.clone()
        };
        let exec_id = unique("bare");
        let (out, err) = (self.out_dir.join(format!("{exec_id}.out")), self.out_dir.join(format!("{exec_id}.err")));
        std::fs::File::create(&out).expect("stdout file");
        std::fs::File::create(&err).expect("stderr file");
        let id = || self.container.clone();
        let req = ExecProcessRequest {
            container_id: id(),
            exec_id: exec_id.clone(),
            stdin: String::new(),
            stdout: out.to_str().expect("UTF-8").to_owned(),
            stderr: err.to_str().expect("UTF-8").to_owned(),
            terminal: false,
            spec: Some(prost_types::Any { type_url: PROCESS_TYPE_URL.to_owned(), value: process }),
        };
        c.tasks().exec(c.request(Some(CRI_NAMESPACE), req)).await.expect("Tasks.Exec");
        // Wait before Start, as the recipe says; in `k8s.io` nobody else deletes the process, so
        // a Wait that arrives after the exit still gets its status.
        let wait =
            c.unbounded_request(Some(CRI_NAMESPACE), WaitRequest { container_id: id(), exec_id: exec_id.clone() });
        let mut tasks = c.tasks();
        let waiter = tokio::spawn(async move { tasks.wait(wait).await });
        let start = StartRequest { container_id: id(), exec_id: exec_id.clone() };
        c.tasks().start(c.request(Some(CRI_NAMESPACE), start)).await.expect("Start");
        let status = waiter.await.expect("wait task").expect("Tasks.Wait").into_inner().exit_status;
        assert_eq!(status, 0);
        let delete = DeleteProcessRequest { container_id: id(), exec_id };
        c.tasks().delete_process(c.request(Some(CRI_NAMESPACE), delete)).await.expect("DeleteProcess");
        let stdout = std::fs::read(&out).expect("read stdout");
        let _ = (std::fs::remove_file(&out), std::fs::remove_file(&err));
        assert_eq!(stdout, b"hi\n");
    }
}

fn ctr_exec(container: &str) {
    let out = Command::new("ctr")
        .args(["--address", &common::socket(), "-n", CRI_NAMESPACE, "task", "exec", "--exec-id"])
        .arg(unique("ctr"))
        .args([container, "echo", "hi"])
        .output()
        .expect("run ctr");
    assert!(out.status.success(), "ctr task exec: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hi\n");
}

async fn list_and_inspect(engine: &ContainerdEngine, filter: &ListOptions, expected: usize) {
    let list = engine.list(filter).await.expect("list");
    assert_eq!(list.len(), expected);
    let details: Vec<_> =
        futures_util::stream::iter(&list).map(|s| engine.inspect(&s.id)).buffer_unordered(CONCURRENCY).collect().await;
    for d in details {
        assert_eq!(d.expect("inspect").state.status, ContainerStatus::Running);
    }
}

fn main() {
    let rt = common::runtime();
    let pods = rt.block_on(Pods::new("ctrd-exec"));
    let engine = pods.engine.clone();
    let timings = Timings::default();
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();

    // 1. exec
    let (first_pod, id) = rt.block_on(async {
        let pod = pods.pod().await;
        let id = pods.sleeper(&pod, "c0").await;
        (pod, id)
    });
    let bare = rt.block_on(Bare::new(engine.client().clone(), &id, &pods.fifo_dir.join("bare-output")));
    {
        let mut group = c.benchmark_group("containerd_cri_exec_echo");
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("anyctr", |b| {
            b.iter_custom(|iters| timings.run(&rt, "anyctr", iters, || anyctr_testkit::exec_echo(&engine, &id)))
        });
        group.bench_function("bare_containerd_client", |b| {
            b.iter_custom(|iters| timings.run(&rt, "bare_containerd_client", iters, || bare.exec(false)))
        });
        group.bench_function("bare_with_lookup", |b| {
            b.iter_custom(|iters| timings.run(&rt, "bare_with_lookup", iters, || bare.exec(true)))
        });
        group.bench_function("ctr_cli", |b| {
            b.iter_custom(|iters| timings.run_blocking("ctr_cli", iters, || ctr_exec(&id)))
        });
        group.finish();
    }

    // 2. list + inspect of 200 CRI containers (the exec container is one of them).
    let made = Instant::now();
    rt.block_on(async {
        let mut all_pods = vec![first_pod];
        for _ in 1..PODS {
            all_pods.push(pods.pod().await);
        }
        let names: Vec<(String, String)> =
            (0..PODS * PER_POD).filter(|i| *i != 0).map(|i| (all_pods[i / PER_POD].clone(), format!("c{i}"))).collect();
        futures_util::stream::iter(&names)
            .for_each_concurrent(4, |(pod, name)| async {
                pods.sleeper(pod, name).await;
            })
            .await;
    });
    println!("setup: {} CRI containers in {PODS} pods in {:.1} s", PODS * PER_POD, made.elapsed().as_secs_f64());
    let filter = ListOptions::all().label(&format!("anyctr.test={}", pods.label));
    // The list holds the sandboxes too.
    let expected = PODS * PER_POD + PODS;
    {
        let mut group = c.benchmark_group("containerd_cri_list_inspect_200");
        group.sampling_mode(SamplingMode::Flat).sample_size(10);
        let name = format!("list_inspect_concurrency_{CONCURRENCY}");
        group.bench_function(&name, |b| {
            b.iter_custom(|iters| timings.run(&rt, &name, iters, || list_and_inspect(&engine, &filter, expected)))
        });
        group.bench_function("list_only", |b| {
            b.iter_custom(|iters| {
                timings.run(&rt, "list_only", iters, || async {
                    assert_eq!(engine.list(&filter).await.expect("list").len(), expected);
                })
            })
        });
        group.finish();
    }
    c.final_summary();

    ratio_line(&timings, "containerd CRI exec echo", "anyctr", "bare_containerd_client", 1.10);
    ratio_line(&timings, "containerd CRI exec echo", "anyctr", "bare_with_lookup", 1.10);
    ratio_line(&timings, "containerd CRI exec echo", "anyctr", "ctr_cli", 0.7);
    let name = format!("list_inspect_concurrency_{CONCURRENCY}");
    match timings.median(&name) {
        Some(d) => {
            let verdict = if d < Duration::from_millis(500) { "met" } else { "NOT met" };
            let list = timings.median("list_only").map(ms).unwrap_or_else(|| "not measured".into());
            println!(
                "SUMMARY containerd CRI list+inspect of {} containers (+{PODS} sandboxes): median {} \
                 (target < 500 ms): {verdict}; list alone {list}",
                PODS * PER_POD,
                ms(d)
            );
        }
        None => println!("SUMMARY containerd CRI list+inspect: not measured (filtered out?)"),
    }
    drop(pods);
}
