//! `exec.*` and `exec_stream.*`: running commands in the fixture.

use std::time::Duration;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::{ExecRequest, ExecResult, OutputStream};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "exec.stdout_stderr_apart", requires: &["exec"], run: |c| Box::pin(stdout_stderr(c)) },
        Trial { name: "exec.exit_codes", requires: &["exec"], run: |c| Box::pin(exit_codes(c)) },
        Trial { name: "exec.stdin_eof", requires: &["exec", "exec_with_stdin"], run: |c| Box::pin(stdin_eof(c)) },
        Trial { name: "exec.env", requires: &["exec", "exec_with_env"], run: |c| Box::pin(env(c)) },
        Trial { name: "exec.working_dir", requires: &["exec", "exec_with_workdir"], run: |c| Box::pin(working_dir(c)) },
        Trial { name: "exec.user", requires: &["exec", "exec_with_user"], run: |c| Box::pin(user(c)) },
        Trial { name: "exec.background_child", requires: &["exec"], run: |c| Box::pin(background_child(c)) },
        Trial { name: "exec.output_after_exit", requires: &["exec"], run: |c| Box::pin(output_after_exit(c)) },
        Trial { name: "exec.missing_binary", requires: &["exec"], run: |c| Box::pin(missing_binary(c)) },
        Trial { name: "exec.non_utf8", requires: &["exec"], run: |c| Box::pin(non_utf8(c)) },
        Trial { name: "exec.output_limit", requires: &["exec"], run: |c| Box::pin(output_limit(c)) },
        Trial { name: "exec.timeout_kills", requires: &["exec", "exec_kill"], run: |c| Box::pin(timeout_kills(c)) },
        Trial { name: "exec.bad_request", requires: &["exec"], run: |c| Box::pin(bad_request(c)) },
        Trial { name: "exec_stream.chunks_and_exit", requires: &["exec_stream"], run: |c| Box::pin(stream_chunks(c)) },
        Trial {
            name: "exec_stream.stdin_writer",
            requires: &["exec_stream", "exec_with_stdin"],
            run: |c| Box::pin(stream_stdin(c)),
        },
        Trial {
            name: "exec_stream.drop_kills",
            requires: &["exec_stream", "exec_kill"],
            run: |c| Box::pin(stream_drop_kills(c)),
        },
    ]
}

/// A bound for commands that should return at once.
const QUICK: Duration = Duration::from_secs(60);

async fn run(ctx: &TrialContext, req: ExecRequest) -> Result<ExecResult, String> {
    let argv = req.argv.join(" ");
    ctx.engine.exec(&ctx.fixture.id, req.timeout(QUICK)).await.map_err(|e| format!("exec `{argv}`: {e}"))
}

async fn stdout_stderr(ctx: &TrialContext) -> TrialResult {
    let r = run(ctx, ExecRequest::shell("echo out; echo err >&2")).await?;
    ensure!(r.exit_code == 0, "exit {}", r.exit_code);
    ensure!(r.stdout == b"out\n", "stdout {:?}", r.stdout_lossy());
    ensure!(r.stderr == b"err\n", "stderr {:?}", r.stderr_lossy());
    ensure!(r.stdout_bytes == 4 && r.stderr_bytes == 4 && !r.stdout_truncated, "counts {r:?}");
    Ok(format!("{:?}", r.duration))
}

async fn exit_codes(ctx: &TrialContext) -> TrialResult {
    for code in [0, 3, 127] {
        let r = run(ctx, ExecRequest::shell(format!("exit {code}"))).await?;
        ensure!(r.exit_code == code, "`exit {code}` gave {}", r.exit_code);
    }
    let r = run(ctx, ExecRequest::new(["false"])).await?;
    ensure!(r.exit_code == 1, "`false` gave {}", r.exit_code);
    Ok("0, 3, 127, 1".into())
}

async fn stdin_eof(ctx: &TrialContext) -> TrialResult {
    let payload: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let r = run(ctx, ExecRequest::new(["cat"]).stdin(payload.clone())).await?;
    ensure!(r.exit_code == 0, "cat exited {}", r.exit_code);
    ensure!(r.stdout == payload, "cat echoed {} bytes, sent {}", r.stdout.len(), payload.len());
    let r = run(ctx, ExecRequest::new(["wc", "-c"]).stdin("")).await?;
    ensure!(r.stdout_lossy().trim() == "0", "empty stdin: wc -c said {:?}", r.stdout_lossy());
    Ok(format!("{} bytes round-tripped", payload.len()))
}

async fn env(ctx: &TrialContext) -> TrialResult {
    let r = run(ctx, ExecRequest::shell("echo \"$FOO|$ANYCTR_CONFORMANCE\"").env("FOO=bar baz")).await?;
    ensure!(r.stdout_lossy() == "bar baz|yes\n", "env gave {:?}", r.stdout_lossy());
    Ok(r.stdout_lossy().trim().to_owned())
}

