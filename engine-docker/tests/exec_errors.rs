//! Runtime failures of an exec on the real dockerd (runc and rund/gVisor) are errors of their own
//! kind, not exit codes: an unknown user and a missing working directory are `NotFound`, an argv
//! over the daemon's or the kernel's limit is `InvalidArgument`, a missing program stays
//! `CommandNotFound`; buffered and streaming alike. And a failed exec says so once.

mod common;

use anyctr_core::model::ExecRequest;
use anyctr_core::{ContainerEngine, ErrorKind};
use common::*;

per_runtime!(runtime_failures_have_their_own_kinds, failed_exec_on_unknown_container_names_exec_once);

/// A bad request: what it is, how to make it, the kind it must give.
type Case = (&'static str, fn() -> ExecRequest, ErrorKind);

/// The requests and the kind each must give on `runtime`.
fn bad_requests(runtime: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = vec![
        ("unknown user", || ExecRequest::new(["true"]).user("no-such-user-xyz"), ErrorKind::NotFound),
        ("missing working dir", || ExecRequest::new(["true"]).working_dir("/no/such/dir"), ErrorKind::NotFound),
        // Over containerd's shim message limit (4 MiB).
        ("10 MB argv", || ExecRequest::new(vec!["true".to_owned(), "x".repeat(10 << 20)]), ErrorKind::InvalidArgument),
        ("missing program", || ExecRequest::new(["no-such-binary-xyz"]), ErrorKind::CommandNotFound),
    ];
    if runtime == "runc" {
        // Within the daemon's limit, but one argument over Linux's 128 KiB (E2BIG). gVisor's
        // kernel has no per-argument limit: there the same argv runs, a true result.
        cases.push((
            "200 KB argument",
            || ExecRequest::new(vec!["true".to_owned(), "y".repeat(200_000)]),
            ErrorKind::InvalidArgument,
        ));
    }
    cases
}

async fn runtime_failures_have_their_own_kinds(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-errors");
    let id = guard.sleeper(runtime).await;
    for (what, request, kind) in bad_requests(runtime) {
        match exec(&engine, &id, request()).await {
            Err(e) => {
                assert_eq!(e.kind(), kind, "{runtime} {what}: {e}");
                assert_eq!(e.operation(), Some("exec"), "{what}: {e}");
            }
            Ok(r) => {
                panic!("{runtime} {what}: a runtime failure came back as exit {} {:?}", r.exit_code, r.stdout_lossy())
            }
        }
        let session = bounded("exec_stream", engine.exec_stream(&id, request(), false)).await;
        let e = match session {
            Err(e) => e,
            Ok(session) => match bounded("wait", session.wait()).await {
                Err(e) => e,
                Ok(code) => panic!("{runtime} {what}: the stream's wait gave exit {code}"),
            },
        };
        assert_eq!(e.kind(), kind, "stream {runtime} {what}: {e}");
    }
    // The same container still runs ordinary commands, and a program's own 126 or 1 is a result.
    let r = exec(&engine, &id, ExecRequest::shell("exit 126")).await.unwrap();
    assert_eq!(r.exit_code, 126);
    let r =
        exec(&engine, &id, ExecRequest::shell("echo 'exec /bin/x: argument list too long' >&2; exit 2")).await.unwrap();
    assert_eq!(r.exit_code, 2);
    let r = exec(&engine, &id, ExecRequest::new(["false"])).await.unwrap();
    assert_eq!(r.exit_code, 1);
}

async fn failed_exec_on_unknown_container_names_exec_once(runtime: &str) {
    let engine = engine().await;
    let name = unique(&format!("anyctr-missing-{runtime}"));
    let e = exec(&engine, &name, ExecRequest::new(["true"])).await.unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{text}");
    assert_eq!((e.engine(), e.operation()), (Some("docker"), Some("exec")), "{text}");
    assert_eq!(text.matches("operation=").count(), 1, "one context: {text}");
    assert_eq!(text.matches("operation=exec").count(), 1, "{text}");
    assert_eq!(text.matches("engine=docker").count(), 1, "{text}");
    assert_eq!(text.matches("No such container").count(), 1, "the daemon's words once: {text}");
    assert!(!text.contains("not found: not found"), "{text}");
}
