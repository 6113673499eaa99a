//! [`EngineExt`]: the host-side conveniences every engine handle gets — host paths, path copies,
//! the namespace fast path and the live index — in the style of object_store's `ObjectStoreExt`:
//! engines implement the small [`ContainerEngine`] trait; everything built from it and from this
//! host lives here, once, for [`Engine`](crate::Engine), a [`DynEngine`], an `Arc` of a concrete
//! engine or a `&dyn ContainerEngine` alike.
//!
//! # Paths
//! Every path argument is `impl AsRef<Path>` on both sides of a copy: a local path is a path on
//! this host (relative to the current directory when relative); a container path is absolute, as
//! the container sees it, and must be UTF-8 (engines' APIs take strings; anything else is
//! `InvalidArgument`). Host paths are resolved under the engine's
//! [`host_root`](ContainerEngine::host_root).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerTop, ExecRequest, ExecResult, LogOptions, LogStream,
};
use anyctr_core::{ContainerEngine, DynEngine, Error, Result};
use anyctr_host::copy::{CopyOptions, CopyReport, copy_from_container, copy_to_container};
use anyctr_host::host_path::{HostPath, OpenedHostPath};
use anyctr_host::nsenter::exec_in_namespaces;
use anyctr_index::{ContainerIndex, IndexOptions};

/// Host-side conveniences on any engine handle. In scope with `use anyctr::prelude::*`.
///
/// Implemented for every sized [`ContainerEngine`] (the facade's [`Engine`](crate::Engine), a
/// [`DynEngine`], `Arc<ConcreteEngine>`, a concrete engine) and for `dyn ContainerEngine`.
/// [`index`](Self::index) needs a handle it can share (`Clone`): an `Engine` or an `Arc`.
pub trait EngineExt: ContainerEngine {
    /// The engine as a trait object (what the core's engine-independent functions take).
    fn as_dyn_engine(&self) -> &dyn ContainerEngine;

    /// Where container path `path` lives on the host, as this process can open it (host root
    /// applied), with where the answer came from and whether it is writable. A sandboxed
    /// container's rootfs answers `Unsupported` ("not host-visible"); its shared volumes answer
    /// normally. Inspects the container first.
    fn host_path(&self, container: &str, path: impl AsRef<Path>) -> impl Future<Output = Result<HostPath>> + Send {
        on_host(self, container, container_path(path.as_ref(), "host_path"), anyctr_host::host_path::host_path)
    }

    /// [`host_path`](Self::host_path), opened: a handle on the file or directory that stays the
    /// same whatever the container does next (see [`anyctr_host::host_path::open`]). Read
    /// container files through it, never through the path.
    fn open_host_path(
        &self,
        container: &str,
        path: impl AsRef<Path>,
    ) -> impl Future<Output = Result<OpenedHostPath>> + Send {
        on_host(self, container, container_path(path.as_ref(), "host_path"), anyctr_host::host_path::open)
    }

    /// Runs `request` through the namespace fast path: entering the container init's namespaces
    /// and cgroups from this host instead of asking the engine. Needs root, a runc-class container
    /// and an engine whose pids are host pids (it claims `nsenter`); a sandboxed runtime answers
    /// `Unsupported` ("not host-visible"): use [`exec`](ContainerEngine::exec) there. Inspects
    /// the container first, so the pid is fresh; [`exec_fast_on`](Self::exec_fast_on) skips that
    /// round trip. See [`anyctr_host::nsenter`] for what is and is not applied.
    fn exec_fast(&self, container: &str, request: ExecRequest) -> impl Future<Output = Result<ExecResult>> + Send {
        async move {
            let detail = self.inspect(container).await?;
            self.exec_fast_on(&detail, request).await
        }
    }

