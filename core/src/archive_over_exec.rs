//! The archive calls (`put_archive`, `get_archive`) for an engine without an archive API
//! (containerd, a CRI runtime, a bare OCI runtime), as tar over exec: `mkdir -p` + `tar -x -C
//! <dest>` fed the archive on stdin, and `tar -c -C <parent> <name>` streamed from stdout. It
//! needs only the engine's `exec` and `exec_stream`, so it works for every runtime that can
//! exec, including VM sandboxes whose rootfs the host cannot see.

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::container_path::archive_path;
use crate::model::{ExecRequest, ExecSession, OutputStream};
use crate::{ByteStream, ContainerEngine, Error, ErrorKind, Result};

/// How much stderr is kept for error messages.
const STDERR_KEEP: usize = 16 << 10;
/// A tar that failed writes at most its end-of-archive blocks; more than this is an archive.
const TAR_TRAILER: usize = 1024;

/// Unpacks `tar` into `destination` (created if missing): the engine's `put_archive`, errors
/// named with the engine, the operation and the container.
pub async fn put_archive<E: ContainerEngine + ?Sized>(
    engine: &E,
    container: &str,
    destination: &str,
    tar: ByteStream,
) -> Result<()> {
    let r = unpack(engine, container, destination, tar).await;
    r.map_err(|e| e.in_context(engine.name(), "put_archive").with_container(container))
}

/// A tar stream of `path`, whose single top-level entry is its last component: the engine's
/// `get_archive`, errors named with the engine, the operation and the container.
pub async fn get_archive<E: ContainerEngine + ?Sized>(engine: &E, container: &str, path: &str) -> Result<ByteStream> {
    let r = pack(engine, container, path).await;
    r.map_err(|e| e.in_context(engine.name(), "get_archive").with_container(container))
}

async fn unpack<E: ContainerEngine + ?Sized>(
    engine: &E,
    container: &str,
    destination: &str,
    mut tar: ByteStream,
) -> Result<()> {
    let dest = archive_path(destination)?;
    let mkdir =
        engine.exec(container, ExecRequest::new(["mkdir", "-p", dest.as_str()]).output_limit(STDERR_KEEP)).await?;
    if !mkdir.success() {
        return Err(failure("mkdir -p", mkdir.exit_code, &mkdir.stderr, &dest));
    }
    let mut session = engine.exec_stream(container, ExecRequest::new(["tar", "-x", "-C", dest.as_str()]), true).await?;
    let mut stdin = session.take_stdin().ok_or_else(|| Error::unexpected("exec started without stdin"))?;
    let feed = async {
        while let Some(chunk) = tar.next().await {
            let chunk = chunk?;
            // tar exiting early breaks the pipe: its exit code and stderr tell why.
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = stdin.shutdown().await;
        Ok::<(), Error>(())
    };
    let mut stderr = Vec::new();
    let drain = drain_output(&mut session, &mut stderr);
    let (fed, drained) = tokio::join!(feed, drain);
    if let Err(e) = fed {
        let _ = session.kill().await;
        return Err(e);
    }
    drained?;
    let code = session.wait().await?;
    if code != 0 {
        return Err(failure("tar -x", code, &stderr, &dest));
    }
    Ok(())
}

async fn pack<E: ContainerEngine + ?Sized>(engine: &E, container: &str, path: &str) -> Result<ByteStream> {
    let path = archive_path(path)?;
    let (parent, name) = split(&path);
    let mut session = engine.exec_stream(container, ExecRequest::new(["tar", "-c", "-C", parent, name]), false).await?;
    // Hold the output back until it is surely an archive (a failing tar still writes its
    // trailer) or tar has ended, so a missing path is an error of this call, not of the stream.
    let mut head = Vec::new();
    let mut stderr = Vec::new();
    let mut ended = false;
    while head.len() <= TAR_TRAILER {
        match session.next_output().await {
            Some(Ok(c)) if c.stream == OutputStream::Stdout => head.extend_from_slice(&c.data),
            Some(Ok(c)) => keep(&mut stderr, &c.data),
            Some(Err(e)) => return Err(e),
            None => {
                ended = true;
                break;
            }
        }
    }
    if ended {
        let code = session.wait().await?;
        if code != 0 {
            return Err(failure("tar -c", code, &stderr, &path));
        }
        return Ok(futures_util::stream::once(async move { Ok(Bytes::from(head)) }).boxed());
    }
    let state = Pull { session: Some(session), head: Some(Bytes::from(head)), stderr, path };
    Ok(futures_util::stream::unfold(state, Pull::next).boxed())
}

struct Pull {
    session: Option<ExecSession>,
    head: Option<Bytes>,
    stderr: Vec<u8>,
    path: String,
}

impl Pull {
    async fn next(mut self) -> Option<(Result<Bytes>, Self)> {
        if let Some(head) = self.head.take() {
            return Some((Ok(head), self));
        }
        let session = self.session.as_mut()?;
        loop {
            match session.next_output().await {
                Some(Ok(c)) if c.stream == OutputStream::Stdout => return Some((Ok(c.data), self)),
                Some(Ok(c)) => keep(&mut self.stderr, &c.data),
                Some(Err(e)) => {
                    self.session = None; // dropping it kills the tar
                    return Some((Err(e), self));
                }
                None => break,
            }
        }
        let session = self.session.take()?;
        match session.wait().await {
            Ok(0) => None,
            Ok(code) => {
                let err = failure("tar -c", code, &self.stderr, &self.path);
                Some((Err(err), self))
            }
            Err(e) => Some((Err(e), self)),
        }
    }
}

async fn drain_output(session: &mut ExecSession, stderr: &mut Vec<u8>) -> Result<()> {
    while let Some(chunk) = session.next_output().await {
        let c = chunk?;
        if c.stream == OutputStream::Stderr {
            keep(stderr, &c.data);
        }
    }
    Ok(())
}

fn keep(buf: &mut Vec<u8>, data: &[u8]) {
    let room = STDERR_KEEP.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// `/a/b` → (`/a`, `b`); `/a` → (`/`, `a`); `/` → (`/`, `.`).
fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((_, "")) | None => ("/", "."),
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
    }
}

/// What tar, mkdir and the shell say (lower case) of a path that is missing or not writable.
const TAR_WORDS: &[(&str, ErrorKind)] = &[
    ("no such file", ErrorKind::NotFound),
    ("cannot stat", ErrorKind::NotFound),
    ("permission denied", ErrorKind::PermissionDenied),
    ("read-only file system", ErrorKind::PermissionDenied),
];

fn failure(what: &str, code: i64, stderr: &[u8], path: &str) -> Error {
    let text = String::from_utf8_lossy(stderr).trim().to_owned();
    let lower = text.to_ascii_lowercase();
    let kind = TAR_WORDS.iter().find(|(words, _)| lower.contains(words)).map_or(ErrorKind::Unexpected, |(_, k)| *k);
    Error::new(kind, format!("{what} for {path:?} failed with exit code {code}: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(split("/a/b"), ("/a", "b"));
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/"), ("/", "."));
    }

    #[test]
    fn failures_are_classified() {
        let nf = failure("tar -c", 1, b"tar: can't open 'nope': No such file or directory", "/nope");
        assert_eq!(nf.kind(), ErrorKind::NotFound);
        let pd = failure("tar -x", 1, b"tar: can't create 'x': Read-only file system", "/ro");
        assert_eq!(pd.kind(), ErrorKind::PermissionDenied);
        assert_eq!(failure("tar -x", 2, b"tar: corrupted", "/x").kind(), ErrorKind::Unexpected);
    }
}
