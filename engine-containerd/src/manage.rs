//! The rest of the lifecycle and images from a registry: pause and resume through the Tasks
//! service (CRI has no pause), resource updates and image pull/remove through CRI (so CRI's
//! records, which kubelet reads, stay true). The CRI-only engine uses the free functions too.
//!
//! Pull goes through CRI's ImageService on purpose: containerd 1.6 has no Transfer service, and
//! CRI pulls with the registry settings of its own config (`config_path` hosts, mirrors, plain
//! HTTP) and unpacks for the snapshotter its containers use, which a bare content fetch would not.

use std::time::Duration;

use anyctr_core::model::{ImageSummary, ResourceUpdate, check_image_ref, normalize_image_ref};
use anyctr_core::{Error, ErrorKind, Result};
use containerd_client::services::v1::{PauseTaskRequest, ResumeTaskRequest};
use k8s_cri::v1::{
    ImageSpec, ImageStatusRequest, LinuxContainerResources, ListContainersRequest, PullImageRequest,
    RemoveImageRequest, UpdateContainerResourcesRequest,
};

use crate::ContainerdEngine;
use crate::client::Client;
use crate::options::CRI_NAMESPACE;

impl ContainerdEngine {
    /// Tasks.Pause (`resume: false`) or Tasks.Resume on the container's task.
    pub async fn task_pause(&self, container: &str, resume: bool) -> Result<()> {
        let located = self.locate(container).await?;
        let c = &self.client;
        let id = located.record.id.clone();
        let ns = Some(located.namespace.as_str());
        let answer = if resume {
            c.call("unpause", c.tasks().resume(c.request(ns, ResumeTaskRequest { container_id: id.clone() }))).await
        } else {
            c.call("pause", c.tasks().pause(c.request(ns, PauseTaskRequest { container_id: id.clone() }))).await
        };
        answer.map(|_| ()).map_err(|e| match e.kind() {
            // No task: nothing runs that could be paused.
            ErrorKind::NotFound => Error::new(ErrorKind::Conflict, format!("container {id} is not running")),
            _ => e,
        })
    }

    /// Whether namespace `k8s.io`, where CRI keeps the images it pulls and the pods and
    /// containers it makes, is among the namespaces this engine looks at.
    pub(crate) fn sees_cri_namespace(&self) -> bool {
        let ns = &self.options.namespaces;
        ns.is_empty() || ns.iter().any(|n| n == CRI_NAMESPACE)
    }

    /// `Unsupported` for `operation` when this engine does not look at `k8s.io`: CRI would make
    /// the pod or container there, out of this engine's sight (it could not list, start or
    /// remove it), so nothing is made.
    pub(crate) fn check_cri_namespace(&self, operation: &'static str) -> Result<()> {
        if self.sees_cri_namespace() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{operation} goes through CRI, which makes pods and containers in namespace {CRI_NAMESPACE}, and this \
                 engine looks only at namespace(s) {}: add {CRI_NAMESPACE} to its `namespace` parameter (or create \
                 with containerd's own tools, e.g. `ctr`)",
                self.options.namespaces.join(", ")
            ),
        )
        .with_engine(self.options.engine_name.clone())
        .with_operation(operation))
    }

    /// Pulls through CRI, then answers the image as this engine lists it.
    pub async fn cri_pull(&self, reference: &str, timeout: Duration) -> Result<ImageSummary> {
        let image_ref = pull_image(&self.client, reference, timeout).await?;
        let want = normalize_image_ref(reference);
        let listed = crate::images::list(self).await?;
        let found = listed
            .into_iter()
            .find(|i| i.namespace.as_deref() == Some(CRI_NAMESPACE) && (i.tags.contains(&want) || i.id == image_ref));
        match found {
            Some(image) => Ok(image),
            None => image_summary(&self.client, reference).await,
        }
    }
}

