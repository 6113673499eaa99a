//! anyctr engine `cri`: any container runtime that speaks the Kubernetes CRI API (CRI-O,
//! containerd's CRI plugin, iSulad, cri-dockerd, …), through that API alone — RuntimeService
//! `v1` (or `v1alpha2`) on the runtime's socket (`cri:///run/crio/crio.sock`, or
//! `CONTAINER_RUNTIME_ENDPOINT`).
//!
//! What CRI gives, and so what this engine does:
//! - list and inspect: `ListContainers` + `ListPodSandbox`, `ContainerStatus` and
//!   `PodSandboxStatus` with `verbose` (the runtime's info: pid, runtime spec, runtime type);
//!   sandboxes are listed as containers in the role `Sandbox`;
//! - exec: `ExecSync` for buffered exec without stdin (the runtime kills the process at the
//!   timeout); the streaming `Exec` for `exec_stream` and exec with stdin: the runtime's streaming
//!   server spoken over SPDY with the remotecommand protocol (`remotecommand.rs`, `spdy.rs`),
//!   stdin half-closed for EOF; copy is tar over that exec (the containerd engine's `copy`);
//! - pods: `RunPodSandbox`/`StopPodSandbox`/`RemovePodSandbox`; containers are created in a sandbox
//!   and started, stopped and removed through CRI; `wait` polls `ContainerStatus`; `kill` signals
//!   a runc-class container's main process from the host (pidfd, checked to be its init);
//! - host access for runc-class runtimes: the verbose pid gives `/proc/<pid>/root` and the
//!   namespace fast path;
//! - logs: `ContainerStatus.log_path` (joined to the pod's log directory), read on the host by
//!   `anyctr_host::logs` (`Emulated`; a container without a log path does not claim it).
//!
//! - events: CRI `GetContainerEvents` where the runtime has it (`container_events.rs`; not on
//!   runtimes known to split its events among subscribers, which would take them from the
//!   kubelet), else polled (`events.rs`): ListContainers/ListPodSandbox every `event_poll_ms`
//!   (default 500 ms) diffed into Create/Start/Exit/Destroy. A polled stream begins with a `Gap`
//!   saying what polling cannot see (a container created and removed within one interval) and
//!   marks the events it deduced rather than saw (attribute `inferred`); a poll that fails yields
//!   a `Gap`, and the diff after it resyncs (`Emulated`: containerd 1.6 answers
//!   `GetContainerEvents` with `Unimplemented`, so only polling is proven against a daemon here);
//! - API versions: `runtime.v1`, falling back to `runtime.v1alpha2` when the runtime answers v1
//!   with `Unimplemented` (`api.rs`: v1 types throughout, carried across by their protobuf
//!   encoding); `?api=v1alpha2` on the address skips the asking.
//!
//! Not implemented, so `Unsupported` and not claimed: `exec_kill` (ExecSync's timeout makes the
//! runtime kill the exec's process, but not its children, and containerd 1.6 then keeps the call
//! open as long as a child holds the output; a streaming exec's process cannot be ended at all:
//! the streaming server runs it on when the connection closes), user, working directory and
//! environment for exec (CRI's exec requests carry none), `kill` for a sandboxed runtime
//! (CRI has no signal call; runc-class containers are signalled from the host, so `lifecycle` is
//! `Emulated`), events `since` (no history), images (CRI has no image load; `PullImage`/`RemoveImage` serve `pull`), pause and restart (CRI
//! has neither).
#![forbid(unsafe_code)]

mod api;
mod container_events;
mod convert;
mod events;
mod exec;
mod lifecycle;
mod options;
mod remotecommand;
mod spdy;
mod stats;

use std::sync::Arc;

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerSummary, CreateSpec, EventOptions, ExecRequest, ExecResult, ExecSession,
    ImageSummary, PodSpec, ResourceUpdate,
};
use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, DynEngine, EngineConfig, EngineInfo, EngineRegistration, Error,
    ErrorKind, EventStream, ListOptions, Result, Support, resolve_container,
};
use anyctr_engine_containerd::Client;
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use k8s_cri::v1::{
    ContainerStatusRequest, ListContainersRequest, ListPodSandboxRequest, PodSandboxStatusRequest, StatusRequest,
    VersionRequest,
};

