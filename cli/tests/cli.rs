//! End-to-end: the built `anyctr` against the harness's real engines.

mod common;

use std::time::{Duration, Instant};

use anyctr_testkit::docker_cli::docker;
use common::{CriPod, addresses, anyctr, anyctr_from_env, assert_one_line_error, docker_container, unique};
use serde_json::Value;

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

/// The rows of `ps -o json` whose id is `id`.
fn rows_with<'a>(rows: &'a Value, id: &str) -> Vec<&'a Value> {
    rows.as_array().unwrap().iter().filter(|r| r["id"] == id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_lists_docker_and_cri_containers_once_each() {
    let label = unique("cli-ps");
    let (_docker, docker_id) = docker_container(&label, "runc", &["sleep", "600"]);
    let pod = CriPod::start(&label).await;

    let out = anyctr_from_env().args(["ps", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json(&out.stdout);
    // dockerd's container is also in containerd's `moby` namespace: listed once, as docker's.
    let docker_rows = rows_with(&rows, &docker_id);
    assert_eq!(docker_rows.len(), 1, "{docker_rows:?}");
    assert_eq!(docker_rows[0]["engine"], "docker");
    assert_eq!(docker_rows[0]["runtime"], "runc");
    assert!(docker_rows[0]["state"]["pid"].as_u64().unwrap() > 0);
    let cri_rows = rows_with(&rows, &pod.container);
    assert_eq!(cri_rows.len(), 1, "{cri_rows:?}");
    assert_eq!(cri_rows[0]["engine"], "containerd/k8s.io");
    assert_eq!(cri_rows[0]["pod"]["pod_name"], pod.pod_name.as_str());
    assert_eq!(rows_with(&rows, &pod.sandbox).len(), 1, "the sandbox is listed once");
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut unique_ids = ids.clone();
    unique_ids.sort();
    unique_ids.dedup();
    assert_eq!(ids.len(), unique_ids.len(), "no container twice");

    // The table has the columns and the rows.
    let out = anyctr().args(["ps", "--label", &format!("anyctr.test={label}")]).output().unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["ENGINE", "CONTAINER", "NAME", "POD", "NAMESPACE", "RUNTIME", "STATE", "PID", "IMAGE", "CREATED"]
    );
    assert_eq!(table.lines().count(), 4, "header, the docker container, the pod's sandbox and container:\n{table}");
    assert!(table.contains(&docker_id[..12]) && table.contains(&pod.container[..12]), "{table}");
    let wide = anyctr().args(["ps", "-o", "wide", "--label", &format!("anyctr.test={label}")]).output().unwrap();
    let wide = String::from_utf8(wide.stdout).unwrap();
    let wide_header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(wide_header[10..], ["LOG", "ROOTFS/MERGED"], "{wide}");
    assert!(wide.contains("-json.log"), "docker's json-file log path: {wide}");

    // Filters.
    let count = |args: &[&str]| {
        let mut all = vec!["ps", "-o", "json", "--label"];
        let filter = format!("anyctr.test={label}");
        all.push(&filter);
        all.extend_from_slice(args);
        let out = anyctr().args(&all).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        json(&out.stdout).as_array().unwrap().len()
    };
    // The pod's sandbox carries the label too.
    assert_eq!(count(&[]), 3);
    assert_eq!(count(&["--engine", "docker"]), 1);
    assert_eq!(count(&["--engine", "containerd/k8s.io"]), 2);
    assert_eq!(count(&["--pod", &pod.pod_name]), 2);
    assert_eq!(count(&["--namespace", "anyctr-cli-test"]), 2);
    assert_eq!(count(&["--name", "^cli-runc-"]), 1);
    assert_eq!(count(&["--state", "running", "--runtime", "runc"]), 3);
    assert_eq!(count(&["--state", "exited"]), 0);

    // YAML is the same models.
    let out = anyctr()
        .args(["ps", "-o", "yaml", "--engine", "docker", "--label", &format!("anyctr.test={label}")])
        .output()
        .unwrap();
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains(&format!("id: {docker_id}")), "{yaml}");

    // pods
    let out = anyctr().args(["pods", "-o", "json"]).output().unwrap();
    let pods = json(&out.stdout);
    let ours: Vec<&Value> = pods.as_array().unwrap().iter().filter(|p| p["name"] == pod.pod_name.as_str()).collect();
    assert_eq!(ours.len(), 1, "{pods}");
    assert_eq!(ours[0]["sandbox"], pod.sandbox.as_str());
    assert_eq!(ours[0]["containers"][0], pod.container.as_str());
}

#[test]
fn exec_returns_the_command_exit_code() {
    let label = unique("cli-exec");
    let (_c, id) = docker_container(&label, "runc", &["sleep", "600"]);
    let out = anyctr().args(["exec", &id[..12], "--", "sh", "-c", "echo out; echo err >&2; exit 7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // Options reach the command; stdin with -i.
    let out = anyctr()
        .args([
            "exec",
            "-i",
            "-u",
            "nobody",
            "-w",
            "/tmp",
            "-e",
            "A=b",
            &id,
            "--",
            "sh",
            "-c",
            "id -un; pwd; echo $A; cat",
        ])
        .write_stdin("from stdin\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "nobody\n/tmp\nb\nfrom stdin\n");
    // The namespace fast path, same exit code.
    let out = anyctr().args(["exec", "--fast", &id, "--", "sh", "-c", "exit 3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    // A command the container lacks: 127, as a shell says.
    let out = anyctr().args(["exec", &id, "--", "/no/such/command"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127), "{}", String::from_utf8_lossy(&out.stderr));
    assert_one_line_error(&out.stderr, "command not found");
}

fn cp_both_ways(runtime: &str, strategy_in: &str) {
    let label = unique("cli-cp");
    let (_c, id) = docker_container(&label, runtime, &["sleep", "600"]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("payload.txt");
    let payload = format!("payload for {runtime}\n").repeat(1000);
    std::fs::write(&local, &payload).unwrap();
    let out = anyctr().args(["cp", local.to_str().unwrap(), &format!("{id}:/tmp/")]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with(&format!("copied via {strategy_in}:")), "{runtime}: {said}");
    assert_eq!(docker(&["exec", &id, "cat", "/tmp/payload.txt"]).unwrap(), payload);

    docker(&["exec", &id, "sh", "-c", "echo from the container > /tmp/out.txt"]).unwrap();
    let back = dir.path().join("back.txt");
    let out = anyctr().args(["cp", &format!("{id}:/tmp/out.txt"), back.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("copied via "), "strategy shown");
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the container\n");
    // Into an existing local directory: the copy goes inside it, as docker cp does.
    let out = anyctr().args(["cp", &format!("{id}:/tmp/out.txt"), dir.path().to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("out.txt")).unwrap(), "from the container\n");
}

#[test]
fn cp_both_ways_on_runc() {
    cp_both_ways("runc", "host_path");
}

#[test]
fn cp_both_ways_on_rund() {
    // gVisor as the sandboxed runtime: no host path; docker's archive API does not reach into
    // the sandbox for copies in, so tar over exec.
    cp_both_ways("rund", "tar_over_exec");
}

#[test]
fn logs_tail_gives_the_last_lines() {
    let label = unique("cli-logs");
    let (_c, id) =
        docker_container(&label, "runc", &["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 600"]);
    let started = Instant::now();
    loop {
        let out = anyctr().args(["logs", "--tail", "2", &id]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if String::from_utf8_lossy(&out.stdout) == "line4\nline5\n" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{}", String::from_utf8_lossy(&out.stdout));
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = anyctr().args(["logs", "--since", "1h", &id]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line1\nline2\nline3\nline4\nline5\n");
    let out = anyctr().args(["logs", "--since", "yesterday", &id]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert_one_line_error(&out.stderr, "--since");
}

#[test]
fn who_names_the_container_of_its_pid() {
    let label = unique("cli-who");
    let (_c, id) = docker_container(&label, "runc", &["sleep", "600"]);
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &id]).unwrap().trim().to_owned();
    let out = anyctr().args(["who", &pid, "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer = json(&out.stdout);
    assert_eq!(answer["container"]["id"], id.as_str());
    assert_eq!(answer["container"]["engine"], "docker");
    // A process of the container that is not its init: found through its cgroup.
    let child = docker(&["exec", "-d", &id, "sleep", "300"]);
    assert!(child.is_ok());
    let out = anyctr().args(["who", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(66), "pid 1 is the host's init");
    assert_one_line_error(&out.stderr, "not found");
}

#[test]
fn host_path_answers_for_runc_and_refuses_a_sandbox() {
    let label = unique("cli-hostpath");
    let (_c, id) = docker_container(&label, "runc", &["sleep", "600"]);
    let out = anyctr().args(["host-path", &id, "/etc/hostname"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8(out.stdout).unwrap();
    let on_host = std::fs::read_to_string(path.trim()).unwrap();
    assert_eq!(on_host, docker(&["exec", &id, "cat", "/etc/hostname"]).unwrap());

    let (_s, sandboxed) = docker_container(&label, "rund", &["sleep", "600"]);
    let out = anyctr().args(["host-path", &sandboxed, "/bin/sh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(65), "unsupported");
    assert_one_line_error(&out.stderr, "not host-visible");
}

#[test]
fn bad_input_gives_one_line_and_its_exit_code() {
    let cases: [(&[&str], i32, &str); 7] = [
        (&["inspect", "no-such-container-anyctr"], 66, "not found"),
        (&["exec", "no-such-container-anyctr", "--", "true"], 66, "no container `no-such-container-anyctr`"),
        (&["ps", "--name", "("], 64, "regular expression"),
        (&["ps", "--state", "sleepy"], 64, "--state"),
        (&["ps", "--label", "=x"], 64, "--label"),
        (&["cp", "/a", "/b"], 64, "container path"),
        (&["ps", "--no-such-flag"], 64, "--no-such-flag"),
    ];
    for (args, code, what) in cases {
        let out = anyctr().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        if args[1] != "--no-such-flag" {
            assert_one_line_error(&out.stderr, what);
        }
    }
    // An unreachable socket: unavailable, naming it, with a hint.
    let out =
        common::anyctr().env("ANYCTR_ADDRESSES", "docker:///run/anyctr-no-such.sock").args(["ps"]).output().unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", String::from_utf8_lossy(&out.stderr));
    assert_one_line_error(&out.stderr, "/run/anyctr-no-such.sock");
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"));
    // A malformed address: bad input.
    let out = common::anyctr().env("ANYCTR_ADDRESSES", "nosuchengine:///x.sock").args(["ps"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = addresses();
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let out = anyctr().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("host-path"), "{shell}");
    }
}

#[test]
fn engines_reports_each_engine_and_probe() {
    let out = anyctr_from_env().args(["engines", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out.stdout);
    let engines = report["engines"].as_array().unwrap();
    for (name, source) in [("docker", "DOCKER_HOST"), ("containerd", "CONTAINERD_ADDRESS")] {
        let e = engines.iter().find(|e| e["engine"] == name).unwrap_or_else(|| panic!("{name}: {report}"));
        assert_eq!(e["health"], "healthy", "{e}");
        assert!(!e["info"]["version"].as_str().unwrap().is_empty(), "{e}");
        assert!(e["source"].as_str().unwrap().contains(source), "{e}");
    }
    assert!(!report["probes"].as_array().unwrap().is_empty(), "the known sockets were probed");
}
