//! anyctr engine for Podman, through its Docker-compatible API (`podman system service`).
//!
//! Podman serves two APIs on one socket: the Docker-compatible one (`/v1.41/...`) and libpod's
//! (`/v4.x/libpod/...`). The compatible one covers everything anyctr does, so this engine is
//! anyctr's Docker engine (`anyctr_engine_docker::connect_compatible`) with the places where
//! Podman answers differently from dockerd handled here, and only here (`quirks`):
//! - identity: `/version` lists a `Podman Engine` component and no `Engine`; Docker's engine
//!   refuses such a daemon, this one requires it;
//! - inspect: the compatible answer says runtime `oci` and log driver `json-file` whatever the
//!   container has; libpod's inspect names the real ones (runc, k8s-file = CRI lines);
//! - exec: conmon ends an exec's output at its main process's exit (a background child's later
//!   output is lost, so it is reported incomplete), exec inspect reports no pid after the exit,
//!   and an unknown user or working directory is an HTTP 500 rather than the exec's output;
//! - update: the compatible API has no `/containers/{id}/update` (404); libpod's takes OCI
//!   resources and applies them to the cgroup, though its inspect keeps the limits of create.
//!
//! Checked against Podman 4.3.1 and found to need nothing: event actions (`die` with `exitCode`
//! in the compatible stream), `Created` (RFC 3339 in inspect), the archive API both ways.
//! Pods are made the way Docker's engine makes them (a pause sandbox container whose namespaces
//! the pod's containers join, kubelet's labels): libpod's own pods would need libpod's container
//! create (a second create path), which this engine does not have. Containers of libpod pods made
//! by others (`podman pod create`, `podman play kube`) carry their pod's identity: libpod's
//! inspect names the pod, whose name and infra (sandbox) container libpod's pod inspect gives.
#![forbid(unsafe_code)]

mod quirks;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerSummary, CreateSpec, EventOptions, ExecRequest, ExecSession,
    ImageSummary, LogOptions, LogStream, PodSpec, ResourceUpdate, Signal,
};
use anyctr_core::registry::{EngineRegistration, EnvVar};
use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, DynEngine, EngineConfig, EngineInfo, Error, EventStream, ListOptions,
    Result,
};
use anyctr_engine_docker::{AmendInspect, Compatibility, DockerEngine};
use async_trait::async_trait;
use futures_util::FutureExt;
use serde_json::Value;

/// The engine name, as registered.
pub const ENGINE: &str = "podman";

/// A connected Podman API service.
#[derive(Debug)]
pub struct PodmanEngine {
    compat: DockerEngine,
    /// libpod's own API, for what the compatible one lacks (inspect's real runtime, update).
    libpod: Arc<LibpodInspect>,
}

/// Connects to the Podman API service at `config`'s socket: checks it is Podman.
/// Address parameter `pause_image` names the image for pod sandboxes.
pub async fn connect(config: EngineConfig) -> Result<PodmanEngine> {
    let (socket, version) = podman_version(&config, "connect").await?;
    let libpod =
        Arc::new(LibpodInspect { socket, prefix: quirks::libpod_prefix(&version), limit: config.call_timeout });
    let compatibility = Compatibility { amend_inspect: Some(libpod.clone()), ..quirks::compatibility() };
    let compat = anyctr_engine_docker::connect_compatible(config, compatibility).await.map_err(ours)?;
    Ok(PodmanEngine { compat, libpod })
}

/// The socket and its daemon's `/version`, which must be Podman's.
async fn podman_version(config: &EngineConfig, operation: &'static str) -> Result<(PathBuf, Value)> {
    let socket = config.socket_path()?;
    let version =
        anyctr_engine_docker::get_json_at(&socket, operation, "/version", config.call_timeout).await.map_err(ours)?;
    quirks::check_is_podman(&version).map_err(|e| e.with_operation(operation))?;
    Ok((socket, version))
}

/// Completes the compatible API's inspect answer from libpod's (see [`quirks::amend_inspect`]).
#[derive(Debug)]
struct LibpodInspect {
    socket: PathBuf,
    /// `/v4.3.1/libpod`.
    prefix: String,
    limit: Duration,
}

#[async_trait]
impl AmendInspect for LibpodInspect {
    async fn amend(&self, inspect: &mut Value) -> Result<()> {
        let id = quirks::container_id(inspect)?;
        let path = format!("{}/containers/{id}/json", self.prefix);
        let libpod =
            anyctr_engine_docker::get_json_at(&self.socket, "inspect", &path, self.limit).await.map_err(ours)?;
        quirks::amend_inspect(inspect, &libpod);
        if let Some(pod) = quirks::libpod_pod_id(&libpod) {
            let path = format!("{}/pods/{pod}/json", self.prefix);
            match anyctr_engine_docker::get_json_at(&self.socket, "inspect", &path, self.limit).await {
                Ok(pod) => quirks::record_libpod_pod(inspect, &libpod, &pod),
                // Removed between the two answers: the container is going with it.
                Err(e) if e.kind() == anyctr_core::ErrorKind::NotFound => {}
                Err(e) => return Err(ours(e)),
            }
        }
        Ok(())
    }
}

