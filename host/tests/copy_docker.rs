//! Copy strategies against real docker containers (runc and the rund stand-in). The engine is a
//! thin docker-CLI adapter (`support::docker_cli`): what is tested is core's strategy code —
//! host-path I/O, the tar-over-exec scripts under busybox, streaming, and sha256 verification.
//! Needs the harness's dockerd: fails, never skips, when it is not reachable.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use anyctr_core::ErrorKind;
use anyctr_host::copy::{CopyOptions, CopyStrategy, Verification, copy_from_container, copy_to_container};
use support::docker::{detail_from_inspect, exec, require_engine, run, socket, unique};
use support::docker_cli::DockerCli;

fn only(strategy: CopyStrategy) -> CopyOptions {
    CopyOptions::default().strategies([strategy])
}

/// A local tree: a 3 MiB binary-ish file (several stream chunks), a mode, a nested dir, a link.
fn local_tree(base: &std::path::Path) -> std::path::PathBuf {
    let src = base.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    fs::write(src.join("big.bin"), &big).unwrap();
    fs::write(src.join("sub/run.sh"), "#!/bin/sh\necho ok\n").unwrap();
    fs::set_permissions(src.join("sub/run.sh"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("sub/run.sh", src.join("run")).unwrap();
    src
}

async fn round_trip(runtime: &[&str], strategy: CopyStrategy) {
    require_engine();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let src = local_tree(&base);
    let name = unique(&format!("copy-{}", strategy.as_str()));
    let _guard = run(&name, runtime);
    let c = detail_from_inspect(&name);
    let engine = DockerCli { socket: socket() };

    let report = copy_to_container(&engine, &c, &src, "/opt/new/tool", &only(strategy)).await.unwrap();
    assert_eq!(report.strategy, strategy);
    assert_eq!((report.stats.files, report.stats.bytes), (2, 3 * 1024 * 1024 + 18));
    if strategy == CopyStrategy::TarOverExec {
        assert_eq!(report.verification, Verification::Sha256 { files: 2, unverified: 0 });
    }
    let listing = exec(&name, "cd /opt/new/tool && stat -c '%n %a %s' big.bin sub/run.sh && readlink run && ./run");
    assert_eq!(listing, "big.bin 644 3145728\nsub/run.sh 750 18\nsub/run.sh\nok\n");
    let local_sum = exec(&name, "sha256sum /opt/new/tool/big.bin");
    assert!(local_sum.starts_with(&sha256_hex(&fs::read(src.join("big.bin")).unwrap())), "{local_sum}");

    // Out again, through a link to the directory.
    exec(&name, "ln -s /opt/new/tool /toollink && echo extra > /opt/new/tool/sub/extra");
    let out = base.join("out");
    let report = copy_from_container(&engine, &c, "/toollink", &out, &only(strategy)).await.unwrap();
    assert_eq!(report.strategy, strategy);
    if strategy == CopyStrategy::TarOverExec {
        assert_eq!(report.verification, Verification::Sha256 { files: 3, unverified: 0 });
    }
    assert_eq!(fs::read(out.join("big.bin")).unwrap(), fs::read(src.join("big.bin")).unwrap());
    assert_eq!(fs::read_to_string(out.join("sub/extra")).unwrap(), "extra\n");
    assert_eq!(fs::metadata(out.join("sub/run.sh")).unwrap().permissions().mode() & 0o777, 0o750);
    assert_eq!(fs::read_link(out.join("run")).unwrap(), std::path::Path::new("sub/run.sh"));

    let e =
        copy_from_container(&engine, &c, "/no/such/path", &base.join("missing"), &only(strategy)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(fs::symlink_metadata(base.join("missing")).is_err());

    // A link that leads out of the copy is refused and nothing is left behind.
    exec(&name, "mkdir -p /evil && ln -s /etc/passwd /evil/pw");
    let e = copy_from_container(&engine, &c, "/evil", &base.join("evil"), &only(strategy)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(fs::symlink_metadata(base.join("evil")).is_err());
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_host_path_round_trip() {
    round_trip(&[], CopyStrategy::HostPath).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runc_tar_over_exec_round_trip() {
    round_trip(&[], CopyStrategy::TarOverExec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rund_tar_over_exec_round_trip() {
    round_trip(&["--runtime", "rund"], CopyStrategy::TarOverExec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rund_ladder_picks_tar_over_exec_and_says_why() {
    require_engine();
    let tmp = tempfile::tempdir().unwrap();
    let src = local_tree(&tmp.path().canonicalize().unwrap());
    let name = unique("copy-rund-ladder");
    let _guard = run(&name, &["--runtime", "rund"]);
    let c = detail_from_inspect(&name);
    let engine = DockerCli { socket: socket() };
    let report =
        copy_to_container(&engine, &c, &src.join("big.bin"), "/tmp/big.bin", &CopyOptions::default()).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::TarOverExec);
    let skipped: Vec<_> = report.skipped.iter().map(|s| s.strategy).collect();
    assert_eq!(skipped, [CopyStrategy::HostPath, CopyStrategy::EngineArchive]);
    assert!(report.skipped[0].reason.contains("sandboxed"), "{:?}", report.skipped);
    assert_eq!(exec(&name, "wc -c < /tmp/big.bin").trim(), "3145728");
}
