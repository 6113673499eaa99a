//! `exec_errors.*`: a runtime failure is an error of its own kind, the same on every engine, never
//! an exit code: an unknown user and a missing working directory are `NotFound`, an argv over the
//! daemon's limit is `InvalidArgument` (a missing program, `CommandNotFound`, is `exec.missing_binary`).

use std::time::Duration;

use super::{Trial, TrialContext, TrialResult};
use anyctr_core::ErrorKind;
use anyctr_core::model::ExecRequest;

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial {
            name: "exec_errors.unknown_user",
            requires: &["exec", "exec_with_user"],
            run: |c| Box::pin(expect(c, ExecRequest::new(["true"]).user("anyctr-no-such-user"), ErrorKind::NotFound)),
        },
        Trial {
            name: "exec_errors.missing_working_dir",
            requires: &["exec", "exec_with_workdir"],
            run: |c| {
                Box::pin(expect(c, ExecRequest::new(["true"]).working_dir("/anyctr/no/such/dir"), ErrorKind::NotFound))
            },
        },
        Trial {
            name: "exec_errors.argv_over_limit",
            requires: &["exec"],
            // 10 MiB: over containerd's shim message limit (4 MiB) and Linux's argument limits.
            run: |c| {
                Box::pin(expect(
                    c,
                    ExecRequest::new(vec!["true".to_owned(), "x".repeat(10 << 20)]),
                    ErrorKind::InvalidArgument,
                ))
            },
        },
        Trial {
            name: "exec_errors.unknown_container_said_once",
            requires: &["exec"],
            run: |c| Box::pin(unknown_container(c)),
        },
    ]
}

/// A failed exec on a container that does not exist: `NotFound`, one context naming the engine and
/// the operation the caller called (`exec`, not the inner `inspect`), no repeated words.
async fn unknown_container(ctx: &TrialContext) -> TrialResult {
    let name = format!("anyctr-no-such-container-{}", ctx.run_id);
    let e = match ctx.engine.exec(&name, ExecRequest::new(["true"]).timeout(QUICK)).await {
        Err(e) => e,
        Ok(r) => return Err(format!("exec on a missing container gave exit {}", r.exit_code)),
    };
    let text = e.to_string();
    let engine = format!("engine={}", ctx.engine.name());
    if e.kind() != ErrorKind::NotFound {
        return Err(format!("want NotFound, got {:?}: {text}", e.kind()));
    }
    if text.matches("operation=").count() != 1 || !text.contains("operation=exec") {
        return Err(format!("want one context naming operation=exec: {text}"));
    }
    if text.matches(&engine).count() != 1 || text.contains("not found: not found") {
        return Err(format!("want the engine once and no repetition: {text}"));
    }
    Ok(text.chars().take(120).collect())
}

/// A bound for commands that fail at once.
const QUICK: Duration = Duration::from_secs(60);

/// Runs `request` buffered and streaming; both must fail with `want`, naming the operation `exec`.
async fn expect(ctx: &TrialContext, request: ExecRequest, want: ErrorKind) -> TrialResult {
    let mut streamed = ExecRequest::new(request.argv.clone());
    streamed.user = request.user.clone();
    streamed.working_dir = request.working_dir.clone();
    match ctx.engine.exec(&ctx.fixture.id, request.timeout(QUICK)).await {
        Err(e) if e.kind() == want && e.operation() == Some("exec") => {}
        Err(e) => return Err(format!("want {want:?} for operation exec, got {:?}: {e}", e.kind())),
        Ok(r) => {
            return Err(format!("a runtime failure gave a result: exit {} {:?}", r.exit_code, r.stdout_lossy()));
        }
    }
    if !ctx.capabilities.exec_stream.is_supported() {
        return Ok(format!("{want:?} (buffered)"));
    }
    let waited = match tokio::time::timeout(QUICK, ctx.engine.exec_stream(&ctx.fixture.id, streamed, false)).await {
        Err(_) => return Err(format!("exec_stream did not answer within {QUICK:?}")),
        Ok(Err(e)) => Err(e),
        Ok(Ok(session)) => match tokio::time::timeout(QUICK, session.wait()).await {
            Err(_) => return Err(format!("the stream's wait did not end within {QUICK:?}")),
            Ok(r) => r,
        },
    };
    match waited {
        Err(e) if e.kind() == want => Ok(format!("{want:?} (buffered and streaming)")),
        Err(e) => Err(format!("streaming: want {want:?}, got {:?}: {e}", e.kind())),
        Ok(code) => Err(format!("streaming: a runtime failure gave exit {code}")),
    }
}
