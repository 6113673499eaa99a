//! The container's mount table as the resolver matches it: destinations normalized to
//! components, the longest destination wins, and among mounts on the same destination the last
//! one (mounted later, so on top) wins.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use anyctr_core::model::Mount;
use anyctr_core::registry::under_host_root;

/// A container path as normalized components (`/` is the empty list).
pub(crate) type Components = Vec<OsString>;

/// One mount, ready for matching.
#[derive(Debug)]
pub(crate) struct MountEntry<'a> {
    pub mount: &'a Mount,
    pub destination: Components,
    /// The source as this process opens it (host-root prefix applied); `None` for tmpfs and
    /// special mounts, and for sources this process cannot reach.
    pub host_source: Option<PathBuf>,
}

/// Splits an absolute container path into components, `..` clamped at the root. `None` for a
/// relative path (engines never report one; such a mount is ignored rather than guessed at).
pub(crate) fn normalize_absolute(path: &Path) -> Option<Components> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = Components::new();
    for c in path.components() {
        match c {
            Component::Normal(name) => out.push(name.to_owned()),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// Joins components under a base directory.
pub(crate) fn join(base: &Path, components: &[OsString]) -> PathBuf {
    let mut p = base.to_path_buf();
    p.extend(components);
    p
}

/// Builds the matchable table from the container's mounts.
pub(crate) fn table<'a>(mounts: &'a [Mount], host_root: Option<&Path>) -> Vec<MountEntry<'a>> {
    mounts
        .iter()
        .filter_map(|mount| {
            let destination = normalize_absolute(&mount.destination)?;
            let host_source = (!mount.source.as_os_str().is_empty())
                .then(|| under_host_root(host_root, &mount.source))
                // A source this process cannot see (agent in a container without the host's
                // filesystem) must not be mistaken for an empty directory.
                .filter(|p| std::fs::metadata(p).is_ok());
            Some(MountEntry { mount, destination, host_source })
        })
        .collect()
}

/// The mount that shows `path`: the longest destination that is `path` or a parent of it; on a
/// tie the later mount, which hides the earlier one.
pub(crate) fn longest_match<'t, 'a>(table: &'t [MountEntry<'a>], path: &[OsString]) -> Option<&'t MountEntry<'a>> {
    let mut best: Option<&MountEntry<'a>> = None;
    for entry in table {
        if path.starts_with(&entry.destination) && best.is_none_or(|b| entry.destination.len() >= b.destination.len()) {
            best = Some(entry);
        }
    }
    best
}

/// Whether some mount sits at `path` or below it.
pub(crate) fn any_at_or_below(table: &[MountEntry<'_>], path: &[OsString]) -> bool {
    table.iter().any(|e| e.destination.starts_with(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::model::MountKind;

    fn mount(source: &str, destination: &str) -> Mount {
        Mount::new(source, destination, MountKind::Bind)
    }

    fn comps(p: &str) -> Components {
        normalize_absolute(Path::new(p)).unwrap()
    }

    #[test]
    fn normalize_clamps_and_rejects_relative() {
        assert_eq!(comps("/a/./b/../../../c"), comps("/c"));
        assert!(comps("/").is_empty());
        assert!(normalize_absolute(Path::new("a/b")).is_none());
    }

    #[test]
    fn longest_destination_wins_and_later_wins_ties() {
        // Sorted by source length the parent would win; by destination the nested mount must.
        let mounts =
            [mount("/very/long/source/for/data", "/data"), mount("/s", "/data/app"), mount("/second", "/data")];
        let t = table(&mounts, None);
        let pick = |p: &str| longest_match(&t, &comps(p)).map(|e| e.mount.source.clone());
        assert_eq!(pick("/data/app/x"), Some("/s".into()));
        assert_eq!(pick("/data/app"), Some("/s".into()));
        assert_eq!(pick("/data/apple"), Some("/second".into()), "component boundary, not string prefix");
        assert_eq!(pick("/data"), Some("/second".into()));
        assert_eq!(pick("/dat"), None);
        assert!(any_at_or_below(&t, &comps("/")));
        assert!(any_at_or_below(&t, &comps("/data/app")));
        assert!(!any_at_or_below(&t, &comps("/data/app/x")));
    }
}
