//! The log reader following a json-file that the real dockerd rotates (`max-size`): every line
//! arrives once, in order, across many rename-and-create rotations.

use std::time::Duration;

use anyctr_core::model::LogOptions;
use anyctr_host::logs::{FileFormat, FileLogOptions, read_log_file};
use anyctr_testkit::docker_cli::{RemoveOnDrop, docker, require_docker};
use anyctr_testkit::{TEST_LABEL, image, unique};
use futures_util::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_dockerd_json_file_through_max_size_rotation() {
    require_docker();
    let name = unique("anyctr-logrot");
    let _rm = RemoveOnDrop(name.clone());
    const N: usize = 3000;
    let script = format!("sleep 2; i=1; while [ $i -le {N} ]; do echo tick $i; i=$((i+1)); done; sleep 3600");
    let label = format!("{TEST_LABEL}=logs");
    let args =
        ["run", "-d", "--name", &name, "--label", &label, "--log-opt", "max-size=8k", "--log-opt", "max-file=40"];
    let id = docker(&[&args[..], &[&image(), "sh", "-c", &script]].concat()).expect("docker run");
    let path = docker(&["inspect", "-f", "{{.LogPath}}", id.trim()]).expect("inspect");
    let mut records =
        read_log_file(path.trim().as_ref(), FileFormat::JsonFile, FileLogOptions::new(LogOptions::new().follow(true)))
            .expect("open the log");
    let mut got = Vec::new();
    while got.len() < N {
        match tokio::time::timeout(Duration::from_secs(30), records.next()).await {
            Err(_) => panic!("follow stalled after {} lines", got.len()),
            Ok(None) => panic!("follow ended after {} lines", got.len()),
            Ok(Some(r)) => got.push(String::from_utf8(r.expect("a record").bytes).unwrap()),
        }
    }
    let want: Vec<String> = (1..=N).map(|i| format!("tick {i}")).collect();
    assert_eq!(got, want);
    let rotated = std::path::PathBuf::from(format!("{}.1", path.trim()));
    assert!(rotated.exists(), "dockerd never rotated the log: nothing was tested");
}