/// CRI's resources for an update: zero leaves a field as it is (containerd's CRI sets only
/// non-zero values).
pub fn cri_resources(update: &ResourceUpdate) -> LinuxContainerResources {
    let signed = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX)).unwrap_or(0);
    LinuxContainerResources {
        cpu_period: signed(update.cpu_period),
        cpu_quota: update.cpu_quota.unwrap_or(0),
        cpu_shares: signed(update.cpu_shares),
        memory_limit_in_bytes: signed(update.memory_limit),
        ..Default::default()
    }
}

/// UpdateContainerResources for a CRI container id.
pub async fn update_resources(c: &Client, container_id: &str, update: &ResourceUpdate) -> Result<()> {
    update.validate()?;
    let req = UpdateContainerResourcesRequest {
        container_id: container_id.to_owned(),
        linux: Some(cri_resources(update)),
        ..Default::default()
    };
    c.call("update_resources", c.cri().update_container_resources(c.request(None, req))).await.map(|_| ())
}

fn spec(reference: &str) -> Option<ImageSpec> {
    Some(ImageSpec { image: reference.to_owned(), ..Default::default() })
}

/// PullImage, bounded by `timeout`; returns CRI's image ref (the config digest).
pub async fn pull_image(c: &Client, reference: &str, timeout: Duration) -> Result<String> {
    check_image_ref(reference)?;
    let mut req = c.request(None, PullImageRequest { image: spec(reference), ..Default::default() });
    req.set_timeout(timeout);
    let answer = c.call_within("pull_image", timeout, c.cri_images().pull_image(req)).await;
    answer.map(|r| r.image_ref).map_err(|e| {
        let lower = e.message().to_ascii_lowercase();
        if lower.contains("not found") {
            Error::new(ErrorKind::NotFound, e.message().to_owned()).with_source(e)
        } else if lower.contains("connection refused") || lower.contains("no such host") {
            Error::new(ErrorKind::EngineUnavailable, e.message().to_owned()).with_source(e)
        } else {
            e
        }
    })
}

/// ImageStatus as a summary; an image CRI does not have is `NotFound`.
pub async fn image_summary(c: &Client, reference: &str) -> Result<ImageSummary> {
    check_image_ref(reference)?;
    let req = ImageStatusRequest { image: spec(reference), verbose: false };
    let status = c.call("image_status", c.cri_images().image_status(c.request(None, req))).await?;
    let image = status.image.ok_or_else(|| Error::not_found(format!("no image {reference}")))?;
    let mut tags: Vec<String> = image.repo_tags.iter().map(|t| normalize_image_ref(t)).collect();
    tags.sort();
    let mut summary = ImageSummary::new(image.id, tags);
    summary.size = Some(image.size);
    summary.namespace = Some(CRI_NAMESPACE.to_owned());
    Ok(summary)
}

/// RemoveImage. CRI removes an image in use and answers success for one it does not have: look
/// first, so an unknown image is `NotFound` and one a container uses is `Conflict` unless `force`.
pub async fn remove_image(c: &Client, reference: &str, force: bool) -> Result<()> {
    let image = image_summary(c, reference).await?;
    if !force {
        let req = c.request(None, ListContainersRequest::default());
        let users: Vec<String> = c
            .call("remove_image", c.cri().list_containers(req))
            .await?
            .containers
            .into_iter()
            .filter(|ct| ct.image_ref == image.id)
            .map(|ct| ct.id.chars().take(12).collect())
            .collect();
        if !users.is_empty() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("image {reference} is used by containers {}; remove them or force", users.join(", ")),
            ));
        }
    }
    c.call("remove_image", c.cri_images().remove_image(c.request(None, RemoveImageRequest { image: spec(reference) })))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_resources_leave_unset_fields_zero() {
        let r = cri_resources(&ResourceUpdate::new().memory_limit(64 << 20));
        assert_eq!(r.memory_limit_in_bytes, 64 << 20);
        assert_eq!((r.cpu_shares, r.cpu_quota, r.cpu_period), (0, 0, 0));
        let r = cri_resources(&ResourceUpdate::new().cpu_shares(512).cpu_quota(50_000, 100_000));
        assert_eq!((r.cpu_shares, r.cpu_quota, r.cpu_period), (512, 50_000, 100_000));
    }
}
