//! Checking a copy from inside the container: `sha256sum` of every regular file copied, or its
//! size (`stat -c %s`) where the container has no `sha256sum`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use anyctr_core::engine::ContainerEngine;
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::model::{ContainerDetail, ExecRequest};

/// What was checked after a copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// The sha256 of every regular file matched. `unverified` files have names (a newline or a
    /// backslash) that the container's `sha256sum` cannot print unambiguously.
    Sha256 {
        /// Regular files checked.
        files: u64,
        /// Regular files that could not be checked.
        unverified: u64,
    },
    /// The size of every regular file matched (the container has no `sha256sum`).
    Size {
        /// Regular files checked.
        files: u64,
        /// Regular files that could not be checked.
        unverified: u64,
    },
    /// Nothing was checked, and why.
    Skipped(String),
}

/// One regular file that was copied: its path relative to the copy's parent directory.
#[derive(Debug, Clone)]
pub(crate) struct ManifestEntry {
    pub rel: PathBuf,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// The regular files of a copy.
#[derive(Debug, Clone, Default)]
pub(crate) struct Manifest {
    pub entries: Vec<ManifestEntry>,
}

/// A file to check: where it is in the container, and what it must be.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub container_path: String,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// At most this many argument bytes per exec (well below `ARG_MAX`).
const BATCH_BYTES: usize = 64 << 10;
const BATCH_FILES: usize = 512;
/// Bound on one verification exec.
const EXEC_TIMEOUT: Duration = Duration::from_secs(120);

/// Checks `files` in container `id`. A mismatch is an `Unexpected` error naming the file.
/// Checks what a strategy that does no file I/O of its own sent into the container: every file of
/// `manifest`, unpacked under `parent`, by size and sha256 — unless verification is off or the
/// container has no buffered exec to check with.
pub(crate) async fn verify_unpacked(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    parent: &str,
    manifest: &Manifest,
    enabled: bool,
) -> Result<Verification> {
    if !enabled {
        return Ok(Verification::Skipped("verification disabled".into()));
    }
    if !engine.container_capabilities(container).exec.is_supported() {
        return Ok(Verification::Skipped("the engine cannot exec in this container".into()));
    }
    let expected: Vec<Expected> = manifest
        .entries
        .iter()
        .map(|e| Expected {
            container_path: super::native::join_container(parent, &e.rel),
            size: e.size,
            sha256: e.sha256,
        })
        .collect();
    verify(engine, &container.id, &expected).await
}

pub(crate) async fn verify(engine: &dyn ContainerEngine, id: &str, files: &[Expected]) -> Result<Verification> {
    let (checkable, unverified): (Vec<&Expected>, Vec<&Expected>) =
        files.iter().partition(|f| !f.container_path.contains(['\n', '\\']));
    let unverified = unverified.len() as u64;
    let files = checkable.len() as u64;
    match run_batches(engine, id, &checkable, Method::Sha256).await {
        Ok(()) => Ok(Verification::Sha256 { files, unverified }),
        Err(e) if e.kind() == ErrorKind::CommandNotFound => {
            match run_batches(engine, id, &checkable, Method::Size).await {
                Ok(()) => Ok(Verification::Size { files, unverified }),
                Err(e) if e.kind() == ErrorKind::CommandNotFound => {
                    Ok(Verification::Skipped("the container has neither sha256sum nor stat".into()))
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[derive(Clone, Copy)]
enum Method {
    Sha256,
    Size,
}

async fn run_batches(engine: &dyn ContainerEngine, id: &str, files: &[&Expected], method: Method) -> Result<()> {
    for batch in batches(files) {
        let mut argv: Vec<String> = match method {
            Method::Sha256 => vec!["sha256sum".into()],
            Method::Size => vec!["stat".into(), "-c".into(), "%s".into()],
        };
        argv.extend(batch.iter().map(|f| f.container_path.clone()));
        let result = engine.exec(id, ExecRequest::new(argv).timeout(EXEC_TIMEOUT)).await?;
        if !result.success() {
            let (_, err) = result.sample(512);
            return Err(Error::unexpected(format!(
                "verification failed: the check exited with {}: {}",
                result.exit_code,
                err.trim()
            )));
        }
        let text = String::from_utf8_lossy(&result.stdout);
        match method {
            Method::Sha256 => compare_sha256(&text, batch)?,
            Method::Size => compare_sizes(&text, batch)?,
        }
    }
    Ok(())
}

fn batches<'a>(files: &'a [&'a Expected]) -> Vec<&'a [&'a Expected]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        if i > start && (bytes + f.container_path.len() > BATCH_BYTES || i - start >= BATCH_FILES) {
            out.push(&files[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += f.container_path.len() + 1;
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

/// Compares `sha256sum` output (`HASH  PATH` per file, in argument order) with the batch.
pub(crate) fn compare_sha256(output: &str, batch: &[&Expected]) -> Result<()> {
    let lines: Vec<&str> = output.lines().filter(|l| !l.is_empty()).collect();
    if lines.len() != batch.len() {
        return Err(Error::unexpected(format!(
            "verification failed: sha256sum printed {} lines for {} files",
            lines.len(),
            batch.len()
        )));
    }
    for (line, want) in lines.iter().zip(batch) {
        let hash = line.trim_start_matches('\\').split_whitespace().next().unwrap_or("");
        let expected = hex(&want.sha256);
        if !hash.eq_ignore_ascii_case(&expected) {
            return Err(Error::unexpected(format!(
                "verification failed: {} has sha256 {hash} in the container, {expected} here",
                want.container_path
            )));
        }
    }
    Ok(())
}

/// Compares `stat -c %s` output (one size per line, in argument order) with the batch.
pub(crate) fn compare_sizes(output: &str, batch: &[&Expected]) -> Result<()> {
    let sizes: Vec<&str> = output.lines().filter(|l| !l.is_empty()).collect();
    if sizes.len() != batch.len() {
        return Err(Error::unexpected(format!(
            "verification failed: stat printed {} sizes for {} files",
            sizes.len(),
            batch.len()
        )));
    }
    for (size, want) in sizes.iter().zip(batch) {
        if size.trim().parse::<u64>().ok() != Some(want.size) {
            return Err(Error::unexpected(format!(
                "verification failed: {} is {} bytes in the container, {} here",
                want.container_path,
                size.trim(),
                want.size
            )));
        }
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn expected(path: &str, data: &[u8]) -> Expected {
        Expected { container_path: path.into(), size: data.len() as u64, sha256: Sha256::digest(data).into() }
    }

    #[test]
    fn sha256sum_output_is_compared_in_order() {
        let (a, b) = (expected("/t/a", b"hello"), expected("/t/b b", b""));
        let out = format!("{}  /t/a\n{}  /t/b b\n", hex(&a.sha256), hex(&b.sha256));
        compare_sha256(&out, &[&a, &b]).unwrap();
        let swapped = format!("{}  /t/a\n{}  /t/b b\n", hex(&b.sha256), hex(&a.sha256));
        let e = compare_sha256(&swapped, &[&a, &b]).unwrap_err();
        assert!(e.to_string().contains("/t/a"), "{e}");
        assert!(compare_sha256(&out, &[&a]).is_err(), "line count must match");
    }

    #[test]
    fn stat_sizes_are_compared() {
        let a = expected("/t/a", b"hello");
        compare_sizes("5\n", &[&a]).unwrap();
        assert!(compare_sizes("6\n", &[&a]).is_err());
        assert!(compare_sizes("", &[&a]).is_err());
    }

    #[test]
    fn batches_respect_byte_and_count_limits() {
        let long = "x".repeat(40 << 10);
        let files: Vec<Expected> = (0..3).map(|_| expected(&long, b"")).collect();
        let refs: Vec<&Expected> = files.iter().collect();
        assert_eq!(batches(&refs).iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1, 1]);
        let small: Vec<Expected> = (0..1030).map(|i| expected(&format!("/f{i}"), b"")).collect();
        let refs: Vec<&Expected> = small.iter().collect();
        assert_eq!(batches(&refs).iter().map(|b| b.len()).collect::<Vec<_>>(), [512, 512, 6]);
        assert!(batches(&[]).is_empty());
    }
}
