//! Copying files and directories into and out of a container, engine-independently.
//!
//! [`copy_to_container`] and [`copy_from_container`] try, in order, the strategies of
//! [`CopyOptions::strategies`] and use the first that works for this container:
//!
//! 1. [`CopyStrategy::HostPath`]: direct file I/O on the host through the
//!    [`host_path`](crate::host_path) resolver (runc-class runtimes; temp name then rename,
//!    modes kept).
//! 2. [`CopyStrategy::EngineArchive`]: the engine's own archive API, where its capabilities for
//!    this container say `Native`.
//! 3. [`CopyStrategy::TarOverExec`]: `tar -x` fed through exec stdin, or `tar -c` read from exec
//!    stdout, streamed both ways; then verified with `sha256sum` (or sizes) in the container.
//!
//! The [`CopyReport`] names the strategy that ran and why each earlier one was skipped. A
//! strategy whose precondition fails is skipped; one that fails with `Unsupported`,
//! `PermissionDenied`, `CommandNotFound` or `Unexpected` falls through to the next (whatever it
//! wrote was removed); `NotFound`, `InvalidArgument`, `Conflict`, `Timeout` and
//! `EngineUnavailable` end the copy, since another strategy would meet the same answer.
//!
//! # Semantics
//! - The destination names the copy itself: `copy_to_container(e, c, "./app", "/opt/app", ..)`
//!   makes `/opt/app` (missing parents are created); a directory merges into an existing one, a
//!   file replaces an existing file (never a directory: `Conflict`).
//! - A source that is a symlink is followed (its target is copied); symlinks below it are copied
//!   as links. Copying out refuses links that would lead outside the copy (see
//!   [`tar_safety`](crate::tar_safety)).
//! - Modes and modification times are kept; ownership is whatever the writer's side makes it.
//!   Copying out drops setuid, setgid and sticky bits unless [`CopyOptions::keep_special_bits`],
//!   refuses FIFOs, sockets and devices (`InvalidArgument`, nothing left behind), caps each file
//!   ([`CopyOptions::max_file_bytes`]; by default a file read on the host may not grow past its
//!   size at open) and makes hard links only to files of the same copy.
//! - Host-side I/O goes through [`host_path::open`](crate::host_path::open) and
//!   [`hostfs`](crate::hostfs): descriptors, never paths, so a container racing the copy with
//!   symlink swaps cannot make it read or write outside the container.
//! - A failed copy leaves no partial file: files are written under a temporary name and renamed,
//!   and what a failed attempt created is removed. (Inside a container the `tar` of tar-over-exec
//!   writes in place; a failed verification is reported, not undone.)
//! - A single-file mount is rewritten in place: renaming over it would detach it from the mount.

mod bridge;
mod exec_tar;
mod host;
mod native;
mod pack;
mod paths;
mod verify;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::tar_safety::WriteStats;
use anyctr_core::engine::ContainerEngine;
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::model::ContainerDetail;

pub use verify::Verification;

use paths::ContainerTarget;

/// One way of copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CopyStrategy {
    /// Direct file I/O on the host path of a runc-class container.
    HostPath,
    /// The engine's archive API ([`put_archive`](anyctr_core::ContainerEngine::put_archive) / [`get_archive`](anyctr_core::ContainerEngine::get_archive)).
    EngineArchive,
    /// `tar` run inside the container through exec.
    TarOverExec,
}

impl CopyStrategy {
    /// Every strategy, in the default order.
    pub const ALL: [CopyStrategy; 3] = [CopyStrategy::HostPath, CopyStrategy::EngineArchive, CopyStrategy::TarOverExec];

    /// The strategy's name (`host_path`, `engine_archive`, `tar_over_exec`).
    pub fn as_str(self) -> &'static str {
        match self {
            CopyStrategy::HostPath => "host_path",
            CopyStrategy::EngineArchive => "engine_archive",
            CopyStrategy::TarOverExec => "tar_over_exec",
        }
    }
}

/// How to copy.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CopyOptions {
    /// The strategies to try, in order.
    pub strategies: Vec<CopyStrategy>,
    /// Check the copy from inside the container where the strategy does not do file I/O itself.
    pub verify: bool,
    /// Bound on the whole copy.
    pub timeout: Duration,
    /// Where the host's `/` is mounted when the agent runs in a container.
    pub host_root: Option<PathBuf>,
    /// Copying out: keep setuid, setgid and sticky bits (off by default: a container must not
    /// plant a setuid binary on the host). Copying in keeps modes as they are.
    pub keep_special_bits: bool,
    /// Copying out: the most bytes one file may hold. `None`: a file read on the host may hold
    /// what it held when it was opened (a file that keeps growing fails the copy instead of
    /// filling the disk); a file from an archive what its header says. Set it to copy a live log.
    pub max_file_bytes: Option<u64>,
}

impl CopyOptions {
    /// The rules a local writer applies to what comes out of the container.
    pub(crate) fn write_rules(&self) -> crate::tar_safety::WriteRules {
        crate::tar_safety::WriteRules { keep_special_bits: self.keep_special_bits, max_file_bytes: self.max_file_bytes }
    }
}

