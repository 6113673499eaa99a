//! `top.processes`, `top.pid1_and_zombies`: a container's processes through
//! [`anyctr_host::top`] — the host's `/proc` for a runc-class container, `/proc` inside by exec
//! for a sandboxed one — checked against what the trial itself started.

use std::time::Duration;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::model::{ContainerTop, ExecRequest, ProcessState, ReapingEvidence, TopSource};
use anyctr_host::top::container_top;

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "top.processes", requires: &["inspect", "exec", "top"], run: |c| Box::pin(processes(c)) },
        Trial {
            name: "top.pid1_and_zombies",
            requires: &["inspect", "lifecycle", "top"],
            run: |c| Box::pin(pid1_and_zombies(c)),
        },
    ]
}

/// The source a container of this setup must be read from.
pub(super) fn expected_source(ctx: &TrialContext) -> TopSource {
    if ctx.capabilities.proc_root.is_supported() { TopSource::HostProc } else { TopSource::ExecProc }
}

/// Polls `top` of `id` (up to 20 s) until `done` holds; the last answer either way.
pub(super) async fn top_until(
    ctx: &TrialContext,
    id: &str,
    done: impl Fn(&ContainerTop) -> bool,
) -> Result<ContainerTop, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let top = container_top(&*ctx.engine, id, None).await.map_err(fail("top"))?;
        if done(&top) || tokio::time::Instant::now() >= deadline {
            return Ok(top);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn processes(ctx: &TrialContext) -> TrialResult {
    let marker = format!("4{}", u32::from_str_radix(&ctx.run_id[ctx.run_id.len() - 6..], 16).unwrap_or(7) % 90000);
    let script = format!("sleep {marker} </dev/null >/dev/null 2>&1 &");
    let r = ctx.engine.exec(&ctx.fixture.id, ExecRequest::shell(script)).await.map_err(fail("exec"))?;
    ensure!(r.exit_code == 0, "exec of the background sleep gave {}", r.exit_code);
    let argv = vec!["sleep".to_owned(), marker.clone()];
    let top = top_until(ctx, &ctx.fixture.id, |t| t.processes.iter().any(|p| p.cmdline == argv)).await?;
    let result = (|| {
        ensure!(top.source == expected_source(ctx), "read from {:?}, want {:?}", top.source, expected_source(ctx));
        let p = top.processes.iter().find(|p| p.cmdline == argv).ok_or_else(|| {
            let seen: Vec<_> = top.processes.iter().map(|p| (p.pid, &p.cmdline)).collect();
            format!("the exec'd `sleep {marker}` is not listed: {seen:?}")
        })?;
        ensure!(p.pid > 1 && p.name == "sleep", "the exec'd sleep: {p:?}");
        ensure!(matches!(p.state, ProcessState::Sleeping | ProcessState::Running), "state {:?}", p.state);
        ensure!(p.uid == Some(0), "uid {:?}, want 0", p.uid);
        let init = top.process(1).ok_or("no pid 1 listed")?;
        ensure!(top.pid1_name.as_deref() == Some("sleep"), "pid 1 is {:?}, want the fixture's sleep", top.pid1_name);
        ensure!(init.cmdline == ctx.fixture.spec.argv, "pid 1's cmdline {:?}", init.cmdline);
        ensure!(init.ppid.is_none(), "pid 1's parent is outside the container, got {:?}", init.ppid);
        // The script that read /proc inside is not part of the answer.
        ensure!(
            !top.processes.iter().any(|q| q.cmdline.iter().any(|a| a.contains("cd /proc"))),
            "the reader's own processes are listed"
        );
        match top.source {
            TopSource::HostProc => {
                let host = p.host_pid.ok_or("no host pid read from the host")?;
                let cmdline = std::fs::read(format!("/proc/{host}/cmdline")).unwrap_or_default();
                ensure!(cmdline == format!("sleep\0{marker}\0").as_bytes(), "host pid {host} runs {cmdline:?}");
                ensure!(p.rss_bytes.is_some_and(|r| r > 0), "rss {:?}", p.rss_bytes);
            }
            _ => ensure!(p.host_pid.is_none(), "a sandbox's process has no host pid, got {:?}", p.host_pid),
        }
        Ok(format!(
            "{} processes from {:?}; exec'd sleep is pid {} (host {:?})",
            top.processes.len(),
            top.source,
            p.pid,
            p.host_pid
        ))
    })();
    if let Some(p) = top.processes.iter().find(|p| p.cmdline == argv) {
        let _ = ctx.engine.exec(&ctx.fixture.id, ExecRequest::new(vec!["kill".to_owned(), p.pid.to_string()])).await;
    }
    result
}

async fn pid1_and_zombies(ctx: &TrialContext) -> TrialResult {
    // `sleep 1` is left a zombie by the `sleep 1000` its shell became, which never waits.
    let leaves = super::trials_lifecycle::extra_spec(ctx, "zombie", &["sh", "-c", "sleep 1 & exec sleep 1000"]);
    // A shell that waits in a loop catches SIGCHLD and reaps its child.
    let reaps =
        super::trials_lifecycle::extra_spec(ctx, "reaper", &["sh", "-c", "sleep 1 & while :; do wait; sleep 1; done"]);
    let (leaves, reaps) = (ctx.create_extra(leaves).await?, ctx.create_extra(reaps).await?);
    ctx.engine.start(&leaves).await.map_err(fail("start the zombie maker"))?;
    ctx.engine.start(&reaps).await.map_err(fail("start the reaper"))?;
    let top = top_until(ctx, &leaves, |t| t.zombies > 0).await?;
    ensure!(top.source == expected_source(ctx), "read from {:?}", top.source);
    ensure!(top.pid1_name.as_deref() == Some("sleep"), "pid 1 is {:?}", top.pid1_name);
    ensure!(top.zombies >= 1, "no zombie after 20 s: {:?}", top.processes);
    let zombie = top.processes.iter().find(|p| p.state == ProcessState::Zombie).ok_or("no zombie listed")?;
    ensure!(zombie.ppid == Some(1) && zombie.name == "sleep", "the zombie: {zombie:?}");
    ensure!(
        top.pid1_reaps_zombies() == Some(false) && matches!(top.pid1_reaping, ReapingEvidence::UnreapedChildren { .. }),
        "pid 1 leaves zombies, but the verdict is {:?}",
        top.pid1_reaping
    );
    // The reaper: its `sleep 1` has exited and been collected after 2 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reaper = container_top(&*ctx.engine, &reaps, None).await.map_err(fail("top of the reaper"))?;
    ensure!(reaper.pid1_name.as_deref() == Some("sh"), "the reaper's pid 1 is {:?}", reaper.pid1_name);
    // The shell catches SIGCHLD: the host's /proc shows it (SigCgt). gVisor's /proc has no
    // signal masks (its status lacks SigCgt, its stat's signal fields are 0): no evidence there
    // either way, which must not be read as "does not reap".
    let want = if reaper.source == TopSource::HostProc { Some(true) } else { None };
    ensure!(
        reaper.pid1_reaps_zombies() == want || reaper.pid1_reaps_zombies() == Some(true),
        "a waiting shell as pid 1 read from {:?}: verdict {:?} (want {want:?}), processes {:?}",
        reaper.source,
        reaper.pid1_reaping,
        reaper.processes
    );
    ensure!(
        !reaper.processes.iter().any(|p| p.ppid == Some(1) && p.state == ProcessState::Zombie),
        "the reaper left a zombie"
    );
    Ok(format!(
        "non-reaping pid 1: {} zombie(s), {:?}; reaping shell: {:?}",
        top.zombies, top.pid1_reaping, reaper.pid1_reaping
    ))
}
