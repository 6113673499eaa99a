//! `stats` from pouchd's stats API (`GET /containers/{id}/stats?stream=false`, API v1.24: no
//! `one-shot`), decoded by `anyctr_docker_api::stats` (pouch's document is docker's, with
//! `syetem_cpu_usage` misspelled, which anyctr does not read, and zero fields omitted).

use anyctr_core::Result;
use anyctr_core::model::{ContainerStats, StatsSource};
use anyctr_docker_api::stats::stats_from_json;

use crate::client::{self, Client};

pub(crate) async fn stats(client: &Client, id: &str, sandboxed: bool) -> Result<ContainerStats> {
    let doc: serde_json::Value =
        client.get_json(&format!("/containers/{}/stats?stream=false", client::encode_segment(id))).await?;
    let source = if sandboxed { StatsSource::SandboxRuntime } else { StatsSource::EngineApi };
    stats_from_json(&doc, id, source)
}