impl CopyOptions {
    /// The strategies to try, in order (default: [`CopyStrategy::ALL`]).
    pub fn strategies(mut self, strategies: impl IntoIterator<Item = CopyStrategy>) -> Self {
        self.strategies = strategies.into_iter().collect();
        self
    }

    /// Whether to check the copy from inside the container (default: yes).
    pub fn verify(mut self, verify: bool) -> Self {
        self.verify = verify;
        self
    }

    /// Bound on the whole copy (default 10 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Where the host's `/` is mounted when the agent runs in a container.
    pub fn host_root(mut self, root: Option<PathBuf>) -> Self {
        self.host_root = root;
        self
    }

    /// Copying out: keep setuid, setgid and sticky bits (default: cleared).
    pub fn keep_special_bits(mut self, keep: bool) -> Self {
        self.keep_special_bits = keep;
        self
    }

    /// Copying out: the most bytes one file may hold (default: see the field).
    pub fn max_file_bytes(mut self, max: Option<u64>) -> Self {
        self.max_file_bytes = max;
        self
    }
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            strategies: CopyStrategy::ALL.to_vec(),
            verify: true,
            timeout: Duration::from_secs(600),
            host_root: None,
            keep_special_bits: false,
            max_file_bytes: None,
        }
    }
}

/// A strategy that did not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SkippedStrategy {
    /// The strategy.
    pub strategy: CopyStrategy,
    /// Why it did not copy.
    pub reason: String,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CopyReport {
    /// The strategy that copied.
    pub strategy: CopyStrategy,
    /// The strategies tried before it, with the reason each did not copy.
    pub skipped: Vec<SkippedStrategy>,
    /// What was written.
    pub stats: WriteStats,
    /// What was checked afterwards.
    pub verification: Verification,
}

impl fmt::Display for CopyStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CopyReport {
    /// One line: `host_path: 3 files, 1 dirs, 0 links, 2048 bytes; verified sha256 of 3 files
    /// (skipped: engine_archive: …)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(f, "{}: {} files, {} dirs, {} links, {} bytes", self.strategy, s.files, s.dirs, s.links, s.bytes)?;
        if s.skipped > 0 {
            write!(f, ", {} special files left out", s.skipped)?;
        }
        match &self.verification {
            Verification::Sha256 { files, .. } => write!(f, "; verified sha256 of {files} files")?,
            Verification::Size { files, .. } => write!(f, "; verified size of {files} files")?,
            Verification::Skipped(why) => write!(f, "; not verified ({why})")?,
        }
        if let Verification::Sha256 { unverified, .. } | Verification::Size { unverified, .. } = &self.verification
            && *unverified > 0
        {
            write!(f, ", {unverified} unverifiable")?;
        }
        for skip in &self.skipped {
            write!(f, " (skipped {}: {})", skip.strategy, skip.reason)?;
        }
        Ok(())
    }
}

/// What one strategy did.
pub(crate) struct Done {
    stats: WriteStats,
    verification: Verification,
}

