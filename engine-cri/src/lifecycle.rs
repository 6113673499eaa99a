//! Pods and containers through CRI alone: RunPodSandbox, CreateContainer in a sandbox,
//! StartContainer, StopContainer, RemoveContainer, StopPodSandbox and RemovePodSandbox, with the
//! labels kubelet sets (the request builders are the ones the containerd engine uses for CRI).
//!
//! CRI has no kill with a signal and no wait: `kill` signals the container's main process from the
//! host (`anyctr_core::host_signal`: pidfd, checked to be the container's init) for a runc-class
//! runtime, whose verbose pid is a host process, and is `Unsupported` for a sandboxed one; `wait`
//! polls `ContainerStatus` every [`WAIT_POLL`].

use std::time::Duration;

use anyctr_core::host_signal::{self, Delivered, MainProcess};
use anyctr_core::model::{CreateSpec, PodSpec, Signal};
use anyctr_core::{Error, ErrorKind, Result};
use anyctr_engine_containerd::cri_config::{self, MODE_NODE, MODE_POD, PodNetwork};
use anyctr_engine_containerd::name_conflict;
use k8s_cri::v1::{
    ContainerStatusRequest, CreateContainerRequest, LinuxPodSandboxConfig, LinuxSandboxSecurityContext,
    NamespaceOption, PodSandboxConfig, PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest,
    ReopenContainerLogRequest, RunPodSandboxRequest, StartContainerRequest, StopContainerRequest,
    StopPodSandboxRequest,
};

use crate::CriEngine;
use crate::convert;

/// How often `wait` asks `ContainerStatus` whether the container has exited.
pub const WAIT_POLL: Duration = Duration::from_millis(100);

/// How long a removal retries CRI's "not yet" answers (an exit CRI has not processed yet).
const SETTLE: Duration = Duration::from_secs(15);

impl CriEngine {
    /// RunPodSandbox: a host-network pod with kubelet's labels, on the spec's runtime handler.
    pub(crate) async fn run_pod(&self, spec: &PodSpec) -> Result<String> {
        let config = cri_config::pod_config(spec, PodNetwork::Host, None, &[])?;
        let req =
            RunPodSandboxRequest { config: Some(config), runtime_handler: spec.runtime.clone().unwrap_or_default() };
        // A sandbox start includes the shim and (for VM runtimes) a VM: give it more than a call.
        let c = &self.client;
        let bound = c.call_timeout() * 2;
        let mut request = c.request(None, req);
        request.set_timeout(bound);
        let created = c.call_within("create_pod", bound, self.cri.run_pod_sandbox(request)).await;
        Ok(created.map_err(name_conflict)?.pod_sandbox_id)
    }

    /// StopPodSandbox, then RemovePodSandbox (the pod's containers go with it).
    pub(crate) async fn remove_sandbox(&self, id: &str) -> Result<()> {
        let c = &self.client;
        let bound = c.call_timeout() * 2;
        let mut stop = c.request(None, StopPodSandboxRequest { pod_sandbox_id: id.to_owned() });
        stop.set_timeout(bound);
        c.call_within("remove_pod", bound, self.cri.stop_pod_sandbox(stop)).await?;
        let remove = c.request(None, RemovePodSandboxRequest { pod_sandbox_id: id.to_owned() });
        c.call("remove_pod", self.cri.remove_pod_sandbox(remove)).await.map(|_| ())
    }

