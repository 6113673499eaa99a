//! `stats` and `stats_many` from containerd's `Tasks.Metrics`: one call per namespace for any
//! number of containers (filters `id==…`, OR'd by containerd). Each metric's payload is the
//! shim's cgroup metrics, v1 or v2 (decoded in `metrics_proto`). For a sandboxed runtime (runsc
//! here) the shim reports the sandbox's own figures: labelled `SandboxRuntime`.

use std::collections::BTreeMap;

use anyctr_core::model::{ContainerStats, ContainerSummary, StatsSource};
use anyctr_core::{ContainerEngine, Error, ErrorKind, ListOptions, Result, resolve_container};
use containerd_client::services::v1::MetricsRequest;
use containerd_client::types::Metric;
use prost::Message;

use crate::ContainerdEngine;
use crate::metrics_proto::{V1_TYPE, V2_TYPE, fill_v1, fill_v2, v1, v2};

impl ContainerdEngine {
    /// One container's sample (see the module docs).
    pub(crate) async fn task_stats(&self, container: &str) -> Result<ContainerStats> {
        let running = self.list(&ListOptions::running()).await?;
        let target = match resolve_container(container, &running) {
            Ok(c) => c.clone(),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Not running, or not there at all: inspect says which.
                let detail = self.inspect(container).await?;
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("container {} is {:?}: no stats", detail.id, detail.state.status),
                ));
            }
            Err(e) => return Err(e),
        };
        let mut got = self.metrics_of(&[target]).await?;
        got.pop().ok_or_else(|| {
            Error::new(ErrorKind::Conflict, format!("container {container} has no running task: no stats"))
        })
    }

    /// Samples of the running containers `containers` names (all running ones when empty).
    pub(crate) async fn task_stats_many(&self, containers: &[String]) -> Result<Vec<ContainerStats>> {
        let running = self.list(&ListOptions::running()).await?;
        let targets: Vec<ContainerSummary> = if containers.is_empty() {
            running
        } else {
            let mut picked: Vec<ContainerSummary> = Vec::new();
            for name in containers {
                match resolve_container(name, &running) {
                    Ok(c) if !picked.iter().any(|p| p.id == c.id && p.namespace == c.namespace) => {
                        picked.push(c.clone())
                    }
                    Ok(_) => {}
                    // Gone or stopped since it was named: a sweep races with exits.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            picked
        };
        self.metrics_of(&targets).await
    }

    /// One `Tasks.Metrics` per namespace for `targets`, in the order containerd answers.
    async fn metrics_of(&self, targets: &[ContainerSummary]) -> Result<Vec<ContainerStats>> {
        let mut by_ns: BTreeMap<&str, Vec<&ContainerSummary>> = BTreeMap::new();
        for t in targets {
            by_ns.entry(t.namespace.as_deref().unwrap_or_default()).or_default().push(t);
        }
        let c = self.client();
        let mut out = Vec::with_capacity(targets.len());
        for (ns, members) in by_ns {
            let filters = members.iter().map(|m| format!("id=={}", m.id)).collect();
            let req = c.request(Some(ns), MetricsRequest { filters });
            let resp = c.call("stats", c.tasks().metrics(req)).await?;
            for metric in resp.metrics {
                // A task of an exec or of a container not asked for has no summary: skipped.
                let Some(summary) = members.iter().find(|m| m.id == metric.id) else { continue };
                let sandboxed = summary.runtime.as_ref().is_none_or(|r| r.is_sandboxed());
                out.push(sample(&metric, sandboxed)?);
            }
        }
        Ok(out)
    }
}

/// One metric as a sample; an unknown payload type is `Unsupported` (never a sample of zeros).
fn sample(metric: &Metric, sandboxed: bool) -> Result<ContainerStats> {
    let time = metric
        .timestamp
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).unwrap_or(0)))
        .unwrap_or_else(chrono::Utc::now);
    let source = if sandboxed { StatsSource::SandboxRuntime } else { StatsSource::EngineApi };
    let mut s = ContainerStats::new(metric.id.as_str(), time, source);
    let Some(data) = &metric.data else {
        return Err(Error::unexpected(format!("task {} sent metrics without data", metric.id)));
    };
    let type_name = data.type_url.rsplit('/').next().unwrap_or_default();
    let bad = |e: prost::DecodeError| Error::unexpected(format!("task {}: undecodable {type_name}: {e}", metric.id));
    match type_name {
        V1_TYPE => fill_v1(&v1::Metrics::decode(data.value.as_slice()).map_err(bad)?, &mut s),
        V2_TYPE => fill_v2(&v2::Metrics::decode(data.value.as_slice()).map_err(bad)?, &mut s),
        other => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("task {} sent metrics of type {other:?}, which anyctr does not read", metric.id),
            ));
        }
    }
    Ok(s)
}