    /// [`exec_fast`](Self::exec_fast) on a container already inspected — from a fresh
    /// [`inspect`](ContainerEngine::inspect) or the live index's snapshot — with no daemon round
    /// trip. The detail must be current: a pid reused by a host process is refused, but one
    /// reused by another container's process since the detail was taken cannot be told apart
    /// (take it from the index, which follows the container's events, or inspect just before).
    fn exec_fast_on(
        &self,
        detail: &ContainerDetail,
        request: ExecRequest,
    ) -> impl Future<Output = Result<ExecResult>> + Send {
        async move {
            // A sandboxed runtime gets the core's "not host-visible" answer; an engine that does
            // not claim the fast path (its pids may not be this host's) is refused before any pid
            // is used.
            if !detail.runtime.is_sandboxed() && !self.capabilities().nsenter.is_supported() {
                return Err(Error::unsupported(self.name(), "exec_fast").with_container(&detail.id));
            }
            exec_in_namespaces(detail, request, self.host_root())
                .await
                .map_err(|e| e.in_context(self.name(), "exec_fast"))
        }
    }

    /// Copies the local file or directory `local_src` into the container, to `container_dest`
    /// (the path the copy will have), picking the first strategy that works for this container —
    /// host path for runc-class runtimes, the engine's archive API
    /// ([`put_archive`](ContainerEngine::put_archive)), tar over exec — and reporting which ran and
    /// why the others were skipped. See the module docs for the path arguments.
    fn copy_into(
        &self,
        container: &str,
        local_src: impl AsRef<Path>,
        container_dest: impl AsRef<Path>,
    ) -> impl Future<Output = Result<CopyReport>> + Send {
        let local_src = local_src.as_ref().to_path_buf();
        let dest = container_path(container_dest.as_ref(), "copy_into");
        async move {
            let dest = dest?;
            let detail = self.inspect(container).await?;
            copy_to_container(self.as_dyn_engine(), &detail, &local_src, &dest, &self.copy_options()).await
        }
    }

    /// Copies `container_src` (a file or directory in the container) out to the local path
    /// `local_dest` (the path the copy will have); strategies as for
    /// [`copy_into`](Self::copy_into), the archive one being
    /// [`get_archive`](ContainerEngine::get_archive).
    fn copy_out(
        &self,
        container: &str,
        container_src: impl AsRef<Path>,
        local_dest: impl AsRef<Path>,
    ) -> impl Future<Output = Result<CopyReport>> + Send {
        let src = container_path(container_src.as_ref(), "copy_out");
        let local_dest = local_dest.as_ref().to_path_buf();
        async move {
            let src = src?;
            let detail = self.inspect(container).await?;
            copy_from_container(self.as_dyn_engine(), &detail, &src, &local_dest, &self.copy_options()).await
        }
    }

    /// The container's logs from the cheapest correct source: the engine's log file read from
    /// the host (json-file, CRI; host root applied, by descriptor) where it is visible, else the
    /// engine's logs API ([`ContainerEngine::logs`], which is the API alone). The stream's
    /// `source` says which served.
    fn container_logs(&self, container: &str, options: &LogOptions) -> impl Future<Output = Result<LogStream>> + Send {
        anyctr_host::logs::container_logs(self.as_dyn_engine(), container, options, self.host_root())
    }

    /// The container's processes (host and in-container pids, parent, user, state, command line,
    /// RSS, CPU time), pid 1's name, whether it reaps zombies and the zombie count, from the
    /// cheapest correct source: the host's `/proc` for a runc-class container (no daemon call
    /// beyond the inspect), `/proc` read inside by one exec for a sandboxed one. The answer's
    /// `source` says which; see [`anyctr_host::top`] for how reaping is decided.
    fn container_top(&self, container: &str) -> impl Future<Output = Result<ContainerTop>> + Send {
        anyctr_host::top::container_top(self.as_dyn_engine(), container, self.host_root())
    }

    /// A [`ProbeCache`](crate::ProbeCache) for this engine's containers: time zone, libc,
    /// hostname and pid 1, computed lazily, each saying how it was found.
    fn probe_cache(&self) -> crate::ProbeCache
    where
        Self: Clone + Sized,
    {
        crate::ProbeCache::new(Arc::new(self.clone()) as DynEngine)
    }

