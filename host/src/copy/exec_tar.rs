//! The tar-over-exec strategy: `tar -x` reading the archive from exec stdin, or `tar -c` writing
//! it to exec stdout, streamed both ways (no base64, no chunks, no whole-file buffers); then
//! checked with `sha256sum` in the container. It works wherever exec with stdin works, which
//! makes it the way into VM-sandboxed containers.

use std::path::Path;
use std::pin::pin;

use tokio::io::AsyncWriteExt;

use super::bridge::{ChannelWriter, StreamUnpacker};
use super::paths::{self, ContainerTarget};
use super::{Attempt, CopyOptions, Done, Step, Verification, expected_from_local, verify};
use anyctr_core::buffered_exec::BoundedBuffer;
use anyctr_core::engine::ContainerEngine;
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::model::{ContainerDetail, ExecRequest, ExecSession, OutputStream};

/// How much of tar's stderr is kept for the error message.
const STDERR_LIMIT: usize = 16 << 10;

/// Exit code the copy-out script uses for a missing source.
const MISSING: i64 = 44;

/// `$1` is the absolute target directory (created if missing).
const UNPACK_SCRIPT: &str = r#"mkdir -p "$1" && exec tar -x -f - -C "$1""#;

/// `$1` is the absolute source. It is resolved first (`readlink -f`) so that a source that is a
/// symlink yields its target, like the other strategies; then `tar -c` runs beside it so the
/// archive's single top-level entry is its name.
const PACK_SCRIPT: &str = r#"p=$(readlink -f "$1") && [ -e "$p" ] || { echo "anyctr: $1: No such file or directory" >&2; exit 44; }
d=${p%/*}; [ -n "$d" ] || d=/
cd "$d" && exec tar -c -f - "${p##*/}""#;

pub(super) async fn copy_to(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    local: &Path,
    target: &ContainerTarget,
    options: &CopyOptions,
) -> Step {
    let caps = engine.container_capabilities(container);
    if !caps.exec_stream.is_supported() || !caps.exec_with_stdin.is_supported() {
        return Err(Attempt::Skip("the engine has no streaming exec with stdin for this container".into()));
    }
    let argv = ["sh", "-c", UNPACK_SCRIPT, "anyctr-copy", target.parent.as_str()];
    let mut session = engine.exec_stream(&container.id, ExecRequest::new(argv), true).await?;
    let Some(mut stdin) = session.take_stdin() else {
        return Err(Attempt::Fail(Error::unexpected("the engine's exec session has no stdin")));
    };
    let (writer, mut rx) = ChannelWriter::pair();
    let (src, top) = (local.to_path_buf(), target.name.clone());
    let packer = tokio::task::spawn_blocking(move || super::pack::pack_into_channel(&src, &top, writer));
    let feed = async move {
        while let Some(chunk) = rx.recv().await {
            // A write error means tar went away; its exit code and stderr say why.
            if stdin.write_all(&chunk?).await.is_err() {
                return Ok(());
            }
        }
        // EOF only after the whole archive: a cut-off archive must not look complete.
        let _ = stdin.shutdown().await;
        Ok::<(), Error>(())
    };
    let outcome = run_session(&mut session, feed).await;
    let packed = packer.await.map_err(|e| Error::unexpected(format!("the packing thread failed: {e}")))?;
    let stderr = match outcome {
        Ok(stderr) => stderr,
        Err(e) => {
            let _ = session.kill().await;
            return Err(Attempt::Fail(e));
        }
    };
    let code = session.wait().await?;
    // tar's own failure first (a read-only file system, say): the packer only saw it go away.
    check_exit(code, &stderr, "tar -x")?;
    let (manifest, stats) = packed?;
    let verification = verify::verify_unpacked(engine, container, &target.parent, &manifest, options.verify).await?;
    Ok(Done { stats, verification })
}

pub(super) async fn copy_from(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    target: &ContainerTarget,
    local: &Path,
    options: &CopyOptions,
) -> Step {
    let caps = engine.container_capabilities(container);
    if !caps.exec_stream.is_supported() {
        return Err(Attempt::Skip("the engine has no streaming exec for this container".into()));
    }
    let (parent, name) = paths::local_target(local)?;
    let argv = ["sh", "-c", PACK_SCRIPT, "anyctr-copy", target.full.as_str()];
    let mut session = engine.exec_stream(&container.id, ExecRequest::new(argv), false).await?;
    let mut unpacker = StreamUnpacker::start(parent.clone(), name.clone(), options.write_rules());
    // The unpacker's bounded channel applies back-pressure to the exec's output.
    let mut stderr = BoundedBuffer::new(STDERR_LIMIT);
    let outcome = loop {
        let Some(chunk) = session.next_output().await else { break Ok(()) };
        match chunk {
            // Once the unpacker stopped (end of archive, or an error it will report), the rest
            // is drained so the process can exit.
            Ok(c) if c.stream == OutputStream::Stdout => {
                let _ = unpacker.push(Ok(c.data)).await;
            }
            Ok(c) => stderr.push(&c.data),
            Err(e) => break Err(e),
        }
    };
    if let Err(e) = outcome {
        let _ = session.kill().await;
        let _ = unpacker.finish().await;
        return Err(Attempt::Fail(e));
    }
    let code = session.wait().await;
    let unpacked = unpacker.finish().await;
    let stderr = stderr.into_inner();
    if code.as_ref().is_ok_and(|c| *c == MISSING) {
        return Err(Attempt::Fail(Error::not_found(format!("{} does not exist in the container", target.full))));
    }
    check_exit(code?, &stderr, "tar -c")?;
    let writer = unpacked?;
    let verification = if !options.verify {
        Verification::Skipped("verification disabled".into())
    } else if !caps.exec.is_supported() {
        Verification::Skipped("the engine has no buffered exec for this container".into())
    } else {
        let expected =
            expected_from_local(writer.files_written().to_vec(), parent.join(&name), target.full.clone()).await?;
        verify::verify(engine, &container.id, &expected).await?
    };
    Ok(Done { stats: writer.finish()?, verification })
}

/// Drives `feed` (writing stdin) while draining the session's output until it closes; returns
/// stderr. A failing `feed` stops everything: the caller kills the process rather than letting
/// tar see EOF on a cut-off archive.
async fn run_session(session: &mut ExecSession, feed: impl Future<Output = Result<()>>) -> Result<Vec<u8>> {
    let mut stderr = BoundedBuffer::new(STDERR_LIMIT);
    let mut feed = pin!(feed);
    let mut fed = false;
    loop {
        tokio::select! {
            done = &mut feed, if !fed => {
                done?;
                fed = true;
            }
            chunk = session.next_output() => match chunk {
                None => break,
                // `tar -x` prints nothing worth keeping on stdout.
                Some(Ok(c)) if c.stream == OutputStream::Stdout => {}
                Some(Ok(c)) => stderr.push(&c.data),
                Some(Err(e)) => return Err(e),
            }
        }
    }
    Ok(stderr.into_inner())
}

/// A non-zero exit as an error with tar's stderr; 126/127 from the shell is a missing program.
fn check_exit(code: i64, stderr: &[u8], what: &str) -> Result<()> {
    if code == 0 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&stderr[..stderr.len().min(2048)]).trim().to_owned();
    let kind = if matches!(code, 126 | 127) { ErrorKind::CommandNotFound } else { ErrorKind::Unexpected };
    Err(Error::new(kind, format!("{what} in the container exited with {code}: {text}")))
}
