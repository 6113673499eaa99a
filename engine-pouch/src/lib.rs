#![warn(missing_docs)]
//! anyctr engine for PouchContainer (`pouchd`).
//!
//! pouchd speaks a Docker-style HTTP API at version 1.24 on `/var/run/pouchd.sock`, with
//! differences that break Docker clients: the state `stopped`, an `overlayfs` graph driver plus a
//! `Snapshotter` copy, the merged dir under the containerd v1 runtime state dir, `RuntimeType`,
//! `Mounts[].Named`, exec start failures as stdout text with exit 126, exec ignoring `WorkingDir`,
//! no exec kill, and events as JSON lines. This crate therefore has its own small client
//! (`client`) with lenient models ([`models`]), and recognizes pouchd from `/version` (never from
//! the socket's name), rejecting a Docker daemon.
#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerSummary, CreateSpec, EventOptions, ExecRequest, ExecSession,
    ImageSummary, LogOptions, LogStream, ResourceUpdate, Signal,
};
use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, DynEngine, EngineConfig, EngineInfo, EngineRegistration, EnvVar, Error,
    ErrorKind, EventStream, ListOptions, Result, Support, resolve_container,
};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use http::Method;

mod client;
mod convert;
mod copy;
mod events;
mod exec;
mod hijack;
mod images;
mod lifecycle;
mod logs;
mod manage;
// The wire types mirror pouchd's API reference field for field; their docs are that reference.
#[allow(missing_docs)]
pub mod models;
mod stats;

pub use anyctr_core::exec_marker::EXEC_MARKER_VAR as EXEC_TOKEN_VAR;
pub use copy::PathStat;

use client::Client;

/// The registered engine name.
pub const ENGINE: &str = "pouch";

/// A connected pouchd.
#[derive(Debug, Clone)]
pub struct PouchEngine {
    client: Client,
    /// Where the host's `/` is mounted for this process (an agent in a container).
    host_root: Option<std::path::PathBuf>,
}

/// Connects to the pouchd of `config` and checks that it is one (a Docker daemon is refused).
pub async fn connect(config: EngineConfig) -> Result<PouchEngine> {
    let engine = PouchEngine::unchecked(&config)?;
    engine.identify().await?;
    Ok(engine)
}

fn probe(config: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
    Box::pin(async move { PouchEngine::unchecked(&config)?.identify().await })
}

fn connect_dyn(config: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
    Box::pin(async move { Ok(Arc::new(connect(config).await?) as DynEngine) })
}

anyctr_core::register_engine!(EngineRegistration {
    name: ENGINE,
    aliases: &["pouchd"],
    default_sockets: &["/var/run/pouchd.sock"],
    env_vars: &[EnvVar::address("POUCH_SOCKET", 40)],
    // Before docker: both speak the Docker API, and pouchd must never be taken for dockerd.
    priority: 5,
    probe,
    connect: connect_dyn,
});

impl PouchEngine {
    /// An engine for `config` without asking the daemon anything.
    fn unchecked(config: &EngineConfig) -> Result<Self> {
        let socket = config.socket_path()?;
        Ok(PouchEngine { client: Client::new(socket, config.call_timeout), host_root: config.host_root.clone() })
    }

    /// The socket this engine talks to (host-root prefix applied).
    pub fn socket(&self) -> &Path {
        self.client.socket()
    }

