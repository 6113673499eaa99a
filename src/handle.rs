use std::ops::Deref;
use std::sync::Arc;

use std::path::Path;

use anyctr_core::model::{ExecRequest, ExecResult, LogOptions, LogStream};
use anyctr_core::{ContainerEngine, DynEngine, EngineConfig, EngineInfo, Error, Result};
use anyctr_host::copy::{CopyOptions, CopyReport, copy_from_container, copy_to_container};
use anyctr_host::host_path::{HostPath, OpenedHostPath, host_path};
use anyctr_host::nsenter::exec_in_namespaces;
use anyctr_index::{ContainerIndex, IndexOptions};

/// A connected engine, with the reason it was chosen.
///
/// Derefs to [`ContainerEngine`], so every engine operation is a method call on it.
#[derive(Clone)]
pub struct Engine {
    inner: DynEngine,
    info: EngineInfo,
    config: EngineConfig,
    choice: String,
}

impl Engine {
    pub(crate) fn new(inner: DynEngine, info: EngineInfo, config: EngineConfig, choice: String) -> Self {
        Engine { inner, info, config, choice }
    }

    /// What the daemon said about itself when connecting.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// The configuration it was connected with (address, host root, call timeout).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Why this engine and socket were chosen, in words (`DOCKER_HOST=unix:///…`, `probed …`).
    pub fn choice(&self) -> &str {
        &self.choice
    }

    pub(crate) fn prefix_choice(&mut self, prefix: &str) {
        self.choice.insert_str(0, prefix);
    }

    /// Where container `path` lives on the host, as this process can open it (host root applied),
    /// with where the answer came from and whether it is writable. A sandboxed container's rootfs
    /// answers `Unsupported` ("not host-visible"); its shared volumes answer normally.
    pub async fn host_path(&self, container: &str, path: &str) -> Result<HostPath> {
        let detail = self.inner.inspect(container).await?;
        host_path(&detail, path, self.config.host_root.as_deref())
            .map_err(|e| e.in_context(self.inner.name(), "host_path").with_container(container))
    }

    /// The container's logs from the cheapest correct source: the engine's log file read from the
    /// host (json-file, CRI; host root applied) where it is visible, else the engine's logs API.
    /// The stream's `source` says which served. (Shadows the trait's API-only
    /// [`ContainerEngine::logs`], still reachable through [`dyn_engine`](Self::dyn_engine).)
    pub async fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream> {
        anyctr_host::logs::container_logs(&*self.inner, container, options, self.config.host_root.as_deref()).await
    }

    /// [`host_path`](Self::host_path), opened: a handle on the file or directory that stays the
    /// same whatever the container does next (see [`anyctr_host::host_path::open`]). Read
    /// container files through it, never through the path.
    pub async fn open_host_path(&self, container: &str, path: &str) -> Result<OpenedHostPath> {
        let detail = self.inner.inspect(container).await?;
        anyctr_host::host_path::open(&detail, path, self.config.host_root.as_deref())
            .map_err(|e| e.in_context(self.inner.name(), "host_path").with_container(container))
    }

    /// Runs `request` through the namespace fast path: entering the container init's namespaces and
    /// cgroups from this host instead of asking the engine (milliseconds instead of a daemon round
    /// trip). Needs root, a runc-class container and an engine whose pids are host pids (it claims
    /// `nsenter`); a sandboxed runtime answers `Unsupported` ("not host-visible"): use
    /// [`exec`](ContainerEngine::exec) there. The container is inspected first, so the pid is
    /// fresh. See [`anyctr_host::nsenter`] for what is and is not applied.
    pub async fn exec_fast(&self, container: &str, request: ExecRequest) -> Result<ExecResult> {
        let detail = self.inner.inspect(container).await?;
        // A sandboxed runtime gets the core's "not host-visible" answer; an engine that does not
        // claim the fast path (its pids may not be this host's) is refused before any pid is used.
        if !detail.runtime.is_sandboxed() && !self.inner.capabilities().nsenter.is_supported() {
            return Err(Error::unsupported(self.inner.name(), "exec_fast").with_container(container));
        }
        exec_in_namespaces(&detail, request, self.config.host_root.as_deref())
            .await
            .map_err(|e| e.in_context(self.inner.name(), "exec_fast"))
    }

    /// Copies a local file or directory into the container (to `container_dest`, the path the copy
    /// will have), picking the first strategy that works for this container — host path for
    /// runc-class runtimes, the engine's archive API, tar over exec — and reporting which ran and
    /// why the others were skipped.
    pub async fn copy_into(&self, container: &str, local_src: &Path, container_dest: &str) -> Result<CopyReport> {
        let detail = self.inner.inspect(container).await?;
        copy_to_container(&*self.inner, &detail, local_src, container_dest, &self.copy_options()).await
    }

    /// Copies a file or directory out of the container to `local_dest` (the path the copy will
    /// have); strategies as for [`copy_into`](Self::copy_into).
    pub async fn copy_out(&self, container: &str, container_src: &str, local_dest: &Path) -> Result<CopyReport> {
        let detail = self.inner.inspect(container).await?;
        copy_from_container(&*self.inner, &detail, container_src, local_dest, &self.copy_options()).await
    }

    fn copy_options(&self) -> CopyOptions {
        CopyOptions { host_root: self.config.host_root.clone(), ..Default::default() }
    }

    /// Starts a live index of this engine's containers and pods.
    pub async fn index(&self, options: IndexOptions) -> Result<ContainerIndex> {
        ContainerIndex::start(self.inner.clone(), options).await
    }

    /// The shared engine object.
    pub fn dyn_engine(&self) -> &DynEngine {
        &self.inner
    }

    /// The shared engine object, owned.
    pub fn into_dyn(self) -> Arc<dyn ContainerEngine> {
        self.inner
    }
}

impl Deref for Engine {
    type Target = dyn ContainerEngine;
    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("engine", &self.inner.name())
            .field("address", &self.config.address.to_string())
            .field("version", &self.info.version)
            .field("choice", &self.choice)
            .finish()
    }
}