/// What Podman supports for its (runc-class) containers.
pub fn podman_capabilities() -> Capabilities {
    quirks::capabilities()
}

/// Every error this engine returns names it, even one the compatible engine made.
fn ours(e: Error) -> Error {
    e.with_engine(ENGINE)
}

#[async_trait]
impl ContainerEngine for PodmanEngine {
    fn name(&self) -> &str {
        ENGINE
    }

    fn capabilities(&self) -> Capabilities {
        podman_capabilities()
    }

    fn host_root(&self) -> Option<&std::path::Path> {
        self.compat.host_root()
    }

    async fn identify(&self) -> Result<EngineInfo> {
        self.compat.identify().await.map(quirks::as_podman).map_err(ours)
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        self.compat.list(options).await.map_err(ours)
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        self.compat.inspect(container).await.map(quirks::detail).map_err(ours)
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        self.compat.exec_stream(container, request, open_stdin).await.map_err(|e| ours(quirks::exec_error(e)))
    }

    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        self.compat.put_archive(container, destination, tar).await.map_err(ours)
    }

    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        self.compat.get_archive(container, path).await.map_err(ours)
    }

    async fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream> {
        self.compat.logs(container, options).await.map_err(ours)
    }

    // The compatible stats API; Podman's one-shot answer has zero `precpu_stats` (never read)
    // and names its network `network`, not the interface.
    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        self.compat.stats(container).await.map_err(ours)
    }

    async fn stats_many(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        self.compat.stats_many(containers).await.map_err(ours)
    }

    async fn events(&self, options: EventOptions) -> Result<EventStream> {
        self.compat.events(options).await.map_err(ours)
    }

    async fn create_pod(&self, spec: &PodSpec) -> Result<String> {
        self.compat.create_pod(spec).await.map_err(ours)
    }

    async fn remove_pod(&self, sandbox: &str) -> Result<()> {
        self.compat.remove_pod(sandbox).await.map_err(ours)
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        self.compat.create(spec).await.map_err(ours)
    }

    async fn start(&self, container: &str) -> Result<()> {
        self.compat.start(container).await.map_err(ours)
    }

    async fn stop(&self, container: &str, grace: Duration) -> Result<()> {
        self.compat.stop(container, grace).await.map_err(ours)
    }

    async fn kill(&self, container: &str, signal: Signal) -> Result<()> {
        self.compat.kill(container, signal).await.map_err(ours)
    }

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        self.compat.remove(container, force).await.map_err(ours)
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        self.compat.wait(container).await.map_err(ours)
    }

    async fn load_image(&self, tar: ByteStream) -> Result<Vec<String>> {
        self.compat.load_image(tar).await.map_err(ours)
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        self.compat.list_images().await.map_err(ours)
    }

    async fn pause(&self, container: &str) -> Result<()> {
        self.compat.pause(container).await.map_err(ours)
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        self.compat.unpause(container).await.map_err(ours)
    }

    async fn restart(&self, container: &str, grace: Duration) -> Result<()> {
        self.compat.restart(container, grace).await.map_err(ours)
    }

    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        // The compatible API has no update route in Podman 4.3 (404): libpod's takes OCI resources.
        let run = async {
            let detail = anyctr_core::engine::update_target(self, container, update).await?;
            let path = format!("{}/containers/{}/update", self.libpod.prefix, detail.id);
            let body = quirks::libpod_update_body(update);
            anyctr_engine_docker::post_json_at(&self.libpod.socket, "update_resources", &path, &body, self.libpod.limit)
                .await
        };
        run.await.map_err(|e| ours(e.in_context(ENGINE, "update_resources").with_container(container)))
    }

    async fn pull_image(&self, reference: &str, timeout: Duration) -> Result<ImageSummary> {
        self.compat.pull_image(reference, timeout).await.map_err(ours)
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        self.compat.remove_image(reference, force).await.map_err(ours)
    }
}

fn probe(config: EngineConfig) -> futures_util::future::BoxFuture<'static, Result<EngineInfo>> {
    async move {
        let (_, version) = podman_version(&config, "probe").await?;
        let api = version.get("ApiVersion").and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(quirks::engine_info(&version, &api))
    }
    .boxed()
}

fn connect_dyn(config: EngineConfig) -> futures_util::future::BoxFuture<'static, Result<DynEngine>> {
    async move { connect(config).await.map(|e| Arc::new(e) as DynEngine) }.boxed()
}

anyctr_core::register_engine!(EngineRegistration {
    name: ENGINE,
    aliases: &["libpod"],
    // Rootful podman.socket's path (`/var/run` is a link to `/run` on systemd hosts).
    default_sockets: &["/run/podman/podman.sock", "/var/run/podman/podman.sock"],
    // podman's remote client reads CONTAINER_HOST (`unix:///run/podman/podman.sock`).
    env_vars: &[EnvVar::address("CONTAINER_HOST", 40)],
    // After docker: a podman socket answers docker's probe with a refusal naming Podman.
    priority: 20,
    probe,
    connect: connect_dyn,
});
