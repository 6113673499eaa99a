//! Exec through the Tasks service, following the recipe that works on containerd 1.6:
//! FIFOs made here (read ends opened before Start), `Tasks.Exec`, `Tasks.Start`, then `Tasks.Wait`
//! (the shim keeps an exited process's status until someone deletes it; for dockerd's containers,
//! which dockerd deletes at once, see [`exit_status`]), stdin EOF through `Tasks.CloseIO` (the
//! shim keeps its own write end open, so closing ours is not an EOF), and kill + `DeleteProcess`
//! on timeout or drop.
//!
//! VM-sandboxed runtimes: with the runc shim driving runsc (the RunD stand-in here), the exec's
//! "pid" is the host-side `runsc exec` helper, and `Tasks.Kill` ends only that helper: the process
//! inside the sandbox lives on (seen for SIGKILL and SIGTERM, with `ctr` as well). So an exec in
//! a sandboxed container carries the environment marker of [`anyctr_core::exec_marker`], and ending
//! it also runs the marker's kill exec (the reaper) inside the container, which SIGKILLs every
//! process carrying it (the exec and its children). Under runc the kill reaches the exec's process
//! but not its children, so every exec is marked and reaped, whatever the runtime. The reaper needs
//! `sh`, `grep -z` and `kill` in the container; without them it fails quietly and the host side is
//! still cleaned up.

use anyctr_core::exec_marker::ExecMarker;
use anyctr_core::model::EventKind;
use anyctr_core::model::{ContainerDetail, ExecRequest, ExecSession};
use anyctr_core::{Error, ErrorKind, Result};
use containerd_client::services::v1::{ExecProcessRequest, StartRequest, WaitRequest, WaitResponse};
use prost_types::Any;
use serde_json::{Value, json};

use crate::ContainerdEngine;
use crate::exec_io::{ExecProcess, StdinWriter, output_stream};
use crate::fifo::FifoDir;
use crate::user::{ResolvedUser, UserSpec};

/// The type URL containerd expects for an exec's process spec.
const PROCESS_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// Task status RUNNING: the only state an exec can start in (a paused task would hold it).
const TASK_RUNNING: i32 = 2;

impl ContainerdEngine {
    /// Starts `request` in `container` and returns a live session (see the module docs).
    pub async fn exec_session(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        self.exec_inner(container, request, open_stdin, true).await
    }

    /// `reapable`: mark the exec so a kill can reach its children (the reaper itself is not).
    async fn exec_inner(
        &self,
        container: &str,
        request: ExecRequest,
        open_stdin: bool,
        reapable: bool,
    ) -> Result<ExecSession> {
        request.validate()?;
        let located = self.locate(container).await?;
        let (ns, id) = (located.namespace.clone(), located.record.id.clone());
        let task = self.task(&ns, &id).await?;
        let task = match task {
            Some(t) if t.status == TASK_RUNNING => t,
            _ => {
                return Err(Error::new(ErrorKind::Conflict, format!("container {id} is not running"))
                    .with_engine(self.client.engine())
                    .with_operation("exec")
                    .with_container(container));
            }
        };
        let spec = crate::convert::spec_json(&located.record);
        let base = spec.get("process").cloned().unwrap_or_else(|| json!({}));
        let user = match &request.user {
            Some(u) => Some(self.resolve_user(&located, task.pid, &UserSpec::parse(u)?).await?),
            None => None,
        };
        let deleted_by_docker = located.record.labels.contains_key(DOCKER_MANAGED_LABEL);
        let target = ExecTarget { namespace: &ns, id: &id, base: &base, deleted_by_docker };
        self.exec_in(target, request, user.as_ref(), open_stdin, reapable)
            .await
            .map_err(|e| e.in_context(self.client.engine(), "exec").with_container(container))
    }

