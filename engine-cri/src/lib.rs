//! anyctr engine `cri`: any container runtime that speaks the Kubernetes CRI API (CRI-O,
//! containerd's CRI plugin, iSulad, cri-dockerd, …), through that API alone — RuntimeService
//! `v1` on the runtime's socket (`cri:///run/crio/crio.sock`, or `CONTAINER_RUNTIME_ENDPOINT`).
//!
//! What CRI gives, and so what this engine does:
//! - list and inspect: `ListContainers` + `ListPodSandbox`, `ContainerStatus` and
//!   `PodSandboxStatus` with `verbose` (the runtime's info: pid, runtime spec, runtime type);
//!   sandboxes are listed as containers in the role `Sandbox`;
//! - exec: `ExecSync` only (buffered; no stdin, user, working directory or extra env);
//! - pods: `RunPodSandbox`/`StopPodSandbox`/`RemovePodSandbox`; containers are created in a sandbox
//!   and started, stopped and removed through CRI; `wait` polls `ContainerStatus`;
//! - host access for runc-class runtimes: the verbose pid gives `/proc/<pid>/root` and the
//!   namespace fast path.
//!
//! Not implemented, so `Unsupported` and not claimed: `exec_kill` (ExecSync's timeout makes the
//! runtime kill the exec's process, but not its children: containerd 1.6 then keeps the call open
//! as long as a child holds the output), streaming exec (CRI's `Exec` hands out a
//! URL of the runtime's streaming server, which speaks SPDY/WebSocket), `kill` (CRI has no
//! signal call, so `lifecycle` is not claimed although create/start/stop/remove/wait work),
//! events (containerd 1.6 has no `GetContainerEvents`; polling is not built), copy, images (CRI
//! has no image load), and the `v1alpha2` API (a runtime that speaks only it is refused with
//! `Unsupported` at connect).
#![forbid(unsafe_code)]

mod convert;
mod exec;
mod lifecycle;

use std::sync::Arc;

use anyctr_core::model::{ContainerDetail, ContainerSummary, CreateSpec, ExecRequest, ExecResult, PodSpec};
use anyctr_core::{
    Capabilities, ContainerEngine, DynEngine, EngineConfig, EngineInfo, EngineRegistration, Error, ErrorKind,
    ListOptions, Result, Support, resolve_container,
};
use anyctr_engine_containerd::Client;
use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use k8s_cri::v1::{
    ContainerStatusRequest, ListContainersRequest, ListPodSandboxRequest, PodSandboxStatusRequest, StatusRequest,
    VersionRequest,
};

pub use lifecycle::WAIT_POLL;

/// The engine name.
pub const NAME: &str = "cri";

/// A CRI runtime reached through its RuntimeService.
#[derive(Debug, Clone)]
pub struct CriEngine {
    client: Client,
}

/// A container or sandbox found by id, prefix or name.
pub(crate) struct Located {
    pub summary: ContainerSummary,
    pub is_sandbox: bool,
}

/// Connects and checks that the socket serves CRI `v1` (`Version`).
pub async fn connect(config: EngineConfig) -> Result<CriEngine> {
    let socket = config.socket_path()?;
    let client = Client::connect(&socket, config.call_timeout, NAME).await.map_err(|e| {
        let message = format!("cannot connect to a CRI runtime at {}: {}", socket.display(), e.message());
        Error::new(e.kind(), message).with_engine(NAME).with_operation("connect").with_source(e)
    })?;
    let c = &client;
    let version = c.call("connect", c.cri().version(c.request(None, VersionRequest { version: "v1".into() }))).await;
    version.map_err(|e| match e.kind() {
        ErrorKind::Unsupported => Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} answers but not CRI runtime.v1 (a runtime that speaks only v1alpha2 is not supported): {}",
                socket.display(),
                e.message()
            ),
        )
        .with_engine(NAME)
        .with_operation("connect"),
        _ => e,
    })?;
    Ok(CriEngine { client })
}

impl CriEngine {
    /// Every container and sandbox, as summaries (sandboxes marked).
    async fn everything(&self) -> Result<Vec<Located>> {
        let c = &self.client;
        let (mut ctrs, mut pods) = (c.cri(), c.cri());
        let containers = c.call("list", ctrs.list_containers(c.request(None, ListContainersRequest::default())));
        let sandboxes = c.call("list", pods.list_pod_sandbox(c.request(None, ListPodSandboxRequest::default())));
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

    async fn sandbox_status(&self, id: &str) -> Result<(k8s_cri::v1::PodSandboxStatus, serde_json::Value)> {
        let c = &self.client;
        let req = PodSandboxStatusRequest { pod_sandbox_id: id.to_owned(), verbose: true };
        let resp = c.call("inspect", c.cri().pod_sandbox_status(c.request(None, req))).await?;
        let info = convert::verbose_info(&resp.info);
        let status = resp.status.ok_or_else(|| Error::unexpected(format!("PodSandboxStatus of {id} has no status")))?;
        Ok((status, info))
    }

    async fn detail(&self, located: &Located) -> Result<ContainerDetail> {
        let id = &located.summary.id;
        if located.is_sandbox {
            let (status, info) = self.sandbox_status(id).await?;
            return Ok(convert::sandbox_detail(&status, &info));
        }
        let c = &self.client;
        let req = ContainerStatusRequest { container_id: id.clone(), verbose: true };
        let resp = c.call("inspect", c.cri().container_status(c.request(None, req))).await?;
        let info = convert::verbose_info(&resp.info);
        let status = resp.status.ok_or_else(|| Error::unexpected(format!("ContainerStatus of {id} has no status")))?;
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
        let list = c.call("inspect", c.cri().list_containers(c.request(None, req))).await?;
        Ok(list.containers.into_iter().next().map(|x| x.pod_sandbox_id).unwrap_or_default())
    }

    /// Runtime handlers the runtime announces (CRI `StatusResponse.runtime_handlers`, newer
    /// runtimes only); empty when it does not say.
    async fn handlers(&self) -> Vec<String> {
        let c = &self.client;
        let Ok(status) = c.call("identify", c.cri().status(c.request(None, StatusRequest { verbose: false }))).await
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
            host_rootfs: Support::Native,
            proc_root: Support::Native,
            nsenter: Support::Emulated,
            pods: Support::Native,
            ..Capabilities::default()
        }
    }

    async fn identify(&self) -> Result<EngineInfo> {
        let c = &self.client;
        let v = c.call("identify", c.cri().version(c.request(None, VersionRequest { version: "v1".into() }))).await?;
        Ok(EngineInfo {
            engine: NAME.to_owned(),
            product: v.runtime_name,
            version: v.runtime_version,
            api_version: Some(v.runtime_api_version),
            runtimes: self.handlers().await,
        })
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

    async fn exec(&self, container: &str, request: ExecRequest) -> Result<ExecResult> {
        let run = async {
            request.validate()?;
            let located = self.locate(container).await?;
            if located.is_sandbox {
                return Err(Error::invalid_argument("a pod sandbox runs no commands; exec into one of its containers"));
            }
            if !located.summary.status.is_running() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("container {} is not running", located.summary.id),
                ));
            }
            exec::exec_sync(&self.client, &located.summary.id, request).await
        };
        run.await.map_err(|e| e.in_context(NAME, "exec").with_container(container))
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

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        let r = self.remove_container(container, force).await;
        r.map_err(|e| e.in_context(NAME, "remove").with_container(container))
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        self.wait_container(container).await.map_err(|e| e.in_context(NAME, "wait").with_container(container))
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
