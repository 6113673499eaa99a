//! `host_path.*`: where container paths live on the host, and that no input escapes.

use super::{Fixture, Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::{ContainerDetail, ExecRequest};
use anyctr_host::host_path::{HostPathSource, host_path};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "host_path.mount", requires: &["inspect"], run: |c| Box::pin(mount(c)) },
        Trial { name: "host_path.rootfs", requires: &["inspect", "host_rootfs", "exec"], run: |c| Box::pin(rootfs(c)) },
        Trial {
            name: "host_path.symlink_escape",
            requires: &["inspect", "host_rootfs", "exec"],
            run: |c| Box::pin(escape(c)),
        },
    ]
}

async fn detail(ctx: &TrialContext) -> Result<ContainerDetail, String> {
    ctx.engine.inspect(&ctx.fixture.id).await.map_err(fail("inspect"))
}

async fn mount(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let rw =
        host_path(&d, &format!("{}/hello.txt", Fixture::BIND_DEST), None).map_err(fail("host_path in the bind"))?;
    ensure!(rw.path == ctx.fixture.bind_dir.join("hello.txt"), "bind answered {:?}", rw.path);
    ensure!(rw.writable, "the read-write bind answered read-only");
    ensure!(matches!(rw.source, HostPathSource::Mount { .. }), "source {:?}", rw.source);
    let ro = host_path(&d, &format!("{}/ro.txt", Fixture::RO_DEST), None).map_err(fail("host_path in the ro bind"))?;
    ensure!(ro.path == ctx.fixture.ro_dir.join("ro.txt") && !ro.writable, "ro bind answered {ro:?}");
    Ok(rw.path.display().to_string())
}

async fn rootfs(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let marker = format!("/tmp/anyctr-hp-{}", ctx.run_id);
    let r = ctx
        .engine
        .exec(&ctx.fixture.id, ExecRequest::shell(format!("echo here > {marker}")))
        .await
        .map_err(fail("exec"))?;
    ensure!(r.exit_code == 0, "writing the marker failed");
    let hp = host_path(&d, &marker, None).map_err(fail("host_path of a rootfs file"))?;
    let got = std::fs::read_to_string(&hp.path).map_err(|e| format!("reading {:?} on the host: {e}", hp.path))?;
    ensure!(got == "here\n", "host sees {got:?}");
    Ok(format!("{:?} → {}", hp.source, hp.path.display()))
}

async fn escape(ctx: &TrialContext) -> TrialResult {
    let d = detail(ctx).await?;
    let base = format!("/tmp/anyctr-esc-{}", ctx.run_id);
    let script = format!(
        "mkdir -p {base} && ln -s / {base}/root && ln -s ../../../../../etc {base}/up && ln -s {base}/loop {base}/loop"
    );
    let r = ctx.engine.exec(&ctx.fixture.id, ExecRequest::shell(script)).await.map_err(fail("exec"))?;
    ensure!(r.exit_code == 0, "making the links failed: {}", r.stderr_lossy());
    let root = host_path(&d, "/", None).map_err(fail("host_path of /"))?.path;
    for probe in [format!("{base}/root/etc/passwd"), format!("{base}/up/passwd"), "/../../../../etc/passwd".to_owned()]
    {
        let hp = host_path(&d, &probe, None).map_err(fail(&probe))?;
        ensure!(hp.path.starts_with(&root), "{probe} escaped to {:?} (root {root:?})", hp.path);
        // It names the container's /etc/passwd, not the host's.
        ensure!(hp.path == root.join("etc/passwd"), "{probe} → {:?}", hp.path);
    }
    match host_path(&d, &format!("{base}/loop/x"), None) {
        Ok(hp) => ensure!(hp.path.starts_with(&root), "a link loop escaped to {:?}", hp.path),
        Err(e) => {
            ensure!(e.kind() == ErrorKind::InvalidArgument || e.kind() == ErrorKind::NotFound, "a link loop gave {e}")
        }
    }
    Ok(format!("stayed under {}", root.display()))
}
