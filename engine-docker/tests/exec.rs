//! Exec on the real dockerd, for runc and rund: buffered and streaming, stdin, limits, bad inputs,
//! and that a timeout or a dropped session leaves no process behind.

mod common;

use std::time::Duration;

use anyctr_core::model::{ExecRequest, OutputStream};
use anyctr_core::{ContainerEngine, ErrorKind};
use common::*;
use tokio::io::AsyncWriteExt;

per_runtime!(
    argv_env_workdir_user_and_exit_codes,
    stdin_bytes_and_reader_with_eof,
    ten_mib_stdin_round_trip,
    non_utf8_output_is_kept,
    missing_binary_is_command_not_found,
    exec_on_stopped_container_is_conflict,
    unknown_container_is_not_found,
    timeout_kills_the_process_tree,
    dropped_session_kills_the_process,
    background_child_does_not_block_wait,
    streaming_chunks_stdin_and_wait,
    output_read_after_the_cut_is_marked_incomplete,
);

async fn argv_env_workdir_user_and_exit_codes(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-basic");
    let id = guard.sleeper(runtime).await;
    let r = exec(&engine, &id, ExecRequest::new(["echo", "a b", "c"])).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "a b c\n"));
    let r = exec(
        &engine,
        &id,
        ExecRequest::shell("echo $FOO; pwd; id -u; echo err >&2; exit 7")
            .env("FOO=bar baz")
            .working_dir("/etc")
            .user("65534"),
    )
    .await
    .unwrap();
    assert_eq!(r.exit_code, 7, "a non-zero exit is a result");
    assert_eq!(r.stdout_lossy(), "bar baz\n/etc\n65534\n");
    assert_eq!(r.stderr_lossy(), "err\n", "stderr kept apart");
    assert_eq!((r.stdout_bytes, r.stderr_bytes), (19, 4));
    // Bad input is refused before anything runs.
    let e = exec(&engine, &id, ExecRequest::new(Vec::<String>::new())).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = exec(&engine, &id, ExecRequest::new(["true"]).working_dir("relative")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

async fn stdin_bytes_and_reader_with_eof(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-stdin");
    let id = guard.sleeper(runtime).await;
    let r = exec(&engine, &id, ExecRequest::shell("cat; echo done").stdin(b"hello\n".to_vec())).await.unwrap();
    assert_eq!(r.stdout_lossy(), "hello\ndone\n", "EOF reached cat");
    let reader = std::io::Cursor::new(b"from a reader".to_vec());
    let r = exec(
        &engine,
        &id,
        ExecRequest::new(["wc", "-c"]).stdin(anyctr_core::model::ExecInput::Reader(Box::pin(reader))),
    )
    .await
    .unwrap();
    assert_eq!(r.stdout_lossy().trim(), "13");
    // No stdin at all: a reader of stdin sees EOF at once instead of hanging.
    let r = exec(&engine, &id, ExecRequest::new(["cat"]).timeout(Duration::from_secs(60))).await.unwrap();
    assert_eq!((r.exit_code, r.stdout.len()), (0, 0));
}

async fn ten_mib_stdin_round_trip(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-10mib");
    let id = guard.sleeper(runtime).await;
    let data: Vec<u8> = (0..10 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let r = exec(&engine, &id, ExecRequest::new(["cat"]).stdin(data.clone()).output_limit(11 << 20)).await.unwrap();
    assert_eq!(r.exit_code, 0);
    assert_eq!(r.stdout_bytes, data.len() as u64);
    assert!(!r.stdout_truncated);
    assert!(r.stdout == data, "the 10 MiB came back unchanged");
}

async fn non_utf8_output_is_kept(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-bytes");
    let id = guard.sleeper(runtime).await;
    let r = exec(&engine, &id, ExecRequest::shell(r"printf '\377\376\000x'; printf '\200' >&2")).await.unwrap();
    assert_eq!(r.stdout, [0xff, 0xfe, 0x00, b'x']);
    assert_eq!(r.stderr, [0x80]);
}

async fn missing_binary_is_command_not_found(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-missing");
    let id = guard.sleeper(runtime).await;
    for argv in [vec!["no-such-binary-xyz"], vec!["/no/such/path"]] {
        let e = exec(&engine, &id, ExecRequest::new(argv.clone())).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{argv:?}: {e}");
        // The streaming path reports it too, from its wait.
        let session =
            bounded("exec_stream", engine.exec_stream(&id, ExecRequest::new(argv.clone()), false)).await.unwrap();
        let e = bounded("wait", session.wait()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound, "stream {argv:?}: {e}");
    }
    // A shell's own 127 is a result, not a missing binary.
    let r = exec(&engine, &id, ExecRequest::shell("no-such-binary-xyz")).await.unwrap();
    assert_eq!(r.exit_code, 127);
}

async fn exec_on_stopped_container_is_conflict(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-stopped");
    let id = guard.sleeper(runtime).await;
    bounded("stop", engine.stop(&id, Duration::from_secs(1))).await.unwrap();
    let e = exec(&engine, &id, ExecRequest::new(["true"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("not running"), "{e}");
    let e = bounded("exec_stream", engine.exec_stream(&id, ExecRequest::new(["true"]), false)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
}

async fn unknown_container_is_not_found(runtime: &str) {
    let engine = engine().await;
    let e = exec(&engine, &unique(&format!("anyctr-missing-{runtime}")), ExecRequest::new(["true"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

async fn timeout_kills_the_process_tree(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-timeout");
    let id = guard.sleeper(runtime).await;
    // A background child and a foreground one: both must go.
    let request = ExecRequest::shell("sleep 7771 & sleep 7772; echo never").timeout(Duration::from_secs(2));
    let e = exec(&engine, &id, request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert_no_process_left(&engine, &id, &["sleep 7771", "sleep 7772"]).await;
}

async fn dropped_session_kills_the_process(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-drop");
    let id = guard.sleeper(runtime).await;
    let mut session =
        bounded("exec_stream", engine.exec_stream(&id, ExecRequest::shell("echo started; exec sleep 7773"), false))
            .await
            .unwrap();
    let first = bounded("first output", session.next_output()).await.unwrap().unwrap();
    assert_eq!(&first.data[..], b"started\n");
    assert_eq!(processes_matching(&engine, &id, "sleep 7773").await.len(), 1, "running before the drop");
    drop(session);
    assert_no_process_left(&engine, &id, &["sleep 7773"]).await;
}

async fn background_child_does_not_block_wait(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-bg");
    let id = guard.sleeper(runtime).await;
    // The child keeps stdout open long after the shell exited.
    let r = exec(&engine, &id, ExecRequest::shell("sleep 7774 & echo parent; exit 3").timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (3, "parent\n"));
}

async fn streaming_chunks_stdin_and_wait(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-stream");
    let id = guard.sleeper(runtime).await;
    let request = ExecRequest::shell("while read l; do echo \"out:$l\"; echo \"err:$l\" >&2; done; exit 5");
    let mut session = bounded("exec_stream", engine.exec_stream(&id, request, true)).await.unwrap();
    let mut stdin = session.take_stdin().expect("stdin writer");
    let mut out = Vec::new();
    let mut err = Vec::new();
    for line in ["one", "two"] {
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        // Each line's output arrives before the next line is written: it streams.
        let want = format!("out:{line}\n");
        while !String::from_utf8_lossy(&out).ends_with(&want) {
            let chunk = bounded("chunk", session.next_output()).await.expect("more output").unwrap();
            match chunk.stream {
                OutputStream::Stdout => out.extend_from_slice(&chunk.data),
                OutputStream::Stderr => err.extend_from_slice(&chunk.data),
            }
        }
    }
    stdin.shutdown().await.unwrap();
    while let Some(chunk) = bounded("chunk", session.next_output()).await {
        let chunk = chunk.unwrap();
        match chunk.stream {
            OutputStream::Stdout => out.extend_from_slice(&chunk.data),
            OutputStream::Stderr => err.extend_from_slice(&chunk.data),
        }
    }
    assert_eq!(String::from_utf8_lossy(&out), "out:one\nout:two\n");
    assert_eq!(String::from_utf8_lossy(&err), "err:one\nerr:two\n");
    assert_eq!(bounded("wait", session.wait()).await.unwrap(), 5);
}

async fn assert_no_process_left(engine: &anyctr_engine_docker::DockerEngine, id: &str, needles: &[&str]) {
    // The kill is asynchronous for a dropped session: allow it a bounded moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut left = Vec::new();
        for n in needles {
            left.extend(processes_matching(engine, id, n).await);
        }
        if left.is_empty() {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "processes left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// dockerd deletes its exited exec at once, and containerd's shim then closes the output 2 s later
/// while the background child still sleeps. A reader that only gets to the output after that
/// (a busy node) must be told the output is incomplete, never handed a silently short result.
async fn output_read_after_the_cut_is_marked_incomplete(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "exec-cut");
    let id = guard.sleeper(runtime).await;
    let session =
        engine.exec_stream(&id, ExecRequest::shell("(sleep 5; echo late) & echo early"), false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let bound = Some(Duration::from_secs(60));
    let r = anyctr_core::buffered_exec::run_to_completion(session, None, 1024, bound).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "early\n"));
    assert!(r.output_incomplete, "output cut after the exit was reported complete: {r:?}");
}
