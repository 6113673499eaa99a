//! `copy.*`: files and directories both ways, modes, symlinks, a missing source — through the
//! strategy the library picks for the fixture (host path, archive API or tar over exec).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::{ContainerDetail, ExecRequest};
use anyctr_host::copy::{CopyOptions, CopyReport, copy_from_container, copy_to_container};

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "copy.to_file", requires: &["copy_to", "exec"], run: |c| Box::pin(to_file(c)) },
        Trial { name: "copy.to_directory", requires: &["copy_to", "exec"], run: |c| Box::pin(to_directory(c)) },
        Trial { name: "copy.from_file", requires: &["copy_from", "exec"], run: |c| Box::pin(from_file(c)) },
        Trial {
            name: "copy.from_directory_with_symlink",
            requires: &["copy_from", "exec"],
            run: |c| Box::pin(from_directory(c)),
        },
        Trial { name: "copy.missing_source", requires: &["copy_from"], run: |c| Box::pin(missing_source(c)) },
    ]
}

async fn detail(ctx: &TrialContext) -> Result<ContainerDetail, String> {
    ctx.engine.inspect(&ctx.fixture.id).await.map_err(fail("inspect"))
}

async fn sh(ctx: &TrialContext, script: &str) -> Result<String, String> {
    let r = ctx.engine.exec(&ctx.fixture.id, ExecRequest::shell(script)).await.map_err(fail(script))?;
    ensure!(r.exit_code == 0, "`{script}` exited {}: {}", r.exit_code, r.stderr_lossy());
    Ok(r.stdout_lossy())
}

fn strategy(r: &CopyReport) -> String {
    format!("{:?} (skipped {})", r.strategy, r.skipped.len())
}

async fn to_file(ctx: &TrialContext) -> TrialResult {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let src = dir.path().join("payload.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &data).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).map_err(|e| e.to_string())?;
    let dest = format!("/tmp/anyctr-copy-{}/deep/payload.bin", ctx.run_id);
    let d = detail(ctx).await?;
    let report =
        copy_to_container(&*ctx.engine, &d, &src, &dest, &CopyOptions::default()).await.map_err(fail("copy_to"))?;
    let out = sh(ctx, &format!("wc -c < {dest}; stat -c %a {dest}")).await?;
    let mut lines = out.lines().map(str::trim);
    ensure!(lines.next() == Some("300000"), "size in the container: {out:?}");
    ensure!(lines.next() == Some("750"), "mode in the container: {out:?}");
    Ok(strategy(&report))
}

async fn to_directory(ctx: &TrialContext) -> TrialResult {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).map_err(|e| e.to_string())?;
    std::fs::write(tree.join("a.txt"), b"alpha\n").map_err(|e| e.to_string())?;
    std::fs::write(tree.join("sub/run.sh"), b"#!/bin/sh\necho ran\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(tree.join("sub/run.sh"), std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    let dest = format!("/tmp/anyctr-dir-{}", ctx.run_id);
    let d = detail(ctx).await?;
    let report =
        copy_to_container(&*ctx.engine, &d, &tree, &dest, &CopyOptions::default()).await.map_err(fail("copy_to"))?;
    let out = sh(ctx, &format!("cat {dest}/a.txt; {dest}/sub/run.sh")).await?;
    ensure!(out == "alpha\nran\n", "copied tree gave {out:?}");
    Ok(strategy(&report))
}

async fn from_file(ctx: &TrialContext) -> TrialResult {
    let src = format!("/tmp/anyctr-from-{}.txt", ctx.run_id);
    sh(ctx, &format!("head -c 200000 /dev/zero | tr '\\0' x > {src}; chmod 640 {src}")).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dest = dir.path().join("got.txt");
    let d = detail(ctx).await?;
    let report =
        copy_from_container(&*ctx.engine, &d, &src, &dest, &CopyOptions::default()).await.map_err(fail("copy_from"))?;
    let got = std::fs::read(&dest).map_err(|e| format!("reading the copy: {e}"))?;
    ensure!(got.len() == 200_000 && got.iter().all(|b| *b == b'x'), "copied {} bytes", got.len());
    let mode = std::fs::metadata(&dest).map_err(|e| e.to_string())?.permissions().mode() & 0o777;
    ensure!(mode == 0o640, "mode {mode:o}, want 640");
    Ok(strategy(&report))
}

async fn from_directory(ctx: &TrialContext) -> TrialResult {
    let src = format!("/tmp/anyctr-fromdir-{}", ctx.run_id);
    sh(ctx, &format!("mkdir -p {src}/in && echo one > {src}/in/one && ln -s in/one {src}/link")).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dest = dir.path().join("copy");
    let d = detail(ctx).await?;
    let report =
        copy_from_container(&*ctx.engine, &d, &src, &dest, &CopyOptions::default()).await.map_err(fail("copy_from"))?;
    ensure!(std::fs::read_to_string(dest.join("in/one")).ok().as_deref() == Some("one\n"), "in/one missing");
    let link = std::fs::read_link(dest.join("link")).map_err(|e| format!("link not kept as a symlink: {e}"))?;
    ensure!(link == Path::new("in/one"), "link points to {link:?}");
    Ok(strategy(&report))
}

async fn missing_source(ctx: &TrialContext) -> TrialResult {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dest = dir.path().join("nothing");
    let d = detail(ctx).await?;
    match copy_from_container(&*ctx.engine, &d, "/no/such/path", &dest, &CopyOptions::default()).await {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            ensure!(!dest.exists(), "a failed copy left {dest:?} behind");
            Ok(e.message().chars().take(80).collect())
        }
        other => Err(format!("want NotFound, got {other:?}")),
    }
}
