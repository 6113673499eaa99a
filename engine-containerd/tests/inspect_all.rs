//! `inspect_all` answers each container as `inspect` does (a record without a task and a running
//! task), from the namespace's lists, and honours the list's label filter.

mod common;

use anyctr_core::{ContainerEngine, ListOptions};

fn ctr(args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .args(["60", "ctr", "-a", &common::socket(), "-n", "default"])
        .args(args)
        .output()
        .expect("ctr")
}

/// Removes the test's containers (and their tasks) when dropped.
struct CtrGuard(Vec<String>);

impl Drop for CtrGuard {
    fn drop(&mut self) {
        for id in &self.0 {
            let _ = ctr(&["tasks", "rm", "-f", id]);
            let _ = ctr(&["containers", "rm", id]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspect_all_answers_as_inspect_does() {
    let fifo = common::fifo_dir("inspect-all");
    let engine = common::engine("default", &fifo).await;
    let label = common::unique("inspect-all");
    let (created, running) = (format!("{label}-created"), format!("{label}-running"));
    let mut guard = CtrGuard(Vec::new());
    let image = "docker.io/library/busybox:local";
    let label_arg = format!("anyctr.test={label}");
    guard.0.push(created.clone());
    let out = ctr(&["containers", "create", "--label", &label_arg, image, &created, "sleep", "600"]);
    assert!(out.status.success(), "ctr create: {}", String::from_utf8_lossy(&out.stderr));
    guard.0.push(running.clone());
    let out = ctr(&["run", "-d", "--label", &label_arg, image, &running, "sleep", "600"]);
    assert!(out.status.success(), "ctr run: {}", String::from_utf8_lossy(&out.stderr));

    let filter = ListOptions::all().label(&label_arg);
    let mut all = anyctr_testkit::bounded("inspect_all", engine.inspect_all(&filter)).await.unwrap();
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, [created.as_str(), running.as_str()], "the label filter selects the test's two");
    for d in &all {
        let one = anyctr_testkit::bounded("inspect", engine.inspect(&d.id)).await.unwrap();
        assert_eq!(*d, one, "{}", d.id);
    }
    assert!(all[1].state.status.is_running() && all[1].state.pid.is_some(), "{:?}", all[1].state);
    assert!(!all[0].state.status.is_running(), "{:?}", all[0].state);

    // Running only: the record without a task is left out.
    let mut running_only = filter.clone();
    running_only.all = false;
    let listed = engine.inspect_all(&running_only).await.unwrap();
    assert_eq!(listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [running.as_str()]);
}