    /// One resource-usage sample from the cheapest correct source: the container's cgroup read
    /// from this host (host root applied, no daemon call) for a runc-class container whose init
    /// this host sees, else the engine's stats API ([`ContainerEngine::stats`]; for a sandbox, the
    /// runtime's own figures). The sample's `source` says which served.
    fn container_stats(&self, container: &str) -> impl Future<Output = Result<ContainerStats>> + Send {
        anyctr_host::cgroup_stats::container_stats(self.as_dyn_engine(), container, self.host_root())
    }

    /// Samples of many running containers (every running one when `containers` is empty) in one
    /// sweep: one list, one cgroup walk, one engine `stats_many` for the rest. An agent that sweeps
    /// repeatedly should keep an [`anyctr_host::cgroup_stats::NodeStats`] instead, which
    /// remembers runtimes docker's list does not say (this call inspects those each time).
    fn container_stats_many(&self, containers: &[String]) -> impl Future<Output = Result<Vec<ContainerStats>>> + Send {
        async move {
            let sweeper = anyctr_host::cgroup_stats::NodeStats::new(self.host_root());
            sweeper.sample(self.as_dyn_engine(), containers).await
        }
    }

    /// [`container_stats`](Self::container_stats) every `interval`, the first sample at once,
    /// until the container stops (the stream then ends with its `Conflict` or `NotFound` error)
    /// or the stream is dropped. CPU percent: [`ContainerStats::cpu_percent_since`] on
    /// consecutive samples.
    fn stats_stream(
        &self,
        container: &str,
        interval: std::time::Duration,
    ) -> futures_util::stream::BoxStream<'_, Result<ContainerStats>>
    where
        Self: Sync,
    {
        let container = container.to_owned();
        Box::pin(futures_util::stream::unfold(Some(true), move |state| {
            let container = container.clone();
            async move {
                let first = state?;
                if !first {
                    tokio::time::sleep(interval).await;
                }
                let sample = self.container_stats(&container).await;
                let next = sample.is_ok().then_some(false);
                Some((sample, next))
            }
        }))
    }

    /// The copy options [`copy_into`](Self::copy_into) and [`copy_out`](Self::copy_out) use:
    /// the defaults with this engine's host root. Pass changed ones to
    /// [`copy_to_container`]/[`copy_from_container`] directly.
    fn copy_options(&self) -> CopyOptions {
        CopyOptions::default().host_root(self.host_root().map(PathBuf::from))
    }

    /// Starts a live index of this engine's containers and pods. By default it keeps stopped
    /// containers too (see [`IndexOptions`]).
    /// Without `options.host`, its reverse lookups (`container_of_pid`, …) read the host through
    /// this engine's host root.
    fn index(&self, mut options: IndexOptions) -> impl Future<Output = Result<ContainerIndex>> + Send
    where
        Self: Clone + Sized,
    {
        if options.host.is_none() {
            let scan = anyctr_host::procscan::ProcScan::new(self.host_root());
            options.host = Some(Arc::new(scan));
        }
        ContainerIndex::start(Arc::new(self.clone()) as DynEngine, options)
    }
}

impl<T: ContainerEngine> EngineExt for T {
    fn as_dyn_engine(&self) -> &dyn ContainerEngine {
        self
    }
}

impl EngineExt for dyn ContainerEngine {
    fn as_dyn_engine(&self) -> &dyn ContainerEngine {
        self
    }
}

/// Inspects the container and answers `resolve(detail, path, host root)` for it, errors named
/// `host_path` with the engine and container.
async fn on_host<E: EngineExt + ?Sized, T>(
    engine: &E,
    container: &str,
    path: Result<String>,
    resolve: fn(&ContainerDetail, &str, Option<&Path>) -> Result<T>,
) -> Result<T> {
    let path = path?;
    let detail = engine.inspect(container).await?;
    resolve(&detail, &path, engine.host_root())
        .map_err(|e| e.in_context(engine.name(), "host_path").with_container(container))
}

/// A container path as the engines take it: UTF-8.
pub(crate) fn container_path(path: &Path, operation: &'static str) -> Result<String> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        Error::invalid_argument(format!("container path {} is not UTF-8", path.display())).with_operation(operation)
    })
}
