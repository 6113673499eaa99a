//! Copy in and out through pouch's archive API: `GET` (a tar of a path), `HEAD` (its stat, as
//! base64 JSON in `X-Docker-Container-Path-Stat`) and `PUT` (unpack a tar into a directory).
//!
//! `PUT` into a directory that does not exist fails (pouchd: 500 "lstat …: no such file or
//! directory"), while anyctr's `copy_to` creates it. The tar is a stream and cannot be sent twice,
//! so the first bytes sent are kept (up to [`RETAIN_LIMIT`]); pouchd checks the destination before
//! reading the body, so on that failure little has been sent and the copy is retried after the
//! missing directories were created — by `PUT`ting a tar of just those directories into the
//! nearest existing ancestor, which leaves existing directories' modes alone.

use std::sync::{Arc, Mutex};

use anyctr_core::{ByteStream, Error, ErrorKind, Result};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::Method;
use http_body_util::BodyExt;
use serde::Deserialize;

use crate::client::{self, Client};
use crate::models::{lenient_i64, nullable};

/// How much of a `copy_to` tar is kept for a retry after creating the destination.
pub const RETAIN_LIMIT: usize = 16 << 20;

/// Go's `os.ModeDir` bit, as pouch reports modes.
const GO_MODE_DIR: i64 = 1 << 31;

fn archive_path(container_id: &str, path: &str) -> String {
    format!("/containers/{}/archive?path={}", client::encode_segment(container_id), client::encode_query(path))
}

/// The shared check of an archive call's container path; pouchd gets the path as given.
fn check_absolute(path: &str) -> Result<()> {
    anyctr_core::container_path::archive_path(path).map(|_| ())
}

/// A tar stream of `path`; its single top-level entry is the path's last component.
pub async fn copy_from(client: &Client, container_id: &str, path: &str) -> Result<ByteStream> {
    check_absolute(path)?;
    let response = client.call(Method::GET, &archive_path(container_id, path), &[], client::empty()).await?;
    let stream = response
        .into_body()
        .into_data_stream()
        .map_err(|e| client::unavailable("reading the archive from pouchd failed", e));
    Ok(stream.boxed())
}

/// What pouch says about a path of the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PathStat {
    /// The path's last component.
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The path.
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    /// pouch sends the size as a string.
    #[serde(deserialize_with = "lenient_i64")]
    pub size: Option<i64>,
    /// Go `os.FileMode` bits: permissions plus type bits such as `1 << 31` for a directory.
    #[serde(deserialize_with = "lenient_i64")]
    pub mode: Option<i64>,
    /// Modification time, as pouch formats it.
    #[serde(deserialize_with = "nullable")]
    pub mtime: String,
    /// A symlink's target.
    #[serde(rename = "linkTarget", deserialize_with = "nullable")]
    pub link_target: String,
}

impl PathStat {
    /// Whether the path is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode.is_some_and(|m| m & GO_MODE_DIR != 0)
    }

    /// The permission bits.
    pub fn permissions(&self) -> u32 {
        self.mode.map(|m| (m & 0o7777) as u32).unwrap_or(0)
    }
}

/// `HEAD` archive: the stat of `path`. A missing path is `NotFound`.
pub async fn stat(client: &Client, container_id: &str, path: &str) -> Result<PathStat> {
    check_absolute(path)?;
    let response = match client.call(Method::HEAD, &archive_path(container_id, path), &[], client::empty()).await {
        Ok(r) => r,
        // A HEAD answer has no body to say why; pouchd answers a missing path with 500.
        Err(e) if e.kind() == ErrorKind::Unexpected => {
            return Err(Error::not_found(format!("no path {path:?} in the container ({})", e.message())));
        }
        Err(e) => return Err(e),
    };
    let header = response
        .headers()
        .get("x-docker-container-path-stat")
        .ok_or_else(|| Error::unexpected("pouchd sent no X-Docker-Container-Path-Stat header"))?;
    let json = base64_decode(header.as_bytes())
        .ok_or_else(|| Error::unexpected("X-Docker-Container-Path-Stat is not base64"))?;
    client::parse_json(&json, "the path stat header")
}

/// `PUT` archive as pouch does it: the destination directory must exist.
pub async fn put_archive(client: &Client, container_id: &str, destination: &str, tar: ByteStream) -> Result<()> {
    check_absolute(destination)?;
    let path = archive_path(container_id, destination);
    let headers = [("content-type", "application/x-tar")];
    // Not bounded by the call timeout: the upload takes as long as the caller's stream.
    let response = client.send(Method::PUT, &path, &headers, client::stream_body(tar)).await?;
    if response.status().is_success() {
        return Ok(());
    }
    Err(client.error_from(response).await)
}

