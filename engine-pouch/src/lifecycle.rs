//! Container lifecycle on pouch: create, start, stop, kill, remove, wait.

use std::path::Path;

use anyctr_core::model::{ContainerDetail, CreateSpec, MountSpecKind, RootfsView, Signal};
use anyctr_core::{Error, ErrorKind, Result, under_host_root};
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::client::{self, Client};
use crate::exec::DEFAULT_PATH;
use crate::models;
use anyctr_core::host_signal::{self, Delivered, MainProcess};

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
    if let Some(limit) = spec.memory_limit {
        host["Memory"] = limit.into();
    }
    if !spec.log_options.is_empty() {
        // pouchd's LogConfig is Docker's (`Type` in its inspect); only the options are set.
        host["LogConfig"] = serde_json::json!({ "Config": spec.log_options });
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

/// Stops the container: SIGTERM, SIGKILL after `grace`. pouchd 1.3.0 takes `t=0` for "the
/// default 10 s", so a stop without grace kills instead (see [`kill`]); a container that does not
/// run is stopped already.
pub async fn stop(client: &Client, target: &Target<'_>, grace: std::time::Duration) -> Result<()> {
    if !target.detail.state.status.is_running() {
        return Ok(());
    }
    if grace.is_zero() {
        if target.detail.runtime.is_sandboxed() {
            return Err(
                no_kill_for_sandbox(target.detail, "stop without a grace period").with_container(&target.detail.id)
            );
        }
        return kill_and_wait(client, target).await;
    }
    let path = format!("{}?t={}", container_path(&target.detail.id, "/stop"), grace.as_secs().max(1));
    // pouchd answers only after the grace period, so that is added to the bound.
    post_idempotent(client, &path, client.call_timeout() + grace).await.map(|_| ())
}

/// What kill, stop and remove act on: the container as inspected, and where this process finds
/// the host's filesystem.
pub struct Target<'a> {
    pub detail: &'a ContainerDetail,
    pub host_root: Option<&'a Path>,
}

/// `POST /containers/{id}/kill`. pouchd 1.3.0 has no such route (405; builds between answer 404
/// with a plain-text body): then the container's main process is signalled from the host
/// ([`anyctr_core::host_signal`]) for a runc-class runtime, and a sandboxed one is `Unsupported`.
pub async fn kill(client: &Client, target: &Target<'_>, signal: Signal) -> Result<()> {
    let number = signal.number();
    let detail = target.detail;
    if !detail.state.status.is_running() {
        return Err(not_running(detail));
    }
    let path = format!("{}?signal={}", container_path(&detail.id, "/kill"), signal_name(number));
    let call = client.send(Method::POST, &path, &[("content-type", "application/json")], client::empty());
    let timeout = client.call_timeout();
    let response = tokio::time::timeout(timeout, call).await.map_err(|_| Error::timeout("pouchd call", timeout))??;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = client::read_body(response.into_body(), timeout).await.unwrap_or_default();
    let route_missing = status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && serde_json::from_slice::<serde_json::Value>(&body).is_err());
    if !route_missing {
        return Err(client::status_error(status, &body));
    }
    kill_from_host(target, number)
}

fn kill_from_host(target: &Target<'_>, number: i32) -> Result<()> {
    let detail = target.detail;
    if detail.runtime.is_sandboxed() {
        return Err(no_kill_for_sandbox(detail, "kill"));
    }
    let pid = detail.state.pid.ok_or_else(|| not_running(detail))?;
    let rootfs = match &detail.rootfs {
        RootfsView::Merged(dir) => Some(under_host_root(target.host_root, dir)),
        _ => None,
    };
    let main = MainProcess { container_id: &detail.id, pid, rootfs: rootfs.as_deref() };
    match host_signal::signal_main_process(main, number)? {
        Delivered::Signalled => Ok(()),
        Delivered::AlreadyExited => Err(not_running(detail)),
    }
}

