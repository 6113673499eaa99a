//! Pods and the container lifecycle. Creating, starting, stopping and removing go through CRI
//! (containerd's own records of CRI containers must stay consistent with CRI's store); kill and
//! wait go to the Tasks service, which works for every container.
//!
//! `create` without `pod_sandbox` makes a host-network pod for the container alone, named after
//! it in Kubernetes namespace `default`, labelled `io.anyctr.auto-pod`; removing the container
//! removes that pod too.
//!
//! CRI makes pods and containers in namespace `k8s.io`: an engine limited to other namespaces
//! refuses to create (`Unsupported`) rather than make what it could not see again.

use std::time::Duration;

use anyctr_core::model::{ContainerStatus, CreateSpec, PodSpec, Signal};
use anyctr_core::{Error, ErrorKind, Result};
use containerd_client::services::v1::{KillRequest, WaitRequest};
use k8s_cri::v1::{
    CreateContainerRequest, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StatusRequest, StopContainerRequest, StopPodSandboxRequest,
};

use crate::ContainerdEngine;
use crate::client::Client;
use crate::convert::ContainerFacts;
use crate::cri;
use crate::cri_config::{self, AUTO_POD_LABEL, MANAGED_LABEL, PodNetwork};

/// Why a CRI container takes no log options.
const CRI_LOGS: &str = "the CRI plugin writes the log and has no per-container options; the kubelet rotates it";
use crate::errors::Said;
use crate::exec::new_exec_id;

impl ContainerdEngine {
    /// RunPodSandbox with host network, kubelet's labels and the runtime handler of `spec`.
    pub async fn cri_create_pod(&self, spec: &PodSpec, extra_labels: &[(&str, &str)]) -> Result<String> {
        self.check_cri_namespace("create_pod")?;
        self.run_pod(spec, PodNetwork::Host, None, extra_labels).await
    }

