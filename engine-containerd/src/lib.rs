#![warn(missing_docs)]
//! anyctr engine for containerd: the native API (containerd-client over tonic) for containers,
//! tasks, exec, events and images, and CRI's RuntimeService on the same channel for pods and the
//! container lifecycle.
//!
//! Address parameters: `namespace` (repeatable or comma-separated; none = every namespace),
//! `state_dir` (containerd's state dir, default `/run/containerd`; k3s uses
//! `/run/k3s/containerd`), `fifo_dir` (where exec FIFOs are made, default `/run/anyctr/fifo`: an
//! agent in a container must mount it from the host at the same path), `image_namespace`.
//!
//! Container ids can repeat across namespaces: a lookup searches every configured namespace, an
//! id found in several is ambiguous, and `namespace/id` names one exactly.
//!
//! Other crates (the `rund` engine) build on [`ContainerdEngine::connect_with`] and the public
//! accessors.
#![forbid(unsafe_code)]

mod client;
mod convert;
mod cri;
pub mod cri_config;
mod errors;
mod events;
mod exec;
mod exec_io;
mod fifo;
mod image_archive;
mod images;
mod lifecycle;
mod manage;
mod metrics_proto;
mod options;
mod records;
mod runtime;
mod stats;
mod user;

use std::path::{Path, PathBuf};

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerSummary, CreateSpec, EventOptions, ExecRequest, ExecSession,
    ImageSummary, PodSpec, ResourceUpdate, Signal,
};
use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, DynEngine, EngineConfig, EngineInfo, EngineRegistration, EnvVar, Error,
    ErrorKind, EventStream, ListOptions, Result, Support,
};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

pub use client::{Client, is_not_found, status_error};
pub use convert::{ContainerFacts, SandboxFacts, TASK_DIR};
pub use cri::{ContainerMetadata, CriState, SandboxMetadata};
pub use lifecycle::{name_conflict, run_pod_sandbox};
pub use manage::{cri_resources, image_summary, pull_image, remove_image, update_resources};
pub use options::{CRI_NAMESPACE, ContainerdOptions, DEFAULT_FIFO_DIR, DEFAULT_STATE_DIR, K3S_STATE_DIR};
pub use records::Located;
pub use runtime::RuntimeInfo;

/// A connected containerd.
#[derive(Debug, Clone)]
pub struct ContainerdEngine {
    client: Client,
    options: ContainerdOptions,
    host_root: Option<PathBuf>,
}

/// Connects with options read from the address.
pub async fn connect(config: EngineConfig) -> Result<ContainerdEngine> {
    let options = ContainerdOptions::from_address(&config.address);
    ContainerdEngine::connect_with(config, options).await
}

impl ContainerdEngine {
    /// Connects with explicit options (for engines that wrap this one).
    pub async fn connect_with(config: EngineConfig, options: ContainerdOptions) -> Result<Self> {
        let socket = config.socket_path()?;
        let client = Client::connect(&socket, config.call_timeout, &options.engine_name).await?;
        Ok(ContainerdEngine { client, options, host_root: config.host_root })
    }

    /// The gRPC client (containerd services and CRI).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The options it was connected with.
    pub fn options(&self) -> &ContainerdOptions {
        &self.options
    }

    /// A host path as this process opens it (host-root prefix applied).
    pub fn host_path(&self, path: &Path) -> PathBuf {
        anyctr_core::under_host_root(self.host_root.as_deref(), path)
    }

    /// The normalized detail of gathered facts (checks the rootfs on the host, also under
    /// k3s's state dir when the configured one has no bundle).
    pub async fn detail_of(&self, facts: &ContainerFacts) -> ContainerDetail {
        let mut path = convert::rootfs_path(facts, &self.options.state_dir);
        let mut exists = tokio::fs::try_exists(self.host_path(&path)).await.unwrap_or(false);
        if !exists && path.starts_with(&self.options.state_dir) {
            for alt in
                [DEFAULT_STATE_DIR, K3S_STATE_DIR].map(Path::new).into_iter().filter(|d| *d != self.options.state_dir)
            {
                let candidate = convert::rootfs_path(facts, alt);
                if tokio::fs::try_exists(self.host_path(&candidate)).await.unwrap_or(false) {
                    (path, exists) = (candidate, true);
                    break;
                }
            }
        }
        convert::detail(facts, &path, exists)
    }

    /// Asks the daemon's version (the probe) and, through CRI, its runtime handlers.
    pub async fn version_info(&self) -> Result<EngineInfo> {
        let c = &self.client;
        let v = c.call("identify", c.version().version(c.request(None, ()))).await?;
        let mut info = EngineInfo::new(&self.options.engine_name, "containerd", v.version);
        info.runtimes = lifecycle::runtime_handlers(c).await;
        Ok(info)
    }
}