    /// The config CreateContainer wants for the pod: rebuilt from PodSandboxStatus, with the
    /// creation config where the runtime's verbose info keeps it (containerd does).
    async fn sandbox_config(&self, sandbox_id: &str) -> Result<PodSandboxConfig> {
        let c = &self.client;
        let req = PodSandboxStatusRequest { pod_sandbox_id: sandbox_id.to_owned(), verbose: true };
        let resp = c.call("create", self.cri.pod_sandbox_status(c.request(None, req))).await?;
        let info = convert::verbose_info(&resp.info);
        if let Some(config) = info.get("config").filter(|v| v.is_object()) {
            return Ok(cri_config::pod_config_from_metadata(config));
        }
        let status = resp.status.ok_or_else(|| Error::unexpected("PodSandboxStatus without a status"))?;
        let options = status.linux.as_ref().and_then(|l| l.namespaces.as_ref()).and_then(|n| n.options.clone());
        let network = options.as_ref().map_or(MODE_POD, |o| o.network);
        Ok(PodSandboxConfig {
            log_directory: convert::log_directory(&status, &info).unwrap_or_default(),
            metadata: status.metadata,
            labels: status.labels,
            annotations: status.annotations,
            linux: Some(LinuxPodSandboxConfig {
                security_context: Some(LinuxSandboxSecurityContext {
                    namespace_options: Some(NamespaceOption {
                        network: if network == MODE_NODE { MODE_NODE } else { MODE_POD },
                        ..options.unwrap_or_default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// CreateContainer in the spec's pod sandbox. CRI makes containers only in a sandbox: a spec
    /// without one is refused (create the pod first with `create_pod`).
    pub(crate) async fn create_in_pod(&self, spec: &CreateSpec) -> Result<String> {
        spec.validate()?;
        spec.refuse_log_options(
            crate::NAME,
            "CRI has no per-container log options: the runtime writes the log, the kubelet rotates it",
        )?;
        let Some(pod) = &spec.pod_sandbox else {
            return Err(Error::invalid_argument(
                "CRI creates containers only in a pod sandbox: create one with create_pod and set pod_sandbox",
            ));
        };
        if spec.network_mode.is_some() || spec.hostname.is_some() {
            return Err(Error::invalid_argument(
                "network mode and hostname belong to the pod in CRI: set them on the pod, not the container",
            ));
        }
        let Some(name) = spec.name.clone() else {
            return Err(Error::invalid_argument("CRI needs a container name (its Kubernetes container name)"));
        };
        let sandbox = self.locate(pod).await?;
        if !sandbox.is_sandbox {
            return Err(Error::invalid_argument(format!("{pod} is not a pod sandbox")));
        }
        let pod_config = self.sandbox_config(&sandbox.summary.id).await?;
        let config = cri_config::container_config(spec, &name, &pod_config, &[])?;
        let req = CreateContainerRequest {
            pod_sandbox_id: sandbox.summary.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod_config),
        };
        let c = &self.client;
        Ok(c.call("create", self.cri.create_container(c.request(None, req))).await.map_err(name_conflict)?.container_id)
    }

    pub(crate) async fn start_container(&self, container: &str) -> Result<()> {
        let id = self.container_id(container).await?;
        let c = &self.client;
        c.call("start", self.cri.start_container(c.request(None, StartContainerRequest { container_id: id })))
            .await
            .map(|_| ())
    }

    /// ReopenContainerLog: the runtime closes the container's log file and writes on to a new
    /// file at its log path — kubelet's rotation, which renames the log first. The container
    /// must be running. anyctr's log readers follow such a rotation (anyctr-host `logs`).
    pub async fn reopen_container_log(&self, container: &str) -> Result<()> {
        let located = self.locate(container).await?;
        let id = located.summary.id;
        if located.is_sandbox {
            let why = format!("{id} is a pod sandbox: it writes no container log");
            return Err(Error::invalid_argument(why).with_engine(crate::NAME).with_container(id));
        }
        // The runtime answers a stopped container with an untyped "container is not running".
        if !located.summary.status.is_running() {
            let why = format!("container {id} is not running: no writer holds its log to reopen");
            return Err(Error::new(ErrorKind::Conflict, why).with_engine(crate::NAME).with_container(id));
        }
        let c = &self.client;
        let req = c.request(None, ReopenContainerLogRequest { container_id: id.clone() });
        c.call("reopen_log", self.cri.reopen_container_log(req))
            .await
            .map(|_| ())
            .map_err(|e| e.with_engine(crate::NAME).with_container(id))
    }

    /// StopContainer with the grace period; StopPodSandbox for a sandbox.
    pub(crate) async fn stop_container(&self, container: &str, grace: std::time::Duration) -> Result<()> {
        let located = self.locate(container).await?;
        let c = &self.client;
        if located.is_sandbox {
            let bound = c.call_timeout() * 2;
            let mut req = c.request(None, StopPodSandboxRequest { pod_sandbox_id: located.summary.id });
            req.set_timeout(bound);
            return c.call_within("stop", bound, self.cri.stop_pod_sandbox(req)).await.map(|_| ());
        }
        let bound = c.call_timeout() + grace;
        let grace = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let mut req = c.request(None, StopContainerRequest { container_id: located.summary.id, timeout: grace });
        req.set_timeout(bound);
        c.call_within("stop", bound, self.cri.stop_container(req)).await.map(|_| ())
    }

    /// RemoveContainer (a running one only with `force`, which stops it first); a sandbox is
    /// stopped and removed with its containers.
    pub(crate) async fn remove_container(&self, container: &str, force: bool) -> Result<()> {
        let located = self.locate(container).await?;
        let id = located.summary.id.clone();
        let running = located.summary.status.is_running();
        if running && !force {
            return Err(Error::new(ErrorKind::Conflict, format!("container {id} is running; stop it or force")));
        }
        if located.is_sandbox {
            return self.remove_sandbox(&id).await;
        }
        let c = &self.client;
        if force {
            let req = c.request(None, StopContainerRequest { container_id: id.clone(), timeout: 0 });
            c.call("remove", self.cri.stop_container(req)).await?;
        }
        // A runtime learns of an exit asynchronously; until it has, it may refuse the removal.
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let req = c.request(None, RemoveContainerRequest { container_id: id.clone() });
            match c.call("remove", self.cri.remove_container(req)).await {
                Err(e) if e.message().contains("still running") && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(WAIT_POLL).await;
                }
                other => return other.map(|_| ()),
            }
        }
    }

    /// Polls ContainerStatus until the container has exited; returns its exit code. A container
    /// that was never started is `Conflict` (it would never exit).
    pub(crate) async fn wait_container(&self, container: &str) -> Result<i64> {
        let id = self.container_id(container).await?;
        let c = &self.client;
        loop {
            let req = ContainerStatusRequest { container_id: id.clone(), verbose: false };
            let status =
                c.call("wait", self.cri.container_status(c.request(None, req))).await?.status.unwrap_or_default();
            match status.state {
                2 => return Ok(i64::from(status.exit_code)),
                0 => return Err(Error::new(ErrorKind::Conflict, format!("container {id} has not been started"))),
                _ => tokio::time::sleep(WAIT_POLL).await,
            }
        }
    }

    /// Signals the main process from the host (see the module docs).
    pub(crate) async fn kill_container(&self, container: &str, signal: Signal) -> Result<()> {
        let located = self.locate(container).await?;
        if located.is_sandbox {
            return Err(Error::invalid_argument(format!(
                "{} is a pod sandbox: it stops with StopPodSandbox",
                located.summary.id
            )));
        }
        let detail = self.detail(&located).await?;
        let not_running = || Error::new(ErrorKind::Conflict, format!("container {} is not running", detail.id));
        if !detail.state.status.is_running() {
            return Err(not_running());
        }
        if detail.runtime.is_sandboxed() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "CRI has no signal call, and the main process of {} runs in a sandbox ({}) the host cannot signal",
                    detail.id, detail.runtime_name
                ),
            ));
        }
        let pid = detail.state.pid.ok_or_else(not_running)?;
        let main = MainProcess { container_id: &detail.id, pid, rootfs: None };
        match host_signal::signal_main_process(main, signal.number())? {
            Delivered::Signalled => Ok(()),
            Delivered::AlreadyExited => Err(not_running()),
        }
    }

    /// The full id of a container that is not a sandbox.
    async fn container_id(&self, container: &str) -> Result<String> {
        let located = self.locate(container).await?;
        if located.is_sandbox {
            return Err(Error::invalid_argument(format!(
                "{} is a pod sandbox: it starts with RunPodSandbox and stops with the pod",
                located.summary.id
            )));
        }
        Ok(located.summary.id)
    }
}