    /// Inspects by exact id, name or unique id prefix. pouchd resolves names and prefixes itself;
    /// when it does not find the container, the common resolution over the list decides, so an
    /// ambiguous prefix is reported the same way on every engine.
    async fn resolve(&self, query: &str) -> Result<(models::ContainerInspect, serde_json::Value)> {
        let q = query.trim().trim_start_matches('/');
        if q.is_empty() {
            return Err(Error::invalid_argument("empty container id or name"));
        }
        match self.inspect_by(q).await {
            Ok(found) => Ok(found),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument) => {
                let all = self.list(&ListOptions::all()).await?;
                match resolve_container(q, &all) {
                    Ok(c) if c.id != q => self.inspect_by(&c.id.clone()).await,
                    Ok(_) => Err(e),
                    Err(not_found) if not_found.kind() == ErrorKind::NotFound => Err(e),
                    Err(other) => Err(other),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn inspect_by(&self, id: &str) -> Result<(models::ContainerInspect, serde_json::Value)> {
        let raw: serde_json::Value =
            self.client.get_json(&format!("/containers/{}/json", client::encode_segment(id))).await?;
        let parsed = serde_json::from_value(raw.clone())
            .map_err(|e| Error::unexpected(format!("pouchd's inspect of {id} does not parse: {e}")).with_source(e))?;
        Ok((parsed, raw))
    }

    fn target<'a>(&'a self, detail: &'a ContainerDetail) -> lifecycle::Target<'a> {
        lifecycle::Target { detail, host_root: self.host_root.as_deref() }
    }

    async fn resolve_id(&self, query: &str) -> Result<String> {
        Ok(self.resolve(query).await?.0.id)
    }

    /// The stat of a path in the container (`HEAD` archive). A missing path is `NotFound`.
    pub async fn stat_path(&self, container: &str, path: &str) -> Result<PathStat> {
        let id = self.resolve_id(container).await.map_err(|e| ctx(e, "stat_path", container))?;
        copy::stat(&self.client, &id, path).await.map_err(|e| ctx(e, "stat_path", container))
    }

    /// `PUT` archive exactly as pouchd does it: unlike [`ContainerEngine::put_archive`], a missing
    /// destination directory is an error (`NotFound`) rather than created.
    pub async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        let id = self.resolve_id(container).await.map_err(|e| ctx(e, "put_archive", container))?;
        copy::put_archive(&self.client, &id, destination, tar).await.map_err(|e| ctx(e, "put_archive", container))
    }
}

fn ctx(e: Error, operation: &'static str, container: &str) -> Error {
    let e = e.in_context(ENGINE, operation);
    if e.container().is_some() { e } else { e.with_container(container) }
}

/// Whether a `/version` answer comes from Docker rather than pouchd: Docker sends a `Server:
/// Docker/…` header and `Components`, `Platform` and `MinAPIVersion`, none of which pouchd has.
fn docker_markers(server_header: Option<&str>, version: &models::Version) -> Option<String> {
    if let Some(server) = server_header.filter(|s| s.to_ascii_lowercase().starts_with("docker")) {
        return Some(format!("Server header {server:?}"));
    }
    if version.components.is_some() || version.platform.is_some() || version.min_api_version.is_some() {
        return Some("Components/Platform/MinAPIVersion in /version".to_owned());
    }
    None
}

#[async_trait]
impl ContainerEngine for PouchEngine {
    fn name(&self) -> &str {
        ENGINE
    }

    fn host_root(&self) -> Option<&std::path::Path> {
        self.host_root.as_deref()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            inspect: Support::Native,
            exec: Support::Native,
            exec_with_stdin: Support::Native,
            exec_with_user: Support::Native,
            // pouch ignores an exec's WorkingDir: a `sh` wrapper changes directory first.
            exec_with_workdir: Support::Emulated,
            exec_with_env: Support::Native,
            // No exec kill in pouch: the host pid if reported, else a second exec (see `exec`).
            exec_kill: Support::Emulated,
            exec_stream: Support::Native,
            copy_to: Support::Native,
            copy_from: Support::Native,
            events: Support::Native,
            host_rootfs: Support::Native,
            proc_root: Support::Native,
            // The namespace fast path (anyctr_host::nsenter) enters the init's host-visible pid.
            nsenter: Support::Emulated,
            // pouchd 1.3.0 has no kill API and takes `stop?t=0` for its default 10 s: kill, and
            // stop or forced remove without grace, signal the main process from the host (runc-class
            // containers; a sandboxed one answers `Unsupported` for those).
            lifecycle: Support::Emulated,
            images: Support::Native,
            // Pod identity is read from pouch's CRI labels, but pods cannot be made through this API.
            pods: Support::Unsupported,
            // anyctr_host::top and ::probes: the host's /proc and rootfs, or exec in a sandbox.
            top: Support::Emulated,
            probes: Support::Emulated,
            // Its json-file log, read by anyctr_host::logs where it is host-visible, else pouchd's
            // logs API (not following: no following stream of pouchd is recorded).
            logs: Support::Emulated,
            // pause, unpause, restart and update, as recorded from pouchd 1.3.0.
            pause: Support::Native,
            restart: Support::Native,
            update_resources: Support::Native,
            // No pull or image remove of pouchd is recorded: not claimed.
            pull: Support::Unsupported,
            // pouchd's stats API (docker's document), replayed in the contract tests.
            stats: Support::Native,
        }
    }

    async fn identify(&self) -> Result<EngineInfo> {
        let response = self.client.call(Method::GET, "/version", &[], client::empty()).await?;
        let server = response.headers().get(http::header::SERVER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = client::read_body(response.into_body(), self.client.call_timeout()).await?;
        let version: models::Version = client::parse_json(&body, "/version").map_err(|e| {
            Error::invalid_argument(format!(
                "{} does not answer /version like pouchd: {}",
                self.socket().display(),
                e.message()
            ))
        })?;
        if let Some(marker) = docker_markers(server.as_deref(), &version) {
            return Err(Error::invalid_argument(format!(
                "{} is served by Docker {} ({marker}), not pouchd",
                self.socket().display(),
                version.version
            ))
            .with_engine(ENGINE)
            .with_operation("identify"));
        }
        if version.version.is_empty() || version.api_version.is_empty() {
            return Err(Error::invalid_argument(format!(
                "{} answers /version without Version and ApiVersion: not pouchd",
                self.socket().display()
            )));
        }
        // The runtimes are a nicety: a failing /info does not make the daemon less pouchd.
        let runtimes = match self.client.get_json::<models::Info>("/info").await {
            Ok(info) => info.runtimes.into_keys().collect(),
            Err(e) => {
                tracing::debug!(error = %e, "pouchd /info failed");
                Vec::new()
            }
        };
        let mut info = EngineInfo::new(ENGINE, "pouchd", version.version);
        info.api_version = Some(version.api_version);
        info.runtimes = runtimes;
        Ok(info)
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let path = if options.all { "/containers/json?all=1" } else { "/containers/json" };
        // Elements one by one: one odd container must not fail the list.
        let items: Vec<serde_json::Value> =
            self.client.get_json(path).await.map_err(|e| e.in_context(ENGINE, "list"))?;
        Ok(items
            .iter()
            .filter_map(|v| match serde_json::from_value::<models::ContainerListItem>(v.clone()) {
                Ok(item) => Some(convert::summary(item)),
                Err(e) => {
                    tracing::warn!(error = %e, "a pouch container list element does not parse; keeping its id");
                    convert::summary_from_value(v)
                }
            })
            .filter(|c| options.matches_labels(&c.labels))
            .collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        let (parsed, raw) = self.resolve(container).await.map_err(|e| ctx(e, "inspect", container))?;
        Ok(convert::detail(parsed, raw))
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let run = async move {
            let (found, _) = self.resolve(container).await?;
            exec::start(&self.client, &found.id, &found.config.env, request, open_stdin).await
        };
        run.await.map_err(|e| ctx(e, "exec", container))
    }

    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        let run = async {
            let id = self.resolve_id(container).await?;
            copy::copy_to(&self.client, &id, destination, tar).await
        };
        run.await.map_err(|e| ctx(e, "put_archive", container))
    }

    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        let run = async {
            let id = self.resolve_id(container).await?;
            copy::copy_from(&self.client, &id, path).await
        };
        run.await.map_err(|e| ctx(e, "get_archive", container))
    }

    async fn events(&self, options: EventOptions) -> Result<EventStream> {
        events::events(self.client.clone(), options).await.map_err(|e| e.in_context(ENGINE, "events"))
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        lifecycle::create(&self.client, spec).await.map_err(|e| e.in_context(ENGINE, "create"))
    }

    async fn start(&self, container: &str) -> Result<()> {
        let run = async { lifecycle::start(&self.client, &self.resolve_id(container).await?).await };
        run.await.map_err(|e| ctx(e, "start", container))
    }

    async fn stop(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        let run = async {
            let detail = self.inspect(container).await?;
            lifecycle::stop(&self.client, &self.target(&detail), grace).await
        };
        run.await.map_err(|e| ctx(e, "stop", container))
    }

    async fn kill(&self, container: &str, signal: Signal) -> Result<()> {
        let run = async {
            let detail = self.inspect(container).await?;
            lifecycle::kill(&self.client, &self.target(&detail), signal).await
        };
        run.await.map_err(|e| ctx(e, "kill", container))
    }

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        let run = async {
            let detail = self.inspect(container).await?;
            lifecycle::remove(&self.client, &self.target(&detail), force).await
        };
        run.await.map_err(|e| ctx(e, "remove", container))
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        let run = async { lifecycle::wait(&self.client, &self.resolve_id(container).await?).await };
        run.await.map_err(|e| ctx(e, "wait", container))
    }

