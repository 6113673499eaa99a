//! Against the real containerd the harness started, through CRI alone: streaming exec through
//! CRI's `Exec` and the runtime's streaming server (SPDY, remotecommand v4: output as chunks and
//! the exit code, stdin with EOF, a command that cannot start, a buffered exec with stdin), the
//! polled event stream, and all of it again over `runtime.v1alpha2` (containerd 1.6 serves both;
//! the address's `api=v1alpha2` makes the engine speak it, as it would after v1's Unimplemented).

use anyctr_core::model::{EventKind, EventOptions, OutputStream};
use anyctr_core::{ContainerEngine, CreateSpec, ErrorKind, ExecRequest, PodSpec};
use anyctr_engine_cri::CriEngine;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

mod common;

use common::{bounded, engine, unique, var_or};

fn tag(what: &str) -> String {
    unique("anyctr-cristream", what)
}

/// Output chunks of a session until it ends, as (stdout, stderr).
async fn collect(session: &mut anyctr_core::model::ExecSession) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = bounded("output", session.next_output()).await {
        let chunk = chunk.expect("output chunk");
        match chunk.stream {
            OutputStream::Stdout => out.extend_from_slice(&chunk.data),
            OutputStream::Stderr => err.extend_from_slice(&chunk.data),
        }
    }
    (String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

#[tokio::test]
async fn streaming_exec_output_stdin_and_failures() {
    let engine = engine("").await;
    let info = bounded("identify", engine.identify()).await.unwrap();
    assert_eq!(info.api_version.as_deref(), Some("v1"));
    streaming_exec(&engine).await;
}

#[tokio::test]
async fn everything_over_v1alpha2() {
    let engine = engine("?api=v1alpha2&event_poll_ms=100").await;
    let info = bounded("identify", engine.identify()).await.unwrap();
    assert_eq!((info.product.as_str(), info.api_version.as_deref()), ("containerd", Some("v1alpha2")));
    streaming_exec(&engine).await;
    events_of_a_container(&engine).await;
}

#[tokio::test]
async fn polled_events() {
    events_of_a_container(&engine("?event_poll_ms=100").await).await;
}

/// Create, start, exit with its code and destroy arrive for a container, in that order.
async fn events_of_a_container(engine: &CriEngine) {
    let mut events = bounded("events", engine.events(EventOptions::new())).await.expect("event stream");
    let e = bounded("events", engine.events(EventOptions::new().since(chrono::Utc::now()))).await;
    assert_eq!(e.err().map(|e| e.kind()), Some(ErrorKind::Unsupported), "CRI keeps no history");
    let pod = PodSpec::new(tag("evpod"), "anyctr-test", tag("uid")).runtime("runc");
    let sandbox = bounded("create_pod", engine.create_pod(&pod)).await.expect("RunPodSandbox");
    let outcome = common::catch(async {
        let mut spec = CreateSpec::new(var_or("ANYCTR_TEST_IMAGE", "busybox:local"));
        spec.name = Some(tag("ev"));
        spec.argv = vec!["sh".into(), "-c".into(), "sleep 1; exit 5".into()];
        spec.pod_sandbox = Some(sandbox.clone());
        let id = bounded("create", engine.create(&spec)).await.expect("CreateContainer");
        bounded("start", engine.start(&id)).await.expect("StartContainer");
        assert_eq!(bounded("wait", engine.wait(&id)).await.unwrap(), 5);
        let mut seen = Vec::new();
        let mut removed = false;
        while seen.last() != Some(&(EventKind::Destroy, None)) {
            let event = bounded("next event", events.next()).await.expect("stream ended").expect("event");
            if event.container_id == id {
                seen.push((event.kind, event.exit_code));
            }
            // Removed once the exit was seen: a removal within one interval would take the code along.
            if !removed && seen.iter().any(|(k, _)| *k == EventKind::Exit) {
                bounded("remove", engine.remove(&id, false)).await.expect("remove");
                removed = true;
            }
        }
        assert_eq!(
            seen,
            [
                (EventKind::Create, None),
                (EventKind::Start, None),
                (EventKind::Exit, Some(5)),
                (EventKind::Destroy, None)
            ]
        );
    })
    .await;
    bounded("remove_pod", engine.remove_pod(&sandbox)).await.expect("remove pod");
    common::rethrow(outcome)
}

async fn streaming_exec(engine: &CriEngine) {
    let name = tag("app");
    let pod = PodSpec::new(tag("pod"), "anyctr-test", tag("uid")).runtime("runc");
    let sandbox = bounded("create_pod", engine.create_pod(&pod)).await.expect("RunPodSandbox");
    let outcome = common::catch(async {
        let mut spec = CreateSpec::new(var_or("ANYCTR_TEST_IMAGE", "busybox:local"));
        spec.name = Some(name.clone());
        spec.argv = vec!["sleep".into(), "600".into()];
        spec.pod_sandbox = Some(sandbox.clone());
        let id = bounded("create", engine.create(&spec)).await.expect("CreateContainer");
        bounded("start", engine.start(&id)).await.expect("StartContainer");

        let req = ExecRequest::shell("echo out; echo err >&2; exit 3");
        let mut session = bounded("exec_stream", engine.exec_stream(&id, req, false)).await.expect("exec_stream");
        assert!(session.take_stdin().is_none());
        assert_eq!(collect(&mut session).await, ("out\n".to_owned(), "err\n".to_owned()));
        assert_eq!(bounded("wait", session.wait()).await.expect("exit code"), 3);

        // stdin: what is written comes back, and EOF ends `cat`.
        let req = ExecRequest::new(["cat"]);
        let mut session = bounded("exec_stream", engine.exec_stream(&id, req, true)).await.expect("exec_stream");
        let mut stdin = session.take_stdin().expect("stdin writer");
        let big = "x".repeat(200_000);
        let writer = tokio::spawn(async move {
            stdin.write_all(big.as_bytes()).await.unwrap();
            stdin.shutdown().await.unwrap();
        });
        let (out, err) = collect(&mut session).await;
        writer.await.unwrap();
        assert_eq!((out.len(), err.as_str()), (200_000, ""));
        assert_eq!(bounded("wait", session.wait()).await.expect("exit code"), 0);

        // Buffered exec with stdin goes through the stream too.
        let r = bounded("exec", engine.exec(&id, ExecRequest::new(["wc", "-c"]).stdin("hello"))).await.unwrap();
        assert_eq!((r.exit_code, r.stdout_lossy().trim()), (0, "5"));

        let missing = bounded("exec_stream", engine.exec_stream(&id, ExecRequest::new(["/no/such"]), false)).await;
        let e = match missing {
            Ok(session) => bounded("wait", session.wait()).await.unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
        let e = bounded("exec", engine.exec(&id, ExecRequest::new(["/no/such"]).stdin("x"))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    })
    .await;
    bounded("remove_pod", engine.remove_pod(&sandbox)).await.expect("remove pod");
    common::rethrow(outcome)
}
