//! The Podman engine against the harness's real Podman service (`cargo xtask engines up`):
//! who it is, what its answers are corrected to, and the exec differences it handles. Every
//! container carries a unique name and is removed at the end; every wait is bounded.

use std::time::Duration;

use anyctr_core::model::{CreateSpec, ExecRequest, LogFormat, RootfsView, RuntimeClass};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind};
use anyctr_engine_podman::PodmanEngine;

const BOUND: Duration = Duration::from_secs(120);

fn socket(var: &str, default: &str) -> String {
    let s = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    assert!(std::path::Path::new(&s).exists(), "{s} missing: engines not up, run `cargo xtask engines up`");
    s
}

fn podman_socket() -> String {
    socket("ANYCTR_PODMAN_SOCKET", "/run/anyctr-engines/podman.sock")
}

fn image() -> String {
    std::env::var("ANYCTR_TEST_IMAGE").unwrap_or_else(|_| "busybox:local".into())
}

async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, fut).await.unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

async fn engine() -> PodmanEngine {
    let config = EngineConfig::new(EngineAddress::new("podman", podman_socket()));
    bounded("connect", anyctr_engine_podman::connect(config)).await.expect("connect to the harness's podman")
}

/// A running `sleep` container with runc, removed when the test is done with it.
async fn sleeper(engine: &PodmanEngine, test: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let mut spec = CreateSpec::new(image());
    spec.name = Some(format!("anyctr-podman-{test}-{}-{nanos:x}", std::process::id()));
    spec.argv = vec!["sleep".into(), "3600".into()];
    spec.runtime = Some("runc".into());
    let id = bounded("create", engine.create(&spec)).await.expect("create");
    bounded("start", engine.start(&id)).await.expect("start");
    id
}

/// Removes the test's container, then fails the test if its checks failed (or the removal did).
async fn remove_then_check(engine: &PodmanEngine, id: &str, checked: anyctr_core::Result<()>) {
    let removed = bounded("remove", engine.remove(id, true)).await;
    checked.unwrap();
    removed.unwrap();
}

#[tokio::test]
async fn identifies_as_podman_and_docker_refuses_it() {
    let engine = engine().await;
    let info = bounded("identify", engine.identify()).await.unwrap();
    assert_eq!((info.engine.as_str(), info.product.as_str()), ("podman", "Podman Engine"));
    assert!(info.version.starts_with('4'), "{info:?}");
    assert!(info.runtimes.iter().any(|r| r == "runc"), "{info:?}");

    // Docker's engine on Podman's socket: refused, and the refusal names Podman.
    let config = EngineConfig::new(EngineAddress::new("docker", podman_socket()));
    let e = bounded("docker connect", anyctr_engine_docker::connect(config)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("Podman") && e.message().contains("podman://"), "{e}");

    // Podman's engine on dockerd's socket: refused.
    let docker = socket("ANYCTR_DOCKER_SOCKET", "/run/anyctr-engines/docker.sock");
    let config = EngineConfig::new(EngineAddress::new("podman", docker));
    let e = bounded("podman connect to dockerd", anyctr_engine_podman::connect(config)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("not Podman"), "{e}");
}

#[tokio::test]
async fn inspect_reports_the_real_runtime_and_cri_log() {
    let engine = engine().await;
    let id = sleeper(&engine, "inspect").await;
    let checked: anyctr_core::Result<()> = async {
        let out = bounded("exec", engine.exec(&id, ExecRequest::shell("echo to-the-log > /proc/1/fd/1"))).await?;
        assert_eq!(out.exit_code, 0);
        let d = bounded("inspect", engine.inspect(&id)).await?;
        // The compatible API says `oci` and `json-file`; libpod's answer says what it is.
        assert_eq!((d.runtime.clone(), d.runtime_name.as_str()), (RuntimeClass::Runc, "runc"));
        assert_eq!(d.log_format, Some(LogFormat::Cri));
        assert!(matches!(&d.rootfs, RootfsView::Merged(p) if p.exists()), "{:?}", d.rootfs);
        let log = std::fs::read_to_string(d.log_path.as_ref().expect("log path"))?;
        // CRI lines: `<RFC 3339 time> stdout F to-the-log`.
        let line = log.lines().find(|l| l.ends_with("to-the-log")).unwrap_or_else(|| panic!("log: {log:?}"));
        assert!(line.split(' ').nth(1) == Some("stdout") && line.split(' ').nth(2) == Some("F"), "{line}");
        Ok(())
    }
    .await;
    remove_then_check(&engine, &id, checked).await;
}

