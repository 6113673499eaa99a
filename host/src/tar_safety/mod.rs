//! Unpacking tar archives that come from a container (or any untrusted source) safely.
//!
//! [`unpack`] refuses, with [`ErrorKind::InvalidArgument`]:
//! an entry path that is absolute or contains `..`; an entry below a symlink (an earlier entry
//! `a -> /etc` followed by `a/passwd`); a symlink whose target is absolute, climbs above the
//! destination, or has `..` after a name; a hard link whose source is not an earlier entry inside
//! the destination, or that is not a file the unpack wrote before; a device, FIFO or socket; a
//! file over [`WriteRules::max_file_bytes`]. setuid, setgid and sticky bits are dropped unless
//! [`WriteRules::keep_special_bits`]. Files are streamed (no whole-file buffers), written to a
//! temporary name and renamed into place under an opened parent directory, and a failure removes
//! everything the unpack created ([`TreeWriter`]).

mod checks;
mod policy;
mod writer;

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

use anyctr_core::error::{Error, ErrorKind, Result};

pub(crate) use checks::{check_link_target, checked_relative, io_err};
pub use policy::{LinkPolicy, WriteRules, WriteStats};
pub use writer::TreeWriter;

/// How [`unpack`] places entries.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Every entry must share one top-level component, which is renamed to this name (an archive
    /// of `/var/log/app` has top-level `app`; unpacked as `logs-copy`). `None` keeps names.
    pub rename_top: Option<OsString>,
}

/// Unpacks `archive` into the existing directory `dest` with [`LinkPolicy::Confined`]. See the
/// module docs.
pub fn unpack<R: Read>(archive: R, dest: &Path, options: &UnpackOptions) -> Result<WriteStats> {
    let mut writer = TreeWriter::new(dest, LinkPolicy::Confined)?;
    unpack_into(archive, &mut writer, options)?;
    writer.finish()
}

/// Unpacks `archive` through `writer`, leaving the caller to [`TreeWriter::finish`] it (after a
/// verification, say) or to drop it, which removes what was written.
///
/// With [`UnpackOptions::rename_top`], links must also stay inside the top-level entry, and a
/// top-level symlink is `Unsupported`: the caller asked for a path that is a link, whose target
/// only the container can resolve.
pub fn unpack_into<R: Read>(archive: R, writer: &mut TreeWriter, options: &UnpackOptions) -> Result<()> {
    let dest = writer.root().to_path_buf();
    let mut top: Option<OsString> = None;
    let mut archive = tar::Archive::new(archive);
    let entries = archive.entries().map_err(|e| io_err(e, &dest))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| io_err(e, &dest))?;
        let raw_path = entry.path().map_err(|e| io_err(e, &dest))?.into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink
        ) {
            continue;
        }
        let Some(rel) = placed(&raw_path, options, &mut top)? else {
            continue;
        };
        let mode = entry.header().mode().unwrap_or(0o644);
        match kind {
            EntryType::Directory => writer.dir(&rel, mode)?,
            EntryType::Regular | EntryType::Continuous => {
                let mtime = entry.header().mtime().ok().map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
                let expected = entry.size();
                writer.file(&rel, mode, mtime, &mut entry, Some(expected))?;
            }
            EntryType::Symlink => {
                let target = link_name(&entry, &raw_path)?;
                if options.rename_top.is_some() {
                    let below_top: PathBuf = rel.components().skip(1).collect();
                    if below_top.as_os_str().is_empty() {
                        return Err(Error::new(
                            ErrorKind::Unsupported,
                            format!("the source is a symlink to {}; copy its target instead", target.display()),
                        ));
                    }
                    check_link_target(&below_top, &target)?;
                }
                writer.symlink(&rel, &target)?;
            }
            EntryType::Link => {
                let target = link_name(&entry, &raw_path)?;
                let Some(source) = placed(&target, options, &mut top)? else {
                    return Err(Error::invalid_argument(format!(
                        "hard link {} has an empty source",
                        raw_path.display()
                    )));
                };
                writer.hardlink(&rel, &source)?;
            }
            EntryType::Char => writer.special(&rel, "a character device")?,
            EntryType::Block => writer.special(&rel, "a block device")?,
            EntryType::Fifo => writer.special(&rel, "a FIFO")?,
            _ => writer.special(&rel, "an entry of an unknown type")?,
        }
    }
    Ok(())
}

/// Where an entry goes, relative to the destination: validated, with the top-level component
/// renamed. `None` for the archive's own `./`.
fn placed(raw: &Path, options: &UnpackOptions, top: &mut Option<OsString>) -> Result<Option<PathBuf>> {
    let parts = checked_relative(raw)?;
    let Some((first, rest)) = parts.split_first() else {
        return Ok(None);
    };
    let Some(new_top) = &options.rename_top else {
        return Ok(Some(parts.iter().collect()));
    };
    match top {
        Some(t) if t.as_os_str() != *first => {
            return Err(Error::invalid_argument(format!(
                "refusing entry {}: outside the archive's single top-level entry {}",
                raw.display(),
                Path::new(t).display()
            )));
        }
        Some(_) => {}
        None => *top = Some(first.to_os_string()),
    }
    let mut out = PathBuf::from(new_top);
    out.extend(rest.iter().copied());
    Ok(Some(out))
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &Path) -> Result<PathBuf> {
    entry
        .link_name()
        .map_err(|e| Error::invalid_argument(format!("tar entry {}: bad link name: {e}", raw.display())))?
        .map(|l| l.into_owned())
        .ok_or_else(|| Error::invalid_argument(format!("tar entry {} is a link without a target", raw.display())))
}
