//! Shared helpers of the integration tests: connecting to the harness's containerd, unique
//! names, guards that clean up even when an assertion fails, and leak checks.
#![allow(dead_code)]

pub mod checks;

use std::path::PathBuf;
use std::time::Duration;

use anyctr_core::{EngineAddress, EngineConfig};
use anyctr_engine_containerd::ContainerdEngine;
use containerd_client::services::v1::ListPidsRequest;
use prost::Message;

pub const BOUND: Duration = Duration::from_secs(120);

pub fn socket() -> String {
    std::env::var("ANYCTR_CONTAINERD_SOCKET")
        .unwrap_or_else(|_| "/run/anyctr-engines/containerd/containerd.sock".into())
}

pub fn state_dir() -> String {
    std::env::var("ANYCTR_CONTAINERD_STATE_DIR").unwrap_or_else(|_| "/run/anyctr-engines/containerd".into())
}

pub fn docker_socket() -> String {
    std::env::var("ANYCTR_DOCKER_SOCKET").unwrap_or_else(|_| "/run/anyctr-engines/docker.sock".into())
}

pub fn image() -> String {
    std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into())
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{:x}", std::process::id(), nanos % 0xffff_ffff)
}

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
    let engine = anyctr_engine_containerd::connect(config)
        .await
        .unwrap_or_else(|e| panic!("engines not up: run `cargo xtask engines up` ({e})"));
    anyctr_core::ContainerEngine::identify(&engine)
        .await
        .unwrap_or_else(|e| panic!("engines not up: run `cargo xtask engines up` ({e})"));
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
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let _ = tokio::time::timeout(Duration::from_secs(90), f()).await;
        });
    })
    .join();
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
pub struct DockerGuard {
    pub id: String,
}

impl Drop for DockerGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["-H", &format!("unix://{}", docker_socket()), "rm", "-f", &self.id])
            .output();
    }
}

/// A tar archive holding one file.
pub fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

/// The entries (name, contents) of a tar archive.
pub fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}
