//! Reverse lookups on docker (runc), through the live index (`Engine::index`, which reads the
//! host through `ProcScan`):
//!
//! - `pid_warm`: `container_of_pid` of the container's init pid, answered from the index's map
//!   (no syscall). Target: ≤ 1 µs.
//! - `pid_cold`: `container_of_pid` of a process exec'd in the container: one
//!   `/proc/<pid>/cgroup` read, parsed, mapped through the index. Target: ≤ 50 µs.
//! - `cgroup_id`: `container_of_cgroup_id` (warm map).
//!
//! Criterion's estimates are the figures; targets are reported, not asserted. The container is
//! removed at the end, also on panic.

mod common;

use std::time::Duration;

use anyctr::ExecRequest;
use anyctr::index::IndexOptions;
use anyctr::prelude::*;

use criterion::Criterion;

fn main() {
    let rt = common::runtime();
    let engine = rt.block_on(common::docker());
    let guard = common::guard(&engine, "lookup");
    let (index, id, init, exec_pid, cgroup_id) = rt.block_on(async {
        let index = common::bounded("index", engine.index(IndexOptions::default().list(guard.label_filter())))
            .await
            .expect("index");
        let id = guard.sleeper("runc").await;
        let script = "sleep 424242 </dev/null >/dev/null 2>&1 &";
        common::bounded("exec", engine.exec(&id, ExecRequest::shell(script))).await.expect("exec");
        let scan = anyctr::procscan::ProcScan::new(None);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (exec_pid, entry) = loop {
            let pid = scan.pids_with_argv(&["sleep", "424242"]).expect("/proc").first().copied();
            let entry = index.snapshot().entry(&id).cloned().filter(|e| e.host.cgroup_id.is_some());
            if let (Some(pid), Some(entry)) = (pid, entry) {
                break (pid, entry);
            }
            assert!(std::time::Instant::now() < deadline, "exec'd process or index entry missing");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let init = entry.detail.state.pid.expect("init pid");
        (index, id, init, exec_pid, entry.host.cgroup_id.expect("cgroup id").1)
    });
    // The answers the benchmarks time, checked once.
    assert_eq!(index.container_of_pid(init).expect("warm").container.id, id);
    assert_eq!(index.container_of_pid(exec_pid).expect("cold").container.id, id);
    assert_eq!(index.container_of_cgroup_id(cgroup_id).expect("cgroup id").container.id, id);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut g = c.benchmark_group("lookup_docker_runc");
    g.bench_function("pid_warm", |b| b.iter(|| index.container_of_pid(std::hint::black_box(init)).unwrap()));
    g.bench_function("pid_cold", |b| b.iter(|| index.container_of_pid(std::hint::black_box(exec_pid)).unwrap()));
    g.bench_function("cgroup_id", |b| {
        b.iter(|| index.container_of_cgroup_id(std::hint::black_box(cgroup_id)).unwrap())
    });
    g.finish();
    c.final_summary();
    rt.block_on(index.shutdown());
    drop(guard);
}
