//! Which container a cgroup path names: one line of `/proc/<pid>/cgroup` → the container id (and
//! pod uid) and the engine layout that produced it.
//!
//! Engines place a container's processes in a cgroup whose name carries the container id; the
//! name depends on the engine and on the cgroup driver (cgroupfs paths vs systemd units):
//!
//! | layout | cgroupfs driver | systemd driver |
//! |---|---|---|
//! | Docker | `/docker/<id>` | `/system.slice/docker-<id>.scope` |
//! | containerd (`ctr`, CRI without a cgroup parent, pouch) | `/<namespace>/<id>` | — |
//! | Kubernetes (kubelet) | `/kubepods[/<qos>]/pod<uid>/<id>` | `/kubepods.slice/…/kubepods-<qos>-pod<uid_>.slice/<runtime>-<id>.scope` |
//! | CRI-O | (kubepods) | `crio-<id>.scope`, monitor `crio-conmon-<id>.scope` |
//! | Podman | `/libpod_parent/libpod-<id>` | `libpod-<id>.scope`, monitor `libpod-conmon-<id>.scope` |
//!
//! The path is read from the root down and the *outermost* component that names a container wins:
//! the engine made that cgroup on the host, while everything below it is the container's to make
//! (a process with a writable cgroupfs can create `…/<id>/docker-<other id>.scope` and move into
//! it; it still maps to its own container). So a process in a child cgroup of a container
//! (anyctr's own fast-path cgroup `…/<id>/anyctr-exec-…`, systemd's `init.scope` inside a
//! container, docker-in-docker) maps to the container the host's engine knows. A pod-level cgroup
//! with no container below it (`…/pod<uid>`, where Kata puts its VMM) names the pod alone.
//!
//! What is not one of these layouts is `None`: never a guess. Ids are validated (64 lowercase hex
//! for every engine that makes them so; containerd's namespaced layout also requires it, since
//! `/<word>/<64 hex>` is the only shape that cannot be an unrelated host cgroup), pod uids are
//! UUIDs or the 32-hex config hashes of static pods. Input is a string from `/proc`: any byte
//! sequence is handled without panicking (see the proptest).

/// One line of `/proc/<pid>/cgroup`: `hierarchy-ID:controller-list:cgroup-path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLine<'a> {
    /// `0` for cgroup v2.
    pub hierarchy: u32,
    /// Comma-separated v1 controllers (`cpu,cpuacct`, `name=systemd`); empty for v2.
    pub controllers: &'a str,
    /// Absolute path from the hierarchy's root (as this process's cgroup namespace shows it).
    pub path: &'a str,
}

impl<'a> CgroupLine<'a> {
    /// Parses one line; `None` for a malformed one.
    pub fn parse(line: &'a str) -> Option<CgroupLine<'a>> {
        let mut parts = line.trim_end_matches('\n').splitn(3, ':');
        let hierarchy = parts.next()?.parse().ok()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        path.starts_with('/').then_some(CgroupLine { hierarchy, controllers, path })
    }

    /// Whether this is the cgroup v2 (unified) hierarchy.
    pub fn is_v2(&self) -> bool {
        self.hierarchy == 0 && self.controllers.is_empty()
    }

    /// Whether this v1 hierarchy carries `controller` (`memory`, `name=systemd`).
    pub fn has_controller(&self, controller: &str) -> bool {
        self.controllers.split(',').any(|c| c == controller)
    }
}

/// Which engine's naming the path follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CgroupLayout {
    /// dockerd (also through containerd's `moby` namespace): `/docker/<id>`, `docker-<id>.scope`.
    Docker,
    /// containerd's default `/<namespace>/<id>` (`ctr run`, CRI without a cgroup parent; pouchd
    /// uses containerd's `default` namespace).
    Containerd { namespace: String },
    /// containerd's CRI plugin with the systemd driver: `cri-containerd-<id>.scope`.
    CriContainerd,
    /// kubelet's cgroupfs layout `/kubepods/…/pod<uid>/<id>`: the runtime is not named.
    Kubepods,
    /// CRI-O: `crio-<id>.scope`.
    Crio,
    /// Podman: `libpod-<id>.scope`, `/libpod_parent/libpod-<id>`.
    Podman,
}

/// Which cgroup driver made the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupDriver {
    Cgroupfs,
    Systemd,
}

/// What a cgroup path names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgroupOwner {
    /// The container id; `None` for a pod-level cgroup (`…/pod<uid>` alone).
    pub container_id: Option<String>,
    /// The pod uid where the path carries one (kubelet layouts), with dashes.
    pub pod_uid: Option<String>,
    pub layout: CgroupLayout,
    pub driver: CgroupDriver,
    /// The cgroup of the container's monitor (`crio-conmon-<id>`, `libpod-conmon-<id>`), not of
    /// the container itself.
    pub monitor: bool,
}

