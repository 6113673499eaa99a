//! Buffered exec through CRI's `ExecSync`: the runtime runs the command, waits for it and answers
//! with all of its output and the exit code.
//!
//! `ExecSync` carries only the command and a timeout in whole seconds: no stdin, user, working
//! directory or extra environment. A request asking for any of those is `Unsupported` (and the
//! engine's capabilities say so) rather than quietly run without it.
//!
//! The request's timeout goes to the runtime (which kills the exec's process, though not its
//! children) and bounds the call here: the call fails with `Timeout` either way. The runtime
//! answers once the process's output is closed, so a background child that keeps stdout open
//! delays the answer (containerd 1.6 has no bound on that; 1.7 has `drain_exec_sync_io_timeout`).

use std::time::{Duration, Instant};

use anyctr_core::buffered_exec::BoundedBuffer;
use anyctr_core::exec_failure::{runtime_message_kind, start_failure_kind, start_failure_message};
use anyctr_core::model::{ExecRequest, ExecResult};
use anyctr_core::{Error, ErrorKind, Result};
use anyctr_engine_containerd::{Client, status_error};

use crate::api::Cri;
use k8s_cri::v1::ExecSyncRequest;

/// Extra time the client allows beyond the runtime's own timeout, so the runtime's answer (the
/// process killed, "timeout exceeded") arrives before the client gives up.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// What `ExecSync` cannot carry, as the capability each one needs.
fn unsupported_part(request: &ExecRequest) -> Option<&'static str> {
    if request.stdin.is_some() {
        Some("exec_with_stdin")
    } else if request.user.is_some() {
        Some("exec_with_user")
    } else if request.working_dir.is_some() {
        Some("exec_with_workdir")
    } else if !request.env.is_empty() {
        Some("exec_with_env")
    } else {
        None
    }
}

/// `Unsupported` for a request that asks for what CRI's exec calls cannot carry (stdin only
/// where the caller routes it to the streaming `Exec`).
pub fn refuse_what_cri_cannot_carry(request: &ExecRequest, engine: &str) -> Result<()> {
    match unsupported_part(request) {
        Some(capability) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("{capability}: CRI's exec calls carry only the command (and stdin when streaming)"),
        )
        .with_engine(engine)
        .with_operation("exec")),
        None => Ok(()),
    }
}

/// CRI's timeout is whole seconds (0 = none): a partial second rounds up, so the process gets at
/// least the time asked for.
fn timeout_secs(timeout: Option<Duration>) -> i64 {
    timeout.map_or(0, |t| {
        let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
        i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
    })
}

/// The error for an `ExecSync` the runtime refused: its words about a process that could not
/// start decide where they say something; a runtime's own timeout is `Timeout`.
fn exec_error(status: tonic::Status, engine: &str, timeout: Option<Duration>) -> Error {
    let message = status.message().to_ascii_lowercase();
    if let Some(kind) = runtime_message_kind(status.message()) {
        return Error::new(kind, status.message().to_owned()).with_engine(engine).with_operation("exec");
    }
    // The runtime's own words (containerd: "timeout 2s exceeded", "Timeout expired"), or the
    // call's deadline running out here (tonic: Cancelled, "Timeout expired").
    let said = message.contains("timeout") && (message.contains("exceeded") || message.contains("expired"));
    let deadline = matches!(status.code(), tonic::Code::DeadlineExceeded | tonic::Code::Cancelled);
    if let Some(after) = timeout
        && (deadline || said)
    {
        return Error::timeout("exec", after).with_engine(engine).with_quoted_source(status);
    }
    status_error(status, engine, "exec")
}

/// Runs `request` in container `id` (a full CRI id) with `ExecSync`.
pub async fn exec_sync(client: &Client, cri: &Cri, id: &str, request: ExecRequest) -> Result<ExecResult> {
    request.validate()?;
    refuse_what_cri_cannot_carry(&request, client.engine())?;
    let started = Instant::now();
    let req = ExecSyncRequest {
        container_id: id.to_owned(),
        cmd: request.argv.clone(),
        timeout: timeout_secs(request.timeout),
    };
    let response = match request.timeout {
        Some(t) => {
            let bound = t + ANSWER_MARGIN;
            let mut grpc = client.unbounded_request(None, req);
            grpc.set_timeout(bound);
            match tokio::time::timeout(bound, cri.exec_sync(grpc)).await {
                Ok(answer) => answer,
                Err(_) => return Err(Error::timeout("exec", t).with_engine(client.engine())),
            }
        }
        // No bound asked for: the exec lasts as long as the command does.
        None => cri.exec_sync(client.unbounded_request(None, req)).await,
    };
    let response = response.map_err(|s| exec_error(s, client.engine(), request.timeout))?.into_inner();
    let exit_code = i64::from(response.exit_code);
    // A runtime that reports a start failure as output (126/127 and its own words) instead of an error.
    let head = String::from_utf8_lossy(&response.stderr[..response.stderr.len().min(4096)]).into_owned();
    if let Some(kind) = start_failure_kind(exit_code, &head) {
        return Err(Error::new(kind, start_failure_message(&request.argv[0], exit_code, &head))
            .with_engine(client.engine())
            .with_operation("exec"));
    }
    let (mut stdout, mut stderr) = (BoundedBuffer::new(request.output_limit), BoundedBuffer::new(request.output_limit));
    stdout.push(&response.stdout);
    stderr.push(&response.stderr);
    // ExecSync answers once the runtime is done with the process's output.
    Ok(anyctr_core::buffered_exec::exec_result(exit_code, stdout, stderr, false, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(timeout_secs(None), 0);
        assert_eq!(timeout_secs(Some(Duration::from_millis(1))), 1);
        assert_eq!(timeout_secs(Some(Duration::from_millis(1500))), 2);
        assert_eq!(timeout_secs(Some(Duration::from_secs(3))), 3);
    }

    #[test]
    fn what_exec_sync_cannot_carry_is_named() {
        assert_eq!(unsupported_part(&ExecRequest::new(["true"])), None);
        assert_eq!(unsupported_part(&ExecRequest::new(["cat"]).stdin("x")), Some("exec_with_stdin"));
        assert_eq!(unsupported_part(&ExecRequest::new(["id"]).user("1")), Some("exec_with_user"));
        assert_eq!(unsupported_part(&ExecRequest::new(["pwd"]).working_dir("/")), Some("exec_with_workdir"));
        assert_eq!(unsupported_part(&ExecRequest::new(["env"]).env("A=1")), Some("exec_with_env"));
    }

    #[test]
    fn runtime_words_and_timeouts_map_to_kinds() {
        let missing = tonic::Status::unknown(
            "failed to exec in container: failed to start exec \"x\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"nope\": executable file not found in $PATH: unknown",
        );
        assert_eq!(exec_error(missing, "cri", None).kind(), ErrorKind::CommandNotFound);
        let timeout =
            tonic::Status::unknown("failed to exec in container: timeout 1s exceeded: context deadline exceeded");
        assert_eq!(exec_error(timeout.clone(), "cri", Some(Duration::from_secs(1))).kind(), ErrorKind::Timeout);
        assert_eq!(exec_error(timeout, "cri", None).kind(), ErrorKind::Unexpected);
        let expired = tonic::Status::cancelled("Timeout expired");
        assert_eq!(exec_error(expired, "cri", Some(Duration::from_secs(2))).kind(), ErrorKind::Timeout);
        let stopped = tonic::Status::failed_precondition("container is in CONTAINER_EXITED state");
        assert_eq!(exec_error(stopped, "cri", None).kind(), ErrorKind::Conflict);
    }
}