/// Why one strategy did not copy.
pub(crate) enum Attempt {
    /// Its precondition does not hold; nothing was tried.
    Skip(String),
    /// It was tried and failed.
    Fail(Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Self {
        Attempt::Fail(e)
    }
}

type Step = std::result::Result<Done, Attempt>;

/// Copies the local file or directory `local_src` to `container_dest` (the path the copy will
/// have). See the module docs.
pub async fn copy_to_container(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    local_src: &Path,
    container_dest: &str,
    options: &CopyOptions,
) -> Result<CopyReport> {
    let context = |e: Error| e.in_context(engine.name(), "copy_into").with_container(&container.id);
    let target = ContainerTarget::parse(container_dest).map_err(context)?;
    std::fs::metadata(local_src)
        .map_err(|e| context(crate::tar_safety::io_err(e, local_src)).with_operation("copy_into"))?;
    let run = async {
        let mut ladder = Ladder::default();
        for &strategy in &options.strategies {
            let step = match strategy {
                CopyStrategy::HostPath => host::copy_to(engine, container, local_src, &target, options).await,
                CopyStrategy::EngineArchive => native::copy_to(engine, container, local_src, &target, options).await,
                CopyStrategy::TarOverExec => exec_tar::copy_to(engine, container, local_src, &target, options).await,
            };
            if let Some(report) = ladder.record(strategy, step)? {
                return Ok(report);
            }
        }
        Err(ladder.exhausted())
    };
    bounded(options.timeout, run).await.map_err(context)
}

/// Copies `container_src` out of the container to `local_dest` (the path the copy will have).
/// See the module docs.
pub async fn copy_from_container(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    container_src: &str,
    local_dest: &Path,
    options: &CopyOptions,
) -> Result<CopyReport> {
    let context = |e: Error| e.in_context(engine.name(), "copy_out").with_container(&container.id);
    let target = ContainerTarget::parse(container_src).map_err(context)?;
    let (parent, _) = paths::local_target(local_dest).map_err(context)?;
    if !parent.is_dir() {
        return Err(context(Error::not_found(format!("local directory {} does not exist", parent.display()))));
    }
    let run = async {
        let mut ladder = Ladder::default();
        for &strategy in &options.strategies {
            let step = match strategy {
                CopyStrategy::HostPath => host::copy_from(engine, container, &target, local_dest, options).await,
                CopyStrategy::EngineArchive => native::copy_from(engine, container, &target, local_dest, options).await,
                CopyStrategy::TarOverExec => exec_tar::copy_from(engine, container, &target, local_dest, options).await,
            };
            if let Some(report) = ladder.record(strategy, step)? {
                return Ok(report);
            }
        }
        Err(ladder.exhausted())
    };
    bounded(options.timeout, run).await.map_err(context)
}

async fn bounded<T>(timeout: Duration, run: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(timeout, run).await.unwrap_or_else(|_| Err(Error::timeout("copy", timeout)))
}

/// The attempts so far.
#[derive(Default)]
struct Ladder {
    skipped: Vec<SkippedStrategy>,
    last_failure: Option<ErrorKind>,
}

impl Ladder {
    /// The report when the strategy copied, `None` to go on, an error to stop.
    fn record(&mut self, strategy: CopyStrategy, step: Step) -> Result<Option<CopyReport>> {
        match step {
            Ok(done) => Ok(Some(CopyReport {
                strategy,
                skipped: std::mem::take(&mut self.skipped),
                stats: done.stats,
                verification: done.verification,
            })),
            Err(Attempt::Skip(reason)) => {
                self.skipped.push(SkippedStrategy { strategy, reason });
                Ok(None)
            }
            Err(Attempt::Fail(e)) if falls_through(e.kind()) => {
                self.last_failure = Some(e.kind());
                self.skipped.push(SkippedStrategy { strategy, reason: format!("failed: {e}") });
                Ok(None)
            }
            // The copy ends here; the message still names what was tried before.
            Err(Attempt::Fail(e)) if self.skipped.is_empty() => Err(e),
            Err(Attempt::Fail(e)) => {
                let tried: Vec<String> =
                    self.skipped.iter().map(|s| format!("{}: {}", s.strategy.as_str(), s.reason)).collect();
                let message = format!("{}: {} (before it: {})", strategy.as_str(), e.message(), tried.join("; "));
                Err(Error::new(e.kind(), message))
            }
        }
    }

    /// The error when no strategy copied: the last failure's kind (else `Unsupported`), with
    /// every attempt in the message.
    fn exhausted(self) -> Error {
        let attempts: Vec<String> =
            self.skipped.iter().map(|s| format!("{}: {}", s.strategy.as_str(), s.reason)).collect();
        let kind = self.last_failure.unwrap_or(ErrorKind::Unsupported);
        Error::new(kind, format!("no copy strategy worked ({})", attempts.join("; ")))
    }
}

fn falls_through(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Unsupported | ErrorKind::PermissionDenied | ErrorKind::CommandNotFound | ErrorKind::Unexpected
    )
}

/// Turns a resolver's "not host-visible" into a skip; other errors stay failures.
fn skip_unsupported(e: Error) -> Attempt {
    if e.kind() == ErrorKind::Unsupported { Attempt::Skip(e.message().to_owned()) } else { Attempt::Fail(e) }
}

/// The files to check in the container after a copy whose top-level entry is `top_local`
/// (locally) and `container_top` (in the container).
async fn expected_from_local(
    files: Vec<PathBuf>,
    top_local: PathBuf,
    container_top: String,
) -> Result<Vec<verify::Expected>> {
    tokio::task::spawn_blocking(move || hash_local(&files, &top_local, &container_top))
        .await
        .map_err(|e| Error::unexpected(format!("the hashing thread failed: {e}")))?
}

fn hash_local(files: &[PathBuf], top_local: &Path, container_top: &str) -> Result<Vec<verify::Expected>> {
    use sha2::Digest;
    files
        .iter()
        .map(|path| {
            let rest = path.strip_prefix(top_local).unwrap_or(Path::new(""));
            let container_path = if rest.as_os_str().is_empty() {
                container_top.to_owned()
            } else {
                format!("{container_top}/{}", rest.display())
            };
            let f = std::fs::File::open(path).map_err(|e| crate::tar_safety::io_err(e, path))?;
            let mut hashing = pack::HashingReader::new(f);
            std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| crate::tar_safety::io_err(e, path))?;
            Ok(verify::Expected { container_path, size: hashing.count, sha256: hashing.hash.finalize().into() })
        })
        .collect()
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn copy_report_reads_as_one_line() {
        let report = CopyReport {
            strategy: CopyStrategy::TarOverExec,
            skipped: vec![SkippedStrategy { strategy: CopyStrategy::HostPath, reason: "sandboxed".into() }],
            stats: WriteStats { files: 2, dirs: 1, links: 0, bytes: 10, skipped: 0 },
            verification: Verification::Sha256 { files: 2, unverified: 0 },
        };
        assert_eq!(
            report.to_string(),
            "tar_over_exec: 2 files, 1 dirs, 0 links, 10 bytes; verified sha256 of 2 files (skipped host_path: sandboxed)"
        );
    }
}
