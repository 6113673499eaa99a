//! The host-path strategy: direct file I/O on the host through the resolver, for runc-class
//! containers whose rootfs (or the mount holding the path) the host can see. Everything is done
//! through descriptors ([`host_path::open`](crate::host_path::open), [`TreeWriter`] over an
//! opened directory), never by path.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::paths::{self, ContainerTarget, Sink};
use super::{Attempt, CopyOptions, Done, Step, Verification, skip_unsupported};
use crate::host_path::{HostPath, HostPathResolver, HostPathSource};
use crate::hostfs::{Entry, FileKind};
use crate::tar_safety::{LinkPolicy, TreeWriter, check_link_target, io_err};
use anyctr_core::capability::Capabilities;
use anyctr_core::engine::ContainerEngine;
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::model::{ContainerDetail, MountKind};

const NOT_NEEDED: &str = "direct file I/O on the host: every byte written was checked by the write itself";

pub(super) async fn copy_to(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    local: &Path,
    target: &ContainerTarget,
    options: &CopyOptions,
) -> Step {
    let (container, caps, local, target, options) = (
        container.clone(),
        engine.container_capabilities(container),
        local.to_path_buf(),
        target.clone(),
        options.clone(),
    );
    blocking(move || copy_to_blocking(&container, &caps, &local, &target, &options)).await
}

pub(super) async fn copy_from(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    target: &ContainerTarget,
    local: &Path,
    options: &CopyOptions,
) -> Step {
    let (container, caps, local, target, options) = (
        container.clone(),
        engine.container_capabilities(container),
        local.to_path_buf(),
        target.clone(),
        options.clone(),
    );
    blocking(move || copy_from_blocking(&container, &caps, &target, &local, &options)).await
}

async fn blocking(f: impl FnOnce() -> Step + Send + 'static) -> Step {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Attempt::Fail(Error::unexpected(format!("host copy thread failed: {e}")))))
}

/// Why the host view is off limits for this container, if it is.
fn precondition(container: &ContainerDetail, caps: &Capabilities, found: &HostPath) -> Option<String> {
    let in_rootfs = matches!(found.source, HostPathSource::MergedRootfs | HostPathSource::ProcRoot { .. });
    (in_rootfs && !caps.host_rootfs.is_supported())
        .then(|| format!("the engine reports no host access to the rootfs of runtime `{}`", container.runtime.as_str()))
}

fn sandboxed(container: &ContainerDetail) -> Option<Attempt> {
    container.runtime.is_sandboxed().then(|| {
        Attempt::Skip(format!(
            "runtime `{}` is sandboxed: the host's view of its files is not the container's",
            container.runtime.as_str()
        ))
    })
}

fn copy_to_blocking(
    container: &ContainerDetail,
    caps: &Capabilities,
    local: &Path,
    target: &ContainerTarget,
    options: &CopyOptions,
) -> Step {
    if let Some(skip) = sandboxed(container) {
        return Err(skip);
    }
    let resolver = HostPathResolver::new(container, options.host_root.as_deref());
    let (parent, deepest, missing) = resolver.open_deepest(&target.parent).map_err(skip_unsupported)?;
    if let Some(why) = precondition(container, caps, &parent) {
        return Err(Attempt::Skip(why));
    }
    if !parent.writable {
        return Err(Attempt::Skip(format!("{} is on a read-only mount", parent.container_path.display())));
    }
    read_only_rootfs(&resolver, &parent, &deepest)?;
    let dest = parent.container_path.join(&target.name);
    let local_meta = fs::metadata(local).map_err(|e| io_err(e, local))?;
    let inside = resolver.mounts_at_or_below(&dest);
    if let [mount] = inside.as_slice()
        && paths_equal(&mount.destination, &dest)
        && local_meta.is_file()
    {
        return rewrite_file_mount(&resolver, &dest, local, &local_meta);
    }
    if let Some(mount) = inside.first() {
        return Err(Attempt::Skip(format!(
            "mount {} lies inside the destination; only the container sees across its mounts",
            mount.destination.display()
        )));
    }
    let shown = parent.path.ancestors().nth(missing.len()).unwrap_or(&parent.path).to_path_buf();
    let dir = deepest.open_dir().map_err(|e| io_err(e, &shown))?;
    let mut rel: PathBuf = missing.iter().collect();
    rel.push(&target.name);
    let mut writer = TreeWriter::in_dir(dir, shown, LinkPolicy::Verbatim);
    paths::walk_local(local, &rel, true, &mut writer)?;
    Ok(Done { stats: writer.finish()?, verification: Verification::Skipped(NOT_NEEDED.into()) })
}