pub use api::ApiVersion;
pub use lifecycle::WAIT_POLL;
pub use options::{CriOptions, DEFAULT_EVENT_POLL};

use api::Cri;

/// The engine name.
pub const NAME: &str = "cri";

/// A CRI runtime reached through its RuntimeService.
#[derive(Debug, Clone)]
pub struct CriEngine {
    client: Client,
    cri: Cri,
    options: CriOptions,
    /// What `Version` answered at connect (runtime name and version).
    runtime: Arc<(String, String)>,
}

/// A container or sandbox found by id, prefix or name.
pub(crate) struct Located {
    pub summary: ContainerSummary,
    pub is_sandbox: bool,
}

/// Connects and checks that the socket serves CRI (`Version`): `v1`, else `v1alpha2` when the
/// runtime answers v1 with `Unimplemented`; the address's `api` parameter skips the asking.
pub async fn connect(config: EngineConfig) -> Result<CriEngine> {
    let options = CriOptions::from_address(&config.address).map_err(|e| e.with_engine(NAME))?;
    let socket = config.socket_path()?;
    let client = Client::connect(&socket, config.call_timeout, NAME).await.map_err(|e| {
        let message = format!("cannot connect to a CRI runtime at {}: {}", socket.display(), e.message());
        Error::new(e.kind(), message).with_engine(NAME).with_operation("connect").with_source(e)
    })?;
    let version = |cri: Cri| async {
        let request = client.request(None, VersionRequest { version: cri.api().as_str().into() });
        client.call("connect", cri.version(request)).await.map(|v| (cri, v))
    };
    let (cri, version) = match options.api {
        Some(api) => version(Cri::new(client.clone(), api)).await?,
        None => match version(Cri::new(client.clone(), ApiVersion::V1)).await {
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                version(Cri::new(client.clone(), ApiVersion::V1alpha2)).await.map_err(|e2| {
                    Error::new(
                        ErrorKind::Unsupported,
                        format!(
                            "{} answers but serves neither CRI runtime.v1 ({}) nor runtime.v1alpha2 ({})",
                            socket.display(),
                            e.message(),
                            e2.message()
                        ),
                    )
                    .with_engine(NAME)
                    .with_operation("connect")
                })?
            }
            other => other?,
        },
    };
    let runtime = Arc::new((version.runtime_name, version.runtime_version));
    Ok(CriEngine { client, cri, options, runtime })
}

impl CriEngine {
    /// Every container and sandbox, as summaries (sandboxes marked).
    async fn everything(&self) -> Result<Vec<Located>> {
        let c = &self.client;
        let containers = c.call("list", self.cri.list_containers(c.request(None, ListContainersRequest::default())));
        let sandboxes = c.call("list", self.cri.list_pod_sandbox(c.request(None, ListPodSandboxRequest::default())));
        let (containers, sandboxes) = tokio::try_join!(containers, sandboxes)?;
        let mut all: Vec<Located> = containers
            .containers
            .iter()
            .map(|x| Located { summary: convert::container_summary(x), is_sandbox: false })
            .collect();
        all.extend(sandboxes.items.iter().map(|s| Located { summary: convert::sandbox_summary(s), is_sandbox: true }));
        Ok(all)
    }

    /// Resolves an id, unique id prefix or name among containers and sandboxes.
    pub(crate) async fn locate(&self, query: &str) -> Result<Located> {
        let mut all = self.everything().await?;
        let summaries: Vec<ContainerSummary> = all.iter().map(|l| l.summary.clone()).collect();
        let id = resolve_container(query, &summaries).map_err(|e| e.with_engine(NAME))?.id.clone();
        let index = all.iter().position(|l| l.summary.id == id).expect("resolved among these");
        Ok(all.swap_remove(index))
    }

