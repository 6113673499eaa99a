//! Copy-out rules against real containers: setuid/setgid bits dropped (every strategy that
//! applies, the gVisor `rund` runtime's tar over exec too), FIFOs and devices refused with
//! nothing left behind, a file growing during the copy stopped at its cap, and a copy into a
//! read-only rootfs failing with the real cause. Needs the harness's dockerd.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use anyctr_core::ErrorKind;
use anyctr_core::model::{ContainerDetail, RootfsView};
use anyctr_host::copy::{CopyOptions, CopyStrategy, copy_from_container, copy_to_container};
use support::docker::{detail_from_inspect, docker, exec, require_engine, run, socket, unique};
use support::docker_cli::DockerCli;

fn only(strategy: CopyStrategy) -> CopyOptions {
    CopyOptions::default().strategies([strategy])
}

/// Each strategy that applies to a runc container, the host path both ways (merged dir and
/// `/proc/<pid>/root`).
fn runc_ways(c: &ContainerDetail) -> Vec<(&'static str, ContainerDetail, CopyStrategy)> {
    let mut proc = c.clone();
    proc.rootfs = RootfsView::NotReported;
    vec![
        ("host_path/merged", c.clone(), CopyStrategy::HostPath),
        ("host_path/proc_root", proc, CopyStrategy::HostPath),
        ("tar_over_exec", c.clone(), CopyStrategy::TarOverExec),
    ]
}

/// The engine, a local temp dir (canonical path) and a running runc container named after `tag`.
struct Setup {
    engine: DockerCli,
    _tmp: tempfile::TempDir,
    base: std::path::PathBuf,
    name: String,
    _guard: support::docker::Guard,
}

fn setup(tag: &str, args: &[&str]) -> Setup {
    require_engine();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let name = unique(tag);
    let guard = run(&name, args);
    Setup { engine: DockerCli { socket: socket() }, _tmp: tmp, base, name, _guard: guard }
}

const SETUID_SETUP: &str = "mkdir -p /s && cp /bin/busybox /s/tool && chown 1000:1000 /s/tool && chmod 6755 /s/tool \
     && mkdir -m 1777 /s/sticky && stat -c %a /s/tool /s/sticky";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setuid_setgid_and_sticky_bits_are_dropped_unless_asked_for() {
    let Setup { engine, base, name: runc, .. } = &setup("rules-suid", &[]);
    assert_eq!(exec(runc, SETUID_SETUP), "6755\n1777\n");
    let rund = setup("rules-suid-rund", &["--runtime", "rund"]);
    assert_eq!(exec(&rund.name, SETUID_SETUP), "6755\n1777\n");
    let mut ways = runc_ways(&detail_from_inspect(runc));
    ways.push(("rund/tar_over_exec", detail_from_inspect(&rund.name), CopyStrategy::TarOverExec));
    for (label, c, strategy) in &ways {
        let out = base.join(label.replace('/', "_"));
        let report = copy_from_container(engine, c, "/s", &out, &only(*strategy)).await.unwrap();
        assert_eq!(report.strategy, *strategy, "{label}");
        let mode = |p: &str| fs::metadata(out.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("tool"), 0o755, "{label}: setuid/setgid kept");
        assert_eq!(mode("sticky"), 0o777, "{label}: sticky kept");
        let keep = only(*strategy).keep_special_bits(true);
        let kept = base.join(format!("{}-kept", label.replace('/', "_")));
        copy_from_container(engine, c, "/s/tool", &kept, &keep).await.unwrap();
        assert_eq!(fs::metadata(&kept).unwrap().permissions().mode() & 0o7777, 0o6755, "{label}: asked to keep");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifos_and_devices_are_refused_and_nothing_is_left() {
    let Setup { engine, base, name, .. } = &setup("rules-special", &[]);
    exec(name, "mkdir -p /f/d /f/c && echo a > /f/a && echo b > /f/d/b && mkfifo /f/d/pipe && mknod /f/c/null c 1 3");
    for (label, c, strategy) in runc_ways(&detail_from_inspect(name)) {
        for (src, what) in [("/f/d", "FIFO"), ("/f/c", "character device"), ("/f/d/pipe", "FIFO")] {
            let out = base.join(format!("{}-{}", label.replace('/', "_"), src.replace('/', "_")));
            let e = copy_from_container(engine, &c, src, &out, &only(strategy)).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{label} {src}: {e}");
            assert!(e.to_string().contains(what), "{label} {src}: {e}");
            assert!(fs::symlink_metadata(&out).is_err(), "{label} {src}: something was left at {}", out.display());
        }
    }
    let leftovers: Vec<_> = fs::read_dir(base).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_file_stops_at_its_cap() {
    let Setup { engine, base, name, .. } = &setup("rules-grow", &[]);
    // A caller's cap below the file's size: refused, nothing left.
    exec(name, "mkdir -p /g && head -c 5000 /dev/zero > /g/fixed");
    for (label, c, strategy) in runc_ways(&detail_from_inspect(name)) {
        let out = base.join(format!("capped-{}", label.replace('/', "_")));
        let capped = only(strategy).max_file_bytes(Some(4096));
        let e = copy_from_container(engine, &c, "/g/fixed", &out, &capped).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{label}: {e}");
        assert!(e.to_string().contains("cap"), "{label}: {e}");
        assert!(fs::symlink_metadata(&out).is_err(), "{label}");
    }
    // A file that keeps growing: its size at open is the cap, so the copy fails when it grew
    // meanwhile (each attempt races the writer; some attempt must catch it).
    exec(name, "head -c 8000000 /dev/zero > /g/log");
    docker(&["exec", "-d", name, "sh", "-c", "while true; do head -c 65536 /dev/zero >> /g/log; done"]).unwrap();
    let c = detail_from_inspect(name);
    let mut grew = 0;
    for i in 0..40 {
        let out = base.join(format!("log-{i}"));
        match copy_from_container(engine, &c, "/g/log", &out, &only(CopyStrategy::HostPath)).await {
            Ok(_) => assert!(fs::metadata(&out).unwrap().len() >= 8_000_000),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
                assert!(e.to_string().contains("cap"), "{e}");
                assert!(fs::symlink_metadata(&out).is_err(), "a failed copy left {}", out.display());
                grew += 1;
            }
        }
        if grew >= 3 {
            break;
        }
    }
    docker(&["exec", name, "sh", "-c", "rm -f /g/log"]).unwrap();
    assert!(grew > 0, "no copy saw the file grow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_into_a_read_only_rootfs_names_the_real_cause() {
    let Setup { engine, base, name, .. } = &setup("rules-ro", &["--read-only"]);
    let src = base.join("f");
    fs::write(&src, "x").unwrap();
    let c = detail_from_inspect(name);
    let e = copy_to_container(engine, &c, &src, "/opt/f", &CopyOptions::default()).await.unwrap_err();
    let text = e.to_string();
    assert!(text.to_lowercase().contains("read-only file system"), "{text}");
    assert!(text.contains("host_path") && text.contains("tar_over_exec"), "every strategy tried is named: {text}");
    assert!(!text.contains("went away"), "{text}");
    // Nothing was written through the (writable) merged dir.
    let merged = c.merged_dir().unwrap().join("opt/f");
    assert!(fs::symlink_metadata(&merged).is_err(), "{}", merged.display());
}