async fn working_dir(ctx: &TrialContext) -> TrialResult {
    let r = run(ctx, ExecRequest::new(["pwd"]).working_dir("/etc")).await?;
    ensure!(r.stdout_lossy() == "/etc\n", "pwd said {:?}", r.stdout_lossy());
    Ok("/etc".into())
}

async fn user(ctx: &TrialContext) -> TrialResult {
    let r = run(ctx, ExecRequest::new(["id", "-u"]).user("65534")).await?;
    ensure!(r.stdout_lossy().trim() == "65534", "uid 65534 ran as {:?}", r.stdout_lossy());
    let r = run(ctx, ExecRequest::new(["id", "-un"]).user("nobody")).await?;
    ensure!(r.stdout_lossy().trim() == "nobody", "user nobody ran as {:?}", r.stdout_lossy());
    Ok("65534, nobody".into())
}

async fn background_child(ctx: &TrialContext) -> TrialResult {
    // The child inherits stdout and outlives the exec by far; the exec must still return.
    let r = run(ctx, ExecRequest::shell("sleep 40 & echo started")).await?;
    ensure!(r.exit_code == 0 && r.stdout_lossy() == "started\n", "got {:?} exit {}", r.stdout_lossy(), r.exit_code);
    ensure!(r.duration < Duration::from_secs(40), "exec waited for the background child ({:?})", r.duration);
    Ok(format!("returned after {:?}, output_incomplete {}", r.duration, r.output_incomplete))
}

/// Output a background child writes after the exec's process exited is read, or the result says
/// the output was still open: never dropped without a word.
async fn output_after_exit(ctx: &TrialContext) -> TrialResult {
    let cases = [
        ("soon", "(sleep 0.2; echo late) & echo early", "early\nlate\n".len() as u64),
        ("much", "(sleep 0.2; head -c 1000000 /dev/zero) & echo early", 6 + 1_000_000),
        ("late", "(sleep 3; echo late) & echo early", "early\nlate\n".len() as u64),
    ];
    let mut seen = Vec::new();
    for (case, script, all) in cases {
        let r = run(ctx, ExecRequest::shell(script)).await?;
        ensure!(r.exit_code == 0 && r.stdout.starts_with(b"early\n"), "{case}: exit {} {:?}", r.exit_code, r.stdout);
        ensure!(r.stdout_bytes == r.stdout.len() as u64, "{case}: counted {} kept {}", r.stdout_bytes, r.stdout.len());
        if r.output_incomplete {
            seen.push(format!("{case}: marked incomplete after {} bytes", r.stdout_bytes));
        } else {
            ensure!(r.stdout_bytes == all, "{case}: {} of {all} bytes and not marked incomplete", r.stdout_bytes);
            seen.push(format!("{case}: all read"));
        }
    }
    Ok(seen.join(", "))
}

async fn missing_binary(ctx: &TrialContext) -> TrialResult {
    match ctx.engine.exec(&ctx.fixture.id, ExecRequest::new(["/no/such/binary"]).timeout(QUICK)).await {
        Err(e) if e.kind() == ErrorKind::CommandNotFound => Ok(e.message().chars().take(80).collect()),
        Err(e) => Err(format!("want CommandNotFound, got {:?}: {e}", e.kind())),
        Ok(r) => Err(format!("a missing binary gave a result: exit {} {:?}", r.exit_code, r.stdout_lossy())),
    }
}

async fn non_utf8(ctx: &TrialContext) -> TrialResult {
    let r = run(ctx, ExecRequest::shell("printf '\\377\\376\\000x'")).await?;
    ensure!(r.stdout == [0xff, 0xfe, 0x00, b'x'], "bytes {:?}", r.stdout);
    Ok("4 raw bytes".into())
}

async fn output_limit(ctx: &TrialContext) -> TrialResult {
    let r = run(ctx, ExecRequest::shell("head -c 3000000 /dev/zero; head -c 5000 /dev/zero >&2").output_limit(1000))
        .await?;
    ensure!(r.stdout.len() == 1000 && r.stdout_truncated, "kept {} truncated {}", r.stdout.len(), r.stdout_truncated);
    ensure!(r.stdout_bytes == 3_000_000, "counted {} stdout bytes", r.stdout_bytes);
    ensure!(
        r.stderr.len() == 1000 && r.stderr_bytes == 5000,
        "stderr kept {} counted {}",
        r.stderr.len(),
        r.stderr_bytes
    );
    Ok("3 MB counted, 1000 bytes kept".into())
}

