//! Per-container calls on the node: the entry is found in the indexes (no daemon call) and the
//! call goes to the engine that owns it, with the index's detail wherever the call can use one
//! (host paths, copies, the namespace fast path) — so routing adds no daemon lookup.

use std::path::Path;

use anyctr_core::model::{ExecRequest, ExecResult, ExecSession, LogOptions, LogStream};
use anyctr_core::{ContainerEngine, Error, ErrorKind, Result};
use anyctr_host::copy::{CopyReport, copy_from_container, copy_to_container};
use anyctr_host::host_path::{HostPath, OpenedHostPath};

use super::Node;
use super::view::{NodeContainer, Seen};
use crate::ext::{EngineExt, container_path};
use crate::handle::Engine;

/// A container of the node and the connected engine that owns it.
pub(crate) struct Routed {
    pub entry: NodeContainer,
    pub engine: Engine,
}

/// The entry for `key` among what the connections' indexes hold: one container (possibly seen
/// by several connections), else `NotFound`, or `InvalidArgument` for a key naming different
/// containers (a name used on two engines).
pub(crate) fn pick(
    key: &str,
    seen: Vec<(Seen, Engine)>,
    merge: impl FnOnce(Vec<Seen>) -> Option<NodeContainer>,
) -> Result<Routed> {
    let Some(first) = seen.first() else {
        return Err(Error::not_found(format!("no engine of this node holds container {key}")).with_container(key));
    };
    let id = first.0.detail.id.clone();
    if let Some(other) = seen.iter().find(|(s, _)| s.detail.id != id) {
        return Err(Error::invalid_argument(format!(
            "{key} names several containers: {} on {} and {} on {}; use the full id",
            id, first.0.member, other.0.detail.id, other.0.member
        ))
        .with_container(key));
    }
    let engines: Vec<(std::sync::Arc<str>, Engine)> = seen.iter().map(|(s, e)| (s.member.clone(), e.clone())).collect();
    let entry = merge(seen.into_iter().map(|(s, _)| s).collect()).expect("at least one view");
    let engine = engines.into_iter().find(|(m, _)| *m == entry.member).map(|(_, e)| e).expect("the owner's engine");
    Ok(Routed { entry, engine })
}

impl Node {
    /// Runs a command in the container and collects its output, through the engine that owns it
    /// (see [`ContainerEngine::exec`]), started from the index's detail
    /// ([`ContainerEngine::exec_stream_on`]: no inspect before the exec) where the engine streams
    /// execs, else by the engine's own buffered exec.
    pub async fn exec(&self, container: &str, request: ExecRequest) -> Result<ExecResult> {
        let Routed { entry, engine } = self.route(container)?;
        if !engine.container_capabilities(&entry.detail).exec_stream.is_supported() {
            return engine.exec(&entry.detail.id, request).await;
        }
        let detail = &entry.detail;
        anyctr_core::buffered_exec::buffered(request, |request, open_stdin| {
            engine.exec_stream_on(detail, request, open_stdin)
        })
        .await
        .map_err(|e| e.in_context(engine.name(), "exec").with_container(container))
    }

    /// Starts a command in the container and returns the live session (see
    /// [`ContainerEngine::exec_stream_on`]), from the index's detail.
    pub async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let Routed { entry, engine } = self.route(container)?;
        engine.exec_stream_on(&entry.detail, request, open_stdin).await
    }

    /// The namespace fast path (see [`EngineExt::exec_fast_on`]) with the index's detail: no
    /// daemon call at all. A sandboxed container answers `Unsupported`.
    pub async fn exec_fast(&self, container: &str, request: ExecRequest) -> Result<ExecResult> {
        let Routed { entry, engine } = self.route(container)?;
        engine.exec_fast_on(&entry.detail, request).await
    }

    /// Where a container path lives on the host (see [`EngineExt::host_path`]), from the index's
    /// detail.
    pub fn host_path(&self, container: &str, path: impl AsRef<Path>) -> Result<HostPath> {
        let path = container_path(path.as_ref(), "host_path")?;
        let Routed { entry, engine } = self.route(container)?;
        anyctr_host::host_path::host_path(&entry.detail, &path, engine.host_root())
            .map_err(|e| e.in_context(engine.name(), "host_path").with_container(container))
    }

    /// [`host_path`](Self::host_path), opened (see [`EngineExt::open_host_path`]).
    pub fn open_host_path(&self, container: &str, path: impl AsRef<Path>) -> Result<OpenedHostPath> {
        let path = container_path(path.as_ref(), "host_path")?;
        let Routed { entry, engine } = self.route(container)?;
        anyctr_host::host_path::open(&entry.detail, &path, engine.host_root())
            .map_err(|e| e.in_context(engine.name(), "host_path").with_container(container))
    }

    /// Copies a local file or directory into the container (see [`EngineExt::copy_into`]), the
    /// strategy chosen from the index's detail.
    pub async fn copy_into(
        &self,
        container: &str,
        local_src: impl AsRef<Path>,
        container_dest: impl AsRef<Path>,
    ) -> Result<CopyReport> {
        let dest = container_path(container_dest.as_ref(), "copy_into")?;
        let Routed { entry, engine } = self.route(container)?;
        copy_to_container(engine.as_dyn_engine(), &entry.detail, local_src.as_ref(), &dest, &engine.copy_options())
            .await
    }

    /// Copies a container file or directory out to a local path (see [`EngineExt::copy_out`]).
    pub async fn copy_out(
        &self,
        container: &str,
        container_src: impl AsRef<Path>,
        local_dest: impl AsRef<Path>,
    ) -> Result<CopyReport> {
        let src = container_path(container_src.as_ref(), "copy_out")?;
        let Routed { entry, engine } = self.route(container)?;
        copy_from_container(engine.as_dyn_engine(), &entry.detail, &src, local_dest.as_ref(), &engine.copy_options())
            .await
    }

    /// The container's logs from the cheapest correct source (see
    /// [`EngineExt::container_logs`]).
    pub async fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream> {
        let Routed { entry, engine } = self.route(container)?;
        anyctr_host::logs::container_logs_of(engine.as_dyn_engine(), &entry.detail, options, engine.host_root()).await
    }

    /// The container as its owning engine answers now (a daemon call; the index's copy is
    /// [`container`](Self::container)).
    pub async fn inspect(&self, container: &str) -> Result<anyctr_core::model::ContainerDetail> {
        let Routed { entry, engine } = self.route(container)?;
        engine.inspect(&entry.detail.id).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => e.with_container(container),
            _ => e,
        })
    }
}