    async fn run_pod(
        &self,
        spec: &PodSpec,
        network: PodNetwork,
        hostname: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Result<String> {
        run_pod_sandbox(&self.client, spec, network, hostname, extra).await
    }

    /// StopPodSandbox and RemovePodSandbox (the pod's containers go with it).
    pub async fn cri_remove_pod(&self, sandbox: &str) -> Result<()> {
        let facts = self.facts(self.locate(sandbox).await?).await?;
        if !facts.is_sandbox() {
            return Err(Error::invalid_argument(format!("{sandbox} is not a pod sandbox")));
        }
        self.remove_sandbox(&facts).await
    }

    async fn remove_sandbox(&self, facts: &ContainerFacts) -> Result<()> {
        let c = &self.client;
        let id = facts.record.id.clone();
        let bound = c.call_timeout() * 2;
        let mut stop = c.request(None, StopPodSandboxRequest { pod_sandbox_id: id.clone() });
        stop.set_timeout(bound);
        c.call_within("remove_pod", bound, c.cri().stop_pod_sandbox(stop)).await?;
        c.call(
            "remove_pod",
            c.cri().remove_pod_sandbox(c.request(None, RemovePodSandboxRequest { pod_sandbox_id: id })),
        )
        .await?;
        // kubelet removes a pod's log directory; for pods anyctr made, anyctr does.
        if facts.record.labels.get(MANAGED_LABEL).is_some_and(|v| v == "true")
            && let Some(dir) = cri::sandbox_metadata(&facts.record.extensions).and_then(|m| m.log_directory())
            && dir.starts_with("/var/log/pods/")
        {
            let _ = tokio::fs::remove_dir_all(self.host_path(std::path::Path::new(&dir))).await;
        }
        Ok(())
    }

    /// CreateContainer in the spec's pod, or in a pod made for it (see the module docs).
    pub async fn cri_create(&self, spec: &CreateSpec) -> Result<String> {
        spec.validate()?;
        spec.refuse_log_options(anyctr_core::ContainerEngine::name(self), CRI_LOGS)?;
        // Checked before anything is made: without it the pod made for the container could not be
        // found again (nor removed) through this engine's namespaces, and would be left running.
        self.check_cri_namespace("create")?;
        let name = spec.name.clone().unwrap_or_else(|| new_exec_id().replacen("anyctr-", "anyctr-c-", 1));
        let network = PodNetwork::parse(spec.network_mode.as_deref())?;
        let (sandbox_id, auto) = match &spec.pod_sandbox {
            Some(pod) => {
                if spec.network_mode.is_some() || spec.hostname.is_some() {
                    return Err(Error::invalid_argument(
                        "network mode and hostname belong to the pod in CRI: set them on the pod, not the container",
                    ));
                }
                (self.locate(pod).await?.record.id, false)
            }
            None => {
                // Validate the container config before anything is made.
                let probe_pod =
                    cri_config::pod_config(&auto_pod_spec(spec, &name), network, spec.hostname.as_deref(), &[])?;
                cri_config::container_config(spec, &name, &probe_pod, &[])?;
                let pod = self.run_pod(&auto_pod_spec(spec, &name), network, spec.hostname.as_deref(), &[]).await?;
                (pod, true)
            }
        };
        let created = self.create_in_pod(spec, &name, &sandbox_id, auto).await;
        if created.is_err() && auto {
            let _ = self.cri_remove_pod(&format!("{}/{sandbox_id}", crate::CRI_NAMESPACE)).await;
        }
        created
    }

    async fn create_in_pod(&self, spec: &CreateSpec, name: &str, sandbox_id: &str, auto: bool) -> Result<String> {
        let sandbox = self.locate(sandbox_id).await?;
        let meta = cri::sandbox_metadata(&sandbox.record.extensions)
            .ok_or_else(|| Error::invalid_argument(format!("{sandbox_id} is not a CRI pod sandbox")))?;
        let pod_config = cri_config::pod_config_from_metadata(&meta.config);
        let extra: Vec<(&str, &str)> = if auto { vec![(AUTO_POD_LABEL, sandbox_id)] } else { Vec::new() };
        let config = cri_config::container_config(spec, name, &pod_config, &extra)?;
        let req = CreateContainerRequest {
            pod_sandbox_id: sandbox.record.id.clone(),
            config: Some(config),
            sandbox_config: Some(pod_config),
        };
        let c = &self.client;
        Ok(c.call("create", c.cri().create_container(c.request(None, req))).await.map_err(name_conflict)?.container_id)
    }

    /// A CRI container's id, or `InvalidArgument` for containers CRI does not manage.
    pub(crate) async fn cri_container(&self, container: &str) -> Result<ContainerFacts> {
        let facts = self.facts(self.locate(container).await?).await?;
        if !facts.record.extensions.contains_key(cri::CONTAINER_METADATA) && !facts.is_sandbox() {
            return Err(Error::invalid_argument(format!(
                "container {} in namespace {} is not managed by CRI; use the engine that created it",
                facts.record.id, facts.namespace
            )));
        }
        Ok(facts)
    }

    /// StartContainer (a sandbox is started by RunPodSandbox already).
    pub async fn cri_start(&self, container: &str) -> Result<()> {
        let facts = self.cri_container(container).await?;
        if facts.is_sandbox() {
            return Err(Error::invalid_argument("a pod sandbox starts when it is created"));
        }
        let c = &self.client;
        let req = StartContainerRequest { container_id: facts.record.id };
        c.call("start", c.cri().start_container(c.request(None, req))).await.map(|_| ())
    }

    /// StopContainer with the grace period (StopPodSandbox for a sandbox).
    pub async fn cri_stop(&self, container: &str, grace: Duration) -> Result<()> {
        let facts = self.cri_container(container).await?;
        let c = &self.client;
        if facts.is_sandbox() {
            let mut req = c.request(None, StopPodSandboxRequest { pod_sandbox_id: facts.record.id });
            req.set_timeout(c.call_timeout() * 2);
            return c.call_within("stop", c.call_timeout() * 2, c.cri().stop_pod_sandbox(req)).await.map(|_| ());
        }
        let bound = c.call_timeout() + grace;
        let grace = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
        let mut req = c.request(None, StopContainerRequest { container_id: facts.record.id, timeout: grace });
        req.set_timeout(bound);
        c.call_within("stop", bound, c.cri().stop_container(req)).await.map(|_| ())
    }

    /// Tasks.Kill on the init process (any container with a task).
    pub async fn task_kill(&self, container: &str, signal: Signal) -> Result<()> {
        let signal = signal.number();
        let located = self.locate(container).await?;
        let c = &self.client;
        let req = KillRequest {
            container_id: located.record.id.clone(),
            exec_id: String::new(),
            signal: signal as u32,
            all: false,
        };
        c.call("kill", c.tasks().kill(c.request(Some(&located.namespace), req))).await.map(|_| ()).map_err(|e| match e
            .kind()
        {
            ErrorKind::NotFound => {
                Error::new(ErrorKind::Conflict, format!("container {} is not running", located.record.id))
            }
            _ if Said::ProcessGone.in_error(&e) => Error::new(Said::ProcessGone.kind(), e.message().to_owned()),
            _ => e,
        })
    }

    /// RemoveContainer (a running container only with `force`, which stops it first);
    /// RemovePodSandbox for a sandbox.
    pub async fn cri_remove(&self, container: &str, force: bool) -> Result<()> {
        let facts = self.cri_container(container).await?;
        let running = facts.state().status.is_running();
        if running && !force {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("container {} is running; stop it or force", facts.record.id),
            ));
        }
        if facts.is_sandbox() {
            return self.remove_sandbox(&facts).await;
        }
        let c = &self.client;
        // With force, stop even what looks exited: CRI learns of a task's exit asynchronously and
        // refuses to remove a container it still believes running (seen right after a wait).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        let id = &facts.record.id;
        // A sandboxed runtime's shim (gVisor here) goes away with the task it ran: a stop that
        // races the exit gets "ttrpc: closed" from the dead shim until CRI has handled the exit;
        // the stop then finds the container exited.
        if running || force {
            retry_while(deadline, Said::ShimClosed, || {
                let req = c.request(None, StopContainerRequest { container_id: id.clone(), timeout: 0 });
                async move { c.call("remove", c.cri().stop_container(req)).await }
            })
            .await?;
        }
        // CRI handles a task's exit asynchronously: until it has, it refuses the removal with
        // "still running" even after StopContainer.
        retry_while(deadline, Said::StillRunning, || {
            let req = c.request(None, RemoveContainerRequest { container_id: id.clone() });
            async move { c.call("remove", c.cri().remove_container(req)).await }
        })
        .await?;
        if let Some(pod) = facts.record.labels.get(AUTO_POD_LABEL) {
            match self.cri_remove_pod(&format!("{}/{pod}", facts.namespace)).await {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Waits for the init process to exit (no bound but the caller's: a wait lasts as long as
    /// the container runs). A container that already exited answers at once.
    pub async fn task_wait(&self, container: &str) -> Result<i64> {
        let facts = self.facts(self.locate(container).await?).await?;
        let exact = format!("{}/{}", facts.namespace, facts.record.id);
        let state = facts.state();
        if state.status == ContainerStatus::Exited {
            // Exited already; with CRI the code may not be recorded yet.
            self.settle_exit(&facts, &exact).await;
            let settled = self.facts(self.locate(&exact).await?).await?.state();
            return settled.exit_code.or(state.exit_code).ok_or_else(|| {
                Error::unexpected(format!("container {} exited but no exit code was recorded", facts.record.id))
                    .with_engine(self.client.engine())
                    .with_operation("wait")
            });
        }
        if facts.task.is_none() {
            // Without CRI, a record without a task was never started — or its task was just
            // deleted after an exit and the record is about to go (dockerd cleans up `moby` that
            // way). Give such a record a moment to disappear before calling it not started.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
            while !facts.is_cri() && tokio::time::Instant::now() < deadline {
                match self.locate(&exact).await {
                    Err(e) if e.kind() == ErrorKind::NotFound => return Err(e.with_operation("wait")),
                    _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                }
            }
            return Err(Error::new(ErrorKind::Conflict, format!("container {} has not been started", facts.record.id)));
        }
        let c = &self.client;
        let req = WaitRequest { container_id: facts.record.id.clone(), exec_id: String::new() };
        let req = c.unbounded_request(Some(&facts.namespace), req);
        let code = match c.tasks().wait(req).await {
            Ok(resp) => i64::from(resp.into_inner().exit_status),
            // CRI deletes a task right after its exit: ask CRI for the code then. A Wait that was
            // already in flight meets the shim going away with the task instead ("ttrpc: closed",
            // seen with crun, whose short-lived containers exit before the Wait is answered).
            Err(status) if status.code() == tonic::Code::NotFound || status.message().contains("ttrpc: closed") => {
                // Until CRI has handled the exit it has no code to give.
                self.settle_exit(&facts, &exact).await;
                let again = self.facts(self.locate(&exact).await?).await?;
                again.state().exit_code.ok_or_else(|| crate::client::status_error(status, c.engine(), "wait"))?
            }
            Err(status) => return Err(crate::client::status_error(status, c.engine(), "wait")),
        };
        self.settle_exit(&facts, &exact).await;
        Ok(code)
    }

    /// CRI learns of an exit asynchronously: it deletes the task, then records the exit. In
    /// between, inspect has no exit code and CRI refuses to remove the container. So a wait
    /// returns only once CRI has recorded the exit (for CRI containers) or the task has stopped
    /// (bounded: 10 s).
    async fn settle_exit(&self, facts: &ContainerFacts, exact: &str) {
        let cri = facts.is_cri();
        let settled = |f: &ContainerFacts| match (cri, &f.task, &f.cri_state) {
            (true, None, Some(s)) => s.state == "exited" && s.exit_code.is_some(),
            (true, _, _) => false,
            (false, _, _) => !f.state().status.is_running(),
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            let Ok(located) = self.locate(exact).await else { return };
            match self.facts(located).await {
                Ok(f) if !settled(&f) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
                _ => return,
            }
        }
    }
}

fn auto_pod_spec(spec: &CreateSpec, name: &str) -> PodSpec {
    // Not the container's labels: a label filter should find the container, not its pod too.
    let labels = [(AUTO_POD_LABEL.to_owned(), "true".to_owned())].into();
    let mut pod = PodSpec::new(name, "default", new_exec_id().replacen("anyctr-", "", 1));
    pod.runtime = spec.runtime.clone();
    pod.labels = labels;
    pod
}

/// CRI's RunPodSandbox for `spec` (kubelet's labels, the spec's runtime handler); also the CRI-only
/// engine's. Returns the sandbox id; a taken pod name is `Conflict`.
pub async fn run_pod_sandbox(
    c: &Client,
    spec: &PodSpec,
    network: PodNetwork,
    hostname: Option<&str>,
    extra: &[(&str, &str)],
) -> Result<String> {
    let config = cri_config::pod_config(spec, network, hostname, extra)?;
    let req = RunPodSandboxRequest { config: Some(config), runtime_handler: spec.runtime.clone().unwrap_or_default() };
    // A sandbox start includes the shim and (for VM runtimes) a VM: give it more than a call.
    let bound = c.call_timeout() * 2;
    let mut request = c.request(None, req);
    request.set_timeout(bound);
    Ok(c.call_within("create_pod", bound, c.cri().run_pod_sandbox(request))
        .await
        .map_err(name_conflict)?
        .pod_sandbox_id)
}

/// CRI refuses a name that is taken with a plain error: make it a `Conflict`.
pub fn name_conflict(e: Error) -> Error {
    if Said::NameTaken.in_error(&e) {
        Error::new(Said::NameTaken.kind(), e.message().to_owned()).with_source(e)
    } else {
        e
    }
}

/// The runtime handlers CRI is configured with (best effort, from CRI's verbose status).
pub async fn runtime_handlers(c: &Client) -> Vec<String> {
    let Ok(resp) = c.call("identify", c.cri().status(c.request(None, StatusRequest { verbose: true }))).await else {
        return Vec::new();
    };
    let config = resp.info.get("config").and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    let mut names: Vec<String> = config
        .as_ref()
        .and_then(|v| v.pointer("/containerd/runtimes"))
        .and_then(|r| r.as_object())
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Runs `call` until it answers anything but an error that says `transient`, or until `deadline`,
/// when that error is returned: for CRI answers that only say "not yet".
async fn retry_while<T, F, Fut>(deadline: tokio::time::Instant, transient: Said, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    loop {
        match call().await {
            Err(e) if transient.in_error(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}