    /// ContainerStatus, with the verbose info parsed when asked for.
    pub(crate) async fn container_status(
        &self,
        id: &str,
        verbose: bool,
    ) -> Result<(k8s_cri::v1::ContainerStatus, serde_json::Value)> {
        let c = &self.client;
        let req = ContainerStatusRequest { container_id: id.to_owned(), verbose };
        let resp = c.call("inspect", self.cri.container_status(c.request(None, req))).await?;
        let info = convert::verbose_info(&resp.info);
        let status = resp.status.ok_or_else(|| Error::unexpected(format!("ContainerStatus of {id} has no status")))?;
        Ok((status, info))
    }

    async fn sandbox_status(&self, id: &str) -> Result<(k8s_cri::v1::PodSandboxStatus, serde_json::Value)> {
        let c = &self.client;
        let req = PodSandboxStatusRequest { pod_sandbox_id: id.to_owned(), verbose: true };
        let resp = c.call("inspect", self.cri.pod_sandbox_status(c.request(None, req))).await?;
        let info = convert::verbose_info(&resp.info);
        let status = resp.status.ok_or_else(|| Error::unexpected(format!("PodSandboxStatus of {id} has no status")))?;
        Ok((status, info))
    }

    pub(crate) async fn detail(&self, located: &Located) -> Result<ContainerDetail> {
        let id = &located.summary.id;
        if located.is_sandbox {
            let (status, info) = self.sandbox_status(id).await?;
            return Ok(convert::sandbox_detail(&status, &info));
        }
        let (status, info) = self.container_status(id, true).await?;
        // The sandbox says which runtime handler the pod runs on and where its logs go.
        let sandbox_id = info.get("sandboxID").and_then(serde_json::Value::as_str).map(str::to_owned);
        let sandbox_id = match sandbox_id {
            Some(s) => s,
            None => self.sandbox_of(id).await?,
        };
        let (handler, log_directory) = match self.sandbox_status(&sandbox_id).await {
            Ok((s, sinfo)) => (s.runtime_handler.clone(), convert::log_directory(&s, &sinfo)),
            Err(e) if e.kind() == ErrorKind::NotFound => (String::new(), None),
            Err(e) => return Err(e),
        };
        Ok(convert::container_detail(&status, &info, &sandbox_id, &handler, log_directory.as_deref()))
    }

    /// The sandbox of a container, from ListContainers (the runtime's verbose info did not say).
    async fn sandbox_of(&self, id: &str) -> Result<String> {
        let c = &self.client;
        let filter = k8s_cri::v1::ContainerFilter { id: id.to_owned(), ..Default::default() };
        let req = ListContainersRequest { filter: Some(filter) };
        let list = c.call("inspect", self.cri.list_containers(c.request(None, req))).await?;
        Ok(list.containers.into_iter().next().map(|x| x.pod_sandbox_id).unwrap_or_default())
    }

    /// The full id of a running container (not a sandbox) that can run commands.
    async fn running_container(&self, container: &str) -> Result<String> {
        let located = self.locate(container).await?;
        if located.is_sandbox {
            return Err(Error::invalid_argument("a pod sandbox runs no commands; exec into one of its containers"));
        }
        if !located.summary.status.is_running() {
            return Err(Error::new(ErrorKind::Conflict, format!("container {} is not running", located.summary.id)));
        }
        Ok(located.summary.id)
    }

    /// Runtime handlers the runtime announces (CRI `StatusResponse.runtime_handlers`, newer
    /// runtimes only); empty when it does not say.
    async fn handlers(&self) -> Vec<String> {
        let c = &self.client;
        let Ok(status) = c.call("identify", self.cri.status(c.request(None, StatusRequest { verbose: false }))).await
        else {
            return Vec::new();
        };
        status.runtime_handlers.into_iter().map(|h| h.name).filter(|n| !n.is_empty()).collect()
    }
}

