//! `anyctr cp SRC DST`: docker's `CONTAINER:/path` syntax on either side; the library picks the
//! strategy (host path, the engine's archive API, tar over exec) and the report says which ran.
//!
//! As with `docker cp`: copying out into an existing local directory puts the copy inside it;
//! copying in to a container path ending in `/` puts the copy inside that directory.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyctr::{CopyReport, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::CpArgs;
use crate::node::Node;

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    Local(PathBuf),
    Container { key: String, path: String },
}

/// `CONTAINER:PATH` is a container side; a path starting with `/` or `.`, or without `:`, is
/// local (so `./a:b` is a local file), as docker reads it.
fn side(arg: &str) -> Result<Side> {
    if arg.is_empty() {
        return Err(Error::invalid_argument("empty path"));
    }
    if arg.starts_with('/') || arg.starts_with('.') {
        return Ok(Side::Local(arg.into()));
    }
    match arg.split_once(':') {
        // `ENGINE:ID:/path` names the engine too.
        Some((first, rest)) if rest.contains(':') && !rest.starts_with('/') => {
            let (id, path) = rest.split_once(':').expect("checked above");
            Ok(Side::Container { key: format!("{first}:{id}"), path: container_path(arg, path)? })
        }
        Some((key, path)) if !key.is_empty() => {
            Ok(Side::Container { key: key.into(), path: container_path(arg, path)? })
        }
        _ => Ok(Side::Local(arg.into())),
    }
}

fn container_path(arg: &str, path: &str) -> Result<String> {
    if !path.starts_with('/') {
        return Err(Error::invalid_argument(format!("{arg:?}: the container path must be absolute")));
    }
    Ok(path.to_owned())
}

fn base_name(path: &str) -> Result<&str> {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::invalid_argument(format!("{path:?} names no file")))
}

pub async fn run(node: &Node, args: &CpArgs) -> Result<ExitCode> {
    let (src, dst) = (side(&args.source)?, side(&args.destination)?);
    let show = !args.quiet && std::io::stderr().is_terminal();
    let report = match (src, dst) {
        (Side::Local(local), Side::Container { key, path }) => {
            let row = node.resolve(&key)?;
            let local_name = local.to_str().ok_or_else(|| Error::invalid_argument("local path is not UTF-8"))?;
            let dest = match path.ends_with('/') {
                true => format!("{path}{}", base_name(local_name.trim_end_matches('/'))?),
                false => path,
            };
            let total = local_size(&local);
            let what = format!("{} → {}:{dest}", local.display(), row.detail.name);
            // Progress is measured where the host sees the destination (runc-class only).
            let landing = if show { landing_on_host(node, &row.detail, &dest) } else { None };
            let bar = progress(show, Some(total).filter(|_| landing.is_some()), &what);
            if landing.is_none() && show {
                // Nothing to measure: say how much, and that it is running.
                bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"));
                bar.set_message(format!("{what}: {}", indicatif::HumanBytes(total)));
            }
            let watch = watch_local(bar.clone(), landing.map(|(path, fd)| (path, Some(fd))));
            let copied = node.inner.copy_into(&row.detail.id, &local, &dest).await;
            finish(bar, watch, copied)?
        }
        (Side::Container { key, path }, Side::Local(local)) => {
            let row = node.resolve(&key)?;
            let dest = match local.is_dir() {
                true => local.join(base_name(path.trim_end_matches('/'))?),
                false => local,
            };
            let bar = progress(show, None, &format!("{}:{path} → {}", row.detail.name, dest.display()));
            // Bytes landing in the destination, measured on disk while the copy runs.
            let watch = watch_local(bar.clone(), Some((dest.clone(), None)));
            let copied = node.inner.copy_out(&row.detail.id, &path, &dest).await;
            finish(bar, watch, copied)?
        }
        (Side::Local(_), Side::Local(_)) => {
            return Err(Error::invalid_argument("one side must be a container path (CONTAINER:/path)"));
        }
        (Side::Container { .. }, Side::Container { .. }) => {
            return Err(Error::invalid_argument(
                "copying between two containers is not supported; copy through a local path",
            ));
        }
    };
    crate::output::line(format_args!("copied via {report}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Where the copy into a runc-class container lands as this host sees it: the destination's
/// directory, held open (a descriptor, so a container swapping the directory for a link does not
/// redirect what is measured) and named through `/proc/self/fd`. `None` for a sandboxed
/// runtime, or when the directory cannot be opened.
fn landing_on_host(
    node: &Node,
    detail: &anyctr::ContainerDetail,
    dest: &str,
) -> Option<(PathBuf, std::os::fd::OwnedFd)> {
    if detail.runtime.is_sandboxed() {
        return None;
    }
    let (parent, name) = (Path::new(dest).parent()?, Path::new(dest).file_name()?);
    let fd = node.inner.open_host_path(&detail.id, parent).ok()?.into_fd();
    let path = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))).join(name);
    Some((path, fd))
}

