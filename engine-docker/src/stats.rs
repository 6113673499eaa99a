//! `stats` from docker's stats API (`GET /containers/{id}/stats?stream=false&one-shot=true`; the
//! document is decoded by `anyctr_docker_api::stats`). Docker has no call for many containers, so
//! `stats_many` asks for each, a few at a time. For a sandboxed container (gVisor here) dockerd
//! relays the runtime's own figures (containerd's task metrics from the shim): labelled
//! `SandboxRuntime`. The facade reads runc-class containers' cgroups instead where it can.

use anyctr_core::model::{ContainerStats, StatsSource};
use anyctr_core::{ErrorKind, ListOptions, Result};
use anyctr_docker_api::encode::component;
use anyctr_docker_api::stats::stats_from_json;
use futures_util::{StreamExt, TryStreamExt};

use crate::client::{Client, ENGINE};

/// Stats requests in flight at once in `stats_many` (dockerd reads each container's cgroup).
const CONCURRENCY: usize = 8;

pub(crate) async fn stats(client: &Client, container: &str) -> Result<ContainerStats> {
    let run = async {
        // Resolves the name and says which runtime measures the container.
        let detail = crate::containers::inspect(client, container).await?;
        if !detail.state.status.is_running() {
            return Err(anyctr_core::Error::new(
                ErrorKind::Conflict,
                format!("container {} is {:?}: no stats", detail.id, detail.state.status),
            ));
        }
        let source = if detail.runtime.is_sandboxed() { StatsSource::SandboxRuntime } else { StatsSource::EngineApi };
        let path = format!("/containers/{}/stats?stream=false&one-shot=true", component(&detail.id));
        let doc = client.get_json("stats", &path).await?;
        stats_from_json(&doc, &detail.id, source)
    };
    run.await.map_err(|e| e.in_context(ENGINE, "stats").with_container(container))
}

pub(crate) async fn stats_many(client: &Client, containers: &[String]) -> Result<Vec<ContainerStats>> {
    let names: Vec<String> = if containers.is_empty() {
        crate::containers::list(client, &ListOptions::running())
            .await
            .map_err(|e| e.in_context(ENGINE, "stats_many"))?
            .into_iter()
            .map(|c| c.id)
            .collect()
    } else {
        containers.to_vec()
    };
    let samples: Vec<Option<ContainerStats>> = futures_util::stream::iter(names)
        .map(|name| async move {
            match stats(client, &name).await {
                Ok(s) => Ok(Some(s)),
                // Gone or stopped since it was named: a sweep races with exits.
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::Conflict) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    Ok(samples.into_iter().flatten().collect())
}
