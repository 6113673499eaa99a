//! The [`ContainerEngine`] trait every engine crate implements.
//!
//! Required methods are the ones every engine has (identify, list, inspect, capabilities). Every
//! other operation has a default that returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)
//! naming the engine and the operation, so an engine that lacks one says so instead of panicking,
//! and its [`Capabilities`] must say the same (the conformance suite checks both directions).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use serde::Serialize;

use crate::capability::Capabilities;
use crate::error::{Error, Result};
use crate::model::{
    ContainerDetail, ContainerStats, ContainerSummary, CreateSpec, Event, EventOptions, ExecRequest, ExecResult,
    ExecSession, ImageSummary, LogOptions, LogStream, PodSpec, ResourceUpdate, Signal,
};

/// A stream of bytes (tar archives, image tarballs).
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A stream of normalized events.
pub type EventStream = BoxStream<'static, Result<Event>>;

/// A shared, type-erased engine, as the facade holds it.
pub type DynEngine = Arc<dyn ContainerEngine>;

/// What an engine says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EngineInfo {
    /// The registered engine name (`docker`, `containerd`, `pouch`, `rund`).
    pub engine: String,
    /// The daemon's own name for itself (`Docker Engine`, `containerd`, `pouchd`).
    pub product: String,
    /// The daemon's version.
    pub version: String,
    /// The API version in use, where the engine has one.
    pub api_version: Option<String>,
    /// Runtimes the daemon offers, where it says.
    pub runtimes: Vec<String>,
}

impl EngineInfo {
    /// What every engine knows about itself; no API version, no runtimes (set those public
    /// fields where the daemon says).
    pub fn new(engine: impl Into<String>, product: impl Into<String>, version: impl Into<String>) -> Self {
        EngineInfo {
            engine: engine.into(),
            product: product.into(),
            version: version.into(),
            api_version: None,
            runtimes: Vec::new(),
        }
    }
}

/// Which containers [`ContainerEngine::list`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Include containers that are not running.
    pub all: bool,
    /// Label filters: `key` → `None` matches any value, `Some(v)` only `v`.
    pub labels: BTreeMap<String, Option<String>>,
}

impl ListOptions {
    /// Every container, running or not.
    pub fn all() -> Self {
        ListOptions { all: true, ..Default::default() }
    }

    /// Running containers only.
    pub fn running() -> Self {
        ListOptions::default()
    }

    /// Adds a label filter (`key=value`, or `key` for any value).
    pub fn label(mut self, filter: &str) -> Self {
        match filter.split_once('=') {
            Some((k, v)) => self.labels.insert(k.to_owned(), Some(v.to_owned())),
            None => self.labels.insert(filter.to_owned(), None),
        };
        self
    }

    /// Whether a container's labels pass the label filters (for engines that filter client-side).
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|(k, want)| match (labels.get(k), want) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        })
    }
}

