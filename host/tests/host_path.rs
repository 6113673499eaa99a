//! The host-path resolver on real temporary directory trees: mounts, symlinks, hostile links,
//! sandboxed runtimes, the host-root prefix and `/proc/<pid>/root`.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyctr_core::ErrorKind;
use anyctr_core::model::{MountKind, RootfsView, RuntimeClass};
use anyctr_host::host_path::{HostPathSource, host_path};
use support::{OtherMountNs, bind, detail, runc_merged};

struct Tree {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    vol: PathBuf,
}

/// rootfs/{etc/shadow, app/, a/b/} plus a volume dir, all canonical paths.
fn tree() -> Tree {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("rootfs");
    let vol = base.join("vol");
    for d in [root.join("etc"), root.join("app"), root.join("a/b"), vol.join("logs")] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(root.join("etc/shadow"), "container shadow").unwrap();
    Tree { _tmp: tmp, root, vol }
}

#[test]
fn plain_paths_map_into_the_merged_dir() {
    let t = tree();
    let c = runc_merged(&t.root);
    let hp = host_path(&c, "/etc/shadow", None).unwrap();
    assert_eq!(hp.path, t.root.join("etc/shadow"));
    assert_eq!(hp.source, HostPathSource::MergedRootfs);
    assert_eq!(hp.container_path, Path::new("/etc/shadow"));
    assert!(hp.writable);
    assert_eq!(host_path(&c, "/", None).unwrap().path, t.root);
}

