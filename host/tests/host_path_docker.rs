//! The resolver against real docker containers (runc and the rund stand-in), with the
//! ContainerDetail built by hand from `docker inspect` (core depends on no engine crate).
//! Needs the harness's dockerd: fails, never skips, when it is not reachable.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use anyctr_core::ErrorKind;
use anyctr_core::model::{RootfsView, RuntimeClass};
use anyctr_host::host_path::{HostPathSource, host_path};
use support::docker::{detail_from_inspect, exec, read, require_engine, run, unique};

#[test]
fn runc_container_paths_resolve_to_what_the_container_sees() {
    require_engine();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let (vol, app, ro, file) = (base.join("vol"), base.join("app"), base.join("ro"), base.join("myfile"));
    for d in [&vol, &app, &ro] {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(ro.join("key"), "ro-value\n").unwrap();
    fs::write(&file, "single file\n").unwrap();
    let name = unique("runc");
    let binds = [
        format!("{}:/data", vol.display()),
        format!("{}:/data/app", app.display()),
        format!("{}:/etc/config:ro", ro.display()),
        format!("{}:/etc/myfile:ro", file.display()),
    ];
    let mut extra = Vec::new();
    for b in &binds {
        extra.extend_from_slice(&["-v", b.as_str()]);
    }
    let _guard = run(&name, &extra);
    exec(
        &name,
        "echo inside > /root-file && ln -s / /escape && ln -s ../../../../../etc /tmp/rel && mkdir -p /data/logs \
         && echo log > /data/logs/a.log && ln -s /data/logs /applogs && echo nested > /data/app/n \
         && ln -s /etc/passwd /data/pwlink && ln -s ../../.. /data/logs/up",
    );
    let container_passwd = exec(&name, "cat /etc/passwd");
    let container_hostname = exec(&name, "cat /etc/hostname");
    let merged = detail_from_inspect(&name);
    let pid = merged.state.pid.expect("a running runc container has a pid");
    let mut proc_only = merged.clone();
    proc_only.rootfs = RootfsView::NotReported;

    for (c, rootfs_source) in [(&merged, HostPathSource::MergedRootfs), (&proc_only, HostPathSource::ProcRoot { pid })]
    {
        let at = |p: &str| host_path(c, p, None).unwrap_or_else(|e| panic!("{p}: {e}"));
        let hp = at("/root-file");
        assert_eq!(hp.source, rootfs_source);
        assert_eq!(read(&hp.path), "inside\n");
        // Links to `/`, relative links climbing out, and links into mounts, all in the container.
        assert_eq!(read(&at("/escape/etc/passwd").path), container_passwd);
        assert_eq!(read(&at("/tmp/rel/passwd").path), container_passwd);
        assert_eq!(read(&at("/data/pwlink").path), container_passwd, "a link in a volume to the rootfs");
        assert_eq!(at("/data/logs/up/root-file").container_path, Path::new("/root-file"));
        let hp = at("/applogs/a.log");
        assert_eq!(hp.source, HostPathSource::Mount { destination: "/data".into(), source: vol.clone() });
        assert_eq!(hp.path, vol.join("logs/a.log"));
        assert_eq!(read(&at("/data/app/n").path), "nested\n");
        assert_eq!(at("/data/app/n").path, app.join("n"), "the nested mount, not the parent volume");
        let hp = at("/etc/config/key");
        assert!(!hp.writable);
        assert_eq!(read(&hp.path), "ro-value\n");
        assert_eq!(read(&at("/etc/myfile").path), "single file\n");
        assert_eq!(read(&at("/etc/hostname").path), container_hostname, "docker's hostname file mount");
        // ..and writes through the answer are what the container reads.
        fs::write(at("/data/from-host").path, "via volume\n").unwrap();
        assert_eq!(exec(&name, "cat /data/from-host"), "via volume\n");
    }
    let hp = host_path(&merged, "/from-host-rootfs", None).unwrap();
    fs::write(&hp.path, "via merged dir\n").unwrap();
    assert_eq!(exec(&name, "cat /from-host-rootfs"), "via merged dir\n");
    assert!(hp.path.starts_with(merged.merged_dir().unwrap()));
    let hp = host_path(&proc_only, "/escape/escape/etc/passwd", None).unwrap();
    assert_eq!(hp.path, PathBuf::from(format!("/proc/{pid}/root/etc/passwd")));
}

#[test]
fn rund_rootfs_is_not_host_visible_but_its_volume_is() {
    require_engine();
    let tmp = tempfile::tempdir().unwrap();
    let vol = tmp.path().canonicalize().unwrap();
    let name = unique("rund");
    let bind = format!("{}:/mnt/vol", vol.display());
    let _guard = run(&name, &["--runtime", "rund", "-v", &bind]);
    exec(&name, "echo from-sandbox > /mnt/vol/x && echo hidden > /inside");
    let c = detail_from_inspect(&name);
    assert_eq!(c.runtime, RuntimeClass::Rund);
    for p in ["/inside", "/etc/passwd", "/mnt/vol/../../inside"] {
        let e = host_path(&c, p, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{p}: {e}");
        assert!(e.to_string().contains("not host-visible"), "{e}");
    }
    let hp = host_path(&c, "/mnt/vol/x", None).unwrap();
    assert_eq!(hp.path, vol.join("x"));
    assert_eq!(read(&hp.path), "from-sandbox\n");
}