    async fn load_image(&self, tar: ByteStream) -> Result<Vec<String>> {
        images::load(&self.client, tar).await.map_err(|e| e.in_context(ENGINE, "load_image"))
    }

    async fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream> {
        let run = async { logs::logs(&self.client, &self.resolve_id(container).await?, options).await };
        run.await.map_err(|e| e.in_context(ENGINE, "logs").with_container(container))
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        images::list(&self.client).await.map_err(|e| e.in_context(ENGINE, "list_images"))
    }

    async fn pause(&self, container: &str) -> Result<()> {
        let run = async { manage::pause(&self.client, &self.resolve_id(container).await?, false).await };
        run.await.map_err(|e| ctx(e, "pause", container))
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        let run = async { manage::pause(&self.client, &self.resolve_id(container).await?, true).await };
        run.await.map_err(|e| ctx(e, "unpause", container))
    }

    async fn restart(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        let run = async { manage::restart(&self.client, &self.resolve_id(container).await?, grace).await };
        run.await.map_err(|e| ctx(e, "restart", container))
    }

    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        let run = async {
            let detail = anyctr_core::engine::update_target(self, container, update).await?;
            manage::update_resources(&self.client, &detail.id, update).await
        };
        run.await.map_err(|e| ctx(e, "update_resources", container))
    }

    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        let run = async {
            let (parsed, raw) = self.resolve(container).await?;
            let detail = convert::detail(parsed, raw);
            if !detail.state.status.is_running() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("container {} is {:?}: no stats", detail.id, detail.state.status),
                ));
            }
            stats::stats(&self.client, &detail.id, detail.runtime.is_sandboxed()).await
        };
        run.await.map_err(|e| ctx(e, "stats", container))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_version_is_recognized() {
        let docker: models::Version = serde_json::from_str(
            r#"{"Platform":{"Name":""},"Components":[],"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#,
        )
        .unwrap();
        assert!(docker_markers(None, &docker).is_some());
        let pouch: models::Version =
            serde_json::from_str(r#"{"ApiVersion":"1.24","Arch":"amd64","GoVersion":"go1.19.8","Version":"1.3.0"}"#)
                .unwrap();
        assert!(docker_markers(None, &pouch).is_none());
        assert!(docker_markers(Some("Docker/20.10.24+dfsg1 (linux)"), &pouch).is_some());
    }
}
