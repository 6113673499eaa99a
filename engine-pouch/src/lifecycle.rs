//! Container lifecycle on pouch: create, start, stop, kill, remove, wait.

use anyctr_core::model::{CreateSpec, MountSpecKind, StopOptions, signal_number};
use anyctr_core::{Error, ErrorKind, Result};
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::client::{self, Client};
use crate::exec::DEFAULT_PATH;
use crate::models;

fn container_path(id: &str, action: &str) -> String {
    format!("/containers/{}{action}", client::encode_segment(id))
}

/// The create body. `OomScoreAdj` is sent as 0 explicitly: pouch's CLI defaults to -500, which
/// a host without CAP_SYS_RESOURCE refuses. `image_env` is the image's env: when neither it nor
/// the spec sets PATH, Docker's default PATH is added (images made by `docker import` have none).
pub fn create_body(spec: &CreateSpec, image_env: &[String]) -> serde_json::Value {
    let mut env = spec.env.clone();
    if !env.iter().chain(image_env).any(|e| e.starts_with("PATH=")) {
        env.push(DEFAULT_PATH.to_owned());
    }
    let mut binds = Vec::new();
    let mut tmpfs = serde_json::Map::new();
    for m in &spec.mounts {
        let ro = if m.read_only { ":ro" } else { "" };
        match m.kind {
            MountSpecKind::Bind | MountSpecKind::Volume => binds.push(format!("{}:{}{ro}", m.source, m.destination)),
            MountSpecKind::Tmpfs => {
                tmpfs.insert(m.destination.clone(), (if m.read_only { "ro" } else { "" }).into());
            }
        }
    }
    let mut host = serde_json::json!({ "Binds": binds, "OomScoreAdj": 0 });
    if !tmpfs.is_empty() {
        host["Tmpfs"] = tmpfs.into();
    }
    if let Some(runtime) = &spec.runtime {
        host["Runtime"] = runtime.clone().into();
    }
    if let Some(mode) = &spec.network_mode {
        host["NetworkMode"] = mode.clone().into();
    }
    let mut body = serde_json::json!({
        "Image": spec.image,
        "Env": env,
        "Labels": spec.labels,
        "HostConfig": host,
    });
    if !spec.argv.is_empty() {
        body["Cmd"] = spec.argv.clone().into();
    }
    for (key, value) in [("WorkingDir", &spec.working_dir), ("User", &spec.user), ("Hostname", &spec.hostname)] {
        if let Some(v) = value {
            body[key] = v.clone().into();
        }
    }
    body
}

pub async fn create(client: &Client, spec: &CreateSpec) -> Result<String> {
    spec.validate()?;
    if spec.pod_sandbox.is_some() {
        return Err(Error::unsupported(crate::ENGINE, "create in a pod sandbox"));
    }
    let image_env = match client
        .get_json::<models::ImageInspect>(&format!("/images/{}/json", client::encode_segment(&spec.image)))
        .await
    {
        Ok(image) => image.config.env,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::not_found(format!("no image {:?} in pouchd (anyctr never pulls)", spec.image)));
        }
        Err(e) => return Err(e),
    };
    let mut path = "/containers/create".to_owned();
    if let Some(name) = &spec.name {
        path.push_str(&format!("?name={}", client::encode_query(name)));
    }
    let created: models::IdResponse = client.post_json(&path, &create_body(spec, &image_env)).await?;
    if created.id.is_empty() {
        return Err(Error::unexpected("pouchd created a container but sent no id"));
    }
    Ok(created.id)
}

/// A POST whose `304 Not Modified` (already started, already stopped) is success.
async fn post_idempotent(client: &Client, path: &str, timeout: std::time::Duration) -> Result<StatusCode> {
    let call = client.send(Method::POST, path, &[("content-type", "application/json")], client::empty());
    let response = tokio::time::timeout(timeout, call).await.map_err(|_| Error::timeout("pouchd call", timeout))??;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return Ok(status);
    }
    Err(client.error_from(response).await)
}

pub async fn start(client: &Client, id: &str) -> Result<()> {
    post_idempotent(client, &container_path(id, "/start"), client.call_timeout()).await.map(|_| ())
}

pub async fn stop(client: &Client, id: &str, options: StopOptions) -> Result<()> {
    let path = format!("{}?t={}", container_path(id, "/stop"), options.grace.as_secs());
    // pouchd answers only after the grace period, so that is added to the bound.
    post_idempotent(client, &path, client.call_timeout() + options.grace).await.map(|_| ())
}

/// `POST /containers/{id}/kill`. pouch 1.3.0 as tagged has no such route (later builds do): a
/// route that is missing answers 404 with a plain-text body, which is told apart from pouch's
/// JSON "container not found"; then SIGKILL falls back to `stop?t=0` and other signals are
/// unsupported.
pub async fn kill(client: &Client, id: &str, signal: &str) -> Result<()> {
    let number = signal_number(signal)?;
    let path = format!("{}?signal={number}", container_path(id, "/kill"));
    let call = client.send(Method::POST, &path, &[("content-type", "application/json")], client::empty());
    let timeout = client.call_timeout();
    let response = tokio::time::timeout(timeout, call).await.map_err(|_| Error::timeout("pouchd call", timeout))??;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = client::read_body(response.into_body(), timeout).await.unwrap_or_default();
    let route_missing = status == StatusCode::NOT_FOUND && serde_json::from_slice::<serde_json::Value>(&body).is_err();
    if !route_missing {
        return Err(client::status_error(status, &body));
    }
    if number == 9 {
        return stop(client, id, StopOptions { grace: std::time::Duration::ZERO }).await;
    }
    Err(Error::unsupported(crate::ENGINE, "kill with a signal other than KILL (this pouchd has no kill API)"))
}

pub async fn remove(client: &Client, id: &str, force: bool) -> Result<()> {
    let path = format!("/containers/{}?force={}", client::encode_segment(id), u8::from(force));
    client.call_bytes(Method::DELETE, &path, client::empty()).await.map(|_| ())
}

/// Waits for the container to exit; not bounded by the call timeout (it may run for days).
pub async fn wait(client: &Client, id: &str) -> Result<i64> {
    let response = client
        .send(Method::POST, &container_path(id, "/wait"), &[("content-type", "application/json")], client::empty())
        .await?;
    if !response.status().is_success() {
        return Err(client.error_from(response).await);
    }
    let body =
        response.into_body().collect().await.map_err(|e| client::unavailable("waiting for the container failed", e))?;
    let answer: models::WaitResponse = client::parse_json(&body.to_bytes(), "wait")?;
    answer.status_code.ok_or_else(|| Error::unexpected("pouchd's wait answer has no StatusCode"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::MountSpec;

    #[test]
    fn create_body_sets_oom_path_and_mounts() {
        let mut spec = CreateSpec::new("busybox:local");
        spec.mounts = vec![MountSpec::bind("/srv", "/data").read_only(), MountSpec::tmpfs("/run/x")];
        spec.runtime = Some("runc".into());
        let b = create_body(&spec, &[]);
        assert_eq!(b["HostConfig"]["OomScoreAdj"], 0);
        assert_eq!(b["HostConfig"]["Binds"], serde_json::json!(["/srv:/data:ro"]));
        assert_eq!(b["HostConfig"]["Tmpfs"]["/run/x"], "");
        assert_eq!(b["Env"], serde_json::json!([DEFAULT_PATH]));
        assert!(b.get("Cmd").is_none());
        let with_path = create_body(&spec, &["PATH=/bin".into()]);
        assert_eq!(with_path["Env"], serde_json::json!([]));
    }
}