    /// [`exec_session`](Self::exec_session) in a container this engine already inspected: the
    /// namespace, the OCI spec's process and the state come from the detail (no Containers.Get,
    /// no Tasks.Get). A request naming a user (resolved against the container's files, which
    /// needs the task) and a detail without a spec take the full path.
    pub async fn exec_session_on(
        &self,
        detail: &ContainerDetail,
        request: ExecRequest,
        open_stdin: bool,
    ) -> Result<ExecSession> {
        let base = detail.raw.pointer("/spec/process").filter(|p| p.is_object());
        let (Some(ns), Some(base), None) = (detail.namespace.as_deref(), base, request.user.as_ref()) else {
            let key = match &detail.namespace {
                Some(ns) => format!("{ns}/{}", detail.id),
                None => detail.id.clone(),
            };
            return self.exec_session(&key, request, open_stdin).await;
        };
        request.validate()?;
        if !detail.state.status.is_running() {
            return Err(Error::new(ErrorKind::Conflict, format!("container {} is not running", detail.id))
                .with_engine(self.client.engine())
                .with_operation("exec")
                .with_container(&detail.id));
        }
        let deleted_by_docker = detail.labels.contains_key(DOCKER_MANAGED_LABEL);
        let target = ExecTarget { namespace: ns, id: &detail.id, base, deleted_by_docker };
        self.exec_in(target, request, None, open_stdin, true)
            .await
            .map_err(|e| e.in_context(self.client.engine(), "exec").with_container(&detail.id))
    }

    /// Marks the exec (when `reapable`), builds its process from the container's and starts it.
    async fn exec_in(
        &self,
        target: ExecTarget<'_>,
        mut request: ExecRequest,
        user: Option<&ResolvedUser>,
        open_stdin: bool,
        reapable: bool,
    ) -> Result<ExecSession> {
        let marker = ExecMarker::new();
        let exec_id = exec_id_for(&marker);
        // Every runtime needs the reaper: under runc, Tasks.Kill ends the exec's own process but
        // not the children it started (`sh -c 'sleep 100; …'` leaves the sleep behind).
        let reaper = reapable.then(|| (self.clone(), marker.clone()));
        if reaper.is_some() {
            request.env.push(marker.env_entry());
        }
        let process = process_spec(target.base, &request, user);
        self.start_exec(target.namespace, target.id, &exec_id, process, open_stdin, reaper, target.deleted_by_docker)
            .await
    }