/// A rootfs the container sees read-only must not be written from the host through the merged
/// dir (which stays writable): the container's own root mount says, through
/// `/proc/<pid>/root`. Without a running process there is nothing to ask.
fn read_only_rootfs(resolver: &HostPathResolver<'_>, found: &HostPath, deepest: &Entry) -> Result<()> {
    let read_only = match found.source {
        HostPathSource::ProcRoot { .. } => deepest.on_read_only_mount(),
        HostPathSource::MergedRootfs => match resolver.proc_root_dir() {
            Ok(Some(root)) => Entry::from_fd(root.dir().try_clone().map_err(|e| io_err(e, &found.path))?.into())
                .and_then(|e| e.on_read_only_mount()),
            _ => Ok(false),
        },
        HostPathSource::Mount { .. } => Ok(false),
    };
    if read_only.map_err(|e| io_err(e, &found.path))? {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "{}: read-only file system (the container's rootfs is mounted read-only)",
                found.container_path.display()
            ),
        ));
    }
    Ok(())
}

/// A single-file mount: the container sees the mounted inode, so it is rewritten in place.
fn rewrite_file_mount(resolver: &HostPathResolver<'_>, dest: &Path, local: &Path, meta: &fs::Metadata) -> Step {
    let found = resolver.open(&dest.to_string_lossy()).map_err(skip_unsupported)?;
    if !found.path.writable {
        return Err(Attempt::Skip(format!("{} is a read-only file mount", dest.display())));
    }
    if found.entry().kind() != FileKind::File {
        return Err(Attempt::Skip(format!("{} is a mount of something other than a regular file", dest.display())));
    }
    let write = || -> std::io::Result<u64> {
        let mut src = fs::File::open(local)?;
        let mut out = found.entry().open_for_rewrite()?;
        let n = std::io::copy(&mut src, &mut out)?;
        out.flush()?;
        out.set_permissions(fs::Permissions::from_mode(paths::mode_of(meta)))?;
        Ok(n)
    };
    let bytes = write().map_err(|e| io_err(e, &found.path.path))?;
    let stats = crate::tar_safety::WriteStats { files: 1, bytes, ..Default::default() };
    Ok(Done { stats, verification: Verification::Skipped(NOT_NEEDED.into()) })
}

fn copy_from_blocking(
    container: &ContainerDetail,
    caps: &Capabilities,
    target: &ContainerTarget,
    local: &Path,
    options: &CopyOptions,
) -> Step {
    if let Some(skip) = sandboxed(container) {
        return Err(skip);
    }
    let resolver = HostPathResolver::new(container, options.host_root.as_deref());
    let (found, entry, missing) = resolver.open_deepest(&target.full).map_err(skip_unsupported)?;
    if let Some(why) = precondition(container, caps, &found) {
        return Err(Attempt::Skip(why));
    }
    if !missing.is_empty() {
        return Err(Attempt::Fail(Error::not_found(format!("{} does not exist in the container", target.full))));
    }
    // The kernel shows nested mounts through /proc/<pid>/root; a merged dir or a mount source
    // shows the directories they hide. Pseudo filesystems are never read from the host.
    let through_proc = matches!(found.source, HostPathSource::ProcRoot { .. });
    if entry.kind() == FileKind::Dir {
        let nested = resolver.mounts_at_or_below(&found.container_path);
        let below = nested.iter().filter(|m| !paths_equal(&m.destination, &found.container_path));
        if let Some(m) = below.clone().find(|m| !through_proc || matches!(m.kind, MountKind::Special(_))) {
            return Err(Attempt::Skip(format!(
                "mount {} lies inside the source; the host view would show what it hides",
                m.destination.display()
            )));
        }
    }
    let (parent, name) = paths::local_target(local)?;
    let mut writer = TreeWriter::new(&parent, LinkPolicy::Confined)?.with_rules(options.write_rules());
    paths::walk(&entry, &found.path, Path::new(&name), &mut InsideTop(&mut writer))?;
    Ok(Done { stats: writer.finish()?, verification: Verification::Skipped(NOT_NEEDED.into()) })
}

/// Keeps copied links inside the copied tree, as unpacking an archive of it would.
struct InsideTop<'a>(&'a mut TreeWriter);

impl Sink for InsideTop<'_> {
    fn dir(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<()> {
        Sink::dir(self.0, rel, meta)
    }
    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut fs::File) -> Result<()> {
        Sink::file(self.0, rel, meta, data)
    }
    fn symlink(&mut self, rel: &Path, meta: &fs::Metadata, target: &Path) -> Result<()> {
        let below_top: PathBuf = rel.components().skip(1).collect();
        check_link_target(&below_top, target)?;
        Sink::symlink(self.0, rel, meta, target)
    }
    fn special(&mut self, rel: &Path, what: &str) -> Result<()> {
        Sink::special(self.0, rel, what)
    }
}

fn paths_equal(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}
