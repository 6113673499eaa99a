//! Copy into and out of a container.
//!
//! runc-class containers use docker's archive API (`PUT`/`GET /containers/{id}/archive`), which
//! works on the host-side rootfs. A sandboxed container's rootfs writes live inside the sandbox
//! (gVisor with an in-memory overlay: `docker cp` out fails, `docker cp` in is lost or unreliable),
//! so for those the same operations run as tar over exec (`tar -x` / `tar -c` in the container),
//! which needs `sh` and `tar` in the image and a running container.

use std::path::Path;

use anyctr_core::buffered_exec::run_to_completion;
use anyctr_core::container_path::archive_path;
use anyctr_core::model::{ExecInput, ExecRequest, OutputStream};
use anyctr_core::{ByteStream, Error, ErrorKind, Result};
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

use crate::client::{Client, ENGINE, map_bollard};
use crate::containers;
use crate::exec::exec_stream;

/// Mode of directories created for a missing destination.
const NEW_DIR_MODE: u32 = 0o755;

/// Go's `os.ModeDir`, as docker's path stat reports it.
const GO_MODE_DIR: u32 = 1 << 31;

pub(crate) async fn copy_to(client: &Client, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
    let dest = archive_path(destination).map_err(|e| e.with_engine(ENGINE))?;
    let detail = containers::inspect(client, container).await?;
    let result = if detail.runtime.is_sandboxed() {
        copy_to_over_exec(client, container, &dest, tar).await
    } else {
        ensure_dir(client, &detail.id, &dest).await?;
        let options = UploadToContainerOptionsBuilder::default().path(&dest).build();
        let body = tar.map_err(|e| std::io::Error::other(e.to_string()));
        client
            .call(
                "put_archive",
                client.docker.upload_to_container(&detail.id, Some(options), bollard::body_try_stream(body)),
            )
            .await
    };
    result.map_err(|e| e.in_context(ENGINE, "put_archive").with_container(container))
}

pub(crate) async fn copy_from(client: &Client, container: &str, path: &str) -> Result<ByteStream> {
    let path = archive_path(path).map_err(|e| e.with_engine(ENGINE))?;
    let detail = containers::inspect(client, container).await?;
    let result = if detail.runtime.is_sandboxed() {
        copy_from_over_exec(client, container, &path).await
    } else {
        let options = DownloadFromContainerOptionsBuilder::default().path(&path).build();
        let mut stream = client.docker.download_from_container(&detail.id, Some(options)).boxed();
        // The status (a missing path is 404) arrives with the first item: report it from here.
        let first = client.call("get_archive", async { stream.next().await.transpose() }).await;
        match first {
            Ok(first) => {
                let limit = client.call_timeout;
                let rest = stream.map_err(|e| map_bollard(e, "get_archive"));
                let rest = idle_bounded(rest, limit);
                Ok(futures_util::stream::iter(first.map(Ok)).chain(rest).boxed())
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(Error::not_found(format!("no {path} in the container")).with_source(e))
            }
            Err(e) => Err(e),
        }
    };
    result.map_err(|e| e.in_context(ENGINE, "get_archive").with_container(container))
}

/// Fails a stream that stays silent longer than `limit` between items.
fn idle_bounded(
    stream: impl futures_util::Stream<Item = Result<Bytes>> + Send + 'static,
    limit: std::time::Duration,
) -> ByteStream {
    futures_util::stream::unfold(Some(stream.boxed()), move |state| async move {
        let mut s = state?;
        match tokio::time::timeout(limit, s.next()).await {
            Ok(Some(item)) => Some((item, Some(s))),
            Ok(None) => None,
            Err(_) => Some((Err(Error::timeout("get_archive", limit).with_engine(ENGINE)), None)),
        }
    })
    .boxed()
}

/// Creates `dest` (and missing parents) as directories, without touching existing ones: the
/// deepest existing ancestor is found with path stats, and only the missing part is uploaded as a
/// tar of directory entries (extracting a directory entry over an existing directory would reset
/// its mode).
async fn ensure_dir(client: &Client, id: &str, dest: &str) -> Result<()> {
    let mut existing = dest.to_owned();
    loop {
        let options = ContainerArchiveInfoOptionsBuilder::default().path(&existing).build();
        match client.call("put_archive", client.docker.get_container_archive_info(id, Some(options))).await {
            Ok(stat) => {
                if stat.file_mode & GO_MODE_DIR == 0 && stat.link_target.is_empty() {
                    return Err(Error::invalid_argument(format!(
                        "{existing} exists in the container and is not a directory"
                    )));
                }
                break;
            }
            Err(e) if e.kind() == ErrorKind::NotFound && existing != "/" => {
                existing =
                    Path::new(&existing).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or("/".into());
            }
            Err(e) => return Err(e),
        }
    }
    if existing == dest {
        return Ok(());
    }
    let tar = dirs_tar(&existing, dest)?;
    let options = UploadToContainerOptionsBuilder::default().path(&existing).build();
    client
        .call("put_archive", client.docker.upload_to_container(id, Some(options), bollard::body_full(tar.into())))
        .await
}

