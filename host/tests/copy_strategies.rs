//! Copy strategy selection with an in-process fake engine (selection logic only; real engines
//! are tested by their crates), and the host-path strategy doing real file I/O on temp trees.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyctr_core::model::{RootfsView, RuntimeClass};
use anyctr_core::{Capabilities, ErrorKind, Support};
use anyctr_host::copy::{CopyOptions, CopyStrategy, Verification, copy_from_container, copy_to_container};
use support::fake::FakeEngine;
use support::tar::{Item, archive, listing};
use support::{bind, detail, runc_merged};

/// A docker-like engine: host access, native archive API, exec with stdin.
fn docker_like() -> Capabilities {
    Capabilities {
        exec: Support::Unsupported,
        exec_stream: Support::Native,
        exec_with_stdin: Support::Native,
        copy_to: Support::Native,
        copy_from: Support::Native,
        host_rootfs: Support::Native,
        proc_root: Support::Native,
        ..Default::default()
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    base: std::path::PathBuf,
    rootfs: std::path::PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let rootfs = base.join("rootfs");
    fs::create_dir_all(rootfs.join("opt")).unwrap();
    fs::create_dir_all(base.join("local/tool/conf")).unwrap();
    fs::write(base.join("local/tool/run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(base.join("local/tool/run.sh"), fs::Permissions::from_mode(0o751)).unwrap();
    fs::write(base.join("local/tool/conf/a"), "a").unwrap();
    std::os::unix::fs::symlink("/bin/busybox", base.join("local/tool/sh")).unwrap();
    Setup { _tmp: tmp, base, rootfs }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[tokio::test]
async fn runc_with_host_access_copies_through_the_host_path() {
    let s = setup();
    let engine = FakeEngine::new(docker_like());
    let c = runc_merged(&s.rootfs);
    let report = copy_to_container(&engine, &c, &s.base.join("local/tool"), "/opt/new/tool", &CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.strategy, CopyStrategy::HostPath);
    assert!(report.skipped.is_empty());
    assert!(matches!(report.verification, Verification::Skipped(_)));
    assert_eq!((report.stats.files, report.stats.links), (2, 1));
    let dest = s.rootfs.join("opt/new/tool");
    assert_eq!(fs::read_to_string(dest.join("run.sh")).unwrap(), "#!/bin/sh\n");
    assert_eq!(mode(&dest.join("run.sh")), 0o751);
    assert_eq!(fs::read_link(dest.join("sh")).unwrap(), Path::new("/bin/busybox"), "container links kept verbatim");
    assert!(engine.calls().is_empty(), "{:?}", engine.calls());

    let out = s.base.join("out");
    let report = copy_from_container(&engine, &c, "/opt/new/tool/run.sh", &out, &CopyOptions::default()).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::HostPath);
    assert_eq!(fs::read_to_string(&out).unwrap(), "#!/bin/sh\n");
    assert_eq!(mode(&out), 0o751);
}

#[tokio::test]
async fn copying_out_refuses_links_that_leave_the_copy_and_leaves_nothing() {
    let s = setup();
    let engine = FakeEngine::new(docker_like());
    fs::create_dir_all(s.rootfs.join("data/sub")).unwrap();
    fs::write(s.rootfs.join("data/sub/f"), "x").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", s.rootfs.join("data/sub/shadow")).unwrap();
    let c = runc_merged(&s.rootfs);
    let out = s.base.join("out");
    fs::create_dir(&out).unwrap();
    let e = copy_from_container(&engine, &c, "/data", &out.join("data"), &CopyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert_eq!(e.operation(), Some("copy_out"));
    assert!(listing(&out).is_empty(), "{:?}", listing(&out));
}

#[tokio::test]
async fn a_missing_source_is_not_found_and_ends_the_ladder() {
    let s = setup();
    let engine = FakeEngine::new(docker_like());
    let c = runc_merged(&s.rootfs);
    let e = copy_from_container(&engine, &c, "/nope", &s.base.join("x"), &CopyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(engine.calls().is_empty(), "no other strategy may run: {:?}", engine.calls());
    let e = copy_to_container(&engine, &c, &s.base.join("nope"), "/opt/x", &CopyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn without_host_rootfs_the_engine_archive_runs() {
    let s = setup();
    let engine = FakeEngine::new(Capabilities { host_rootfs: Support::Unsupported, ..docker_like() });
    let c = runc_merged(&s.rootfs);
    let report =
        copy_to_container(&engine, &c, &s.base.join("local/tool"), "/opt/tool", &CopyOptions::default()).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::EngineArchive);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].strategy, CopyStrategy::HostPath);
    assert!(report.skipped[0].reason.contains("no host access"), "{:?}", report.skipped);
    assert_eq!(
        engine.calls(),
        ["copy_to /opt [tool,tool/conf,tool/conf/a,tool/run.sh,tool/sh]"],
        "one top-level entry named after the destination"
    );
    assert!(
        matches!(&report.verification, Verification::Skipped(r) if r.contains("exec")),
        "{:?}",
        report.verification
    );
}

#[tokio::test]
async fn sandboxed_containers_skip_host_and_native_and_reach_tar_over_exec() {
    let s = setup();
    let engine = FakeEngine::new(docker_like());
    let mut c = detail(RuntimeClass::Rund, RootfsView::Merged(s.rootfs.clone()), Some(1));
    c.mounts.push(bind(s.base.join("local"), "/vol", false));
    let e = copy_to_container(&engine, &c, &s.base.join("local/tool/run.sh"), "/vol/run.sh", &CopyOptions::default())
        .await
        .unwrap_err();
    // The fake's exec fails; the error lists every attempt.
    assert_eq!(e.kind(), ErrorKind::Unexpected, "{e}");
    let text = e.to_string();
    assert!(text.contains("host_path: runtime `rund` is sandboxed"), "{text}");
    assert!(text.contains("engine_archive: capability copy_to is Emulated"), "{text}");
    assert!(text.contains("tar_over_exec: failed"), "{text}");
    let calls = engine.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(
        calls[0].starts_with("exec_stream sh -c ") && calls[0].contains("tar -x") && calls[0].ends_with(" /vol"),
        "{calls:?}"
    );
}

#[tokio::test]
async fn read_only_and_nested_mounts_skip_the_host_path() {
    let s = setup();
    let engine = FakeEngine::new(Capabilities {
        copy_to: Support::Unsupported,
        exec_stream: Support::Unsupported,
        ..docker_like()
    });
    let ro = s.base.join("ro");
    let inner = s.base.join("inner");
    fs::create_dir_all(&ro).unwrap();
    fs::create_dir_all(&inner).unwrap();
    let mut c = runc_merged(&s.rootfs);
    c.mounts.push(bind(&ro, "/etc/config", true));
    c.mounts.push(bind(&inner, "/opt/tool/conf", false));
    let src = s.base.join("local/tool");
    let e = copy_to_container(&engine, &c, &src, "/etc/config/tool", &CopyOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("read-only mount"), "{e}");
    let e = copy_to_container(&engine, &c, &src, "/opt/tool", &CopyOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("mount /opt/tool/conf lies inside the destination"), "{e}");
    assert!(!s.rootfs.join("opt/tool").exists(), "nothing written");
}

#[tokio::test]
async fn a_single_file_mount_is_rewritten_in_place() {
    let s = setup();
    let engine = FakeEngine::new(docker_like());
    let mounted = s.base.join("hosts");
    fs::write(&mounted, "old").unwrap();
    let inode = fs::metadata(&mounted).unwrap().ino();
    let mut c = runc_merged(&s.rootfs);
    c.mounts.push(bind(&mounted, "/etc/hosts", false));
    let report =
        copy_to_container(&engine, &c, &s.base.join("local/tool/conf/a"), "/etc/hosts", &CopyOptions::default())
            .await
            .unwrap();
    assert_eq!(report.strategy, CopyStrategy::HostPath);
    assert_eq!(fs::read_to_string(&mounted).unwrap(), "a");
    assert_eq!(fs::metadata(&mounted).unwrap().ino(), inode, "the mounted inode must stay");
}

#[tokio::test]
async fn engine_archives_are_unpacked_safely() {
    let s = setup();
    let caps = Capabilities { host_rootfs: Support::Unsupported, ..docker_like() };
    let only_native = CopyOptions::default().strategies([CopyStrategy::EngineArchive]);
    let c = runc_merged(&s.rootfs);
    let out = s.base.join("out");
    fs::create_dir(&out).unwrap();

    let mut engine = FakeEngine::new(caps);
    engine.archive = archive(&[Item::Dir("logs", 0o750), Item::File("logs/a.log", 0o640, b"line\n")]);
    let report = copy_from_container(&engine, &c, "/var/logs", &out.join("copy"), &only_native).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::EngineArchive);
    assert_eq!(fs::read_to_string(out.join("copy/a.log")).unwrap(), "line\n");
    assert_eq!(mode(&out.join("copy")), 0o750);

    engine.archive = archive(&[Item::Dir("x", 0o755), Item::Symlink("x/l", "../../../etc")]);
    let e = copy_from_container(&engine, &c, "/x", &out.join("x"), &only_native).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(!out.join("x").exists());

    // A source that is itself a link: only the container can resolve it, so the ladder moves on.
    engine.archive = archive(&[Item::Symlink("localtime", "/usr/share/zoneinfo/UTC")]);
    let e =
        copy_from_container(&engine, &c, "/etc/localtime", &out.join("tz"), &CopyOptions::default()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("engine_archive: failed: unsupported: the source is a symlink"), "{text}");
    assert!(text.contains("tar_over_exec: failed"), "{text}");
    assert!(fs::symlink_metadata(out.join("tz")).is_err());
}
