#![warn(missing_docs)]
//! anyctr engine for Docker (dockerd), over bollard with the API version pinned in every request
//! path (see `client`).
//!
//! Runtimes: runc-class containers get the host-side fast paths (merged rootfs, host pids, the
//! archive API); sandboxed ones (gVisor `runsc`, `rund`, kata) are detected from
//! `HostConfig.Runtime` and handled from inside the container (exec kill, tar over exec).
#![forbid(unsafe_code)]

mod client;
mod compat;
mod containers;
mod convert;
mod copy;
mod events;
mod exec;
mod exec_errors;
mod lifecycle;
mod logs;
mod manage;
mod own_mounts;
mod pods;
mod stats;

use std::sync::Arc;

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerSummary, CreateSpec, EventOptions, ExecRequest, ExecSession,
    ImageSummary, LogOptions, LogStream, PodSpec, ResourceUpdate, Signal,
};
use anyctr_core::registry::{EngineRegistration, EnvVar};
use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, DynEngine, EngineConfig, EngineInfo, EventStream, ListOptions, Result,
    Support,
};
use async_trait::async_trait;
use futures_util::FutureExt;

use crate::client::{Client, ENGINE};

pub use crate::compat::{AmendInspect, Compatibility};
/// The environment variable that marks every process of one exec (see the exec module docs).
pub use anyctr_core::exec_marker::EXEC_MARKER_VAR as EXEC_TOKEN_VAR;

/// A connected Docker engine.
pub struct DockerEngine {
    client: Arc<Client>,
    host_root: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for DockerEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerEngine")
            .field("socket", &self.client.socket)
            .field("api_version", &self.client.api_version)
            .finish()
    }
}

/// Connects to the dockerd at `config`'s socket: checks it is Docker and pins the API version.
/// Address parameter `pause_image` names the image for pod sandboxes.
pub async fn connect(config: EngineConfig) -> Result<DockerEngine> {
    connect_checked(config, None).await
}

/// Connects to a daemon that speaks Docker's API without being Docker (Podman's compatible API),
/// skipping the identity check: for an engine crate that builds on this one and has checked who
/// the daemon is itself; `compat` says where the daemon differs from dockerd. Address parameter
/// `pause_image` as for [`connect`].
pub async fn connect_compatible(config: EngineConfig, compat: Compatibility) -> Result<DockerEngine> {
    connect_checked(config, Some(compat)).await
}

/// `compat` is `None` for dockerd itself, which is then checked to be Docker.
async fn connect_checked(config: EngineConfig, compat: Option<Compatibility>) -> Result<DockerEngine> {
    let socket = config.socket_path()?;
    let (mut client, version) =
        Client::connect(socket, config.call_timeout).await.map_err(|e| e.in_context(ENGINE, "connect"))?;
    match compat {
        Some(compat) => client.compat = Arc::new(compat),
        None => convert::check_is_docker(&version).map_err(|e| e.with_operation("connect"))?,
    }
    client.pause_image = config.address.param("pause_image").map(str::to_owned);
    Ok(DockerEngine { client: Arc::new(client), host_root: config.host_root })
}

impl DockerEngine {
    /// The API version every request path carries (`1.41`).
    pub fn api_version(&self) -> &str {
        &self.client.api_version
    }
}

/// GET `path` (taken as it is: no version prefix is added) on the daemon at `socket` as JSON,
/// bounded by `limit`: for an engine crate that builds on this one, to tell its daemon from Docker
/// before it connects (`/version`) and to reach the daemon's own API beside Docker's.
pub async fn get_json_at(
    socket: &std::path::Path,
    operation: &'static str,
    path: &str,
    limit: std::time::Duration,
) -> Result<serde_json::Value> {
    client::bounded(limit, operation, client::raw_get(socket, path)).await
}

/// POST `body` as JSON to `path` (taken as it is) on the daemon at `socket`, bounded by `limit`,
/// ignoring the answer's body: for an engine crate that builds on this one to call its daemon's
/// own API beside Docker's (libpod's update).
pub async fn post_json_at(
    socket: &std::path::Path,
    operation: &'static str,
    path: &str,
    body: &serde_json::Value,
    limit: std::time::Duration,
) -> Result<()> {
    let call = client::raw_call(socket, http::Method::POST, path, Some(body));
    client::bounded(limit, operation, call).await.map(|_| ())
}

/// What docker supports for a runc-class container (sandboxed ones are refined by the core).
pub fn docker_capabilities() -> Capabilities {
    Capabilities {
        inspect: Support::Native,
        exec: Support::Native,
        exec_with_stdin: Support::Native,
        exec_with_user: Support::Native,
        exec_with_workdir: Support::Native,
        exec_with_env: Support::Native,
        // Docker has no exec-kill call: anyctr signals the exec's processes itself.
        exec_kill: Support::Emulated,
        exec_stream: Support::Native,
        copy_to: Support::Native,
        copy_from: Support::Native,
        events: Support::Native,
        host_rootfs: Support::Native,
        proc_root: Support::Native,
        // The namespace fast path (anyctr_host::nsenter) enters the init's host-visible pid.
        nsenter: Support::Emulated,
        lifecycle: Support::Native,
        images: Support::Native,
        // Docker has no pods: dockershim's sandbox container and labels stand in for them.
        pods: Support::Emulated,
        // The logs API; anyctr_host::logs reads the json-file directly where it is host-visible.
        logs: Support::Native,
        // anyctr_host::top and ::probes: the host's /proc and rootfs, or exec in a sandbox.
        top: Support::Emulated,
        probes: Support::Emulated,
        pause: Support::Native,
        restart: Support::Native,
        update_resources: Support::Native,
        pull: Support::Native,
        // The stats API (for a sandbox, the runtime's figures relayed by dockerd).
        stats: Support::Native,
    }
}