/// What the cgroup `path` (one line's path) names, or `None` when it follows no known layout.
pub fn owner_of_path(path: &str) -> Option<CgroupOwner> {
    if !path.starts_with('/') || path.len() > 4096 {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    // `..` means the path is relative to another cgroup namespace: it names nothing we can place.
    if parts.contains(&"..") {
        return None;
    }
    let mut pod_level = None;
    for i in 0..parts.len() {
        match owner_at(&parts[..=i]) {
            Some(owner) if owner.container_id.is_some() => return Some(owner),
            // A pod's cgroup: the container below it, if any, is the answer.
            Some(pod) => pod_level = pod_level.or(Some(pod)),
            None => {}
        }
    }
    pod_level
}

/// What the line names (see [`owner_of_path`]); `None` for a malformed line too.
pub fn owner_of_line(line: &str) -> Option<CgroupOwner> {
    owner_of_path(CgroupLine::parse(line)?.path)
}

/// Whether the last component of `parts` (with its ancestors before it) names a container or pod.
fn owner_at(parts: &[&str]) -> Option<CgroupOwner> {
    let (&leaf, ancestors) = parts.split_last()?;
    let parent = ancestors.last().copied();
    let pod_uid = ancestors.iter().rev().find_map(|c| pod_uid_of(c));
    let in_kubepods = parts.first().is_some_and(|c| *c == "kubepods" || *c == "kubepods.slice");
    let owner = |id: &str, layout, driver, monitor| CgroupOwner {
        container_id: Some(id.to_owned()),
        pod_uid: pod_uid.clone(),
        layout,
        driver,
        monitor,
    };
    // systemd driver: `<prefix>-<id>.scope` (runc's systemd cgroup manager names the unit so).
    if let Some(unit) = leaf.strip_suffix(".scope") {
        let scopes: [(&str, CgroupLayout, bool); 6] = [
            ("docker-", CgroupLayout::Docker, false),
            ("cri-containerd-", CgroupLayout::CriContainerd, false),
            ("crio-conmon-", CgroupLayout::Crio, true),
            ("crio-", CgroupLayout::Crio, false),
            ("libpod-conmon-", CgroupLayout::Podman, true),
            ("libpod-", CgroupLayout::Podman, false),
        ];
        return scopes.into_iter().find_map(|(prefix, layout, monitor)| {
            let id = unit.strip_prefix(prefix).filter(|id| is_container_id(id))?;
            Some(owner(id, layout, CgroupDriver::Systemd, monitor))
        });
    }
    if let Some(uid) = pod_uid_of(leaf).filter(|_| in_kubepods) {
        let driver = if leaf.ends_with(".slice") { CgroupDriver::Systemd } else { CgroupDriver::Cgroupfs };
        return Some(CgroupOwner {
            container_id: None,
            pod_uid: Some(uid),
            layout: CgroupLayout::Kubepods,
            driver,
            monitor: false,
        });
    }
    let parent = parent?;
    if let Some(id) = leaf.strip_prefix("libpod-").filter(|id| is_container_id(id) && parent == "libpod_parent") {
        return Some(owner(id, CgroupLayout::Podman, CgroupDriver::Cgroupfs, false));
    }
    if !is_container_id(leaf) {
        return None;
    }
    if parent == "docker" {
        return Some(owner(leaf, CgroupLayout::Docker, CgroupDriver::Cgroupfs, false));
    }
    if in_kubepods && parent.starts_with("pod") && pod_uid.is_some() && !parent.ends_with(".slice") {
        return Some(owner(leaf, CgroupLayout::Kubepods, CgroupDriver::Cgroupfs, false));
    }
    // Not a systemd slice, nor podman's parent: those are host or podman cgroups, not namespaces.
    let not_a_namespace = parent.ends_with(".slice") || parent == "libpod_parent";
    if ancestors.len() == 1 && is_containerd_namespace(parent) && !in_kubepods && !not_a_namespace {
        let layout = CgroupLayout::Containerd { namespace: parent.to_owned() };
        return Some(owner(leaf, layout, CgroupDriver::Cgroupfs, false));
    }
    None
}

/// The pod uid a kubelet pod cgroup names: `pod<uid>` (cgroupfs) or
/// `kubepods[-<qos>]-pod<uid with _ for ->.slice` (systemd).
fn pod_uid_of(component: &str) -> Option<String> {
    let raw = match component.strip_suffix(".slice") {
        Some(slice) => slice.rsplit_once("-pod").filter(|(head, _)| head.starts_with("kubepods"))?.1.replace('_', "-"),
        None => component.strip_prefix("pod")?.to_owned(),
    };
    is_pod_uid(&raw).then_some(raw)
}

/// 64 lowercase hex digits: the ids docker, containerd's CRI, CRI-O and podman generate.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A Kubernetes pod uid: a UUID (`8-4-4-4-12` hex), or the 32-hex hash kubelet gives static pods.
fn is_pod_uid(s: &str) -> bool {
    let hex = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit());
    if s.len() == 32 {
        return hex(s);
    }
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && hex(g))
}

/// containerd's namespace name rule (`namespaces.Validate`): alphanumerics separated by single
/// `.`, `_` or `-`, at most 76 characters.
fn is_containerd_namespace(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 76
        && s.split(['.', '_', '-']).all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
#[path = "cgroup_path_tests.rs"]
mod tests;
