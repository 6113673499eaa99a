//! `stats` and `stats_many` from CRI: `ListContainerStats` answers every container in one call
//! (`ContainerStats` is the same figures for one, used when one container is asked for); both
//! go through the engine's API version (`api.rs`: v1, or v1alpha2 where v1 is missing). CRI
//! reports CPU time, memory (usage, working set, RSS, available) and swap; nothing of block IO,
//! PIDs or network, which stay `None`. The limit is not in CRI's answer: it is `available +
//! working set` where the runtime reports an available figure (the kubelet's definition, which
//! containerd computes from the limit), else `None`. The source is labelled from the pod's
//! runtime handler: a handler that is not runc-class (or none) is the sandbox runtime's
//! figures, failing closed like the engine's inspect.

use std::collections::HashMap;

use anyctr_core::model::{ContainerStats, RuntimeClass, StatsSource};
use anyctr_core::{Error, ErrorKind, Result};
use k8s_cri::v1::{
    ContainerState, ContainerStatsRequest, ListContainerStatsRequest, ListContainersRequest, ListPodSandboxRequest,
};

use crate::CriEngine;

/// A running container CRI lists, with its pod's runtime handler.
struct Running {
    id: String,
    name: String,
    handler: String,
}

impl CriEngine {
    /// Samples of the running containers `containers` names (all when empty), in one
    /// `ListContainerStats`. Names are ids, unique id prefixes or CRI container names; one that
    /// names no running container is left out.
    pub(crate) async fn cri_stats(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        let running = self.running().await?;
        let targets: Vec<&Running> = if containers.is_empty() {
            running.iter().collect()
        } else {
            let mut picked: Vec<&Running> = Vec::new();
            for name in containers {
                match pick(name, &running) {
                    Ok(r) if !picked.iter().any(|p| p.id == r.id) => picked.push(r),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            picked
        };
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        // One container: `ContainerStats`; more: every container in one `ListContainerStats`,
        // matched here. Both go through the engine's API version (v1, or v1alpha2).
        let (c, cri) = (&self.client, &self.cri);
        let stats = if let [one] = targets.as_slice() {
            let request = ContainerStatsRequest { container_id: one.id.clone() };
            match c.call("stats", cri.container_stats(c.request(None, request))).await {
                Ok(resp) => resp.stats.into_iter().collect(),
                // Exited and removed since it was listed: no sample, like a name that is not running.
                Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            }
        } else {
            let request = ListContainerStatsRequest { filter: None };
            c.call("stats", cri.list_container_stats(c.request(None, request))).await?.stats
        };
        let by_id: HashMap<&str, &k8s_cri::v1::ContainerStats> =
            stats.iter().filter_map(|s| Some((s.attributes.as_ref()?.id.as_str(), s))).collect();
        Ok(targets.iter().filter_map(|t| Some(sample(t, by_id.get(t.id.as_str())?))).collect())
    }

    /// One container's sample; not running (or gone from the answer) is `Conflict`.
    pub(crate) async fn cri_stats_one(&self, container: &str) -> Result<ContainerStats> {
        let running = self.running().await?;
        let target = match pick(container, &running) {
            Ok(t) => t.id.clone(),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Not running, or not there at all: inspect says which.
                let located = self.locate(container).await?;
                if located.is_sandbox {
                    return Err(Error::invalid_argument(format!(
                        "{} is a pod sandbox: CRI reports stats of its containers",
                        located.summary.id
                    )));
                }
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("container {} is {:?}: no stats", located.summary.id, located.summary.status),
                ));
            }
            Err(e) => return Err(e),
        };
        self.cri_stats(std::slice::from_ref(&target))
            .await?
            .pop()
            .ok_or_else(|| Error::new(ErrorKind::Conflict, format!("container {target} is not running: no stats")))
    }

    /// Running containers (sandboxes are not containers to CRI's stats) with their pod's handler.
    async fn running(&self) -> Result<Vec<Running>> {
        let (c, cri) = (&self.client, &self.cri);
        let containers = c.call("stats", cri.list_containers(c.request(None, ListContainersRequest::default())));
        let sandboxes = c.call("stats", cri.list_pod_sandbox(c.request(None, ListPodSandboxRequest::default())));
        let (containers, sandboxes) = tokio::try_join!(containers, sandboxes)?;
        let handlers: HashMap<String, String> =
            sandboxes.items.into_iter().map(|s| (s.id, s.runtime_handler)).collect();
        Ok(containers
            .containers
            .into_iter()
            .filter(|c| c.state == ContainerState::ContainerRunning as i32)
            .map(|c| Running {
                handler: handlers.get(&c.pod_sandbox_id).cloned().unwrap_or_default(),
                name: c.metadata.map(|m| m.name).unwrap_or_default(),
                id: c.id,
            })
            .collect())
    }
}

/// The container `query` names: an exact id or name, else a unique id prefix.
fn pick<'a>(query: &str, running: &'a [Running]) -> Result<&'a Running> {
    let q = query.trim();
    if q.is_empty() {
        return Err(Error::invalid_argument("empty container id or name"));
    }
    if let Some(r) = running.iter().find(|r| r.id == q) {
        return Ok(r);
    }
    let named: Vec<&Running> = running.iter().filter(|r| r.name == q).collect();
    let candidates = if named.is_empty() { running.iter().filter(|r| r.id.starts_with(q)).collect() } else { named };
    match candidates.as_slice() {
        [one] => Ok(one),
        [] => Err(Error::not_found(format!("no running container with id, id prefix or name {q:?}")).with_container(q)),
        many => Err(Error::invalid_argument(format!(
            "{q:?} names {} running containers: {:?}",
            many.len(),
            many.iter().map(|r| &r.id[..r.id.len().min(12)]).collect::<Vec<_>>()
        ))),
    }
}

fn sample(target: &Running, stats: &k8s_cri::v1::ContainerStats) -> ContainerStats {
    let value = |v: &Option<k8s_cri::v1::UInt64Value>| v.as_ref().map(|v| v.value);
    let stamp = stats.cpu.as_ref().map(|c| c.timestamp).or(stats.memory.as_ref().map(|m| m.timestamp));
    let time = stamp.filter(|&ns| ns > 0).map(chrono::DateTime::from_timestamp_nanos).unwrap_or_else(chrono::Utc::now);
    let sandboxed = RuntimeClass::from_name(&target.handler).is_sandboxed();
    let source = if sandboxed { StatsSource::SandboxRuntime } else { StatsSource::EngineApi };
    let mut s = ContainerStats::new(target.id.as_str(), time, source);
    if let Some(cpu) = &stats.cpu {
        s.cpu.usage_ns = value(&cpu.usage_core_nano_seconds);
    }
    if let Some(mem) = &stats.memory {
        s.memory.usage = value(&mem.usage_bytes);
        s.memory.working_set = value(&mem.working_set_bytes);
        s.memory.rss = value(&mem.rss_bytes);
        s.memory.limit =
            value(&mem.available_bytes).filter(|&a| a > 0).zip(s.memory.working_set).map(|(a, w)| a.saturating_add(w));
    }
    if let Some(swap) = &stats.swap {
        s.memory.swap = value(&swap.swap_usage_bytes);
    }
    s
}
