//! The host-path strategy: direct file I/O on the host through the resolver, for runc-class
//! containers whose rootfs (or the mount holding the path) the host can see.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::paths::{self, ContainerTarget, Sink};
use super::{Attempt, CopyOptions, Done, Step, Verification, skip_unsupported};
use crate::capability::Capabilities;
use crate::engine::ContainerEngine;
use crate::error::{Error, Result};
use crate::host_path::{HostPath, HostPathResolver, HostPathSource};
use crate::model::ContainerDetail;
use crate::tar_safety::{LinkPolicy, TreeWriter, check_link_target, io_err};

const NOT_NEEDED: &str = "direct file I/O on the host: every byte written was checked by the write itself";

pub(super) async fn copy_to(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    local: &Path,
    target: &ContainerTarget,
    options: &CopyOptions,
) -> Step {
    let (container, caps, local, target, host_root) = (
        container.clone(),
        engine.container_capabilities(container),
        local.to_path_buf(),
        target.clone(),
        options.host_root.clone(),
    );
    blocking(move || copy_to_blocking(&container, &caps, &local, &target, host_root.as_deref())).await
}

pub(super) async fn copy_from(
    engine: &dyn ContainerEngine,
    container: &ContainerDetail,
    target: &ContainerTarget,
    local: &Path,
    options: &CopyOptions,
) -> Step {
    let (container, caps, local, target, host_root) = (
        container.clone(),
        engine.container_capabilities(container),
        local.to_path_buf(),
        target.clone(),
        options.host_root.clone(),
    );
    blocking(move || copy_from_blocking(&container, &caps, &target, &local, host_root.as_deref())).await
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
    host_root: Option<&Path>,
) -> Step {
    if let Some(skip) = sandboxed(container) {
        return Err(skip);
    }
    let resolver = HostPathResolver::new(container, host_root);
    let parent = resolver.resolve(&target.parent).map_err(skip_unsupported)?;
    if let Some(why) = precondition(container, caps, &parent) {
        return Err(Attempt::Skip(why));
    }
    if !parent.writable {
        return Err(Attempt::Skip(format!("{} is on a read-only mount", parent.container_path.display())));
    }
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
    let (root, mut rel) = existing_ancestor(&parent.path)?;
    rel.push(&target.name);
    let mut writer = TreeWriter::new(&root, LinkPolicy::Verbatim)?;
    paths::walk(local, &rel, true, &mut writer)?;
    Ok(Done { stats: writer.finish()?, verification: Verification::Skipped(NOT_NEEDED.into()) })
}

/// A single-file mount: the container sees the mounted inode, so it is rewritten in place.
fn rewrite_file_mount(resolver: &HostPathResolver<'_>, dest: &Path, local: &Path, meta: &fs::Metadata) -> Step {
    let found = resolver.resolve(&dest.to_string_lossy()).map_err(skip_unsupported)?;
    if !found.writable {
        return Err(Attempt::Skip(format!("{} is a read-only file mount", dest.display())));
    }
    if !fs::symlink_metadata(&found.path).is_ok_and(|m| m.is_file()) {
        return Err(Attempt::Skip(format!("{} is a mount of something other than a regular file", dest.display())));
    }
    let nofollow = nix::fcntl::OFlag::O_NOFOLLOW.bits();
    let write = || -> std::io::Result<u64> {
        let mut src = fs::File::open(local)?;
        let mut out = fs::OpenOptions::new().write(true).truncate(true).custom_flags(nofollow).open(&found.path)?;
        let n = std::io::copy(&mut src, &mut out)?;
        out.flush()?;
        out.set_permissions(fs::Permissions::from_mode(paths::mode_of(meta)))?;
        Ok(n)
    };
    let bytes = write().map_err(|e| io_err(e, &found.path))?;
    let stats = crate::tar_safety::WriteStats { files: 1, bytes, ..Default::default() };
    Ok(Done { stats, verification: Verification::Skipped(NOT_NEEDED.into()) })
}

fn copy_from_blocking(
    container: &ContainerDetail,
    caps: &Capabilities,
    target: &ContainerTarget,
    local: &Path,
    host_root: Option<&Path>,
) -> Step {
    if let Some(skip) = sandboxed(container) {
        return Err(skip);
    }
    let resolver = HostPathResolver::new(container, host_root);
    let found = resolver.resolve(&target.full).map_err(skip_unsupported)?;
    if let Some(why) = precondition(container, caps, &found) {
        return Err(Attempt::Skip(why));
    }
    let meta = match fs::symlink_metadata(&found.path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Attempt::Fail(Error::not_found(format!("{} does not exist in the container", target.full))));
        }
        Err(e) => return Err(Attempt::Fail(io_err(e, &found.path))),
    };
    // The kernel shows nested mounts through /proc/<pid>/root; a merged dir or a mount source
    // shows the directories they hide.
    let through_proc = matches!(found.source, HostPathSource::ProcRoot { .. });
    if meta.is_dir() && !through_proc {
        let nested = resolver.mounts_at_or_below(&found.container_path);
        if let Some(m) = nested.iter().find(|m| !paths_equal(&m.destination, &found.container_path)) {
            return Err(Attempt::Skip(format!(
                "mount {} lies inside the source; the host view would show what it hides",
                m.destination.display()
            )));
        }
    }
    let (parent, name) = paths::local_target(local)?;
    let mut writer = TreeWriter::new(&parent, LinkPolicy::Confined)?;
    paths::walk(&found.path, Path::new(&name), false, &mut InsideTop(&mut writer))?;
    Ok(Done { stats: writer.finish()?, verification: Verification::Skipped(NOT_NEEDED.into()) })
}

/// Keeps copied links inside the copied tree, as unpacking an archive of it would.
struct InsideTop<'a>(&'a mut TreeWriter);

impl Sink for InsideTop<'_> {
    fn dir(&mut self, rel: &Path, meta: &fs::Metadata) -> Result<()> {
        Sink::dir(self.0, rel, meta)
    }
    fn file(&mut self, rel: &Path, meta: &fs::Metadata, data: &mut dyn std::io::Read) -> Result<()> {
        Sink::file(self.0, rel, meta, data)
    }
    fn symlink(&mut self, rel: &Path, meta: &fs::Metadata, target: &Path) -> Result<()> {
        let below_top: PathBuf = rel.components().skip(1).collect();
        check_link_target(&below_top, target)?;
        Sink::symlink(self.0, rel, meta, target)
    }
    fn skip(&mut self, rel: &Path) {
        Sink::skip(self.0, rel)
    }
}

/// The deepest existing ancestor of `path` and the missing rest below it.
fn existing_ancestor(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let root = path
        .ancestors()
        .find(|a| fs::symlink_metadata(a).is_ok())
        .ok_or_else(|| Error::not_found(format!("no part of {} exists", path.display())))?;
    let rest = path.strip_prefix(root).unwrap_or(Path::new("")).to_path_buf();
    Ok((root.to_path_buf(), rest))
}

fn paths_equal(a: &Path, b: &Path) -> bool {
    a.components().eq(b.components())
}
