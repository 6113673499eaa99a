//! The checks on entry paths and link targets, and the errors a writer reports.

use std::ffi::OsStr;
use std::path::{Component, Path};

use anyctr_core::error::{Error, ErrorKind, Result};

pub(crate) fn over_cap(path: &Path, cap: u64) -> Error {
    Error::invalid_argument(format!("{}: more than the cap of {cap} bytes per file", path.display()))
}

/// The normal components of a relative entry path; `InvalidArgument` for an absolute path or
/// `..`.
pub(crate) fn checked_relative(rel: &Path) -> Result<Vec<&OsStr>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::invalid_argument(format!("refusing entry {}: it contains `..`", rel.display())));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::invalid_argument(format!("refusing entry {}: it is absolute", rel.display())));
            }
        }
    }
    Ok(out)
}

/// A confined link may climb with leading `..` no higher than the root, then only descend. A
/// `..` after a name is refused: `x/..` depends on what `x` resolves to, which could be a link.
pub(crate) fn check_link_target(rel: &Path, target: &Path) -> Result<()> {
    let refuse = |why: &str| {
        Error::invalid_argument(format!("refusing symlink {} -> {}: {why}", rel.display(), target.display()))
    };
    let depth = checked_relative(rel)?.len().saturating_sub(1);
    let mut ups = 0;
    let mut descended = false;
    for c in target.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => return Err(refuse("absolute target")),
            Component::CurDir => {}
            Component::ParentDir if descended => return Err(refuse("`..` after a name")),
            Component::ParentDir => ups += 1,
            Component::Normal(_) => descended = true,
        }
    }
    if ups > depth {
        return Err(refuse("it leads outside the destination"));
    }
    if target.as_os_str().is_empty() {
        return Err(refuse("empty target"));
    }
    Ok(())
}

pub(crate) fn conflict(path: &Path, what: &str) -> Error {
    Error::new(ErrorKind::Conflict, format!("{} {what}", path.display()))
}

pub(crate) fn io_err(e: std::io::Error, path: &Path) -> Error {
    let kind = Error::from(std::io::Error::from(e.kind())).kind();
    Error::new(kind, format!("{}: {e}", path.display())).with_source(e)
}