#[async_trait]
impl ContainerEngine for DockerEngine {
    fn name(&self) -> &str {
        ENGINE
    }

    fn host_root(&self) -> Option<&std::path::Path> {
        self.host_root.as_deref()
    }

    fn capabilities(&self) -> Capabilities {
        docker_capabilities()
    }

    async fn identify(&self) -> Result<EngineInfo> {
        let version = self.client.get_json("identify", "/version").await?;
        let info = self.client.get_json("identify", "/info").await.ok();
        Ok(convert::engine_info(&version, info.as_ref(), &self.client.api_version))
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        containers::list(&self.client, options).await.map_err(|e| e.in_context(ENGINE, "list"))
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        containers::inspect(&self.client, container).await
    }

    async fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream> {
        logs::logs(&self.client, container, options).await
    }

    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        stats::stats(&self.client, container).await
    }

    async fn stats_many(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        stats::stats_many(&self.client, containers).await
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        exec::exec_stream(&self.client, container, request, open_stdin).await
    }

    async fn exec_stream_on(
        &self,
        container: &ContainerDetail,
        request: ExecRequest,
        open_stdin: bool,
    ) -> Result<ExecSession> {
        exec::exec_stream_on(&self.client, container, request, open_stdin).await
    }

    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        copy::copy_to(&self.client, container, destination, tar).await
    }

    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        copy::copy_from(&self.client, container, path).await
    }

    async fn events(&self, options: EventOptions) -> Result<EventStream> {
        Ok(events::events((*self.client).clone(), options))
    }

    async fn create_pod(&self, spec: &PodSpec) -> Result<String> {
        pods::create_pod(&self.client, spec).await.map_err(|e| e.in_context(ENGINE, "create_pod"))
    }

    async fn remove_pod(&self, sandbox: &str) -> Result<()> {
        pods::remove_pod(&self.client, sandbox).await.map_err(|e| e.in_context(ENGINE, "remove_pod"))
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        lifecycle::create(&self.client, spec).await.map_err(|e| e.in_context(ENGINE, "create"))
    }

    async fn start(&self, container: &str) -> Result<()> {
        lifecycle::start(&self.client, container).await.map_err(|e| e.in_context(ENGINE, "start"))
    }

    async fn stop(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        lifecycle::stop(&self.client, container, grace).await.map_err(|e| e.in_context(ENGINE, "stop"))
    }

    async fn kill(&self, container: &str, signal: Signal) -> Result<()> {
        lifecycle::kill(&self.client, container, signal).await.map_err(|e| e.in_context(ENGINE, "kill"))
    }

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        lifecycle::remove(&self.client, container, force).await.map_err(|e| e.in_context(ENGINE, "remove"))
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        lifecycle::wait(&self.client, container).await.map_err(|e| e.in_context(ENGINE, "wait"))
    }

    async fn load_image(&self, tar: ByteStream) -> Result<Vec<String>> {
        lifecycle::load_image(&self.client, tar).await.map_err(|e| e.in_context(ENGINE, "load_image"))
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        lifecycle::list_images(&self.client).await.map_err(|e| e.in_context(ENGINE, "list_images"))
    }

    async fn pause(&self, container: &str) -> Result<()> {
        manage::pause(&self.client, container).await.map_err(|e| e.in_context(ENGINE, "pause"))
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        manage::unpause(&self.client, container).await.map_err(|e| e.in_context(ENGINE, "unpause"))
    }

    async fn restart(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        manage::restart(&self.client, container, grace).await.map_err(|e| e.in_context(ENGINE, "restart"))
    }

    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        let run = async {
            // dockerd passes the update to the runtime, and runsc has none: refuse what is not claimed.
            let detail = anyctr_core::engine::update_target(self, container, update).await?;
            manage::update_resources(&self.client, &detail.id, update).await
        };
        run.await.map_err(|e| e.in_context(ENGINE, "update_resources").with_container(container))
    }

    async fn pull_image(&self, reference: &str, timeout: std::time::Duration) -> Result<ImageSummary> {
        manage::pull_image(&self.client, reference, timeout).await.map_err(|e| e.in_context(ENGINE, "pull_image"))
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        manage::remove_image(&self.client, reference, force).await.map_err(|e| e.in_context(ENGINE, "remove_image"))
    }
}

fn probe(config: EngineConfig) -> futures_util::future::BoxFuture<'static, Result<EngineInfo>> {
    async move {
        let socket = config.socket_path()?;
        let version = client::bounded(config.call_timeout, "probe", client::raw_get(&socket, "/version")).await?;
        convert::check_is_docker(&version).map_err(|e| e.with_operation("probe"))?;
        let api = version.get("ApiVersion").and_then(serde_json::Value::as_str).unwrap_or_default();
        let (major, minor) = client::choose_api_version(api)?;
        Ok(convert::engine_info(&version, None, &format!("{major}.{minor}")))
    }
    .boxed()
}

fn connect_dyn(config: EngineConfig) -> futures_util::future::BoxFuture<'static, Result<DynEngine>> {
    async move { connect(config).await.map(|e| Arc::new(e) as DynEngine) }.boxed()
}

anyctr_core::register_engine!(EngineRegistration {
    name: "docker",
    aliases: &["moby"],
    default_sockets: &["/var/run/docker.sock", "/run/docker.sock"],
    env_vars: &[EnvVar::address("DOCKER_HOST", 30)],
    priority: 10,
    probe,
    connect: connect_dyn,
});
