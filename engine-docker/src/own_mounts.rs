//! The mounts docker makes itself, which inspect's `Mounts` leaves out: the kernel filesystems
//! (`/proc`, `/dev`, `/dev/pts`, `/sys`, `/sys/fs/cgroup`, `/dev/mqueue`), `/dev/shm`, and the three
//! files it writes per container (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`). Without them
//! a path under one of them resolves to the rootfs file the mount hides. They are what dockerd
//! 20.10 puts into the OCI spec (the moby view through containerd reads them from there).

use std::path::{Path, PathBuf};

use anyctr_core::model::{Mount, MountKind};

/// What inspect says that decides docker's own mounts.
#[derive(Debug, Default)]
pub(crate) struct OwnMountFacts<'a> {
    pub id: &'a str,
    pub hostname_path: &'a str,
    pub hosts_path: &'a str,
    pub resolv_conf_path: &'a str,
    /// `HostConfig.IpcMode`: `private`, `shareable`, `host`, `none`, `container:<id>` or empty.
    pub ipc_mode: &'a str,
    pub privileged: bool,
}

/// The kernel filesystems as runc mounts them for docker: destination, filesystem type, whether
/// read-only for an unprivileged container. `/dev` is a tmpfs of the container's own.
const KERNEL_FS: &[(&str, &str, bool)] = &[
    ("/proc", "proc", false),
    ("/dev", "tmpfs", false),
    ("/dev/pts", "devpts", false),
    ("/sys", "sysfs", true),
    ("/sys/fs/cgroup", "cgroup", true),
    ("/dev/mqueue", "mqueue", false),
];

fn mount(source: PathBuf, destination: &str, kind: MountKind, read_only: bool) -> Mount {
    let mut mount = Mount::new(source, destination, kind);
    mount.read_only = read_only;
    mount
}

/// The mounts docker makes before the user's (kernel filesystems and `/dev/shm`).
pub(crate) fn before_user_mounts(facts: &OwnMountFacts<'_>) -> Vec<Mount> {
    let mut out: Vec<Mount> = KERNEL_FS
        .iter()
        .map(|(destination, fstype, ro)| {
            // A tmpfs of the container's own: nothing on the host shows it.
            let kind = if *fstype == "tmpfs" { MountKind::Tmpfs } else { MountKind::Special((*fstype).to_owned()) };
            mount(PathBuf::new(), destination, kind, *ro && !facts.privileged)
        })
        .collect();
    if let Some(shm) = shm(facts) {
        out.push(shm);
    }
    out
}

/// `/dev/shm` by IPC mode: `shareable` mounts a tmpfs on the host at `<container dir>/mounts/shm`
/// and binds it in; `private` (20.10's default) has runc mount a tmpfs only the container sees;
/// `host` binds the host's `/dev/shm`; `none` mounts nothing; `container:<id>` shares another
/// container's (not looked up here: no source).
fn shm(facts: &OwnMountFacts<'_>) -> Option<Mount> {
    let source = match facts.ipc_mode {
        "none" => return None,
        "host" => return Some(mount(PathBuf::from("/dev/shm"), "/dev/shm", MountKind::Bind, false)),
        "shareable" => container_dir(facts).map(|d| d.join("mounts/shm")).unwrap_or_default(),
        _ => PathBuf::new(),
    };
    Some(mount(source, "/dev/shm", MountKind::Tmpfs, false))
}

/// The files docker writes per container and binds in after the user's mounts.
pub(crate) fn after_user_mounts(facts: &OwnMountFacts<'_>) -> Vec<Mount> {
    [
        ("/etc/resolv.conf", facts.resolv_conf_path),
        ("/etc/hostname", facts.hostname_path),
        ("/etc/hosts", facts.hosts_path),
    ]
    .into_iter()
    .filter(|(_, source)| Path::new(source).is_absolute())
    .map(|(destination, source)| mount(PathBuf::from(source), destination, MountKind::Bind, false))
    .collect()
}

/// `<docker root>/containers/<id>`: the directory docker's own files of this container live in.
fn container_dir(facts: &OwnMountFacts<'_>) -> Option<PathBuf> {
    [facts.hostname_path, facts.hosts_path, facts.resolv_conf_path]
        .into_iter()
        .filter_map(|p| Path::new(p).parent())
        .find(|dir| dir.is_absolute() && !facts.id.is_empty() && dir.file_name().is_some_and(|n| n == facts.id))
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIR: &str = "/var/lib/docker/containers/abc";

    fn facts(ipc_mode: &'static str) -> OwnMountFacts<'static> {
        OwnMountFacts {
            id: "abc",
            hostname_path: "/var/lib/docker/containers/abc/hostname",
            hosts_path: "/var/lib/docker/containers/abc/hosts",
            resolv_conf_path: "/var/lib/docker/containers/abc/resolv.conf",
            ipc_mode,
            privileged: false,
        }
    }

    fn find<'m>(mounts: &'m [Mount], destination: &str) -> Option<&'m Mount> {
        mounts.iter().find(|m| m.destination == Path::new(destination))
    }

    #[test]
    fn kernel_filesystems_are_special_without_source() {
        let m = before_user_mounts(&facts("private"));
        let proc = find(&m, "/proc").unwrap();
        assert_eq!((proc.kind.clone(), proc.source.as_os_str().is_empty()), (MountKind::Special("proc".into()), true));
        assert_eq!(find(&m, "/sys").unwrap().kind, MountKind::Special("sysfs".into()));
        assert!(find(&m, "/sys").unwrap().read_only);
        assert_eq!(find(&m, "/dev").unwrap().kind, MountKind::Tmpfs);
        for d in ["/dev/pts", "/dev/mqueue", "/sys/fs/cgroup"] {
            assert!(matches!(find(&m, d).unwrap().kind, MountKind::Special(_)), "{d}");
        }
        let privileged = OwnMountFacts { privileged: true, ..facts("private") };
        assert!(!find(&before_user_mounts(&privileged), "/sys").unwrap().read_only);
    }

    #[test]
    fn shm_follows_the_ipc_mode() {
        let private = before_user_mounts(&facts("private"));
        let shm = find(&private, "/dev/shm").unwrap();
        assert_eq!((shm.kind.clone(), shm.source.clone()), (MountKind::Tmpfs, PathBuf::new()));
        let shareable = before_user_mounts(&facts("shareable"));
        assert_eq!(find(&shareable, "/dev/shm").unwrap().source, Path::new(DIR).join("mounts/shm"));
        assert!(find(&before_user_mounts(&facts("none")), "/dev/shm").is_none());
        assert_eq!(find(&before_user_mounts(&facts("host")), "/dev/shm").unwrap().source, Path::new("/dev/shm"));
        assert!(find(&before_user_mounts(&facts("container:x")), "/dev/shm").unwrap().source.as_os_str().is_empty());
        // A directory not named after the container is not trusted as its directory.
        let odd = OwnMountFacts { id: "other", ..facts("shareable") };
        assert!(find(&before_user_mounts(&odd), "/dev/shm").unwrap().source.as_os_str().is_empty());
    }

    #[test]
    fn docker_files_are_single_file_binds() {
        let m = after_user_mounts(&facts("private"));
        assert_eq!(m.len(), 3);
        assert_eq!(find(&m, "/etc/hostname").unwrap().source, Path::new(DIR).join("hostname"));
        assert_eq!(find(&m, "/etc/hosts").unwrap().kind, MountKind::Bind);
        let none = OwnMountFacts { hostname_path: "", hosts_path: "relative", ..facts("private") };
        assert_eq!(after_user_mounts(&none).len(), 1);
    }
}