#[async_trait]
impl ContainerEngine for ContainerdEngine {
    fn name(&self) -> &str {
        &self.options.engine_name
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
            exec_with_workdir: Support::Native,
            exec_with_env: Support::Native,
            exec_kill: Support::Native,
            exec_stream: Support::Native,
            // containerd has no archive API: tar over exec.
            copy_to: Support::Emulated,
            copy_from: Support::Emulated,
            events: Support::Native,
            host_rootfs: Support::Native,
            proc_root: Support::Native,
            // The namespace fast path (anyctr_host::nsenter) enters the init's host-visible pid.
            nsenter: Support::Emulated,
            lifecycle: Support::Native,
            images: Support::Native,
            // CRI's pods, which land in namespace k8s.io.
            pods: if self.sees_cri_namespace() { Support::Native } else { Support::Unsupported },
            // The CRI log file (written on the host by the CRI plugin, for sandboxed runtimes too),
            // read by anyctr_host::logs; containerd has no logs API.
            logs: Support::Emulated,
            // anyctr_host::top and ::probes: the host's /proc and rootfs, or exec in a sandbox.
            top: Support::Emulated,
            probes: Support::Emulated,
            // Tasks.Pause/Resume.
            pause: Support::Native,
            // CRI has no restart: kubelet replaces an exited container with a new one, and a task
            // restarted behind CRI's back would write to log FIFOs nobody reads any more.
            restart: Support::Unsupported,
            // CRI's UpdateContainerResources (CRI containers only).
            update_resources: Support::Native,
            // CRI's PullImage/RemoveImage, which land in namespace k8s.io.
            pull: if self.sees_cri_namespace() { Support::Native } else { Support::Unsupported },
            // Tasks.Metrics: the shim's cgroup figures (a sandbox's own, for runsc).
            stats: Support::Native,
        }
    }

    fn container_capabilities(&self, container: &ContainerDetail) -> Capabilities {
        let mut caps = self.capabilities().for_runtime(&container.runtime);
        // Only CRI containers have a log file; containerd keeps no output of others.
        if container.log_path.is_none() {
            caps.logs = Support::Unsupported;
        }
        caps
    }

    async fn identify(&self) -> Result<EngineInfo> {
        self.version_info().await
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let facts = self.list_facts(options).await.map_err(|e| e.in_context(self.name(), "list"))?;
        Ok(facts.iter().map(convert::summary).collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        let ctx = |e: anyctr_core::Error| e.in_context(self.name(), "inspect").with_container(container);
        let located = self.locate(container).await.map_err(ctx)?;
        let facts = self.facts(located).await.map_err(ctx)?;
        Ok(self.detail_of(&facts).await)
    }

    /// One list of records and one of tasks per namespace (plus CRI's state of a CRI container
    /// without a task, as `inspect` asks it), each detail made as `inspect` makes it.
    async fn inspect_all(&self, options: &ListOptions) -> Result<Vec<ContainerDetail>> {
        let facts = self.all_facts(options).await.map_err(|e| e.in_context(self.name(), "inspect_all"))?;
        let details = futures_util::stream::iter(facts)
            .map(|f| async move { self.detail_of(&f).await })
            .buffered(records::BULK_CONCURRENCY)
            .collect()
            .await;
        Ok(details)
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let session = self.exec_session(container, request, open_stdin).await;
        session.map_err(|e| e.in_context(self.client.engine(), "exec").with_container(container))
    }

    async fn exec_stream_on(
        &self,
        container: &ContainerDetail,
        request: ExecRequest,
        open_stdin: bool,
    ) -> Result<ExecSession> {
        self.exec_session_on(container, request, open_stdin).await
    }

    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        anyctr_core::archive_over_exec::put_archive(self, container, destination, tar).await
    }

    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        anyctr_core::archive_over_exec::get_archive(self, container, path).await
    }

    async fn events(&self, options: EventOptions) -> Result<EventStream> {
        if options.since.is_some() {
            // containerd keeps no event history: starting from now instead would drop what the
            // caller asked for without saying so.
            return Err(Error::new(
                ErrorKind::Unsupported,
                "events with `since`: containerd keeps no event history to replay; subscribe without `since` \
                 and list (or use the index) for the state before it",
            )
            .with_engine(self.name())
            .with_operation("events"));
        }
        let filter = (!self.options.namespaces.is_empty()).then(|| self.options.namespaces.clone());
        events::subscribe(self.client.clone(), filter).await.map_err(|e| e.in_context(self.name(), "events"))
    }

    async fn create_pod(&self, spec: &PodSpec) -> Result<String> {
        self.cri_create_pod(spec, &[]).await.map_err(|e| e.in_context(self.name(), "create_pod"))
    }

    async fn remove_pod(&self, sandbox: &str) -> Result<()> {
        self.cri_remove_pod(sandbox).await.map_err(|e| e.in_context(self.name(), "remove_pod").with_container(sandbox))
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        self.cri_create(spec).await.map_err(|e| e.in_context(self.name(), "create"))
    }

    async fn start(&self, container: &str) -> Result<()> {
        self.cri_start(container).await.map_err(|e| e.in_context(self.name(), "start").with_container(container))
    }

    async fn stop(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        self.cri_stop(container, grace).await.map_err(|e| e.in_context(self.name(), "stop").with_container(container))
    }

    async fn kill(&self, container: &str, signal: Signal) -> Result<()> {
        self.task_kill(container, signal).await.map_err(|e| e.in_context(self.name(), "kill").with_container(container))
    }

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        self.cri_remove(container, force)
            .await
            .map_err(|e| e.in_context(self.name(), "remove").with_container(container))
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        self.task_wait(container).await.map_err(|e| e.in_context(self.name(), "wait").with_container(container))
    }

    async fn load_image(&self, tar: ByteStream) -> Result<Vec<String>> {
        images::load(self, tar).await.map_err(|e| e.in_context(self.name(), "load_image"))
    }

    async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        images::list(self).await.map_err(|e| e.in_context(self.name(), "list_images"))
    }

    async fn pause(&self, container: &str) -> Result<()> {
        self.task_pause(container, false)
            .await
            .map_err(|e| e.in_context(self.name(), "pause").with_container(container))
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        self.task_pause(container, true)
            .await
            .map_err(|e| e.in_context(self.name(), "unpause").with_container(container))
    }

    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        let run = async {
            // runsc has no update: refuse what the container's runtime cannot do.
            anyctr_core::engine::update_target(self, container, update).await?;
            let facts = self.cri_container(container).await?;
            manage::update_resources(&self.client, &facts.record.id, update).await
        };
        run.await.map_err(|e| e.in_context(self.name(), "update_resources").with_container(container))
    }

    async fn pull_image(&self, reference: &str, timeout: std::time::Duration) -> Result<ImageSummary> {
        if !self.sees_cri_namespace() {
            return Err(Error::unsupported(self.name(), "pull_image"));
        }
        self.cri_pull(reference, timeout).await.map_err(|e| e.in_context(self.name(), "pull_image"))
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        if !self.sees_cri_namespace() {
            return Err(Error::unsupported(self.name(), "remove_image"));
        }
        manage::remove_image(&self.client, reference, force)
            .await
            .map_err(|e| e.in_context(self.name(), "remove_image"))
    }

    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        self.task_stats(container).await.map_err(|e| e.in_context(self.name(), "stats").with_container(container))
    }

    async fn stats_many(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        self.task_stats_many(containers).await.map_err(|e| e.in_context(self.name(), "stats_many"))
    }
}

