//! Tar safety: hostile archives are refused, good ones keep modes, and a failure leaves nothing
//! behind.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyctr_core::ErrorKind;
use anyctr_host::tar_safety::{LinkPolicy, TreeWriter, UnpackOptions, WriteRules, unpack};
use support::tar::{Item, archive, listing};

fn unpack_into(dest: &Path, items: &[Item<'_>]) -> anyctr_core::Result<anyctr_host::tar_safety::WriteStats> {
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

#[test]
fn special_files_are_refused_and_nothing_is_left() {
    for (item, what) in [(Item::Fifo("d/pipe"), "FIFO"), (Item::CharDevice("d/null"), "character device")] {
        let tmp = tempfile::tempdir().unwrap();
        let e = unpack_into(tmp.path(), &[Item::Dir("d", 0o755), Item::File("d/a", 0o644, b"a"), item]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        assert!(e.to_string().contains(what), "{e}");
        assert!(listing(tmp.path()).is_empty(), "{:?}", listing(tmp.path()));
    }
}

#[test]
fn setuid_setgid_and_sticky_bits_are_dropped_unless_kept() {
    let items = [Item::Dir("d", 0o1777), Item::File("d/tool", 0o6755, b"x")];
    let tmp = tempfile::tempdir().unwrap();
    unpack_into(tmp.path(), &items).unwrap();
    assert_eq!((mode(&tmp.path().join("d")), mode(&tmp.path().join("d/tool"))), (0o777, 0o755));
    let kept = tempfile::tempdir().unwrap();
    let rules = WriteRules { keep_special_bits: true, max_file_bytes: None };
    let mut w = TreeWriter::new(kept.path(), LinkPolicy::Confined).unwrap().with_rules(rules);
    anyctr_host::tar_safety::unpack_into(archive(&items).as_slice(), &mut w, &UnpackOptions::default()).unwrap();
    w.finish().unwrap();
    assert_eq!((mode(&kept.path().join("d")), mode(&kept.path().join("d/tool"))), (0o1777, 0o6755));
}

#[test]
fn a_file_over_the_cap_is_refused_and_nothing_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = WriteRules { keep_special_bits: false, max_file_bytes: Some(3) };
    let mut w = TreeWriter::new(tmp.path(), LinkPolicy::Confined).unwrap().with_rules(rules);
    let items = [Item::File("small", 0o644, b"abc"), Item::File("big", 0o644, b"abcd")];
    let e = anyctr_host::tar_safety::unpack_into(archive(&items).as_slice(), &mut w, &UnpackOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("cap"), "{e}");
    drop(w);
    assert!(listing(tmp.path()).is_empty());
}

#[test]
fn hard_links_only_reach_files_of_the_same_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    // A file that was there before the unpack is not the archive's to link to.
    fs::write(tmp.path().join("existing"), "mine").unwrap();
    let e = unpack_into(tmp.path(), &[Item::Hardlink("grab", "existing")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(listing(tmp.path()), ["existing"]);
}

#[test]
fn a_directory_swapped_for_a_link_is_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir(&outside).unwrap();
    let mut w = TreeWriter::new(&root, LinkPolicy::Confined).unwrap();
    w.file(Path::new("d/a"), 0o644, None, &mut &b"a"[..], None).unwrap();
    // The directory the writer holds is swapped for a link to `outside`: the writer keeps
    // writing into the directory it opened (now `d.old`), never into `outside`.
    fs::rename(root.join("d"), root.join("d.old")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("d")).unwrap();
    w.file(Path::new("d/b"), 0o644, None, &mut &b"b"[..], None).unwrap();
    w.finish().unwrap();
    assert!(listing(&outside).is_empty());
    assert_eq!(fs::read_to_string(root.join("d.old/b")).unwrap(), "b");
    // A fresh writer meets the link and refuses it.
    let mut w = TreeWriter::new(&root, LinkPolicy::Confined).unwrap();
    let e = w.file(Path::new("d/c"), 0o644, None, &mut &b"c"[..], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(listing(&outside).is_empty());
}