/// SIGKILL (through the API or from the host), then waits until pouchd reports the container exited.
async fn kill_and_wait(client: &Client, target: &Target<'_>) -> Result<()> {
    // The main process already gone: pouchd should notice at once. If it keeps saying "running",
    // the pid it reports is no process this agent sees (another pid namespace).
    let already_gone = match kill(client, target, Signal::KILL).await {
        Ok(()) => false,
        Err(e) if client::says_not_running(&e) => true,
        Err(e) => return Err(e),
    };
    let bound = if already_gone { EXIT_NOTICE } else { client.call_timeout() };
    let deadline = tokio::time::Instant::now() + bound;
    let path = format!("/containers/{}/json", client::encode_segment(&target.detail.id));
    loop {
        let now: models::ContainerInspect = client.get_json(&path).await?;
        if now.state.running != Some(true) && now.state.status != "running" {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(if already_gone {
                Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "pouchd reports container {} running, but its pid {} is no process this agent sees \
                         (not the host's pid namespace?); nothing was signalled",
                        target.detail.id,
                        target.detail.state.pid.unwrap_or_default()
                    ),
                )
            } else {
                Error::timeout("stop", bound)
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// How long pouchd may take to report the exit of a container whose main process is gone.
const EXIT_NOTICE: std::time::Duration = std::time::Duration::from_secs(2);

fn not_running(detail: &ContainerDetail) -> Error {
    Error::new(ErrorKind::Conflict, format!("container {} is not running", detail.id))
}

fn no_kill_for_sandbox(detail: &ContainerDetail, what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{what}: this pouchd has no kill API, and the container's runtime `{}` is sandboxed (its pid is the \
             sandbox's, not the container's main process); stop it with a grace period of at least 1 s",
            detail.runtime_name
        ),
    )
}

/// `KILL` for 9: the name pouchd's (and Docker's) kill route takes.
fn signal_name(number: i32) -> String {
    nix::sys::signal::Signal::try_from(number)
        .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
        .unwrap_or_else(|_| number.to_string())
}

/// Removes the container; `force` kills a running one first ([`stop`] without grace: pouchd's own
/// `force=1` would wait the container's stop timeout first). A sandboxed container is left to
/// pouchd's `force=1`, bounded by that timeout.
pub async fn remove(client: &Client, target: &Target<'_>, force: bool) -> Result<()> {
    let detail = target.detail;
    let mut bound = client.call_timeout();
    if force && detail.state.status.is_running() {
        if detail.runtime.is_sandboxed() {
            bound += POUCH_DEFAULT_STOP_TIMEOUT;
        } else {
            kill_and_wait(client, target).await?;
        }
    }
    let path = format!("/containers/{}?force={}", client::encode_segment(&detail.id), u8::from(force));
    let call = client.call_bytes(Method::DELETE, &path, client::empty());
    tokio::time::timeout(bound, call).await.map_err(|_| Error::timeout("remove", bound))?.map(|_| ())
}

/// pouchd's default stop timeout (what `stop?t=0` and `DELETE ?force=1` wait).
const POUCH_DEFAULT_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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

    /// The recorded running `pk`, with its runtime swapped for a sandboxed one.
    fn sandboxed_pk() -> ContainerDetail {
        let recorded: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/pouch-1.3.0/container-inspect-running.json")).unwrap();
        let mut raw = recorded["response"]["body_json"].clone();
        raw["HostConfig"]["Runtime"] = "rund".into();
        crate::convert::detail(serde_json::from_value(raw.clone()).unwrap(), raw)
    }

    #[tokio::test]
    async fn a_sandboxed_container_is_not_killed_from_the_host() {
        let detail = sandboxed_pk();
        assert!(detail.runtime.is_sandboxed() && detail.state.status.is_running());
        let target = Target { detail: &detail, host_root: None };
        let e = kill_from_host(&target, 9).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        // No daemon behind this client: the refusal comes before any call.
        let client = Client::new("/nonexistent/pouchd.sock".into(), std::time::Duration::from_secs(1));
        let e = stop(&client, &target, std::time::Duration::ZERO).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert_eq!(signal_name(9), "KILL");
        assert_eq!(signal_name(15), "TERM");
    }

    #[test]
    fn create_body_sets_oom_path_and_mounts() {
        let mut spec = CreateSpec::new("busybox:local");
        spec.mounts = vec![MountSpec::bind("/srv", "/data").read_only(), MountSpec::tmpfs("/run/x")];
        spec.runtime = Some("runc".into());
        let b = create_body(&spec, &[]);
        assert_eq!(b["HostConfig"]["OomScoreAdj"], 0);
        assert_eq!(b["HostConfig"]["Binds"], serde_json::json!(["/srv:/data:ro"]));
        assert_eq!(b["HostConfig"]["Tmpfs"]["/run/x"], "");
        assert!(b["HostConfig"].get("Memory").is_none());
        assert_eq!(create_body(&spec.clone().memory_limit(64 << 20), &[])["HostConfig"]["Memory"], 64 << 20);
        assert!(b["HostConfig"].get("LogConfig").is_none());
        let logged = create_body(&spec.clone().log_option("max-size", "8k"), &[]);
        assert_eq!(logged["HostConfig"]["LogConfig"], serde_json::json!({"Config": {"max-size": "8k"}}));
        assert_eq!(b["Env"], serde_json::json!([DEFAULT_PATH]));
        assert!(b.get("Cmd").is_none());
        let with_path = create_body(&spec, &["PATH=/bin".into()]);
        assert_eq!(with_path["Env"], serde_json::json!([]));
    }
}