fn probe(config: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
    async move {
        let engine = connect(config).await?;
        // The Version service answering over gRPC is what tells containerd apart: Docker-API
        // daemons speak HTTP/1 and fail the call.
        let c = engine.client();
        let v = c.call("probe", c.version().version(c.request(None, ()))).await?;
        Ok(EngineInfo::new("containerd", "containerd", v.version))
    }
    .boxed()
}

fn connect_dyn(config: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
    async move { Ok(std::sync::Arc::new(connect(config).await?) as DynEngine) }.boxed()
}

/// Where containerd keeps its state (CRI rootfs views), when not under `/run/containerd`: the
/// `state_dir` address parameter, from the environment (also for engines built on this one).
pub const STATE_DIR_VAR: EnvVar = EnvVar::param("ANYCTR_CONTAINERD_STATE_DIR", "state_dir");

anyctr_core::register_engine!(EngineRegistration {
    name: "containerd",
    // `cri` names the CRI-only engine (anyctr-engine-cri), which also reaches containerd through CRI.
    aliases: &["ctr"],
    default_sockets: &[
        "/run/containerd/containerd.sock",
        "/run/k3s/containerd/containerd.sock",
        "/var/run/containerd/containerd.sock"
    ],
    env_vars: &[
        // The CRI endpoint kubelet uses names the engine that runs the pods: read first.
        EnvVar::endpoint("CONTAINER_RUNTIME_ENDPOINT", 10),
        EnvVar::address("CONTAINERD_ADDRESS", 20),
        EnvVar::param("CONTAINERD_NAMESPACE", "namespace"),
        STATE_DIR_VAR,
    ],
    priority: 20,
    probe,
    connect: connect_dyn,
});
