//! Checks every container kind goes through: exec (all its edges), copy, events.
#![allow(dead_code)]

use std::time::Duration;

use anyctr_core::model::{EventKind, EventOptions, ExecRequest, OutputStream};
use anyctr_core::{ContainerEngine, ErrorKind};
use anyctr_engine_containerd::ContainerdEngine;
use bytes::Bytes;
use futures_util::StreamExt;

use super::{exec_pids, fifo_leftovers, no_exec_left, tar_with, untar};
use anyctr_testkit::bounded;

/// Polls `ps` in the container until no process matches `needle` (bounded). The container's own
/// init is `sleep 600`: needles must not match it.
async fn no_process_like(engine: &ContainerdEngine, target: &str, needle: &str) -> bool {
    for _ in 0..50 {
        let ps = engine.exec(target, ExecRequest::new(["ps"])).await.unwrap().stdout_lossy();
        if !ps.lines().any(|l| l.contains(needle) && !l.trim_end().ends_with("sleep 600")) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Runtime failures are errors of their own kind, buffered and streaming, as on docker: an unknown
/// user and a missing working directory are `NotFound`, an argv over the shim's 4 MiB message
/// limit or (runc) one argument over Linux's 128 KiB is `InvalidArgument`.
pub async fn exec_error_checks(engine: &ContainerdEngine, target: &str) {
    let sandboxed = engine.inspect(target).await.unwrap().runtime.is_sandboxed();
    let mut cases: Vec<(&str, ExecRequest, ErrorKind)> = vec![
        ("unknown user", ExecRequest::new(["true"]).user("no-such-user-xyz"), ErrorKind::NotFound),
        ("missing working dir", ExecRequest::new(["true"]).working_dir("/no/such/dir"), ErrorKind::NotFound),
        ("10 MB argv", ExecRequest::new(vec!["true".to_owned(), "x".repeat(10 << 20)]), ErrorKind::InvalidArgument),
    ];
    if !sandboxed {
        // gVisor's kernel has no per-argument limit: there this argv runs.
        cases.push((
            "200 KB argument",
            ExecRequest::new(vec!["true".to_owned(), "y".repeat(200_000)]),
            ErrorKind::InvalidArgument,
        ));
    }
    for (what, request, kind) in cases {
        let mut streamed = ExecRequest::new(request.argv.as_slice());
        streamed.user = request.user.clone();
        streamed.working_dir = request.working_dir.clone();
        match bounded("exec", engine.exec(target, request)).await {
            Err(e) => {
                assert_eq!(e.kind(), kind, "{what}: {e}");
                assert_eq!((e.engine(), e.operation()), (Some("containerd"), Some("exec")), "{what}: {e}");
            }
            Ok(r) => panic!("{what}: a runtime failure came back as exit {} {:?}", r.exit_code, r.stderr_lossy()),
        }
        if what == "200 KB argument" {
            // runc reports a failed execve as the process's exit 1: only the buffered exec, which
            // sees the output, can tell it from the program's own 1.
            continue;
        }
        let e = match bounded("exec_stream", engine.exec_stream(target, streamed, false)).await {
            Err(e) => e,
            Ok(session) => match bounded("wait", session.wait()).await {
                Err(e) => e,
                Ok(code) => panic!("stream {what}: the wait gave exit {code}"),
            },
        };
        assert_eq!(e.kind(), kind, "stream {what}: {e}");
    }
}

/// `target` is how the container is named to the engine; `ns`/`id` name its task.
pub async fn exec_checks(engine: &ContainerdEngine, target: &str, ns: &str, id: &str, fifo: &std::path::Path) {
    let run = |req: ExecRequest| async move { bounded("exec", engine.exec(target, req)).await };

    let r = run(ExecRequest::new(["echo", "hi"])).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "hi\n"));

    let r = run(ExecRequest::shell("echo out; echo to-err >&2; exit 3")).await.unwrap();
    assert_eq!(r.exit_code, 3, "a non-zero exit is a result");
    assert_eq!(r.stdout_lossy(), "out\n");
    assert_eq!(r.stderr_lossy(), "to-err\n");

    let r = run(ExecRequest::shell("echo $ANYCTR_X; pwd").env("ANYCTR_X=yes").working_dir("/etc")).await.unwrap();
    assert_eq!(r.stdout_lossy(), "yes\n/etc\n");
    let r = run(ExecRequest::shell("echo $PATH")).await.unwrap();
    assert!(r.stdout_lossy().contains("/bin"), "the container's env is kept: {r:?}");

    let r = run(ExecRequest::shell("id -u; id -g").user("nobody")).await.unwrap();
    assert_eq!(r.stdout_lossy(), "65534\n65534\n", "{r:?}");
    let r = run(ExecRequest::shell("id -u; id -g").user("1234:5678")).await.unwrap();
    assert_eq!(r.stdout_lossy(), "1234\n5678\n");
    let e = run(ExecRequest::new(["id"]).user("no-such-user")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let r = run(ExecRequest::new(["cat"]).stdin("piped via stdin fifo")).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "piped via stdin fifo"));
    let r = run(ExecRequest::shell("wc -c").stdin(vec![b'x'; 3 << 20])).await.unwrap();
    assert_eq!(r.stdout_lossy().trim(), (3 << 20).to_string(), "3 MiB of stdin, then EOF");

    let e = run(ExecRequest::new(["/no/such/binary"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    assert_eq!(e.engine(), Some("containerd"));
    let e = run(ExecRequest::new(["no-such-command-anyctr"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    exec_error_checks(engine, target).await;

    // A background child keeps stdout open: the exec still returns on the shell's exit.
    let r = run(ExecRequest::shell("sleep 30 & echo started")).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "started\n"));

    // 200 MiB under a 1 MiB limit: counted, not kept.
    let r = run(ExecRequest::shell("head -c 209715200 /dev/zero").output_limit(1 << 20)).await.unwrap();
    assert_eq!(r.exit_code, 0);
    assert_eq!(r.stdout_bytes, 200 << 20);
    assert_eq!(r.stdout.len(), 1 << 20);
    assert!(r.stdout_truncated && !r.stderr_truncated);

    // The leak checks below can see a live exec (a positive control).
    let live = engine.exec_stream(target, ExecRequest::new(["sleep", "601"]), false).await.unwrap();
    let pids = exec_pids(engine, ns, id).await;
    let ps = run(ExecRequest::new(["ps"])).await.unwrap().stdout_lossy();
    assert!(ps.contains("sleep 601"), "ps sees the live exec: {ps}");
    drop(live);

    // A timeout kills the process and leaves nothing behind.
    let e = run(ExecRequest::new(["sleep", "602"]).timeout(Duration::from_secs(2))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_eq!(no_exec_left(engine, ns, id).await, Vec::<String>::new(), "exec processes left after a timeout");
    assert!(no_process_like(engine, target, "sleep 60").await, "sleep 601/602 left after a drop / timeout");
    // ListPids names exec processes where the runtime's pids match the shim's (runc; not gVisor).
    if !pids.is_empty() {
        assert_eq!(pids.len(), 1, "{pids:?}");
    }

    // Streaming: chunks arrive as they are written, then the exit code.
    let mut s =
        bounded("exec_stream", engine.exec_stream(target, ExecRequest::shell("echo a; sleep 1; echo b >&2"), false))
            .await
            .unwrap();
    let mut seen = Vec::new();
    while let Some(chunk) = bounded("output", s.next_output()).await {
        let c = chunk.unwrap();
        seen.push((c.stream, c.data));
    }
    assert_eq!(seen, vec![(OutputStream::Stdout, Bytes::from("a\n")), (OutputStream::Stderr, Bytes::from("b\n"))]);
    assert_eq!(bounded("wait", s.wait()).await.unwrap(), 0);

    // A streaming session with stdin: written piecewise, EOF on shutdown.
    let mut s = engine.exec_stream(target, ExecRequest::new(["cat"]), true).await.unwrap();
    let mut stdin = s.take_stdin().unwrap();
    use tokio::io::AsyncWriteExt;
    stdin.write_all(b"one ").await.unwrap();
    stdin.write_all(b"two").await.unwrap();
    stdin.shutdown().await.unwrap();
    let mut out = Vec::new();
    while let Some(c) = bounded("output", s.next_output()).await {
        out.extend_from_slice(&c.unwrap().data);
    }
    assert_eq!(out, b"one two");
    assert_eq!(bounded("wait", s.wait()).await.unwrap(), 0);

    // Dropping a session kills its process.
    let s = engine.exec_stream(target, ExecRequest::new(["sleep", "603"]), false).await.unwrap();
    drop(s);
    assert_eq!(no_exec_left(engine, ns, id).await, Vec::<String>::new(), "a dropped session left its process");
    assert!(no_process_like(engine, target, "sleep 603").await, "a dropped session left its process");

    // Many quick execs (dockerd deletes exited execs in moby by itself: Wait must be early).
    for i in 0..10 {
        let r = run(ExecRequest::shell(format!("exit {i}"))).await.unwrap();
        assert_eq!(r.exit_code, i);
    }

    assert_eq!(no_exec_left(engine, ns, id).await, Vec::<String>::new());
    assert_eq!(fifo_leftovers(fifo), Vec::<String>::new(), "FIFOs left in {}", fifo.display());
}

pub async fn copy_checks(engine: &ContainerdEngine, target: &str) {
    let data = b"copied by anyctr\n".repeat(1000);
    let tar = tar_with("hello.txt", &data);
    let stream = futures_util::stream::once(async move { Ok(Bytes::from(tar)) }).boxed();
    bounded("copy_to", engine.put_archive(target, "/anyctr-copy/dir", stream)).await.unwrap();
    let r = engine.exec(target, ExecRequest::new(["cat", "/anyctr-copy/dir/hello.txt"])).await.unwrap();
    assert_eq!(r.stdout, data);

    let stream = bounded("copy_from", engine.get_archive(target, "/anyctr-copy/dir/hello.txt")).await.unwrap();
    let chunks: Vec<_> = bounded("copy_from stream", stream.collect::<Vec<_>>()).await;
    let bytes: Vec<u8> = chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
    assert_eq!(untar(&bytes), vec![("hello.txt".to_owned(), data.clone())]);

    let stream = bounded("copy_from dir", engine.get_archive(target, "/anyctr-copy/dir/")).await.unwrap();
    let bytes: Vec<u8> =
        bounded("stream", stream.collect::<Vec<_>>()).await.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
    let names: Vec<String> = untar(&bytes).into_iter().map(|(n, _)| n.trim_end_matches('/').to_owned()).collect();
    assert!(names.contains(&"dir".to_owned()) && names.contains(&"dir/hello.txt".to_owned()), "{names:?}");

    let e =
        bounded("copy_from missing", engine.get_archive(target, "/no/such/path")).await.err().expect("missing path");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.operation(), Some("get_archive"));
    let e = engine.get_archive(target, "relative").await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

/// Subscribes, runs an exec, and expects its start and exit among the container's events.
/// Every event seen must be of namespace `ns` (the engine's only one).
pub async fn exec_events(engine: &ContainerdEngine, target: &str, ns: &str, id: &str) {
    let mut events = bounded("events", engine.events(EventOptions::default())).await.unwrap();
    let r = engine.exec(target, ExecRequest::shell("exit 7")).await.unwrap();
    assert_eq!(r.exit_code, 7);
    let (mut started, mut exited) = (false, false);
    while !(started && exited) {
        let e = bounded("event", events.next()).await.expect("event stream ended").unwrap();
        assert_eq!(e.namespace.as_deref(), Some(ns), "events are filtered to the engine's namespaces: {e:?}");
        if e.container_id != id {
            continue;
        }
        match e.kind {
            EventKind::ExecStart => started = true,
            EventKind::ExecExit if e.exit_code == Some(7) => {
                assert!(e.exec_id.is_some());
                exited = true;
            }
            _ => {}
        }
    }
}
