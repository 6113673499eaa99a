//! The rest of the lifecycle on the Docker API (pause, unpause, restart, resource updates) and
//! images from a registry (pull, remove). Shared by the engines that speak it (podman).

use std::time::Duration;

use anyctr_core::model::{ImageSummary, ResourceUpdate, check_image_ref};
use anyctr_core::{Error, Result};
use bollard::models::ContainerUpdateBody;
use bollard::query_parameters::{CreateImageOptions, RemoveImageOptionsBuilder, RestartContainerOptionsBuilder};
use futures_util::TryStreamExt;

use crate::client::{Client, ENGINE, container_ref};
use crate::convert;

pub(crate) async fn pause(client: &Client, container: &str) -> Result<()> {
    let id = container_ref(container)?;
    client.call("pause", client.docker.pause_container(id)).await.map_err(|e| e.with_container(container))
}

pub(crate) async fn unpause(client: &Client, container: &str) -> Result<()> {
    let id = container_ref(container)?;
    client.call("unpause", client.docker.unpause_container(id)).await.map_err(|e| e.with_container(container))
}

pub(crate) async fn restart(client: &Client, container: &str, grace: Duration) -> Result<()> {
    let id = container_ref(container)?;
    let secs = grace.as_secs_f64().ceil() as u64;
    let opts = RestartContainerOptionsBuilder::default().t(i32::try_from(secs).unwrap_or(i32::MAX)).build();
    // The stop half may take the whole grace period.
    let limit = client.call_timeout + Duration::from_secs(secs);
    client
        .call_within(limit, "restart", client.docker.restart_container(id, Some(opts)))
        .await
        .map_err(|e| e.with_container(container))
}

/// The Docker API's update body for `update` (only the fields it changes).
pub(crate) fn update_body(update: &ResourceUpdate) -> ContainerUpdateBody {
    let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    ContainerUpdateBody {
        cpu_shares: update.cpu_shares.map(signed),
        cpu_quota: update.cpu_quota,
        cpu_period: update.cpu_period.map(signed),
        memory: update.memory_limit.map(signed),
        // Without a swap limit dockerd keeps the old memory+swap limit, and refuses a memory
        // limit above it: let swap follow (-1: unlimited, as at create without one).
        memory_swap: update.memory_limit.map(|_| -1),
        ..Default::default()
    }
}

/// Sends a checked update ([`anyctr_core::engine::update_target`]).
pub(crate) async fn update_resources(client: &Client, container: &str, update: &ResourceUpdate) -> Result<()> {
    let id = container_ref(container)?;
    client
        .call("update_resources", client.docker.update_container(id, update_body(update)))
        .await
        .map_err(|e| e.with_container(container))
}

/// Pulls `reference` (the progress stream is read to its end; an error in it fails the pull),
/// then inspects the image it names.
pub(crate) async fn pull_image(client: &Client, reference: &str, timeout: Duration) -> Result<ImageSummary> {
    check_image_ref(reference).map_err(|e| e.in_context(ENGINE, "pull_image"))?;
    let options = CreateImageOptions { from_image: Some(reference.to_owned()), ..Default::default() };
    let progress = client.docker.create_image(Some(options), None, None);
    client.call_within(timeout, "pull_image", progress.try_collect::<Vec<_>>()).await.map_err(pull_error)?;
    inspect_image(client, reference).await
}

/// dockerd reports a missing image or tag inside the progress stream, as text.
fn pull_error(e: Error) -> Error {
    let lower = e.message().to_ascii_lowercase();
    if lower.contains("not found") || lower.contains("manifest unknown") {
        Error::new(anyctr_core::ErrorKind::NotFound, e.message().to_owned()).with_source(e)
    } else if lower.contains("connection refused") || lower.contains("no such host") {
        Error::new(anyctr_core::ErrorKind::EngineUnavailable, e.message().to_owned()).with_source(e)
    } else {
        e
    }
}

pub(crate) async fn inspect_image(client: &Client, reference: &str) -> Result<ImageSummary> {
    let raw = client.get_json("inspect_image", &format!("/images/{reference}/json")).await?;
    convert::image_summaries(&serde_json::Value::Array(vec![raw]))?
        .pop()
        .ok_or_else(|| Error::unexpected("dockerd described no image").with_engine(ENGINE))
}

pub(crate) async fn remove_image(client: &Client, reference: &str, force: bool) -> Result<()> {
    check_image_ref(reference).map_err(|e| e.in_context(ENGINE, "remove_image"))?;
    let opts = RemoveImageOptionsBuilder::default().force(force).build();
    client.call("remove_image", client.docker.remove_image(reference, Some(opts), None)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_body_carries_only_what_changes() {
        let body = update_body(&ResourceUpdate::new().memory_limit(64 << 20));
        assert_eq!(body.memory, Some(64 << 20));
        assert_eq!(body.memory_swap, Some(-1));
        assert_eq!(body.cpu_shares, None);
        let cpu = update_body(&ResourceUpdate::new().cpu_shares(512).cpu_quota(50_000, 100_000));
        assert_eq!((cpu.cpu_shares, cpu.cpu_quota, cpu.cpu_period), (Some(512), Some(50_000), Some(100_000)));
        assert_eq!(cpu.memory_swap, None);
    }
}