/// A `sleep` command line unique to this run and trial, to find the process again.
fn sleep_marker(ctx: &TrialContext, salt: u64) -> String {
    let hash = ctx.run_id.bytes().fold(salt, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    format!("sleep {}", 100_000 + hash % 800_000)
}

/// Whether a process whose command line contains `marker` (`sleep N`) runs in the fixture.
async fn process_running(ctx: &TrialContext, marker: &str) -> Result<bool, String> {
    // Scan /proc rather than trust `ps` flags, which differ between images. The pattern `[s]leep N`
    // matches the target but not the scanning shell and grep, whose command lines hold `[s]leep`.
    let pattern = format!("[{}]{}", &marker[..1], &marker[1..]);
    let script = format!(
        "for p in /proc/[0-9]*; do tr '\\000' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c -- '{pattern}' || true"
    );
    let r = run(ctx, ExecRequest::shell(script)).await?;
    let n: u32 = r.stdout_lossy().trim().parse().map_err(|_| format!("bad count {:?}", r.stdout_lossy()))?;
    Ok(n > 0)
}

async fn gone_within(ctx: &TrialContext, marker: &str) -> TrialResult {
    for _ in 0..50 {
        if !process_running(ctx, marker).await? {
            return Ok(format!("no `{marker}` left"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("a process `{marker}` is still running 10 s after it should have been killed"))
}

async fn timeout_kills(ctx: &TrialContext) -> TrialResult {
    let marker = sleep_marker(ctx, 1);
    let req = ExecRequest::shell(format!("{marker}; echo never")).timeout(Duration::from_secs(2));
    match ctx.engine.exec(&ctx.fixture.id, req).await {
        Err(e) if e.kind() == ErrorKind::Timeout => {}
        Err(e) => return Err(format!("want Timeout, got {:?}: {e}", e.kind())),
        Ok(r) => return Err(format!("a 2 s timeout on a long sleep returned exit {}", r.exit_code)),
    }
    gone_within(ctx, &marker).await
}

async fn bad_request(ctx: &TrialContext) -> TrialResult {
    for (what, req) in [
        ("empty argv", ExecRequest::new(Vec::<String>::new())),
        ("env without =", ExecRequest::new(["true"]).env("NOEQUALS")),
        ("relative working dir", ExecRequest::new(["true"]).working_dir("tmp")),
    ] {
        match ctx.engine.exec(&ctx.fixture.id, req).await {
            Err(e) if e.kind() == ErrorKind::InvalidArgument => {}
            other => return Err(format!("{what}: want InvalidArgument, got {other:?}")),
        }
    }
    Ok("3 bad requests refused".into())
}

async fn stream_chunks(ctx: &TrialContext) -> TrialResult {
    let req = ExecRequest::shell("echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three; exit 4");
    let mut session = ctx.engine.exec_stream(&ctx.fixture.id, req, false).await.map_err(fail("exec_stream"))?;
    let (mut out, mut err, mut chunks) = (Vec::new(), Vec::new(), 0);
    let read = async {
        while let Some(chunk) = session.next_output().await {
            let c = chunk.map_err(fail("reading output"))?;
            chunks += 1;
            match c.stream {
                OutputStream::Stdout => out.extend_from_slice(&c.data),
                OutputStream::Stderr => err.extend_from_slice(&c.data),
            }
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(QUICK, read).await.map_err(|_| "output did not end".to_owned())??;
    let code =
        tokio::time::timeout(QUICK, session.wait()).await.map_err(|_| "wait hung".to_owned())?.map_err(fail("wait"))?;
    ensure!(out == b"one\nthree\n" && err == b"two\n", "stdout {out:?} stderr {err:?}");
    ensure!(code == 4, "exit {code}");
    ensure!(chunks >= 2, "output came in {chunks} chunk(s), not as it was written");
    Ok(format!("{chunks} chunks"))
}

async fn stream_stdin(ctx: &TrialContext) -> TrialResult {
    use tokio::io::AsyncWriteExt;
    let mut session =
        ctx.engine.exec_stream(&ctx.fixture.id, ExecRequest::new(["cat"]), true).await.map_err(fail("exec_stream"))?;
    let mut stdin = session.take_stdin().ok_or("no stdin writer although stdin was requested")?;
    stdin.write_all(b"ping\n").await.map_err(|e| format!("write: {e}"))?;
    // The echo must arrive while stdin is still open: the session is interactive.
    let first =
        tokio::time::timeout(QUICK, session.next_output()).await.map_err(|_| "no echo while stdin open".to_owned())?;
    let first = first.ok_or("output ended early")?.map_err(fail("read"))?;
    ensure!(first.data.as_ref() == b"ping\n", "echo {:?}", first.data);
    stdin.shutdown().await.map_err(|e| format!("shutdown (EOF): {e}"))?;
    let rest =
        tokio::time::timeout(QUICK, session.next_output()).await.map_err(|_| "cat did not see EOF".to_owned())?;
    ensure!(rest.is_none(), "unexpected output after EOF: {rest:?}");
    let code =
        tokio::time::timeout(QUICK, session.wait()).await.map_err(|_| "wait hung".to_owned())?.map_err(fail("wait"))?;
    ensure!(code == 0, "cat exited {code}");
    Ok("interactive echo, then EOF".into())
}

async fn stream_drop_kills(ctx: &TrialContext) -> TrialResult {
    let marker = sleep_marker(ctx, 2);
    let session = ctx
        .engine
        .exec_stream(&ctx.fixture.id, ExecRequest::shell(&marker), false)
        .await
        .map_err(fail("exec_stream"))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ensure!(process_running(ctx, &marker).await?, "the streamed process is not running");
    drop(session);
    gone_within(ctx, &marker).await
}