#[test]
fn dot_dot_is_clamped_at_the_container_root_and_relative_input_refused() {
    let t = tree();
    let c = runc_merged(&t.root);
    assert_eq!(host_path(&c, "/../../etc/shadow", None).unwrap().path, t.root.join("etc/shadow"));
    assert_eq!(host_path(&c, "/a/b/../../../../etc/./shadow", None).unwrap().path, t.root.join("etc/shadow"));
    let e = host_path(&c, "../../etc/shadow", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(host_path(&c, "/a\0b", None).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn absolute_and_relative_links_resolve_inside_the_container() {
    let t = tree();
    symlink("/", t.root.join("to_root")).unwrap();
    symlink("../../../../../../etc", t.root.join("a/b/rel_up")).unwrap();
    symlink("../b", t.root.join("a/b/sibling")).unwrap();
    symlink("/etc/shadow", t.root.join("app/secret")).unwrap();
    let c = runc_merged(&t.root);
    let at = |p: &str| host_path(&c, p, None).unwrap().path;
    assert_eq!(at("/to_root/etc/shadow"), t.root.join("etc/shadow"));
    assert_eq!(at("/to_root/../to_root/.."), t.root);
    assert_eq!(at("/a/b/rel_up/shadow"), t.root.join("etc/shadow"));
    assert_eq!(at("/a/b/sibling/sibling/rel_up"), t.root.join("etc"));
    // The final component is followed too.
    let hp = host_path(&c, "/app/secret", None).unwrap();
    assert_eq!(hp.path, t.root.join("etc/shadow"));
    assert_eq!(hp.container_path, Path::new("/etc/shadow"));
}

#[test]
fn links_to_host_paths_are_read_in_the_container_namespace() {
    let t = tree();
    let outside = t.root.parent().unwrap().join("outside");
    fs::create_dir_all(&outside).unwrap();
    // A link whose text is a real host path: inside the container it means rootfs + that text.
    symlink(&outside, t.root.join("hostile")).unwrap();
    let c = runc_merged(&t.root);
    let hp = host_path(&c, "/hostile/x", None).unwrap();
    assert!(hp.path.starts_with(&t.root), "{hp:?}");
    assert_eq!(hp.path, t.root.join(outside.strip_prefix("/").unwrap()).join("x"));
}

#[test]
fn link_loops_fail_with_invalid_argument() {
    let t = tree();
    symlink("l2", t.root.join("l1")).unwrap();
    symlink("/l1", t.root.join("l2")).unwrap();
    symlink("self", t.root.join("self")).unwrap();
    let c = runc_merged(&t.root);
    for p in ["/l1", "/l2/x", "/self"] {
        let e = host_path(&c, p, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{p}: {e}");
        assert!(e.to_string().contains("symlinks"), "{e}");
    }
}

#[test]
fn links_crossing_into_and_out_of_mounts_rematch_the_mount_table() {
    let t = tree();
    symlink("/data/logs", t.root.join("app/logs")).unwrap();
    // Inside the volume, `..` from the mount root climbs to the container's `/`, not the host's.
    symlink("../../../..", t.vol.join("up")).unwrap();
    let mut c = runc_merged(&t.root);
    c.mounts.push(bind(&t.vol, "/data", false));
    let hp = host_path(&c, "/app/logs/today.log", None).unwrap();
    assert_eq!(hp.path, t.vol.join("logs/today.log"));
    assert_eq!(hp.source, HostPathSource::Mount { destination: "/data".into(), source: t.vol.clone() });
    assert_eq!(hp.container_path, Path::new("/data/logs/today.log"));
    let hp = host_path(&c, "/data/up/etc/shadow", None).unwrap();
    assert_eq!(hp.path, t.root.join("etc/shadow"));
    assert_eq!(hp.source, HostPathSource::MergedRootfs);
}

#[test]
fn nested_read_only_and_single_file_mounts() {
    let t = tree();
    let base = t.root.parent().unwrap();
    let (app, ro, file) = (base.join("appvol"), base.join("config"), base.join("hosts"));
    fs::create_dir_all(&app).unwrap();
    fs::create_dir_all(&ro).unwrap();
    fs::write(&file, "127.0.0.1 localhost\n").unwrap();
    let mut c = runc_merged(&t.root);
    // The nested mount comes first and has the shortest source: neither may matter.
    c.mounts.push(bind(&app, "/data/app", false));
    c.mounts.push(bind(&t.vol, "/data", false));
    c.mounts.push(bind(&ro, "/etc/config", true));
    c.mounts.push(bind(&file, "/etc/hosts", true));
    let hp = host_path(&c, "/data/app/x", None).unwrap();
    assert_eq!(hp.path, app.join("x"));
    assert!(hp.writable);
    assert_eq!(host_path(&c, "/data/x", None).unwrap().path, t.vol.join("x"));
    let hp = host_path(&c, "/etc/config/key", None).unwrap();
    assert_eq!(hp.path, ro.join("key"));
    assert!(!hp.writable, "a read-only mount says so");
    let hp = host_path(&c, "/etc/hosts", None).unwrap();
    assert_eq!(hp.path, file);
    assert!(!hp.writable);
    let e = host_path(&c, "/etc/hosts/x", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn missing_components_are_taken_literally() {
    let t = tree();
    let c = runc_merged(&t.root);
    assert_eq!(host_path(&c, "/new/dir/file", None).unwrap().path, t.root.join("new/dir/file"));
    assert_eq!(host_path(&c, "/new/../../../etc", None).unwrap().path, t.root.join("etc"));
}

#[test]
fn sandboxed_rootfs_is_not_host_visible_but_volumes_are() {
    let t = tree();
    for rootfs in [RootfsView::NotHostVisible, RootfsView::Merged(t.root.clone())] {
        let mut c = detail(RuntimeClass::Rund, rootfs, Some(std::process::id()));
        c.mounts.push(bind(&t.vol, "/mnt/vol", false));
        let e = host_path(&c, "/etc/shadow", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("not host-visible"), "{e}");
        let hp = host_path(&c, "/mnt/vol/logs/a", None).unwrap();
        assert_eq!(hp.path, t.vol.join("logs/a"));
        // Through the volume, `..` leads back to the invisible rootfs.
        assert_eq!(host_path(&c, "/mnt/vol/../../etc", None).unwrap_err().kind(), ErrorKind::Unsupported);
    }
}

#[test]
fn tmpfs_needs_a_proc_root() {
    let t = tree();
    let mut c = runc_merged(&t.root);
    let mut shm = bind("", "/dev/shm", false);
    shm.kind = MountKind::Tmpfs;
    c.mounts.push(shm);
    let e = host_path(&c, "/dev/shm/x", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    // With a pid, /proc/<pid>/root shows the tmpfs (a process in a mount namespace of its own
    // stands in for the container's init).
    let other = OtherMountNs::start();
    let pid = other.pid();
    fs::create_dir_all("/dev/shm").unwrap();
    c.state.pid = Some(pid);
    let hp = host_path(&c, "/dev/shm/x", None).unwrap();
    assert_eq!(hp.path, PathBuf::from(format!("/proc/{pid}/root/dev/shm/x")));
    assert_eq!(hp.source, HostPathSource::ProcRoot { pid });
}

#[test]
fn proc_root_when_no_merged_dir_is_reported() {
    let other = OtherMountNs::start();
    let pid = other.pid();
    let c = detail(RuntimeClass::Runc, RootfsView::NotReported, Some(pid));
    let hp = host_path(&c, "/etc/../etc/hostname", None).unwrap();
    assert_eq!(hp.path, PathBuf::from(format!("/proc/{pid}/root/etc/hostname")));
    assert_eq!(hp.source, HostPathSource::ProcRoot { pid });
    let mut stopped = c.clone();
    stopped.state.status = anyctr_core::model::ContainerStatus::Exited;
    assert_eq!(host_path(&stopped, "/etc", None).unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn host_root_prefix_applies_to_rootfs_and_mounts() {
    let tmp = tempfile::tempdir().unwrap();
    let hostfs = tmp.path().canonicalize().unwrap();
    fs::create_dir_all(hostfs.join("var/lib/merged/etc")).unwrap();
    fs::create_dir_all(hostfs.join("srv/vol")).unwrap();
    symlink("/srv", hostfs.join("var/lib/merged/etc/link")).unwrap();
    let mut c = runc_merged(Path::new("/var/lib/merged"));
    c.mounts.push(bind("/srv/vol", "/vol", false));
    let hp = host_path(&c, "/etc/x", Some(&hostfs)).unwrap();
    assert_eq!(hp.path, hostfs.join("var/lib/merged/etc/x"));
    assert_eq!(host_path(&c, "/vol/y", Some(&hostfs)).unwrap().path, hostfs.join("srv/vol/y"));
    // The link's `/srv` is the container's, under the merged dir, not the host's /srv.
    assert_eq!(host_path(&c, "/etc/link/z", Some(&hostfs)).unwrap().path, hostfs.join("var/lib/merged/srv/z"));
    // Without the prefix the reported merged dir does not exist here: not visible, not "empty".
    let e = host_path(&c, "/etc/x", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[test]
fn unreachable_mount_source_is_not_mistaken_for_an_empty_dir() {
    let t = tree();
    let mut c = runc_merged(&t.root);
    c.mounts.push(bind("/nonexistent/anyctr/source", "/data", false));
    let e = host_path(&c, "/data/x", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
}

#[test]
fn a_pid_sharing_our_mount_namespace_is_not_a_container() {
    // A reused pid that now belongs to a host process must never hand out the host's `/`.
    let c = detail(RuntimeClass::Runc, RootfsView::NotReported, Some(std::process::id()));
    let e = host_path(&c, "/etc/hostname", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("mount namespace"), "{e}");
}

#[test]
fn special_mounts_are_pseudo_filesystems() {
    // Docker's own mounts, as the engine crates normalize them.
    let t = tree();
    let mut c = runc_merged(&t.root);
    let special =
        |dest: &str, kind: &str| anyctr_core::model::Mount::new(PathBuf::new(), dest, MountKind::Special(kind.into()));
    fs::write(t.vol.join("hostname"), "box\n").unwrap();
    c.mounts.extend([special("/proc", "proc"), special("/sys", "sysfs"), special("/dev/pts", "devpts")]);
    c.mounts.push(bind(t.vol.join("hostname"), "/etc/hostname", false));
    symlink("/proc/self", t.root.join("etc/me")).unwrap();
    for p in ["/proc/self/environ", "/proc", "/sys/kernel", "/dev/pts/0", "/etc/me/environ"] {
        let e = host_path(&c, p, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{p}: {e}");
        assert!(e.to_string().contains("pseudo filesystem"), "{p}: {e}");
    }
    let hp = host_path(&c, "/etc/hostname", None).unwrap();
    assert_eq!(hp.path, t.vol.join("hostname"));
    let opened = anyctr_host::host_path::open(&c, "/etc/hostname", None).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut opened.open_file().unwrap(), &mut text).unwrap();
    assert_eq!(text, "box\n");
}

#[test]
fn opened_handles_stay_on_their_file_when_the_container_swaps_a_directory() {
    let t = tree();
    let c = runc_merged(&t.root);
    fs::write(t.root.join("a/b/f"), "inside").unwrap();
    let opened = anyctr_host::host_path::open(&c, "/a/b/f", None).unwrap();
    // The container swaps `/a` for a link to `/`: the handle still reads its own file.
    fs::rename(t.root.join("a"), t.root.join("a.old")).unwrap();
    symlink("/", t.root.join("a")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut opened.open_file().unwrap(), &mut text).unwrap();
    assert_eq!(text, "inside");
    // A new resolution follows the link inside the container: /a/b/f is now rootfs/b/f.
    let e = anyctr_host::host_path::open(&c, "/a/b/f", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(host_path(&c, "/a/etc/shadow", None).unwrap().path, t.root.join("etc/shadow"));
}

#[test]
fn fifos_and_devices_are_refused_before_they_are_opened() {
    let t = tree();
    let c = runc_merged(&t.root);
    nix::unistd::mkfifo(&t.root.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let opened = anyctr_host::host_path::open(&c, "/fifo", None).unwrap();
    // Opening a FIFO for reading would block; it is refused from its fstat.
    let e = opened.open_file().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("FIFO"), "{e}");
}