    /// `deleted_by_docker`: see [`exit_status`].
    #[allow(clippy::too_many_arguments)]
    async fn start_exec(
        &self,
        ns: &str,
        id: &str,
        exec_id: &str,
        process: Value,
        open_stdin: bool,
        reaper: Option<(ContainerdEngine, ExecMarker)>,
        deleted_by_docker: bool,
    ) -> Result<ExecSession> {
        let c = &self.client;
        let exec_id = exec_id.to_owned();
        let fifo_local = self.host_path(&self.options.fifo_dir);
        let fifos = FifoDir::create(&self.options.fifo_dir, &fifo_local, &exec_id, open_stdin)?;
        let stdout = fifos.open_reader("stdout")?;
        let stderr = fifos.open_reader("stderr")?;
        let spec =
            Any { type_url: PROCESS_TYPE_URL.to_owned(), value: serde_json::to_vec(&process).map_err(json_error)? };
        let req = ExecProcessRequest {
            container_id: id.to_owned(),
            stdin: fifos.host_path("stdin"),
            stdout: fifos.host_path("stdout"),
            stderr: fifos.host_path("stderr"),
            terminal: false,
            spec: Some(spec),
            exec_id: exec_id.clone(),
        };
        c.call("exec", c.tasks().exec(c.request(Some(ns), req)))
            .await
            .map_err(|e| crate::errors::exec_call_error(e, id))?;
        let mut proc = ExecProcess::new(c.clone(), ns, id, &exec_id, reaper, deleted_by_docker);

        // Live before Start, where another client may delete the exited process (see `exit_status`).
        let exits = if deleted_by_docker {
            match crate::events::subscribe(c.clone(), Some(vec![ns.to_owned()])).await {
                Ok(stream) => Some(stream),
                Err(e) => {
                    proc.discard().await;
                    return Err(e);
                }
            }
        } else {
            None
        };
        let start = StartRequest { container_id: id.to_owned(), exec_id: exec_id.clone() };
        if let Err(status) = tokio::time::timeout(c.call_timeout(), c.tasks().start(c.request(Some(ns), start)))
            .await
            .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("start did not answer in time")))
        {
            proc.discard().await;
            return Err(crate::errors::start_error(status, c.engine()));
        }
        let (ids, client) = ((ns.to_owned(), id.to_owned(), exec_id.clone()), c.clone());
        proc.set_waiter(tokio::spawn(exit_status(client, ids, exits)));
        let stdin = if open_stdin {
            match fifos.open_writer() {
                Ok(pipe) => Some(Box::pin(StdinWriter::new(pipe, proc.closer())) as anyctr_core::model::ExecStdin),
                Err(e) => {
                    proc.discard().await;
                    return Err(e);
                }
            }
        } else {
            None
        };
        // Every end is open now: the names are no longer needed.
        drop(fifos);
        Ok(ExecSession::new(stdin, output_stream(stdout, stderr), Box::new(proc)))
    }

    /// Resolves a user against the container's passwd and group files: through
    /// `/proc/<pid>/root` for a runc-class container, else by running `cat` in the container.
    async fn resolve_user(&self, located: &crate::records::Located, pid: u32, spec: &UserSpec) -> Result<ResolvedUser> {
        if !spec.needs_files() {
            return spec.resolve(None, None);
        }
        let facts = self.facts(located.clone()).await?;
        let (passwd, group) = if facts.runtime_class().is_sandboxed() {
            (None, None)
        } else {
            let root = self.host_path(&std::path::Path::new("/proc").join(pid.to_string()).join("root/etc"));
            (
                tokio::fs::read_to_string(root.join("passwd")).await.ok(),
                tokio::fs::read_to_string(root.join("group")).await.ok(),
            )
        };
        let (passwd, group) = match (passwd, group) {
            (Some(p), g) => (Some(p), g),
            (None, _) => {
                let target = format!("{}/{}", located.namespace, located.record.id);
                (self.cat(&target, "/etc/passwd").await, self.cat(&target, "/etc/group").await)
            }
        };
        spec.resolve(passwd.as_deref(), group.as_deref())
    }

    /// SIGKILLs the processes of a sandboxed exec from inside the container (module docs).
    pub(crate) async fn reap(&self, namespace: &str, container_id: &str, marker: &ExecMarker) -> Result<()> {
        let target = format!("{namespace}/{container_id}");
        let req = marker.kill_inside();
        let session = self.exec_inner(&target, req, false, false).await?;
        let bound = Some(self.client.call_timeout());
        anyctr_core::buffered_exec::run_to_completion(session, None, 64 << 10, bound).await.map(|_| ())
    }

    /// A small file of the container, read by exec (as the container's default user).
    async fn cat(&self, container: &str, path: &str) -> Option<String> {
        let req = ExecRequest::new(["cat", path]).timeout(self.client.call_timeout()).output_limit(1 << 20);
        let result = anyctr_core::ContainerEngine::exec(self, container, req).await.ok()?;
        result.success().then(|| result.stdout_lossy())
    }
}

/// The container an exec starts in, as far as starting it matters.
struct ExecTarget<'a> {
    namespace: &'a str,
    id: &'a str,
    /// The container's OCI process, which the exec's process is built from.
    base: &'a Value,
    /// See [`exit_status`].
    deleted_by_docker: bool,
}

/// The label dockerd puts on the containerd record of every container it manages.
const DOCKER_MANAGED_LABEL: &str = "com.docker/engine.bundle.path";

/// The exec's exit status, by `Tasks.Wait` issued after Start: Start's answer means the shim has
/// the process, and it keeps the exit status until the process is deleted. Only the exec's owner
/// deletes it, except for dockerd, which deletes every exited exec of its containers at once; a
/// Wait that reaches the shim after that finds nothing. For those, `exits` is an event
/// subscription that was proven live before Start (`events::subscribe` returns only after its
/// own marker came back), so the exec's `/tasks/exit` event is in it: an ordering guarantee, not
/// a timing bet.
async fn exit_status(
    client: crate::client::Client,
    (ns, id, exec_id): (String, String, String),
    exits: Option<anyctr_core::EventStream>,
) -> std::result::Result<WaitResponse, tonic::Status> {
    let request =
        client.unbounded_request(Some(&ns), WaitRequest { container_id: id.clone(), exec_id: exec_id.clone() });
    let waited = client.tasks().wait(request).await.map(|r| r.into_inner());
    let (Err(status), Some(mut exits)) = (&waited, exits) else { return waited };
    if status.code() != tonic::Code::NotFound {
        return waited;
    }
    use futures_util::StreamExt;
    while let Some(event) = exits.next().await {
        match event {
            Ok(e)
                if e.kind == EventKind::ExecExit && e.container_id == id && e.exec_id.as_deref() == Some(&exec_id) =>
            {
                let exit_status = e.exit_code.and_then(|c| u32::try_from(c).ok()).unwrap_or(u32::MAX);
                let exited_at = prost_types::Timestamp {
                    seconds: e.time.timestamp(),
                    nanos: i32::try_from(e.time.timestamp_subsec_nanos()).unwrap_or(0),
                };
                return Ok(WaitResponse { exit_status, exited_at: Some(exited_at) });
            }
            Ok(e) if e.kind == EventKind::Gap => break,
            Ok(_) => {}
            Err(e) => return Err(tonic::Status::unavailable(format!("the exit event stream failed: {e}"))),
        }
    }
    Err(tonic::Status::unavailable(format!(
        "exec {exec_id} was deleted by another client before its exit status was read, and the event stream lost it"
    )))
}