/// A bar on a terminal (hidden otherwise): bytes of a known total, or bytes so far.
fn progress(show: bool, total: Option<u64>, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}] {wide_bar} {bytes}/{total_bytes}")
                .expect("a valid template"),
        ),
        None => ProgressBar::no_length().with_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}] {bytes} ({bytes_per_sec})")
                .expect("a valid template"),
        ),
    };
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Keeps the bar's position at the bytes landed at `dest` (and keeps the descriptor it is named
/// through open while it runs).
fn watch_local(
    bar: ProgressBar,
    dest: Option<(PathBuf, Option<std::os::fd::OwnedFd>)>,
) -> Option<tokio::task::JoinHandle<()>> {
    let (dest, held) = dest.filter(|_| !bar.is_hidden())?;
    Some(tokio::spawn(async move {
        let _held = held;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let dest = dest.clone();
            let size = tokio::task::spawn_blocking(move || landed(&dest)).await.unwrap_or(0);
            bar.set_position(size);
        }
    }))
}

fn finish(
    bar: ProgressBar,
    watch: Option<tokio::task::JoinHandle<()>>,
    copied: Result<CopyReport>,
) -> Result<CopyReport> {
    if let Some(watch) = watch {
        watch.abort();
    }
    match &copied {
        Ok(report) => {
            bar.set_length(report.stats.bytes);
            bar.set_position(report.stats.bytes);
            bar.finish();
        }
        Err(_) => bar.abandon(),
    }
    copied
}

/// Bytes written so far to `dest`: what is under it, and the file being written beside it (the
/// library writes a file to `.<name>.anyctr-<pid>-<n>.tmp` in the same directory, then renames
/// it; the pid is this process's). For the bar only: the report gives the real count.
fn landed(dest: &Path) -> u64 {
    let mut bytes = local_size(dest);
    let (Some(parent), Some(name)) = (dest.parent(), dest.file_name().and_then(|n| n.to_str())) else { return bytes };
    let prefix = format!(".{}.anyctr-{}-", name.chars().take(64).collect::<String>(), std::process::id());
    if let Ok(entries) = std::fs::read_dir(if parent.as_os_str().is_empty() { Path::new(".") } else { parent }) {
        for e in entries.flatten() {
            if e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".tmp")) {
                bytes += local_size(&e.path());
            }
        }
    }
    bytes
}

/// Bytes of the regular files under `path` (symlinks not followed); 0 for what cannot be read.
fn local_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries.flatten().map(|e| local_size(&e.path())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_read_as_docker_reads_them() {
        let c = |key: &str, path: &str| Side::Container { key: key.into(), path: path.into() };
        assert_eq!(side("web:/etc/hosts").unwrap(), c("web", "/etc/hosts"));
        assert_eq!(side("docker:web:/etc").unwrap(), c("docker:web", "/etc"));
        assert_eq!(side("/tmp/a:b").unwrap(), Side::Local("/tmp/a:b".into()));
        assert_eq!(side("./a:b").unwrap(), Side::Local("./a:b".into()));
        assert_eq!(side("file").unwrap(), Side::Local("file".into()));
        assert_eq!(side("web:etc").unwrap_err().kind(), anyctr::ErrorKind::InvalidArgument);
        assert_eq!(side("").unwrap_err().kind(), anyctr::ErrorKind::InvalidArgument);
    }
}