/// Unpacks `tar` into `destination`, creating the directory if it is missing.
pub async fn copy_to(client: &Client, container_id: &str, destination: &str, tar: ByteStream) -> Result<()> {
    check_absolute(destination)?;
    let retained = Retained::new(tar);
    let first = put_archive(client, container_id, destination, retained.stream()).await;
    let err = match first {
        Ok(()) => return Ok(()),
        // The container was resolved just before: NotFound is about the destination.
        Err(e) if e.kind() == ErrorKind::NotFound => e,
        Err(e) => return Err(e),
    };
    let Some(replay) = retained.take_for_retry() else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "{} (the destination is missing and the tar was too large to send again after creating it)",
                err.message()
            ),
        ));
    };
    create_dirs(client, container_id, destination).await?;
    put_archive(client, container_id, destination, replay).await
}

/// Creates `dir` and its missing parents by unpacking a tar of just the missing directories into
/// the nearest ancestor that exists.
pub async fn create_dirs(client: &Client, container_id: &str, dir: &str) -> Result<()> {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for existing in (0..parts.len()).rev() {
        let ancestor = format!("/{}", parts[..existing].join("/"));
        let tar = Bytes::from(dirs_tar(&parts[existing..])?);
        match put_archive(client, container_id, &ancestor, futures_util::stream::iter([Ok(tar)]).boxed()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound && existing > 0 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A tar holding directories `a/`, `a/b/`, … (mode 0755).
fn dirs_tar(parts: &[&str]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for i in 0..parts.len() {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(now);
        builder.append_data(&mut header, format!("{}/", parts[..=i].join("/")), std::io::empty())?;
    }
    Ok(builder.into_inner()?)
}

/// A stream that keeps what it passed on (up to [`RETAIN_LIMIT`]) so it can be replayed.
struct Retained {
    shared: Arc<Mutex<RetainedState>>,
}

struct RetainedState {
    inner: Option<ByteStream>,
    kept: Vec<Bytes>,
    kept_len: usize,
    overflow: bool,
    /// Set once a retry took the stream: the first request's body must not read on.
    detached: bool,
}

impl Retained {
    fn new(inner: ByteStream) -> Self {
        let state =
            RetainedState { inner: Some(inner), kept: Vec::new(), kept_len: 0, overflow: false, detached: false };
        Retained { shared: Arc::new(Mutex::new(state)) }
    }

    fn stream(&self) -> ByteStream {
        let shared = self.shared.clone();
        futures_util::stream::poll_fn(move |cx| {
            let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
            if s.detached {
                return std::task::Poll::Ready(None);
            }
            let Some(inner) = s.inner.as_mut() else { return std::task::Poll::Ready(None) };
            let item = std::task::ready!(inner.poll_next_unpin(cx));
            if let Some(Ok(bytes)) = &item
                && !s.overflow
            {
                if s.kept_len + bytes.len() <= RETAIN_LIMIT {
                    s.kept_len += bytes.len();
                    s.kept.push(bytes.clone());
                } else {
                    s.overflow = true;
                    s.kept.clear();
                }
            }
            std::task::Poll::Ready(item)
        })
        .boxed()
    }

    /// What was sent, followed by the rest; `None` when too much was sent to keep.
    fn take_for_retry(self) -> Option<ByteStream> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        s.detached = true;
        if s.overflow {
            return None;
        }
        let kept = std::mem::take(&mut s.kept);
        let rest = s.inner.take().unwrap_or_else(|| futures_util::stream::empty().boxed());
        Some(futures_util::stream::iter(kept.into_iter().map(Ok)).chain(rest).boxed())
    }
}

/// Standard base64 (with or without padding); `None` on a bad character.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let clean: Vec<u8> = input.iter().copied().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut acc = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            acc |= value(*c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&bytes[1..4]),
            3 => out.extend_from_slice(&bytes[1..3]),
            2 => out.push(bytes[1]),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrips_known_values() {
        assert_eq!(base64_decode(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64_decode(b"aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        assert!(base64_decode(b"a*==").is_none());
    }

    #[test]
    fn stat_mode_bits() {
        let s = PathStat { mode: Some(2147484141), ..Default::default() };
        assert!(s.is_dir());
        assert_eq!(s.permissions(), 0o755);
        assert!(!PathStat { mode: Some(420), ..Default::default() }.is_dir());
    }

    #[test]
    fn dirs_tar_lists_each_level() {
        let tar = dirs_tar(&["a", "b"]).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> =
            archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect();
        assert_eq!(names, ["a/", "a/b/"]);
    }

    #[tokio::test]
    async fn retained_stream_replays_what_was_sent() {
        let chunks = vec![Ok(Bytes::from_static(b"ab")), Ok(Bytes::from_static(b"cd")), Ok(Bytes::from_static(b"ef"))];
        let r = Retained::new(futures_util::stream::iter(chunks).boxed());
        let mut first = r.stream();
        assert_eq!(first.next().await.unwrap().unwrap(), "ab");
        let replay: Vec<Bytes> = r.take_for_retry().unwrap().try_collect().await.unwrap();
        assert_eq!(replay.concat(), b"abcdef");
        assert!(first.next().await.is_none(), "the first body stops once detached");
    }
}
