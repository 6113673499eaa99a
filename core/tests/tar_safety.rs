//! Tar safety: hostile archives are refused, good ones keep modes, and a failure leaves nothing
//! behind.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyctr_core::ErrorKind;
use anyctr_core::tar_safety::{LinkPolicy, TreeWriter, UnpackOptions, unpack};
use support::tar::{Item, archive, listing};

fn unpack_into(dest: &Path, items: &[Item<'_>]) -> anyctr_core::Result<anyctr_core::tar_safety::WriteStats> {
    unpack(archive(items).as_slice(), dest, &UnpackOptions::default())
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_good_archive_unpacks_with_modes_links_and_hardlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let stats = unpack_into(
        d,
        &[
            Item::Dir("app", 0o750),
            Item::File("app/run.sh", 0o755, b"#!/bin/sh\necho hi\n"),
            Item::Dir("app/conf", 0o500),
            Item::File("app/conf/a.yaml", 0o640, b"a: 1\n"),
            Item::Symlink("app/current", "conf/a.yaml"),
            Item::Symlink("app/conf/up", "../run.sh"),
            Item::Hardlink("app/run2.sh", "app/run.sh"),
        ],
    )
    .unwrap();
    assert_eq!((stats.files, stats.dirs, stats.links, stats.bytes), (2, 2, 3, 23));
    assert_eq!(fs::read(d.join("app/run.sh")).unwrap(), b"#!/bin/sh\necho hi\n");
    assert_eq!(mode(&d.join("app")), 0o750);
    assert_eq!(mode(&d.join("app/conf")), 0o500);
    assert_eq!(mode(&d.join("app/run.sh")), 0o755);
    assert_eq!(mode(&d.join("app/conf/a.yaml")), 0o640);
    assert_eq!(fs::read_to_string(d.join("app/current")).unwrap(), "a: 1\n");
    assert_eq!(fs::read_link(d.join("app/conf/up")).unwrap(), Path::new("../run.sh"));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(d.join("app/run2.sh")).unwrap().ino(), fs::metadata(d.join("app/run.sh")).unwrap().ino());
    let mtime = fs::metadata(d.join("app/run.sh")).unwrap().modified().unwrap();
    assert_eq!(mtime.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), 1_700_000_000);
}

#[test]
fn hostile_entries_are_refused_and_nothing_is_left_behind() {
    let cases: &[(&str, &[Item<'_>])] = &[
        ("dot-dot path", &[Item::File("ok", 0o644, b"x"), Item::File("../evil", 0o644, b"x")]),
        ("nested dot-dot", &[Item::Dir("a", 0o755), Item::File("a/../../evil", 0o644, b"x")]),
        ("absolute path", &[Item::File("/tmp/anyctr-evil", 0o644, b"x")]),
        ("absolute link", &[Item::Symlink("etc", "/etc")]),
        ("link climbing out", &[Item::Dir("a", 0o755), Item::Symlink("a/up", "../../x")]),
        ("link with dot-dot after a name", &[Item::Symlink("self", "."), Item::Symlink("x", "self/..")]),
        (
            "write through a link",
            &[Item::Dir("real", 0o755), Item::Symlink("l", "real"), Item::File("l/f", 0o644, b"x")],
        ),
        ("hardlink out", &[Item::Hardlink("pw", "../../etc/passwd")]),
        ("absolute hardlink", &[Item::Hardlink("pw", "/etc/passwd")]),
        (
            "hardlink through a link",
            &[Item::Symlink("l", "."), Item::File("f", 0o644, b"x"), Item::Hardlink("h", "l/f")],
        ),
    ];
    for (what, items) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("keep"), "old").unwrap();
        let e = unpack_into(&dest, items).expect_err(what);
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{what}: {e}");
        assert_eq!(listing(&dest), ["keep"], "{what}: partial entries left behind");
        assert_eq!(listing(tmp.path()), ["dest", "dest/keep"], "{what}: wrote outside");
    }
}

#[test]
fn a_truncated_archive_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let e = unpack_into(tmp.path(), &[Item::Dir("d", 0o755), Item::Truncated("d/big", 4096, &[7u8; 512])])
        .expect_err("truncated");
    assert!(matches!(e.kind(), ErrorKind::Unexpected | ErrorKind::InvalidArgument), "{e}");
    assert!(listing(tmp.path()).is_empty(), "{:?}", listing(tmp.path()));
}

#[test]
fn replacing_an_existing_file_is_whole_and_a_directory_is_not_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("f"), "old").unwrap();
    unpack_into(d, &[Item::File("f", 0o600, b"new")]).unwrap();
    assert_eq!(fs::read_to_string(d.join("f")).unwrap(), "new");
    fs::create_dir(d.join("dir")).unwrap();
    let e = unpack_into(d, &[Item::File("dir", 0o644, b"x")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(d.join("dir").is_dir());
}

#[test]
fn rename_top_maps_the_single_root_and_refuses_strays() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let opts = UnpackOptions { rename_top: Some("copy".into()) };
    let items = [Item::Dir("app", 0o755), Item::File("app/x", 0o644, b"1"), Item::Hardlink("app/y", "app/x")];
    unpack(archive(&items).as_slice(), d, &opts).unwrap();
    assert_eq!(listing(d), ["copy", "copy/x", "copy/y"]);
    let stray = [Item::File("app2/x", 0o644, b"1"), Item::File("other", 0o644, b"2")];
    let e = unpack(archive(&stray).as_slice(), d, &UnpackOptions { rename_top: Some("c2".into()) }).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(!d.join("c2").exists());
}

#[test]
fn verbatim_writer_keeps_container_links_but_will_not_write_through_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = TreeWriter::new(tmp.path(), LinkPolicy::Verbatim).unwrap();
    w.symlink(Path::new("bin/sh"), Path::new("/bin/busybox")).unwrap();
    let e = w.file(Path::new("bin/sh/x"), 0o644, None, &mut &b"x"[..], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "only the container may resolve its links: {e}");
    w.finish().unwrap();
    std::os::unix::fs::symlink("/etc", tmp.path().join("etc")).unwrap();
    let mut w = TreeWriter::new(tmp.path(), LinkPolicy::Verbatim).unwrap();
    let e = w.file(Path::new("etc/passwd"), 0o644, None, &mut &b"x"[..], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    drop(w);
    assert_eq!(fs::read_link(tmp.path().join("bin/sh")).unwrap(), Path::new("/bin/busybox"));
}
