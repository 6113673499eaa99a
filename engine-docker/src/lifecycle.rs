//! Container lifecycle (create, start, stop, kill, remove, wait) and images (load, list).

use std::collections::HashMap;
use std::time::Duration;

use anyctr_core::model::{CreateSpec, ImageSummary, MountSpecKind, Signal};
use anyctr_core::{ByteStream, Error, ErrorKind, Result};
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ImportImageOptionsBuilder, KillContainerOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};

use crate::client::{Client, ENGINE, container_ref};
use crate::{convert, pods};

pub(crate) async fn create(client: &Client, spec: &CreateSpec) -> Result<String> {
    spec.validate().map_err(|e| e.in_context(ENGINE, "create"))?;
    let mut body = create_body(spec);
    let mut name = spec.name.clone();
    if let Some(sandbox) = &spec.pod_sandbox {
        name = Some(pods::join_sandbox(client, sandbox, spec, &mut body).await?);
    }
    create_container(client, name.as_deref(), body).await
}

pub(crate) async fn create_container(client: &Client, name: Option<&str>, body: ContainerCreateBody) -> Result<String> {
    let options = name.map(|n| CreateContainerOptionsBuilder::default().name(n).build());
    let created = client.call("create", client.docker.create_container(options, body)).await.map_err(|e| {
        let e = e.in_context(ENGINE, "create");
        match name {
            Some(n) => e.with_container(n),
            None => e,
        }
    })?;
    Ok(created.id)
}