/// The exec's process: the container's process with the request's argv, env, cwd and user.
pub fn process_spec(base: &Value, request: &ExecRequest, user: Option<&ResolvedUser>) -> Value {
    let mut p = base.clone();
    if !p.is_object() {
        p = json!({});
    }
    let env: Vec<String> = p
        .get("env")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    p["args"] = json!(request.argv);
    p["env"] = json!(merge_env(env, &request.env));
    p["terminal"] = json!(false);
    if let Some(obj) = p.as_object_mut() {
        obj.remove("consoleSize");
    }
    if p.get("cwd").and_then(Value::as_str).is_none_or(str::is_empty) {
        p["cwd"] = json!("/");
    }
    if let Some(dir) = &request.working_dir {
        p["cwd"] = json!(dir);
    }
    if let Some(u) = user {
        p["user"] = json!({ "uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids });
    }
    p
}

/// The container's env with the request's entries added; a request entry replaces the same key.
pub fn merge_env(mut base: Vec<String>, extra: &[String]) -> Vec<String> {
    for entry in extra {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        match base.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key) {
            Some(slot) => *slot = entry.clone(),
            None => base.push(entry.clone()),
        }
    }
    base
}

/// A process-unique exec id containerd accepts (`[A-Za-z0-9]+([._-][A-Za-z0-9]+)*`, ≤ 76).
pub fn new_exec_id() -> String {
    exec_id_for(&ExecMarker::new())
}

/// The exec id of an exec marked with `marker` (the same unique token).
fn exec_id_for(marker: &ExecMarker) -> String {
    format!("anyctr-{}", marker.token())
}

fn json_error(e: serde_json::Error) -> Error {
    Error::unexpected(format!("cannot encode the exec process spec: {e}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_spec_overrides_only_what_the_request_says() {
        let base = json!({"user": {"uid": 0, "gid": 0}, "args": ["sleep", "600"], "env": ["PATH=/bin", "FOO=bar"],
                          "cwd": "/", "terminal": true, "consoleSize": {"height": 1, "width": 1},
                          "capabilities": {"bounding": ["CAP_KILL"]}, "noNewPrivileges": true});
        let req = ExecRequest::new(["sh", "-c", "echo hi"]).env("FOO=baz").env("NEW=1").working_dir("/tmp");
        let p = process_spec(&base, &req, None);
        assert_eq!(p["args"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(p["env"], json!(["PATH=/bin", "FOO=baz", "NEW=1"]));
        assert_eq!(p["cwd"], "/tmp");
        assert_eq!(p["terminal"], false);
        assert!(p.get("consoleSize").is_none());
        assert_eq!(p["capabilities"], base["capabilities"]);
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["user"], base["user"]);
        let u = ResolvedUser { uid: 65534, gid: 65534, additional_gids: vec![65534] };
        let p = process_spec(&base, &ExecRequest::new(["id"]), Some(&u));
        assert_eq!(p["user"], json!({"uid": 65534, "gid": 65534, "additionalGids": [65534]}));
        assert_eq!(p["cwd"], "/");
        assert_eq!(process_spec(&Value::Null, &ExecRequest::new(["id"]), None)["cwd"], "/");
    }

    #[test]
    fn exec_ids_are_unique_and_valid() {
        let a = new_exec_id();
        let b = new_exec_id();
        assert_ne!(a, b);
        assert!(a.len() <= 76);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn env_merge() {
        let merged = merge_env(vec!["A=1".into(), "B=2".into()], &["B=3".into(), "C=4".into()]);
        assert_eq!(merged, ["A=1", "B=3", "C=4"]);
    }
}
