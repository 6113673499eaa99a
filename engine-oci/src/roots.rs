//! Runtime roots: where OCI runtimes keep their containers' state, and who owns each root.
//!
//! A root is found three ways: the address names it (`oci:///run/runc`), it is one of the known
//! defaults (`/run/runc`, `/run/crun`, runsc's, containerd's `/run/containerd/runc/<namespace>`,
//! dockerd's `<exec-root>/runtime-<runtime>/<namespace>`), or a running daemon is configured with
//! it (dockerd's `--exec-root` or the `exec-root` of its `--config-file`, read from the daemon's
//! command line in `/proc`). Every path is a host path, opened under the host-root prefix.
//!
//! Ownership decides what anyctr may do there. A root is anyctr's when the directory beside it,
//! `<root>.anyctr/`, holds the `owner` file anyctr wrote when it made the root (kept outside the
//! root: runtimes list every entry of their root). Every other root is read-only to anyctr — a
//! daemon's roots above all: the daemon's records (shim, task, bookkeeping) would no longer match.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyctr_core::under_host_root;

/// Who owns a runtime root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootOwner {
    /// anyctr made it (`<root>.anyctr/owner` exists): lifecycle allowed.
    Anyctr,
    /// A daemon keeps its containers there (`dockerd`, `containerd`): read-only.
    Daemon(&'static str),
    /// Someone else (a bare runtime's default root): read-only.
    Unknown,
}

/// One runtime root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeRoot {
    /// The root as the host names it.
    pub path: PathBuf,
    /// Who owns it.
    pub owner: RootOwner,
    /// The daemon's namespace the root serves (`moby`, `k8s.io`), from its last component.
    pub namespace: Option<String>,
}

impl RuntimeRoot {
    /// Whether anyctr may create, start, signal and delete containers here.
    pub fn owned(&self) -> bool {
        self.owner == RootOwner::Anyctr
    }

    /// anyctr's directory beside an owned root (bundles, exit codes).
    pub fn anyctr_dir(&self) -> PathBuf {
        sidecar(&self.path)
    }
}

/// The directory beside `root` that marks it anyctr's and holds its bundles.
pub fn sidecar(root: &Path) -> PathBuf {
    let mut s = root.as_os_str().to_owned();
    s.push(".anyctr");
    PathBuf::from(s)
}

/// The file in [`sidecar`] that says anyctr made the root.
pub const OWNER_FILE: &str = "owner";

/// Plain runtime defaults: (root, owner).
const PLAIN_DEFAULTS: &[&str] = &["/run/runc", "/run/crun", "/run/runsc", "/var/run/runsc", "/run/user/0/runc"];

/// dockerd's default exec root.
const DOCKER_EXEC_ROOT: &str = "/run/docker";

/// containerd's runtime roots: its runc shim keeps `<dir>/<namespace>` (a path the shim fixes,
/// whatever containerd's state dir).
const CONTAINERD_RUNTIME_DIRS: &[&str] = &["/run/containerd/runc", "/run/containerd/runsc", "/run/k3s/containerd/runc"];

/// Every root found on the host: the known defaults and the roots of running daemons. Only
/// existing directories; each path once.
pub fn discover(host_root: Option<&Path>) -> Vec<RuntimeRoot> {
    let exists = |p: &Path| under_host_root(host_root, p).is_dir();
    let mut found: Vec<RuntimeRoot> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut push = |root: RuntimeRoot, found: &mut Vec<RuntimeRoot>| {
        if seen.insert(root.path.clone()) {
            found.push(root);
        }
    };
    for p in PLAIN_DEFAULTS.iter().map(Path::new).filter(|p| exists(p)) {
        push(classify(host_root, p, RootOwner::Unknown), &mut found);
    }
    let mut exec_roots: Vec<PathBuf> = vec![PathBuf::from(DOCKER_EXEC_ROOT)];
    exec_roots.extend(dockerd_exec_roots(host_root));
    for exec_root in exec_roots {
        for runtime_dir in subdirs(host_root, &exec_root).into_iter().filter(|d| is_runtime_dir(d)) {
            for ns in subdirs(host_root, &runtime_dir) {
                push(classify(host_root, &ns, RootOwner::Daemon("dockerd")), &mut found);
            }
        }
    }
    for dir in CONTAINERD_RUNTIME_DIRS {
        for ns in subdirs(host_root, Path::new(dir)) {
            push(classify(host_root, &ns, RootOwner::Daemon("containerd")), &mut found);
        }
    }
    found
}