/// The docker create body for a spec (pod membership is added by `pods`).
pub(crate) fn create_body(spec: &CreateSpec) -> ContainerCreateBody {
    let mounts: Vec<Mount> = spec
        .mounts
        .iter()
        .map(|m| Mount {
            target: Some(m.destination.clone()),
            source: (m.kind != MountSpecKind::Tmpfs).then(|| m.source.clone()),
            typ: Some(match m.kind {
                MountSpecKind::Bind => MountType::BIND,
                MountSpecKind::Volume => MountType::VOLUME,
                MountSpecKind::Tmpfs => MountType::TMPFS,
            }),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let non_empty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: non_empty(&spec.argv),
        env: non_empty(&spec.env),
        labels: (!spec.labels.is_empty())
            .then(|| spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        host_config: Some(HostConfig {
            mounts: (!mounts.is_empty()).then_some(mounts),
            runtime: spec.runtime.clone(),
            network_mode: spec.network_mode.clone(),
            // Validated to fit an i64.
            memory: spec.memory_limit.and_then(|m| i64::try_from(m).ok()),
            // The daemon's log driver keeps its type; only its options are set.
            log_config: (!spec.log_options.is_empty()).then(|| HostConfigLogConfig {
                typ: None,
                config: Some(spec.log_options.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) async fn start(client: &Client, container: &str) -> Result<()> {
    let id = container_ref(container)?;
    client
        .call("start", client.docker.start_container(id, None::<StartContainerOptions>))
        .await
        .map_err(|e| e.with_container(container))
}

pub(crate) async fn stop(client: &Client, container: &str, grace: Duration) -> Result<()> {
    let id = container_ref(container)?;
    let grace = i32::try_from(grace.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX);
    let opts = StopContainerOptionsBuilder::default().t(grace).build();
    // The stop itself may take the whole grace period.
    let limit = client.call_timeout + Duration::from_secs(grace.max(0) as u64);
    client
        .call_within(limit, "stop", client.docker.stop_container(id, Some(opts)))
        .await
        .map_err(|e| e.with_container(container))
}

pub(crate) async fn kill(client: &Client, container: &str, signal: Signal) -> Result<()> {
    let id = container_ref(container)?;
    let opts = KillContainerOptionsBuilder::default().signal(&signal.number().to_string()).build();
    client.call("kill", client.docker.kill_container(id, Some(opts))).await.map_err(|e| e.with_container(container))
}

pub(crate) async fn remove(client: &Client, container: &str, force: bool) -> Result<()> {
    let id = container_ref(container)?;
    let opts = RemoveContainerOptionsBuilder::default().force(force).build();
    client.call("remove", client.docker.remove_container(id, Some(opts))).await.map_err(|e| e.with_container(container))
}

/// Waits for the container to exit (bounded by the call timeout, like every daemon call).
pub(crate) async fn wait(client: &Client, container: &str) -> Result<i64> {
    let id = container_ref(container)?;
    let opts = WaitContainerOptionsBuilder::default().condition("not-running").build();
    let mut stream = client.docker.wait_container(id, Some(opts)).boxed();
    let first = client.call("wait", async move { stream.next().await.transpose() }).await;
    match first {
        Ok(Some(response)) => Ok(response.status_code),
        Ok(None) => Err(Error::unexpected("dockerd ended the wait without an exit code").with_engine(ENGINE)),
        // bollard turns a non-zero exit into an error; for us it is the result.
        Err(e) => match e.source_as::<bollard::errors::Error>() {
            Some(bollard::errors::Error::DockerContainerWaitError { code, .. }) => Ok(*code),
            _ => Err(e),
        },
    }
    .map_err(|e| e.with_container(container))
}

/// Loads a `docker save` tarball; returns the references dockerd reports as loaded.
pub(crate) async fn load_image(client: &Client, tar: ByteStream) -> Result<Vec<String>> {
    let options = ImportImageOptionsBuilder::default().quiet(false).build();
    let body = tar.map_err(|e| std::io::Error::other(e.to_string()));
    let progress = client.docker.import_image_stream(options, body, None);
    let messages: Vec<_> = client.call("load_image", progress.try_collect::<Vec<_>>()).await.map_err(|e| {
        if e.kind() == ErrorKind::Unexpected {
            Error::invalid_argument(format!("dockerd could not load the image tarball: {}", e.message())).with_source(e)
        } else {
            e
        }
    })?;
    let text: Vec<String> = messages.iter().filter_map(|m| m.stream.clone()).collect();
    let refs = loaded_refs(&text);
    if refs.is_empty() {
        return Err(Error::invalid_argument(format!("dockerd loaded no image from the tarball: {text:?}"))
            .with_engine(ENGINE)
            .with_operation("load_image"));
    }
    Ok(refs)
}

/// `Loaded image: busybox:local` / `Loaded image ID: sha256:…` lines → references.
pub(crate) fn loaded_refs(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|s| s.lines())
        .filter_map(|l| l.trim().strip_prefix("Loaded image ID: ").or_else(|| l.trim().strip_prefix("Loaded image: ")))
        .map(|r| anyctr_core::model::normalize_image_ref(r.trim()))
        .collect()
}

pub(crate) async fn list_images(client: &Client) -> Result<Vec<ImageSummary>> {
    let list = client.get_json("list_images", "/images/json").await?;
    convert::image_summaries(&list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::MountSpec;

    #[test]
    fn spec_becomes_a_create_body() {
        let mut spec = CreateSpec::new("busybox:local");
        spec.argv = vec!["sleep".into(), "1".into()];
        spec.env = vec!["A=1".into()];
        spec.labels.insert("k".into(), "v".into());
        spec.runtime = Some("rund".into());
        spec.network_mode = Some("none".into());
        spec.memory_limit = Some(64 << 20);
        spec.log_options.insert("max-size".into(), "8k".into());
        spec.mounts =
            vec![MountSpec::bind("/src", "/dst").read_only(), MountSpec::volume("vol", "/v"), MountSpec::tmpfs("/t")];
        let body = create_body(&spec);
        assert_eq!(body.cmd.as_deref(), Some(&["sleep".to_owned(), "1".to_owned()][..]));
        assert_eq!(body.labels.unwrap()["k"], "v");
        let hc = body.host_config.unwrap();
        assert_eq!(hc.runtime.as_deref(), Some("rund"));
        assert_eq!(hc.network_mode.as_deref(), Some("none"));
        assert_eq!(hc.memory, Some(64 << 20));
        let log = hc.log_config.unwrap();
        assert_eq!((log.typ, log.config.unwrap()["max-size"].as_str()), (None, "8k"));
        let mounts = hc.mounts.unwrap();
        assert_eq!(mounts[0].typ, Some(MountType::BIND));
        assert_eq!(mounts[0].read_only, Some(true));
        assert_eq!(mounts[1].source.as_deref(), Some("vol"));
        assert_eq!(mounts[2].typ, Some(MountType::TMPFS));
        assert_eq!(mounts[2].source, None);
        let empty = create_body(&CreateSpec::new("x"));
        assert!(empty.cmd.is_none() && empty.env.is_none() && empty.labels.is_none());
        let hc = empty.host_config.unwrap();
        assert!(hc.memory.is_none() && hc.log_config.is_none());
    }

    #[test]
    fn load_output_is_parsed() {
        let lines = vec![
            "Loaded image: busybox:local\n".to_owned(),
            "Loaded image: docker.io/library/x:1\nLoaded image ID: sha256:abc\n".to_owned(),
            "something else".to_owned(),
        ];
        assert_eq!(loaded_refs(&lines), ["busybox:local", "x:1", "sha256:abc"]);
    }
}
