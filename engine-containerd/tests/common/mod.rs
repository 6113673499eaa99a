//! Shared helpers of the integration tests: connecting to the harness's containerd, unique
//! names, guards that clean up even when an assertion fails, and leak checks.
#![allow(dead_code, unused_imports)]

pub mod checks;

use std::path::PathBuf;
use std::time::Duration;

use anyctr_core::{EngineAddress, EngineConfig};
use anyctr_engine_containerd::ContainerdEngine;
use containerd_client::services::v1::ListPidsRequest;
use prost::Message;

pub use anyctr_testkit::tar::{tar_with, untar};
pub use anyctr_testkit::{
    BOUND, containerd_socket as socket, containerd_state_dir as state_dir, docker_socket, image, unique,
};

/// A FIFO dir of the test's own, so leftovers can be checked.
pub fn fifo_dir(tag: &str) -> PathBuf {
    PathBuf::from(format!("/run/anyctr-test-fifo/{}", unique(tag)))
}

/// Connects with the given namespaces (comma-separated; empty = all) and FIFO dir.
pub async fn engine(namespaces: &str, fifo: &std::path::Path) -> ContainerdEngine {
    let mut address = EngineAddress::parse(&format!("containerd://{}", socket()))
        .unwrap()
        .with_param("state_dir", &state_dir())
        .with_param("fifo_dir", fifo.to_str().unwrap());
    if !namespaces.is_empty() {
        address = address.with_param("namespace", namespaces);
    }
    let mut config = EngineConfig::new(address);
    config.call_timeout = Duration::from_secs(60);
    let engine = anyctr_testkit::connect("containerd", &socket(), anyctr_engine_containerd::connect(config)).await;
    anyctr_testkit::connect("containerd", &socket(), anyctr_core::ContainerEngine::identify(&engine)).await;
    engine
}

/// `ProcessDetails` of the runc shim's ListPids: the exec id a pid belongs to.
#[derive(Clone, PartialEq, Message)]
struct ProcessDetails {
    #[prost(string, tag = "1")]
    exec_id: String,
}

/// Exec ids of processes still in the task (anyctr's only).
pub async fn exec_pids(engine: &ContainerdEngine, namespace: &str, id: &str) -> Vec<String> {
    let c = engine.client();
    let req = c.request(Some(namespace), ListPidsRequest { container_id: id.to_owned() });
    let resp = c.call("test", c.tasks().list_pids(req)).await.expect("ListPids");
    resp.processes
        .into_iter()
        .filter_map(|p| p.info)
        .filter_map(|any| ProcessDetails::decode(any.value.as_slice()).ok())
        .map(|d| d.exec_id)
        .filter(|e| e.starts_with("anyctr-"))
        .collect()
}

/// Polls until no anyctr exec process is left in the task (an abandoned exec is killed in the
/// background); returns what is left after the bound.
pub async fn no_exec_left(engine: &ContainerdEngine, namespace: &str, id: &str) -> Vec<String> {
    let mut left = Vec::new();
    for _ in 0..100 {
        left = exec_pids(engine, namespace, id).await;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    left
}

/// Entries left in a FIFO dir.
pub fn fifo_leftovers(dir: &std::path::Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs async cleanup from a Drop, on a runtime of its own (the test's may be shutting down).
pub fn cleanup_blocking<F>(f: F)
where
    F: FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static,
{
    anyctr_testkit::on_own_runtime(move || async move {
        let _ = tokio::time::timeout(Duration::from_secs(90), f()).await;
    });
}

/// Removes a CRI pod (and its containers) when dropped.
pub struct PodGuard {
    pub id: String,
    pub fifo: PathBuf,
}

impl Drop for PodGuard {
    fn drop(&mut self) {
        let (id, fifo) = (self.id.clone(), self.fifo.clone());
        cleanup_blocking(move || {
            Box::pin(async move {
                let engine = engine("k8s.io", &fifo).await;
                let _ = anyctr_core::ContainerEngine::remove_pod(&engine, &id).await;
                let _ = std::fs::remove_dir_all(&fifo);
            })
        });
    }
}

/// Removes a docker container when dropped.
pub use anyctr_testkit::docker_cli::RemoveOnDrop as DockerGuard;
