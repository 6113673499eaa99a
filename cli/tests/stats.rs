//! End-to-end: `anyctr stats` and `anyctr top` on real containers of the harness's docker and
//! containerd (its CRI namespace), and bad input.

mod common;

use anyctr_testkit::docker_cli::docker;
use common::{CriPod, anyctr, assert_one_line_error, docker_container, unique};
use serde_json::Value;

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

fn sample_of<'a>(rows: &'a Value, id: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["container"] == id)
        .unwrap_or_else(|| panic!("no sample of {id} in {rows:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_no_stream_json_gives_memory_of_docker_and_containerd_containers() {
    let label = unique("cli-stats");
    // Busy, so its CPU percent over the half-second window is above zero.
    let (_docker, docker_id) = docker_container(&label, "runc", &["sh", "-c", "while :; do :; done"]);
    let pod = CriPod::start(&label).await;

    let out = anyctr().args(["stats", "--no-stream", "-o", "json", &docker_id[..12], &pod.container]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json(&out.stdout);
    assert_eq!(rows.as_array().unwrap().len(), 2, "the two containers named: {rows:#}");
    for (id, engine) in [(&docker_id, "docker"), (&pod.container, "containerd/k8s.io")] {
        let s = sample_of(&rows, id);
        assert_eq!(s["engine"], engine, "{s:#}");
        assert!(s["memory"]["usage"].as_u64().unwrap_or(0) > 0, "non-zero memory: {s:#}");
        assert!(s["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{s:#}");
        assert!(s["time"].is_string() && s["source"].is_string(), "{s:#}");
    }
    let busy = sample_of(&rows, &docker_id)["cpu_percent"].as_f64().expect("CPU percent from two samples");
    assert!(busy > 1.0, "a busy loop uses CPU: {busy}");
    assert!(sample_of(&rows, &docker_id)["name"].as_str().unwrap().starts_with("cli-runc-"));

    // Without ids: every running container of the node, each once (dockerd's container is also
    // in containerd's `moby` namespace).
    let out = anyctr().args(["stats", "--no-stream", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let all = json(&out.stdout);
    for id in [&docker_id, &pod.container, &pod.sandbox] {
        let n = all.as_array().unwrap().iter().filter(|r| r["container"] == id.as_str()).count();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(n, 1, "{id} sampled once; stderr {said:?}; samples {all:#}");
    }

    // The table: docker's columns with the engine in front; `wide` says where each was read.
    let out = anyctr().args(["stats", "--no-stream", "-o", "wide", &docker_id, &pod.container]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    let header: Vec<&str> = lines[0].split("  ").map(str::trim).filter(|h| !h.is_empty()).collect();
    let expected = [
        "ENGINE",
        "CONTAINER",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
        "SOURCE",
    ];
    assert_eq!(header, expected, "{table}");
    assert!(lines.iter().any(|l| l.starts_with("docker ") && l.contains(&docker_id[..12])), "{table}");
    assert!(lines.iter().any(|l| l.starts_with("containerd/k8s.io ") && l.contains(&pod.container[..12])), "{table}");
    assert!(table.contains("host_cgroup_v1") || table.contains("host_cgroup_v2"), "runc reads the cgroup: {table}");

    // Streaming when piped: a JSON line per sweep, ending when the container goes.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anyctr"))
        .args(["stats", "-o", "json", "--interval", "0.3", &docker_id])
        .env("ANYCTR_ADDRESSES", common::addresses())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let _ = tx.send(line.unwrap());
        }
    });
    let mut sweeps: Vec<Value> = Vec::new();
    while sweeps.len() < 2 {
        let line = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("a sweep within 60 s");
        sweeps.push(json(line.as_bytes()));
    }
    docker(&["rm", "-f", &docker_id]).unwrap();
    let out = anyctr_testkit::bounded("stats to end", async move {
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap()
    })
    .await
    .unwrap();
    reader.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    sweeps.extend(rx.try_iter().map(|l| json(l.as_bytes())));
    assert_eq!(sweeps[1][0]["container"], docker_id.as_str());
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopped"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn stats_bad_input_gives_one_line_and_its_exit_code() {
    let label = unique("cli-stats-bad");
    let (_c, id) = docker_container(&label, "runc", &["true"]);
    // `true` exits at once; wait until docker says so.
    let started = std::time::Instant::now();
    while docker(&["inspect", "-f", "{{.State.Running}}", &id]).unwrap().trim() != "false" {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the container did not exit");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let cases: [(&[&str], i32, &str); 4] = [
        (&["stats", "--no-stream", "no-such-container-anywhere"], 66, "not found"),
        (&["stats", "--no-stream", "--interval", "0", &id], 64, "--interval"),
        (&["stats", "--no-stream", "-o", "xml"], 64, "xml"),
        (&["stats", "--no-stream", &id], 1, "not running"),
    ];
    for (args, code, what) in cases {
        let out = anyctr().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        if code != 64 || what == "--interval" {
            assert_one_line_error(&out.stderr, what);
        }
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = anyctr().args(["top", "no-such-container-anywhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(66));
    assert_one_line_error(&out.stderr, "not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_lists_processes_on_runc_rund_and_cri() {
    let label = unique("cli-top");
    // pid 1 a shell with a child `sleep`.
    let (_runc, runc_id) = docker_container(&label, "runc", &["sh", "-c", "sleep 600 & wait"]);
    let (_rund, rund_id) = docker_container(&label, "runsc", &["sleep", "600"]);
    let pod = CriPod::start(&label).await;

    let out = anyctr().args(["top", &runc_id[..12]]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["PID", "PPID", "USER", "STATE", "RSS", "TIME", "COMMAND"], "{table}");
    assert!(table.contains("sh -c sleep 600 & wait") && table.contains("sleep 600"), "{table}");
    assert!(table.lines().last().unwrap().starts_with("pid 1: sh; reaps zombies: "), "{table}");

    let top = |id: &str| {
        let out = anyctr().args(["top", "-o", "json", id]).output().unwrap();
        assert!(out.status.success(), "{id}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out.stdout)
    };
    let runc = top(&runc_id);
    assert_eq!(runc["engine"], "docker");
    assert_eq!(runc["source"], "host_proc");
    assert_eq!(runc["pid1_name"], "sh");
    let processes = runc["processes"].as_array().unwrap();
    assert_eq!(processes.len(), 2, "{runc:#}");
    assert_eq!(processes[1]["ppid"], 1);
    assert!(processes.iter().all(|p| p["host_pid"].as_u64().unwrap_or(0) > 0), "{runc:#}");

    let rund = top(&rund_id);
    assert_eq!(rund["source"], "exec_proc", "a sandbox is read from inside: {rund:#}");
    assert_eq!(rund["pid1_name"], "sleep");

    let cri = top(&pod.container);
    assert_eq!(cri["engine"], "containerd/k8s.io");
    assert_eq!(cri["pid1_name"], "sleep");
}