/// A root named in an address: its owner from the marker, else from where it lies.
pub fn named(host_root: Option<&Path>, path: &Path) -> RuntimeRoot {
    let owner = if path.starts_with("/run/containerd") || path.components().any(|c| c.as_os_str() == "runtime-runc") {
        RootOwner::Daemon(if path.starts_with("/run/containerd") { "containerd" } else { "dockerd" })
    } else {
        RootOwner::Unknown
    };
    classify(host_root, path, owner)
}

fn classify(host_root: Option<&Path>, path: &Path, fallback: RootOwner) -> RuntimeRoot {
    let marker = under_host_root(host_root, &sidecar(path)).join(OWNER_FILE);
    let owner = match std::fs::symlink_metadata(&marker) {
        Ok(m) if m.is_file() => RootOwner::Anyctr,
        _ => fallback,
    };
    let namespace = match owner {
        RootOwner::Daemon(_) => path.file_name().map(|n| n.to_string_lossy().into_owned()),
        _ => None,
    };
    RuntimeRoot { path: path.to_path_buf(), owner, namespace }
}

/// `runtime-runc`, `runtime-crun`, … (dockerd names its runtime dirs after the runtime).
fn is_runtime_dir(dir: &Path) -> bool {
    dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("runtime-"))
}

/// Subdirectories (not followed symlinks) of a host directory, as host paths; none when absent.
fn subdirs(host_root: Option<&Path>, dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(under_host_root(host_root, dir)) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| dir.join(e.file_name()))
        .collect();
    out.sort();
    out
}

/// Bound on a daemon config file read for its exec root.
const CONFIG_CAP: u64 = 1 << 20;

/// The exec roots of running dockerds: `--exec-root` on the command line, else the `exec-root` of
/// the `--config-file` (default `/etc/docker/daemon.json`).
fn dockerd_exec_roots(host_root: Option<&Path>) -> Vec<PathBuf> {
    let proc = under_host_root(host_root, Path::new("/proc"));
    let Ok(entries) = std::fs::read_dir(&proc) else {
        return Vec::new();
    };
    let mut roots = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().and_then(|a| Path::new(a).file_name()).is_none_or(|n| n != "dockerd") {
            continue;
        }
        if let Some(root) = dockerd_exec_root(host_root, &args) {
            roots.push(root);
        }
    }
    roots
}

/// A dockerd's exec root from its arguments (and config file).
pub(crate) fn dockerd_exec_root(host_root: Option<&Path>, args: &[String]) -> Option<PathBuf> {
    let flag = |name: &str| {
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&format!("{name}="))
                .map(str::to_owned)
                .or_else(|| (a == name).then(|| args.get(i + 1).cloned()).flatten())
        })
    };
    if let Some(root) = flag("--exec-root") {
        return Some(PathBuf::from(root));
    }
    let config = flag("--config-file").unwrap_or_else(|| "/etc/docker/daemon.json".to_owned());
    let text = read_capped(&under_host_root(host_root, Path::new(&config)), CONFIG_CAP)?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    json.get("exec-root").and_then(|v| v.as_str()).filter(|s| s.starts_with('/')).map(PathBuf::from)
}

/// A small root-owned host file (a daemon's config), capped.
fn read_capped(path: &Path, cap: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut out = Vec::new();
    file.take(cap + 1).read_to_end(&mut out).ok()?;
    (out.len() as u64 <= cap).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_root_from_flags() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(dockerd_exec_root(None, &args(&["dockerd", "--exec-root", "/x"])), Some("/x".into()));
        assert_eq!(dockerd_exec_root(None, &args(&["dockerd", "--exec-root=/y"])), Some("/y".into()));
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        std::fs::write(&cfg, br#"{"exec-root": "/run/e"}"#).unwrap();
        let a = args(&["dockerd", "--config-file", cfg.to_str().unwrap()]);
        assert_eq!(dockerd_exec_root(None, &a), Some("/run/e".into()));
    }

    #[test]
    fn sidecar_and_named_owner() {
        assert_eq!(sidecar(Path::new("/run/x/runc")), Path::new("/run/x/runc.anyctr"));
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("runc");
        std::fs::create_dir(&root).unwrap();
        assert_eq!(named(None, &root).owner, RootOwner::Unknown);
        std::fs::create_dir(sidecar(&root)).unwrap();
        std::fs::write(sidecar(&root).join(OWNER_FILE), b"anyctr\n").unwrap();
        assert!(named(None, &root).owned());
        let moby = named(None, Path::new("/run/docker/runtime-runc/moby"));
        assert_eq!((moby.owner, moby.namespace.as_deref()), (RootOwner::Daemon("dockerd"), Some("moby")));
    }
}
