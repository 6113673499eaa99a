//! Choosing the cheapest correct source for containers' stats: the host cgroup for runc-class
//! containers whose processes this host sees (no daemon call), else the engine's stats API (for a
//! sandbox, the runtime's own figures). Each sample's `source` says which served.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyctr_core::model::{ContainerStats, RuntimeClass};
use anyctr_core::{ContainerEngine, Error, ErrorKind, ListOptions, Result, resolve_container};

use super::{CgroupStatsReader, ContainerCgroup};

/// One container's sample: its cgroup where it is runc-class with a host-visible init, else
/// [`ContainerEngine::stats`]. Refused (`Unsupported`) where the engine does not claim `stats`
/// for the container. Inspects the container first.
pub async fn container_stats(
    engine: &dyn ContainerEngine,
    container: &str,
    host_root: Option<&Path>,
) -> Result<ContainerStats> {
    let detail = engine.inspect(container).await?;
    let caps = engine.container_capabilities(&detail);
    if !caps.stats.is_supported() {
        return Err(Error::unsupported(engine.name(), "stats").with_container(container));
    }
    if !detail.state.status.is_running() {
        return Err(Error::new(ErrorKind::Conflict, format!("container {} is not running: no stats", detail.id))
            .in_context(engine.name(), "stats")
            .with_container(container));
    }
    if let (true, Some(pid)) = (caps.proc_root.is_supported(), detail.proc_root_pid()) {
        match CgroupStatsReader::new(host_root).and_then(|r| r.read_pid(&detail.id, pid)) {
            Ok(sample) => return Ok(sample),
            // Not visible from here (another pid or cgroup namespace, no cgroupfs): ask the engine.
            Err(e) => tracing::debug!(container, error = %e, "cgroup not readable here; using the engine's stats"),
        }
    }
    engine.stats(&detail.id).await
}

/// Stats of many containers at once, for an agent sweeping a node repeatedly: keeps the cgroup
/// mounts open and remembers each container's runtime (it never changes for an id), so a sweep
/// costs one list call, one walk of one cgroup hierarchy, and one engine `stats_many` for what
/// the cgroups cannot serve (sandboxes, containers not visible here).
#[derive(Debug)]
pub struct NodeStats {
    host_root: Option<PathBuf>,
    reader: Option<CgroupStatsReader>,
    runtimes: Mutex<HashMap<String, RuntimeClass>>,
}

impl NodeStats {
    /// Opens the host's cgroups under `host_root`; a host without readable cgroups serves
    /// everything from the engine.
    pub fn new(host_root: Option<&Path>) -> Self {
        let reader = CgroupStatsReader::new(host_root)
            .inspect_err(|e| tracing::debug!(error = %e, "no host cgroups here; stats come from the engine"))
            .ok();
        NodeStats { host_root: host_root.map(Path::to_path_buf), reader, runtimes: Mutex::new(HashMap::new()) }
    }

    /// The host root it reads under.
    pub fn host_root(&self) -> Option<&Path> {
        self.host_root.as_deref()
    }

    /// Samples of the running containers `containers` names (every running one when empty);
    /// a named container that is gone or stopped is left out, as
    /// [`ContainerEngine::stats_many`] does. Runtimes the list does not say (docker's) are
    /// inspected once per container and remembered.
    pub async fn sample(&self, engine: &dyn ContainerEngine, containers: &[String]) -> Result<Vec<ContainerStats>> {
        if !engine.capabilities().stats.is_supported() {
            return Err(Error::unsupported(engine.name(), "stats_many"));
        }
        let running = engine.list(&ListOptions::running()).await?;
        let targets: Vec<&anyctr_core::model::ContainerSummary> = if containers.is_empty() {
            running.iter().collect()
        } else {
            let mut picked = Vec::new();
            for name in containers {
                match resolve_container(name, &running) {
                    Ok(c) => picked.push(c),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            picked
        };
        let host_visible = engine.capabilities().proc_root.is_supported();
        let (mut from_cgroup, mut from_engine) = (Vec::new(), Vec::new());
        for t in targets {
            let runtime = match &t.runtime {
                Some(r) => Some(r.clone()),
                None if host_visible && self.reader.is_some() => self.runtime_of(engine, &t.id).await,
                None => None,
            };
            match runtime {
                Some(r) if host_visible && !r.is_sandboxed() => from_cgroup.push(t.id.clone()),
                _ => from_engine.push(t.id.clone()),
            }
        }
        let mut out = Vec::with_capacity(from_cgroup.len() + from_engine.len());
        if let (Some(reader), false) = (&self.reader, from_cgroup.is_empty()) {
            let cgroups = reader.sweep()?;
            let (found, elsewhere): (Vec<_>, Vec<_>) = from_cgroup.into_iter().partition(|id| cgroups.contains_key(id));
            // Not in this host's cgroups (a remote daemon, a custom cgroup parent).
            from_engine.extend(elsewhere);
            let targets: Vec<(&str, &ContainerCgroup)> =
                found.iter().filter_map(|id| Some((id.as_str(), cgroups.get(id)?))).collect();
            for sample in reader.read_many(&targets) {
                match sample {
                    Ok(sample) => out.push(sample),
                    // Exited between the list and the read.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        } else {
            from_engine.extend(from_cgroup);
        }
        if !from_engine.is_empty() {
            out.extend(engine.stats_many(&from_engine).await?);
        }
        Ok(out)
    }

    /// The container's runtime, from the cache or one inspect; `None` when it is gone.
    async fn runtime_of(&self, engine: &dyn ContainerEngine, id: &str) -> Option<RuntimeClass> {
        if let Some(r) = self.runtimes.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Some(r.clone());
        }
        let runtime = engine.inspect(id).await.ok()?.runtime;
        let mut cache = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: forget everything once it holds more than a node can run.
        if cache.len() >= RUNTIME_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(id.to_owned(), runtime.clone());
        Some(runtime)
    }
}

/// How many runtimes [`NodeStats`] remembers before it starts over.
const RUNTIME_CACHE_LIMIT: usize = 100_000;
