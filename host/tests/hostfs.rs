//! The host-access layer on temporary trees: symlink escapes (absolute, relative, `..`, loops,
//! magic links) stay inside the root under both resolutions (`openat2` and the emulated walk),
//! special files are refused before they are opened, the byte cap, and `/proc/<pid>/root`'s
//! guard.

mod support;

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyctr_host::hostfs::{Dir, FileKind, Resolution, Root, copy_capped, proc_root};

const BOTH: [Resolution; 2] = [Resolution::Openat2, Resolution::Emulated];

/// root/{etc/passwd, a/b/, links…} beside outside/secret.
fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("root");
    let outside = base.join("outside");
    for d in [root.join("etc"), root.join("a/b"), outside.clone()] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(root.join("etc/passwd"), "inside").unwrap();
    fs::write(outside.join("secret"), "HOST").unwrap();
    fs::write(outside.join("passwd"), "HOST").unwrap();
    symlink("/", root.join("to_root")).unwrap();
    symlink("/etc", root.join("to_etc")).unwrap();
    symlink("../../..", root.join("a/b/up")).unwrap();
    symlink(&outside, root.join("abs_out")).unwrap();
    symlink(outside.join("secret"), root.join("abs_secret")).unwrap();
    symlink("../outside/secret", root.join("rel_out")).unwrap();
    symlink("loop2", root.join("loop1")).unwrap();
    symlink("loop1", root.join("loop2")).unwrap();
    symlink("/proc/self/root", root.join("magic")).unwrap();
    (tmp, root, outside)
}

fn read(root: &Root, path: &str) -> std::io::Result<String> {
    let (mut f, _) = root.open_file(Path::new(path))?;
    let mut s = String::new();
    f.read_to_string(&mut s)?;
    Ok(s)
}

#[test]
fn links_and_dot_dot_stay_inside_the_root_with_both_resolutions() {
    let (_tmp, root_dir, outside) = tree();
    for how in BOTH {
        let root = Root::open(&root_dir).unwrap().with_resolution(how);
        for p in [
            "/etc/passwd",
            "etc/passwd",
            "../../etc/passwd",
            "/to_root/etc/passwd",
            "/to_root/../../etc/passwd",
            "to_etc/passwd",
            "a/b/up/etc/passwd",
            "a/b/../../../../etc/passwd",
        ] {
            assert_eq!(read(&root, p).unwrap(), "inside", "{how:?} {p}");
        }
        // Links to the host's paths are read in the root: `outside` does not exist there.
        for p in ["abs_secret", "abs_out/secret", "rel_out", "to_root/../outside/passwd"] {
            let e = read(&root, p).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{how:?} {p}: {e}");
        }
        // The same names do exist inside: then those are what is read.
        fs::create_dir_all(root_dir.join(outside.strip_prefix("/").unwrap())).unwrap();
        fs::write(root_dir.join(outside.strip_prefix("/").unwrap()).join("secret"), "inside").unwrap();
        assert_eq!(read(&root, "abs_secret").unwrap(), "inside", "{how:?}");
        fs::remove_dir_all(root_dir.join(outside.strip_prefix("/").unwrap().iter().next().unwrap())).unwrap();
        let e = read(&root, "loop1").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(40), "{how:?}: ELOOP for a loop: {e}");
        let e = root.resolve(Path::new("magic/etc"), true).unwrap_err();
        assert!(e.raw_os_error().is_some(), "{how:?}: a magic link is never followed out: {e}");
        // Without following the last link, the link itself.
        assert_eq!(root.resolve(Path::new("to_root"), false).unwrap().kind(), FileKind::Symlink);
        assert_eq!(root.resolve(Path::new("to_root"), true).unwrap().kind(), FileKind::Dir);
    }
}

#[test]
fn both_resolutions_agree_on_every_name() {
    let (_tmp, root_dir, _) = tree();
    let a = Root::open(&root_dir).unwrap().with_resolution(Resolution::Openat2);
    let b = Root::open(&root_dir).unwrap().with_resolution(Resolution::Emulated);
    for p in ["/", "etc", "to_root", "to_etc/passwd", "a/b/up", "a/b/up/a", "rel_out", "abs_out", "nope", "a/../.."] {
        for follow in [true, false] {
            let x = a.resolve(Path::new(p), follow).map(|e| (e.stat().st_dev, e.stat().st_ino));
            let y = b.resolve(Path::new(p), follow).map(|e| (e.stat().st_dev, e.stat().st_ino));
            assert_eq!(x.as_ref().ok(), y.as_ref().ok(), "{p} follow={follow}: {x:?} vs {y:?}");
        }
    }
}

#[test]
fn special_files_are_refused_before_they_are_opened() {
    let (_tmp, root_dir, _) = tree();
    nix::unistd::mkfifo(&root_dir.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let sock = std::os::unix::net::UnixListener::bind(root_dir.join("sock")).unwrap();
    let root = Root::open(&root_dir).unwrap();
    for p in ["fifo", "sock"] {
        // A FIFO opened for reading would block this call forever.
        let e = root.open_file(Path::new(p)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{p}: {e}");
    }
    let dir = Dir::open(&root_dir).unwrap();
    assert!(matches!(dir.lookup("fifo".as_ref()).unwrap().unwrap().kind(), FileKind::Special(_)));
    assert!(dir.open_file("to_root".as_ref()).is_err(), "a link is never opened through");
    assert!(dir.subdir("to_root".as_ref()).is_err(), "a link is never a directory");
    assert!(dir.lookup("a/b".as_ref()).is_err(), "one name, never a path");
    drop(sock);
}

#[test]
fn copy_capped_stops_past_the_cap() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::write(&src, vec![7u8; 10_000]).unwrap();
    let copy = |cap: u64| {
        let mut from = fs::File::open(&src).unwrap();
        let mut to = fs::File::create(tmp.path().join(format!("dst-{cap}"))).unwrap();
        copy_capped(&mut from, &mut to, cap)
    };
    assert_eq!(copy(10_000).unwrap(), 10_000);
    assert_eq!(copy(20_000).unwrap(), 10_000);
    let e = copy(9_999).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
}

#[test]
fn proc_root_refuses_a_pid_in_our_mount_namespace_and_opens_another() {
    let e = proc_root(Path::new("/proc"), std::process::id()).unwrap_err();
    assert!(e.to_string().contains("mount namespace"), "{e}");
    let other = support::OtherMountNs::start();
    let opened = proc_root(Path::new("/proc"), other.pid()).unwrap();
    assert!(opened.start_time > 0);
    assert!(opened.root.resolve(Path::new("/etc"), true).is_ok());
    // Once the process is gone its pid is refused.
    drop(other);
    assert!(proc_root(Path::new("/proc"), opened.pid).is_err());
}