#[tokio::test]
async fn exec_differences_are_handled() {
    let engine = engine().await;
    let id = sleeper(&engine, "exec").await;
    let checked: anyctr_core::Result<()> = async {
        // Podman reports no pid after an exit: a silent 127 is still the program's.
        let r = bounded("exit 127", engine.exec(&id, ExecRequest::shell("exit 127"))).await?;
        assert_eq!(r.exit_code, 127);
        let e = bounded("missing", engine.exec(&id, ExecRequest::new(["/no/such/binary"]))).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
        // Podman refuses an unknown user with HTTP 500, where dockerd reports it as the exec's output.
        let e = bounded("user", engine.exec(&id, ExecRequest::new(["true"]).user("anyctr-no-such-user"))).await;
        assert_eq!(e.unwrap_err().kind(), ErrorKind::NotFound);
        // conmon stops forwarding at the main process's exit: the child's later line is lost, and
        // the result must say so rather than look complete.
        let r = bounded("late", engine.exec(&id, ExecRequest::shell("(sleep 1; echo late) & echo early"))).await?;
        assert_eq!(r.exit_code, 0);
        assert!(
            r.output_incomplete || r.stdout_lossy() == "early\nlate\n",
            "{:?} and not marked incomplete",
            r.stdout_lossy()
        );
        // Without a background child the output is complete, and said to be.
        let r = bounded("plain", engine.exec(&id, ExecRequest::shell("echo one; echo two >&2"))).await?;
        assert_eq!((r.stdout_lossy().as_str(), r.stderr_lossy().as_str()), ("one\n", "two\n"));
        assert!(!r.output_incomplete);
        Ok(())
    }
    .await;
    remove_then_check(&engine, &id, checked).await;
}

#[tokio::test]
async fn the_archive_api_copies_both_ways() {
    use anyctr_host::copy::{CopyOptions, CopyStrategy, copy_from_container, copy_to_container};
    let engine = engine().await;
    let id = sleeper(&engine, "archive").await;
    let checked: anyctr_core::Result<()> = async {
        let local = tempfile::tempdir()?;
        std::fs::create_dir_all(local.path().join("tree/sub"))?;
        std::fs::write(local.path().join("tree/sub/f.txt"), b"in a tree\n")?;
        std::fs::write(local.path().join("one.txt"), b"one file\n")?;
        // Only Podman's archive API: the host path would do it all on the host.
        let options = CopyOptions::default().strategies([CopyStrategy::EngineArchive]);
        let d = bounded("inspect", engine.inspect(&id)).await?;
        let to = |src: &str, dest: &'static str| {
            let (src, options, d, engine) = (local.path().join(src), options.clone(), d.clone(), &engine);
            async move { bounded("copy_to", copy_to_container(engine, &d, &src, dest, &options)).await }
        };
        assert_eq!(to("one.txt", "/tmp/new-dir/one.txt").await?.strategy, CopyStrategy::EngineArchive);
        to("tree", "/tmp/tree-copy").await?;
        let r =
            bounded("cat", engine.exec(&id, ExecRequest::shell("cat /tmp/new-dir/one.txt /tmp/tree-copy/sub/f.txt")))
                .await?;
        assert_eq!(r.stdout_lossy(), "one file\nin a tree\n", "{}", r.stderr_lossy());

        let out = tempfile::tempdir()?;
        let back = out.path().join("back");
        let report = bounded("copy_from", copy_from_container(&engine, &d, "/tmp/tree-copy", &back, &options)).await?;
        assert_eq!(report.strategy, CopyStrategy::EngineArchive);
        assert_eq!(std::fs::read(back.join("sub/f.txt"))?, b"in a tree\n");
        Ok(())
    }
    .await;
    remove_then_check(&engine, &id, checked).await;
}