/// A tar holding the directories of `dest` below `base`, parents first.
fn dirs_tar(base: &str, dest: &str) -> Result<Vec<u8>> {
    let relative = Path::new(dest).strip_prefix(base).map_err(|_| Error::unexpected("bad destination prefix"))?;
    let mut builder = tar::Builder::new(Vec::new());
    let mut path = std::path::PathBuf::new();
    for part in relative.components() {
        path.push(part);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(NEW_DIR_MODE);
        header.set_size(0);
        header.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        builder.append_data(&mut header, &path, std::io::empty())?;
    }
    Ok(builder.into_inner()?)
}

async fn copy_to_over_exec(client: &Client, container: &str, dest: &str, tar: ByteStream) -> Result<()> {
    let request = ExecRequest::new(["sh", "-c", "mkdir -p -- \"$1\" && exec tar -x -f - -C \"$1\"", "sh", dest]);
    let session = exec_stream(client, container, request, true).await?;
    let reader = tokio_util::io::StreamReader::new(tar.map_err(|e| std::io::Error::other(e.to_string())));
    let result =
        run_to_completion(session, Some(ExecInput::Reader(Box::pin(reader))), 64 * 1024, Some(client.call_timeout))
            .await?;
    if !result.success() {
        let (_, err) = result.sample(1024);
        return Err(Error::unexpected(format!(
            "tar -x in the container failed (exit {}): {}",
            result.exit_code,
            err.trim()
        )));
    }
    Ok(())
}

async fn copy_from_over_exec(client: &Client, container: &str, path: &str) -> Result<ByteStream> {
    let check =
        ExecRequest::new(["sh", "-c", "[ -e \"$1\" ] || [ -L \"$1\" ]", "sh", path]).timeout(client.call_timeout);
    let session = exec_stream(client, container, check, false).await?;
    let exists = run_to_completion(session, None, 1024, Some(client.call_timeout)).await?;
    if !exists.success() {
        return Err(Error::not_found(format!("no {path} in the container")));
    }
    let (parent, name) = match path.rsplit_once('/') {
        _ if path == "/" => ("/".to_owned(), ".".to_owned()),
        Some(("", name)) => ("/".to_owned(), name.to_owned()),
        Some((parent, name)) => (parent.to_owned(), name.to_owned()),
        None => ("/".to_owned(), path.to_owned()),
    };
    let request = ExecRequest::new(["tar", "-c", "-f", "-", "-C", parent.as_str(), "--", name.as_str()]);
    let session = exec_stream(client, container, request, false).await?;
    Ok(tar_output(session, client.call_timeout))
}

/// stdout of a `tar -c` exec as a byte stream; a non-zero exit ends it with an error carrying stderr.
fn tar_output(session: anyctr_core::model::ExecSession, limit: std::time::Duration) -> ByteStream {
    struct State {
        session: Option<anyctr_core::model::ExecSession>,
        stderr: Vec<u8>,
    }
    futures_util::stream::unfold(State { session: Some(session), stderr: Vec::new() }, move |mut st| async move {
        let session = st.session.as_mut()?;
        loop {
            match tokio::time::timeout(limit, session.next_output()).await {
                Err(_) => {
                    return Some((
                        Err(Error::timeout("get_archive", limit).with_engine(ENGINE)),
                        State { session: None, ..st },
                    ));
                }
                Ok(Some(Ok(chunk))) if chunk.stream == OutputStream::Stdout => return Some((Ok(chunk.data), st)),
                Ok(Some(Ok(chunk))) => {
                    let room = 4096usize.saturating_sub(st.stderr.len());
                    st.stderr.extend_from_slice(&chunk.data[..chunk.data.len().min(room)]);
                }
                Ok(Some(Err(e))) => return Some((Err(e), State { session: None, ..st })),
                Ok(None) => {
                    let session = st.session.take()?;
                    let code = tokio::time::timeout(limit, session.wait()).await;
                    return match code {
                        Ok(Ok(0)) => None,
                        Ok(Ok(code)) => Some((
                            Err(Error::unexpected(format!(
                                "tar -c in the container failed (exit {code}): {}",
                                String::from_utf8_lossy(&st.stderr).trim()
                            ))
                            .with_engine(ENGINE)
                            .with_operation("get_archive")),
                            st,
                        )),
                        Ok(Err(e)) => Some((Err(e), st)),
                        Err(_) => Some((Err(Error::timeout("get_archive", limit).with_engine(ENGINE)), st)),
                    };
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_dirs_become_a_tar_of_directories() {
        let tar = dirs_tar("/tmp", "/tmp/a/b").unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32, bool)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().mode().unwrap(),
                    e.header().entry_type().is_dir(),
                )
            })
            .collect();
        assert_eq!(entries, [("a".to_owned(), 0o755, true), ("a/b".to_owned(), 0o755, true)]);
    }
}