#[async_trait]
impl ContainerEngine for CriEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            inspect: Support::Native,
            exec: Support::Native,
            exec_with_stdin: Support::Native,
            exec_stream: Support::Native,
            // tar over the streaming exec (CRI has no archive call).
            copy_to: Support::Emulated,
            copy_from: Support::Emulated,
            // Polled (ListContainers/ListPodSandbox diffed every `event_poll`) unless the runtime
            // has GetContainerEvents, which only opening the stream finds out: the weaker claim.
            events: Support::Emulated,
            host_rootfs: Support::Native,
            proc_root: Support::Native,
            nsenter: Support::Emulated,
            pods: Support::Native,
            // anyctr_host::top and ::probes: the host's /proc and rootfs, or exec in a sandbox.
            top: Support::Emulated,
            probes: Support::Emulated,
            // create/start/stop/remove through CRI, wait by polling, kill from the host
            // (CRI has no signal call): see `lifecycle.rs`.
            lifecycle: Support::Emulated,
            // The CRI log file the runtime writes on its host (this one: CRI is reached through a
            // local socket), read by anyctr_host::logs; CRI has no logs call.
            logs: Support::Emulated,
            // UpdateContainerResources.
            update_resources: Support::Native,
            // PullImage/RemoveImage (CRI has no pause and no restart).
            pull: Support::Native,
            // ListContainerStats / ContainerStats (see `stats`).
            stats: Support::Native,
            ..Capabilities::default()
        }
    }

    fn container_capabilities(&self, container: &ContainerDetail) -> Capabilities {
        let mut caps = self.capabilities().for_runtime(&container.runtime);
        // kill signals from the host, which a sandbox's main process is not on.
        if container.runtime.is_sandboxed() {
            caps.lifecycle = Support::Unsupported;
        }
        // Only a container with an absolute log path has a file to read (sandboxes have none).
        if !container.log_path.as_deref().is_some_and(std::path::Path::is_absolute) {
            caps.logs = Support::Unsupported;
        }
        caps
    }

    async fn identify(&self) -> Result<EngineInfo> {
        let c = &self.client;
        let request = c.request(None, VersionRequest { version: self.cri.api().as_str().into() });
        let v = c.call("identify", self.cri.version(request)).await?;
        let mut info = EngineInfo::new(NAME, v.runtime_name, v.runtime_version);
        info.api_version = Some(v.runtime_api_version);
        info.runtimes = self.handlers().await;
        Ok(info)
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let all = self.everything().await.map_err(|e| e.in_context(NAME, "list"))?;
        Ok(all
            .into_iter()
            .map(|l| l.summary)
            .filter(|s| options.all || s.status.is_running())
            .filter(|s| options.matches_labels(&s.labels))
            .collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        let run = async { self.detail(&self.locate(container).await?).await };
        run.await.map_err(|e| e.in_context(NAME, "inspect").with_container(container))
    }

    /// `ExecSync` without stdin (the runtime kills the process at the timeout); with stdin, the
    /// streaming `Exec`, whose process nothing can end before it exits.
    async fn exec(&self, container: &str, request: ExecRequest) -> Result<ExecResult> {
        let run = async {
            request.validate()?;
            if request.stdin.is_some() {
                let (request, stdin) = request.split_stdin();
                let (limit, timeout) = (request.output_limit, request.timeout);
                let session = self.exec_stream(container, request, true).await?;
                return anyctr_core::buffered_exec::run_to_completion(session, stdin, limit, timeout).await;
            }
            let id = self.running_container(container).await?;
            exec::exec_sync(&self.client, &self.cri, &id, request).await
        };
        run.await.map_err(|e| e.in_context(NAME, "exec").with_container(container))
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let run = async {
            request.validate()?;
            let (request, _) = request.split_stdin();
            exec::refuse_what_cri_cannot_carry(&request, self.client.engine())?;
            let id = self.running_container(container).await?;
            remotecommand::exec_stream(&self.client, &self.cri, &id, request.argv, open_stdin).await
        };
        run.await.map_err(|e| e.in_context(NAME, "exec_stream").with_container(container))
    }

    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        anyctr_core::archive_over_exec::put_archive(self, container, destination, tar).await
    }

    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        anyctr_core::archive_over_exec::get_archive(self, container, path).await
    }

    /// `GetContainerEvents` where the runtime has it, else polled every `event_poll` (see the
    /// `container_events` and `events` modules).
    async fn events(&self, options: EventOptions) -> Result<EventStream> {
        self.cri_events(options).await.map_err(|e| e.in_context(NAME, "events"))
    }

    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        self.cri_stats_one(container).await.map_err(|e| e.in_context(NAME, "stats").with_container(container))
    }

    async fn stats_many(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        self.cri_stats(containers).await.map_err(|e| e.in_context(NAME, "stats_many"))
    }

    async fn create_pod(&self, spec: &PodSpec) -> Result<String> {
        self.run_pod(spec).await.map_err(|e| e.in_context(NAME, "create_pod"))
    }

    async fn remove_pod(&self, sandbox: &str) -> Result<()> {
        let run = async {
            let located = self.locate(sandbox).await?;
            if !located.is_sandbox {
                return Err(Error::invalid_argument(format!("{sandbox} is not a pod sandbox")));
            }
            self.remove_sandbox(&located.summary.id).await
        };
        run.await.map_err(|e| e.in_context(NAME, "remove_pod").with_container(sandbox))
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        self.create_in_pod(spec).await.map_err(|e| e.in_context(NAME, "create"))
    }

    async fn start(&self, container: &str) -> Result<()> {
        self.start_container(container).await.map_err(|e| e.in_context(NAME, "start").with_container(container))
    }

    async fn stop(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        let r = self.stop_container(container, grace).await;
        r.map_err(|e| e.in_context(NAME, "stop").with_container(container))
    }

    async fn kill(&self, container: &str, signal: anyctr_core::model::Signal) -> Result<()> {
        let r = self.kill_container(container, signal).await;
        r.map_err(|e| e.in_context(NAME, "kill").with_container(container))
    }

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        let r = self.remove_container(container, force).await;
        r.map_err(|e| e.in_context(NAME, "remove").with_container(container))
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        self.wait_container(container).await.map_err(|e| e.in_context(NAME, "wait").with_container(container))
    }

    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        let run = async {
            let detail = anyctr_core::engine::update_target(self, container, update).await?;
            if detail.is_sandbox() {
                return Err(Error::invalid_argument("a pod sandbox's resources belong to its containers"));
            }
            anyctr_engine_containerd::update_resources(&self.client, &detail.id, update).await
        };
        run.await.map_err(|e| e.in_context(NAME, "update_resources").with_container(container))
    }

    async fn pull_image(&self, reference: &str, timeout: std::time::Duration) -> Result<ImageSummary> {
        let run = async {
            let image_ref = anyctr_engine_containerd::pull_image(&self.client, reference, timeout).await?;
            let mut image = anyctr_engine_containerd::image_summary(&self.client, &image_ref).await?;
            // The runtime's namespace is containerd's business, not CRI's.
            image.namespace = None;
            Ok(image)
        };
        run.await.map_err(|e: Error| e.in_context(NAME, "pull_image"))
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        anyctr_engine_containerd::remove_image(&self.client, reference, force)
            .await
            .map_err(|e| e.in_context(NAME, "remove_image"))
    }
}

async fn probe_cri(config: EngineConfig) -> Result<EngineInfo> {
    connect(config).await?.identify().await
}

fn probe(config: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
    probe_cri(config).boxed()
}

fn connect_dyn(config: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
    async move { Ok(Arc::new(connect(config).await?) as DynEngine) }.boxed()
}

anyctr_core::register_engine!(EngineRegistration {
    name: NAME,
    aliases: &["crio", "cri-o"],
    // CRI-O, iSulad and cri-dockerd; containerd's socket is named containerd by its own engine.
    default_sockets: &[
        "/run/crio/crio.sock",
        "/var/run/crio/crio.sock",
        "/run/isulad.sock",
        "/var/run/cri-dockerd.sock"
    ],
    env_vars: &[anyctr_core::registry::EnvVar::endpoint("CONTAINER_RUNTIME_ENDPOINT", 10)],
    // After containerd and rund: a socket either of them answers is theirs; `cri://` picks this.
    priority: 40,
    probe,
    connect: connect_dyn,
});
