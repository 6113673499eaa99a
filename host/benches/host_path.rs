//! `host_path` without symlinks, on a container with a realistic Kubernetes-style mount table
//! (single-file binds for /etc/hosts and friends, a service-account dir, volumes, a read-only
//! config, tmpfs and special mounts) whose sources and merged rootfs are temp dirs. No engine.
//!
//! Target (reported, not asserted): under 2 µs per call. Measured both ways an agent calls it:
//! `host_path()` (prepares the container's view on every call), a prepared
//! `HostPathResolver::resolve`, and `host_path::open` (the opened handle every host-side read or
//! write goes through). Both walk by file descriptor (`hostfs`).

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, Mount, MountKind, RootfsView, RuntimeClass,
};
use anyctr_host::host_path::{HostPathResolver, HostPathSource, host_path, open};
use criterion::Criterion;

const TARGET: Duration = Duration::from_micros(2);

/// The temp dirs the mounts and the rootfs point at.
struct Fixture {
    dir: tempfile::TempDir,
    detail: ContainerDetail,
}

fn mount(source: &Path, destination: &str, kind: MountKind, read_only: bool) -> Mount {
    let mut mount = Mount::new(source, destination, kind);
    mount.read_only = read_only;
    mount.propagation = Some("rprivate".into());
    mount
}

fn special(destination: &str, kind: &str) -> Mount {
    Mount::new(PathBuf::new(), destination, MountKind::Special(kind.into()))
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |rel: &str| dir.path().join(rel);
    for d in ["rootfs/usr/local/lib/app", "rootfs/etc", "rootfs/var/log", "pod/volumes/data/sub", "pod/sa", "pod/cfg"] {
        std::fs::create_dir_all(p(d)).expect("mkdir");
    }
    for f in ["rootfs/usr/local/lib/app/config.yaml", "pod/hosts", "pod/hostname", "pod/resolv.conf", "pod/termlog"] {
        std::fs::write(p(f), "x").expect("write");
    }
    std::fs::write(p("pod/volumes/data/sub/file.txt"), "x").expect("write");
    let mounts = vec![
        special("/proc", "proc"),
        Mount::new(PathBuf::new(), "/dev", MountKind::Tmpfs),
        special("/dev/pts", "devpts"),
        special("/dev/mqueue", "mqueue"),
        special("/sys", "sysfs"),
        special("/sys/fs/cgroup", "cgroup"),
        mount(&p("pod/hosts"), "/etc/hosts", MountKind::Bind, false),
        mount(&p("pod/hostname"), "/etc/hostname", MountKind::Bind, false),
        mount(&p("pod/resolv.conf"), "/etc/resolv.conf", MountKind::Bind, false),
        mount(&p("pod/termlog"), "/dev/termination-log", MountKind::Bind, false),
        mount(&p("pod/sa"), "/var/run/secrets/kubernetes.io/serviceaccount", MountKind::Bind, true),
        mount(&p("pod/volumes/data"), "/data", MountKind::Volume, false),
        mount(&p("pod/cfg"), "/etc/app", MountKind::Bind, true),
        Mount::new(PathBuf::new(), "/dev/shm", MountKind::Tmpfs),
    ];
    let state = ContainerState::with_status(ContainerStatus::Running);
    let mut detail = ContainerDetail::new("f".repeat(64), "app", "busybox:local", state, RuntimeClass::Runc);
    detail.env = vec!["PATH=/usr/bin:/bin".into()];
    detail.network_mode = Some("host".into());
    detail.rootfs = RootfsView::Merged(p("rootfs"));
    detail.mounts = mounts;
    Fixture { dir, detail }
}

/// The paths resolved, with where each must land (checked once before timing).
const PATHS: [(&str, &str); 4] = [
    ("rootfs_5_components", "/usr/local/lib/app/config.yaml"),
    ("volume", "/data/sub/file.txt"),
    ("single_file_mount", "/etc/hosts"),
    ("missing_in_rootfs", "/var/log/app/new.log"),
];

fn main() {
    let f = fixture();
    let resolver = HostPathResolver::new(&f.detail, None);
    for (_, path) in PATHS {
        let a = host_path(&f.detail, path, None).expect("host_path");
        assert_eq!(a, resolver.resolve(path).expect("resolve"));
        assert!(a.path.starts_with(f.dir.path()), "{path} -> {}", a.path.display());
    }
    let data = resolver.resolve("/data/sub/file.txt").unwrap();
    assert!(matches!(data.source, HostPathSource::Mount { .. }) && data.writable);

    // Mean time per call of each sample, for the summary.
    let per_call: Mutex<HashMap<String, Vec<Duration>>> = Mutex::default();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("host_path");
    for (label, path) in PATHS {
        for (kind, how) in [("host_path", 0), ("prepared_resolver", 1), ("open_handle", 2)] {
            let name = format!("{kind}/{label}");
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        match how {
                            1 => drop(black_box(resolver.resolve(black_box(path)).ok())),
                            // The handle every read or write goes through (a missing path is
                            // NotFound: it measures the walk).
                            2 => drop(black_box(open(&f.detail, black_box(path), None).ok())),
                            _ => drop(black_box(host_path(&f.detail, black_box(path), None).ok())),
                        }
                    }
                    let took = start.elapsed();
                    let per = took / u32::try_from(iters.max(1)).unwrap_or(u32::MAX);
                    per_call.lock().unwrap().entry(name.clone()).or_default().push(per);
                    took
                })
            });
        }
    }
    group.finish();
    c.final_summary();

    let mut per_call = per_call.into_inner().unwrap();
    let mut names: Vec<_> = per_call.keys().cloned().collect();
    names.sort();
    for name in names {
        let v = per_call.get_mut(&name).unwrap();
        v.sort();
        let median = v[v.len() / 2];
        let verdict = if median < TARGET { "met" } else { "NOT met" };
        println!(
            "SUMMARY host_path {name}: median {:.3} µs per call (target < 2 µs): {verdict}",
            median.as_secs_f64() * 1e6
        );
    }
}