/// One container engine (a connected daemon). Engines implement it; the facade holds it as
/// [`DynEngine`].
///
/// # Behaviour every engine keeps
/// - Containers are named by full id, unique id prefix or name. An unknown one is `NotFound`, an
///   ambiguous prefix `InvalidArgument` ([`resolve_container`](crate::resolve_container) does this).
/// - Every call is bounded: a daemon that stops answering fails the call with `Timeout` or
///   `EngineUnavailable`; nothing waits forever.
/// - Bad input is refused with `InvalidArgument` before anything changes.
#[async_trait]
pub trait ContainerEngine: Send + Sync + 'static {
    /// The registered engine name (`docker`, `containerd`, …).
    fn name(&self) -> &str;

    /// What the engine supports for a runc-class container.
    fn capabilities(&self) -> Capabilities;

    /// What the engine supports for this container: the engine's capabilities refined by the
    /// container's runtime (a sandboxed container loses host access).
    fn container_capabilities(&self, container: &ContainerDetail) -> Capabilities {
        self.capabilities().for_runtime(&container.runtime)
    }

    /// Where the host's `/` is mounted for this process (`/hostfs` when the agent runs in a
    /// container), as the engine was configured with it ([`EngineConfig::host_root`](crate::EngineConfig));
    /// `None` when it is `/`. Host-side conveniences apply it to every host path they open. An
    /// engine that keeps its config answers it; the default says `None`.
    fn host_root(&self) -> Option<&Path> {
        None
    }

    /// Asks the daemon who it is. Also the health check.
    async fn identify(&self) -> Result<EngineInfo>;

    /// Lists containers.
    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>>;

    /// Inspects one container by id, unique id prefix or name.
    async fn inspect(&self, container: &str) -> Result<ContainerDetail>;

    /// Every container `options` selects, each as [`inspect`](Self::inspect) would answer it, from
    /// a few bulk calls: for an engine whose list already carries everything an inspect reads
    /// (containerd's records and tasks), so that a full index build costs a handful of round
    /// trips rather than one or more per container. Not a capability, an optimization: the
    /// default answers `Unsupported` without a daemon call, and callers then list and inspect.
    async fn inspect_all(&self, options: &ListOptions) -> Result<Vec<ContainerDetail>> {
        let _ = options;
        Err(Error::unsupported(self.name(), "inspect_all"))
    }

    /// Runs a command and collects its output. Requires capability `exec`.
    ///
    /// # Behaviour
    /// - A non-zero exit code is a result; a program that cannot be started is `CommandNotFound`.
    /// - stdout and stderr are kept apart, each capped at `output_limit` with true byte counts.
    /// - Returns once the process exited, even if a background child keeps stdout open.
    /// - A container that is not running is `Conflict`.
    /// - On `timeout` the process is killed and the call fails with `Timeout`.
    async fn exec(&self, container: &str, request: ExecRequest) -> Result<ExecResult> {
        let run = crate::buffered_exec::buffered(request, |request, open_stdin| {
            self.exec_stream(container, request, open_stdin)
        });
        run.await.map_err(|e| e.in_context(self.name(), "exec").with_container(container))
    }

    /// Starts a command and returns a live session. Requires capability `exec_stream`.
    /// `request.stdin` is ignored: with `open_stdin` the session carries a stdin writer.
    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let _ = (container, request, open_stdin);
        Err(Error::unsupported(self.name(), "exec_stream"))
    }

    /// [`exec_stream`](Self::exec_stream) in a container this engine already inspected (from a
    /// fresh [`inspect`](Self::inspect) or a live index's snapshot): what the engine would look up
    /// before an exec (the container's state, runtime, spec, namespace) is taken from `container`
    /// instead of asking the daemon again. A container that stopped since the detail was taken
    /// fails as the daemon says. The default execs by id.
    async fn exec_stream_on(
        &self,
        container: &ContainerDetail,
        request: ExecRequest,
        open_stdin: bool,
    ) -> Result<ExecSession> {
        self.exec_stream(&container.id, request, open_stdin).await
    }

    /// Unpacks a tar stream into directory `destination` (absolute, as the container sees it) of
    /// the container, creating the directory if missing. Requires capability `copy_to`.
    ///
    /// This is the engine's raw archive API (docker's `PUT /containers/{id}/archive`). To copy a
    /// local file or directory, with the strategy chosen per container, use the facade's
    /// `anyctr::EngineExt::copy_into`.
    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        let _ = (container, destination, tar);
        Err(Error::unsupported(self.name(), "put_archive"))
    }

    /// A tar stream of `path` (absolute, as the container sees it), whose single top-level entry is
    /// the path's last component. A missing path is `NotFound`. Requires capability `copy_from`.
    ///
    /// The engine's raw archive API (docker's `GET /containers/{id}/archive`); the path copy is
    /// the facade's `EngineExt::copy_out`.
    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        let _ = (container, path);
        Err(Error::unsupported(self.name(), "get_archive"))
    }

    /// A stream of normalized events. Requires capability `events`.
    async fn events(&self, options: EventOptions) -> Result<EventStream> {
        let _ = options;
        Err(Error::unsupported(self.name(), "events"))
    }

    /// Creates a pod sandbox; returns its id. Requires capability `pods` and `lifecycle`.
    async fn create_pod(&self, spec: &PodSpec) -> Result<String> {
        let _ = spec;
        Err(Error::unsupported(self.name(), "create_pod"))
    }

    /// Stops and removes a pod sandbox with all its containers. Requires `pods` and `lifecycle`.
    async fn remove_pod(&self, sandbox: &str) -> Result<()> {
        let _ = sandbox;
        Err(Error::unsupported(self.name(), "remove_pod"))
    }

    /// Creates a container; returns its id. Requires capability `lifecycle`.
    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        let _ = spec;
        Err(Error::unsupported(self.name(), "create"))
    }

    /// Starts a created container. Requires capability `lifecycle`.
    async fn start(&self, container: &str) -> Result<()> {
        let _ = container;
        Err(Error::unsupported(self.name(), "start"))
    }

    /// Stops a container: SIGTERM, then SIGKILL once `grace` has passed (whole seconds on engines
    /// that count in seconds, rounded up; [`DEFAULT_STOP_GRACE`](crate::model::DEFAULT_STOP_GRACE)
    /// is docker's default). The call is bounded by the call timeout plus `grace`. Requires
    /// `lifecycle`.
    async fn stop(&self, container: &str, grace: Duration) -> Result<()> {
        let _ = (container, grace);
        Err(Error::unsupported(self.name(), "stop"))
    }

    /// Sends `signal` to the container's main process. Requires `lifecycle`.
    async fn kill(&self, container: &str, signal: Signal) -> Result<()> {
        let _ = (container, signal);
        Err(Error::unsupported(self.name(), "kill"))
    }

    /// Removes a container; `force` kills it first if it runs. Requires `lifecycle`.
    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        let _ = (container, force);
        Err(Error::unsupported(self.name(), "remove"))
    }

    /// Waits until the container has exited; returns its exit code. Requires `lifecycle`.
    async fn wait(&self, container: &str) -> Result<i64> {
        let _ = container;
        Err(Error::unsupported(self.name(), "wait"))
    }

    /// Loads images from a `docker save`/OCI tarball; returns the loaded references. Requires `images`.
    async fn load_image(&self, tar: ByteStream) -> Result<Vec<String>> {
        let _ = tar;
        Err(Error::unsupported(self.name(), "load_image"))
    }

    /// Lists images. Requires `images`.
    async fn list_images(&self) -> Result<Vec<ImageSummary>> {
        Err(Error::unsupported(self.name(), "list_images"))
    }

    /// The container's logs from the engine's own API. Requires capability `logs` (`Native`);
    /// where anyctr reads the engine's log file itself (`Emulated`), `anyctr_host::logs` serves
    /// and this default stays `Unsupported`.
    async fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream> {
        let _ = (container, options);
        Err(Error::unsupported(self.name(), "logs"))
    }

    /// One resource-usage sample of a running container from the engine (its stats API, task
    /// metrics or CRI stats). Requires capability `stats`. A container that is not running is
    /// `Conflict`. The facade's `EngineExt::container_stats` reads the host cgroup instead where
    /// it can (no daemon call) and falls back to this.
    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        let _ = container;
        Err(Error::unsupported(self.name(), "stats"))
    }

    /// Samples of many containers in as few daemon calls as the engine allows (the node sweep:
    /// one containerd `Tasks.Metrics`, one CRI `ListContainerStats`). `containers` names them (id,
    /// prefix or name); empty means every running container. A named container that is gone or
    /// not running is left out (a sweep races with exits): the samples' `container` ids say which
    /// were served. Requires capability `stats`. The default asks [`stats`](Self::stats) for each.
    async fn stats_many(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        let names: Vec<String> = if containers.is_empty() {
            self.list(&ListOptions::running()).await?.into_iter().map(|c| c.id).collect()
        } else {
            containers.to_vec()
        };
        let mut out = Vec::with_capacity(names.len());
        for name in &names {
            match self.stats(name).await {
                Ok(sample) => out.push(sample),
                Err(e) if matches!(e.kind(), crate::ErrorKind::NotFound | crate::ErrorKind::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Freezes every process of the container (cgroup freezer, or the sandbox's own pause); the
    /// container reports [`Paused`](crate::model::ContainerStatus::Paused) until
    /// [`unpause`](Self::unpause). Requires capability `pause`.
    async fn pause(&self, container: &str) -> Result<()> {
        let _ = container;
        Err(Error::unsupported(self.name(), "pause"))
    }

    /// Thaws a paused container. Requires capability `pause`.
    async fn unpause(&self, container: &str) -> Result<()> {
        let _ = container;
        Err(Error::unsupported(self.name(), "unpause"))
    }

    /// Stops the container like [`stop`](Self::stop) with `grace`, then starts it again: the
    /// same container, a new main process. Bounded by the call timeout plus `grace`. Requires
    /// capability `restart`.
    async fn restart(&self, container: &str, grace: Duration) -> Result<()> {
        let _ = (container, grace);
        Err(Error::unsupported(self.name(), "restart"))
    }

    /// Changes CPU and memory limits of a (running) container; fields left `None` stay as they
    /// are. An empty or out-of-range update is `InvalidArgument`. Requires capability
    /// `update_resources`.
    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        let _ = (container, update);
        Err(Error::unsupported(self.name(), "update_resources"))
    }

    /// Pulls `reference` (`registry/name:tag` or `…@sha256:…`) from its registry, waiting at most
    /// `timeout`; returns the pulled image as the engine now lists it. An unknown image is
    /// `NotFound`, an unreachable registry `EngineUnavailable`, a too slow pull `Timeout`.
    /// Requires capability `pull`.
    async fn pull_image(&self, reference: &str, timeout: Duration) -> Result<ImageSummary> {
        let _ = (reference, timeout);
        Err(Error::unsupported(self.name(), "pull_image"))
    }

    /// Removes an image by reference or id. Docker's API untags one reference of an image that has
    /// several; CRI removes the image with every reference it has. An unknown image is `NotFound`;
    /// one a container uses is `Conflict` unless `force`. Requires capability `pull`.
    async fn remove_image(&self, reference: &str, force: bool) -> Result<()> {
        let _ = (reference, force);
        Err(Error::unsupported(self.name(), "remove_image"))
    }
}

/// Refuses `operation` on `container` with `Unsupported` unless `claimed` says the container's
/// capabilities (the engine's, refined by its runtime) include it; returns the inspected detail.
/// For operations a daemon would pass on to a runtime that cannot do them (runsc has no `update`).
pub async fn require_for_container<E: ContainerEngine + ?Sized>(
    engine: &E,
    container: &str,
    operation: &'static str,
    claimed: fn(&Capabilities) -> crate::capability::Support,
) -> Result<ContainerDetail> {
    let detail = engine.inspect(container).await?;
    if claimed(&engine.container_capabilities(&detail)).is_supported() {
        Ok(detail)
    } else {
        Err(Error::unsupported(engine.name(), operation).with_container(container))
    }
}

/// What every engine's [`ContainerEngine::update_resources`] checks before it calls its daemon: the
/// update is valid (else `InvalidArgument`, before any call) and the container's runtime can apply
/// it (else `Unsupported`). Returns the inspected container.
pub async fn update_target<E: ContainerEngine + ?Sized>(
    engine: &E,
    container: &str,
    update: &ResourceUpdate,
) -> Result<ContainerDetail> {
    update.validate()?;
    require_for_container(engine, container, "update_resources", |c| c.update_resources).await
}

/// Implements [`ContainerEngine`] for a handle type by forwarding every method — the provided
/// ones too, so the inner engine's overrides are kept — to an inner engine. Used for `Arc<T>`
/// (so a [`DynEngine`] is itself an engine and gets every extension method) and for the facade's
/// handle. `[generics] Type, |this| expression giving &inner`.
#[doc(hidden)]
#[macro_export]
macro_rules! __forward_container_engine {
    ([$($generics:tt)*] $ty:ty, |$this:ident| $inner:expr) => {
        #[$crate::__private::async_trait]
        impl<$($generics)*> $crate::ContainerEngine for $ty {
            fn name(&self) -> &str {
                let $this = self;
                $crate::ContainerEngine::name($inner)
            }
            fn capabilities(&self) -> $crate::Capabilities {
                let $this = self;
                $crate::ContainerEngine::capabilities($inner)
            }
            fn container_capabilities(&self, container: &$crate::model::ContainerDetail) -> $crate::Capabilities {
                let $this = self;
                $crate::ContainerEngine::container_capabilities($inner, container)
            }
            fn host_root(&self) -> Option<&::std::path::Path> {
                let $this = self;
                $crate::ContainerEngine::host_root($inner)
            }
            async fn identify(&self) -> $crate::Result<$crate::EngineInfo> {
                let $this = self;
                $crate::ContainerEngine::identify($inner).await
            }
            async fn list(&self, options: &$crate::ListOptions) -> $crate::Result<Vec<$crate::model::ContainerSummary>> {
                let $this = self;
                $crate::ContainerEngine::list($inner, options).await
            }
            async fn inspect(&self, container: &str) -> $crate::Result<$crate::model::ContainerDetail> {
                let $this = self;
                $crate::ContainerEngine::inspect($inner, container).await
            }
            async fn inspect_all(&self, options: &$crate::ListOptions) -> $crate::Result<Vec<$crate::model::ContainerDetail>> {
                let $this = self;
                $crate::ContainerEngine::inspect_all($inner, options).await
            }
            async fn exec(&self, container: &str, request: $crate::model::ExecRequest) -> $crate::Result<$crate::model::ExecResult> {
                let $this = self;
                $crate::ContainerEngine::exec($inner, container, request).await
            }
            async fn exec_stream(
                &self,
                container: &str,
                request: $crate::model::ExecRequest,
                open_stdin: bool,
            ) -> $crate::Result<$crate::model::ExecSession> {
                let $this = self;
                $crate::ContainerEngine::exec_stream($inner, container, request, open_stdin).await
            }
            async fn exec_stream_on(
                &self,
                container: &$crate::model::ContainerDetail,
                request: $crate::model::ExecRequest,
                open_stdin: bool,
            ) -> $crate::Result<$crate::model::ExecSession> {
                let $this = self;
                $crate::ContainerEngine::exec_stream_on($inner, container, request, open_stdin).await
            }
            async fn put_archive(&self, container: &str, destination: &str, tar: $crate::ByteStream) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::put_archive($inner, container, destination, tar).await
            }
            async fn get_archive(&self, container: &str, path: &str) -> $crate::Result<$crate::ByteStream> {
                let $this = self;
                $crate::ContainerEngine::get_archive($inner, container, path).await
            }
            async fn logs(
                &self,
                container: &str,
                options: &$crate::model::LogOptions,
            ) -> $crate::Result<$crate::model::LogStream> {
                let $this = self;
                $crate::ContainerEngine::logs($inner, container, options).await
            }
            async fn events(&self, options: $crate::model::EventOptions) -> $crate::Result<$crate::EventStream> {
                let $this = self;
                $crate::ContainerEngine::events($inner, options).await
            }
            async fn create_pod(&self, spec: &$crate::model::PodSpec) -> $crate::Result<String> {
                let $this = self;
                $crate::ContainerEngine::create_pod($inner, spec).await
            }
            async fn remove_pod(&self, sandbox: &str) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::remove_pod($inner, sandbox).await
            }
            async fn create(&self, spec: &$crate::model::CreateSpec) -> $crate::Result<String> {
                let $this = self;
                $crate::ContainerEngine::create($inner, spec).await
            }
            async fn start(&self, container: &str) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::start($inner, container).await
            }
            async fn stop(&self, container: &str, grace: ::std::time::Duration) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::stop($inner, container, grace).await
            }
            async fn kill(&self, container: &str, signal: $crate::model::Signal) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::kill($inner, container, signal).await
            }
            async fn remove(&self, container: &str, force: bool) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::remove($inner, container, force).await
            }
            async fn wait(&self, container: &str) -> $crate::Result<i64> {
                let $this = self;
                $crate::ContainerEngine::wait($inner, container).await
            }
            async fn load_image(&self, tar: $crate::ByteStream) -> $crate::Result<Vec<String>> {
                let $this = self;
                $crate::ContainerEngine::load_image($inner, tar).await
            }
            async fn list_images(&self) -> $crate::Result<Vec<$crate::model::ImageSummary>> {
                let $this = self;
                $crate::ContainerEngine::list_images($inner).await
            }
            async fn pause(&self, container: &str) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::pause($inner, container).await
            }
            async fn unpause(&self, container: &str) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::unpause($inner, container).await
            }
            async fn restart(&self, container: &str, grace: ::std::time::Duration) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::restart($inner, container, grace).await
            }
            async fn update_resources(
                &self,
                container: &str,
                update: &$crate::model::ResourceUpdate,
            ) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::update_resources($inner, container, update).await
            }
            async fn pull_image(
                &self,
                reference: &str,
                timeout: ::std::time::Duration,
            ) -> $crate::Result<$crate::model::ImageSummary> {
                let $this = self;
                $crate::ContainerEngine::pull_image($inner, reference, timeout).await
            }
            async fn remove_image(&self, reference: &str, force: bool) -> $crate::Result<()> {
                let $this = self;
                $crate::ContainerEngine::remove_image($inner, reference, force).await
            }
            async fn stats(&self, container: &str) -> $crate::Result<$crate::model::ContainerStats> {
                let $this = self;
                $crate::ContainerEngine::stats($inner, container).await
            }
            async fn stats_many(&self, containers: &[String]) -> $crate::Result<Vec<$crate::model::ContainerStats>> {
                let $this = self;
                $crate::ContainerEngine::stats_many($inner, containers).await
            }
        }
    };
}

// A shared engine is an engine: `Arc<dyn ContainerEngine>` ([`DynEngine`]) and `Arc<ConcreteEngine>`
// can be passed wherever one is expected, and get the facade's extension methods.
crate::__forward_container_engine!([T: ContainerEngine + ?Sized] Arc<T>, |this| &**this);
