//! `lookup.by_pid`, `lookup.by_cgroup_id`, `lookup.by_netns`: reverse lookups through the live
//! index. A process exec'd in the fixture is a host process in the container's cgroup only where
//! the runtime is runc-class, which is what `proc_root` declares (a sandboxed runtime's exec'd
//! processes run in the guest, with no host pid): the trials require it, so sandboxed setups
//! run `inspect.proc_root_declared_unsupported` instead. A sandbox's own host processes (sentry,
//! gofer, VMM) mapping to the pod is tested on the real engines in the facade's `tests/lookup.rs`.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::engine::ListOptions;
use anyctr_core::host_ids::CgroupIdSource;
use anyctr_core::model::ExecRequest;
use anyctr_host::cgroup_path::CgroupLine;
use anyctr_host::procscan::ProcScan;
use anyctr_index::{ContainerIndex, FoundBy, IndexOptions};

pub(super) fn trials() -> Vec<Trial> {
    const REQUIRES: &[&str] = &["inspect", "exec", "proc_root"];
    vec![
        Trial { name: "lookup.by_pid", requires: REQUIRES, run: |c| Box::pin(by_pid(c)) },
        Trial { name: "lookup.by_cgroup_id", requires: REQUIRES, run: |c| Box::pin(by_cgroup_id(c)) },
        Trial { name: "lookup.by_netns", requires: REQUIRES, run: |c| Box::pin(by_netns(c)) },
    ]
}

/// An index of the whole engine (a setup may hide labels) that reads the host for lookups.
async fn index(ctx: &TrialContext) -> Result<ContainerIndex, String> {
    let options = IndexOptions::default().list(ListOptions::all()).host(Arc::new(ProcScan::new(None)));
    let index = ContainerIndex::start(ctx.engine.clone(), options).await.map_err(fail("index start"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while index.snapshot().entry(&ctx.fixture.id).is_none_or(|e| e.host.netns.is_none()) {
        ensure!(tokio::time::Instant::now() < deadline, "the fixture is not indexed with its host ids");
        let _ = index.resync().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(index)
}

/// Starts a `sleep` exec'd in the fixture (left running in the background) and finds its host
/// pid by its unique argv.
async fn exec_sleep(ctx: &TrialContext) -> Result<u32, String> {
    let marker = format!("3{}", u32::from_str_radix(&ctx.run_id[ctx.run_id.len() - 6..], 16).unwrap_or(7) % 90000);
    let script = format!("sleep {marker} </dev/null >/dev/null 2>&1 &");
    let r = ctx.engine.exec(&ctx.fixture.id, ExecRequest::shell(script)).await.map_err(fail("exec"))?;
    ensure!(r.exit_code == 0, "exec of the background sleep gave {}", r.exit_code);
    let scan = ProcScan::new(None);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = scan.pids_with_argv(&["sleep", &marker]).map_err(fail("scanning /proc"))?;
        if let [pid] = found[..] {
            return Ok(pid);
        }
        ensure!(tokio::time::Instant::now() < deadline, "host pids of `sleep {marker}`: {found:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ends the exec'd `sleep` (host pid `pid`) by its pid inside the container (`NSpid`'s last field).
async fn stop(ctx: &TrialContext, pid: u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let inner = status.lines().find_map(|l| l.strip_prefix("NSpid:")).and_then(|v| v.split_whitespace().last());
    if let Some(inner) = inner.and_then(|p| p.parse::<u32>().ok()) {
        let _ = ctx.engine.exec(&ctx.fixture.id, ExecRequest::new(vec!["kill".to_owned(), inner.to_string()])).await;
    }
}

async fn by_pid(ctx: &TrialContext) -> TrialResult {
    let index = index(ctx).await?;
    let result = async {
        let pid = exec_sleep(ctx).await?;
        let o = index.container_of_pid(pid).map_err(fail("container_of_pid of the exec'd process"))?;
        ensure!(o.container.id == ctx.fixture.id, "exec'd pid {pid} mapped to {}", o.container.id);
        ensure!(o.found_by == FoundBy::CgroupPath, "found by {:?}", o.found_by);
        if let Some((pod, _)) = &ctx.fixture.pod {
            let uid = o.pod.as_ref().and_then(|p| p.uid.clone());
            ensure!(uid.as_deref() == Some(pod.uid.as_str()), "pod uid {uid:?}, want {}", pod.uid);
        }
        let init = o.container.proc_root_pid().ok_or("the fixture has no init pid")?;
        let warm = index.container_of_pid(init).map_err(fail("container_of_pid of the init"))?;
        ensure!(warm.container.id == ctx.fixture.id && warm.found_by == FoundBy::InitPid, "init: {warm:?}");
        for unknown in [u32::MAX - 1, std::process::id()] {
            match index.container_of_pid(unknown) {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => return Err(format!("pid {unknown} gave {other:?}, want NotFound")),
            }
        }
        stop(ctx, pid).await;
        Ok(format!("exec'd pid {pid} and init {init} → the fixture"))
    }
    .await;
    index.shutdown().await;
    result
}

async fn by_cgroup_id(ctx: &TrialContext) -> TrialResult {
    let index = index(ctx).await?;
    let result = async {
        let entry = index.snapshot().entry(&ctx.fixture.id).cloned().ok_or("fixture not indexed")?;
        let (source, id) = entry.host.cgroup_id.ok_or("no cgroup id was read for the fixture")?;
        // Independently: the inode of the directory the init's cgroup line names.
        let init = entry.detail.proc_root_pid().ok_or("no init pid")?;
        let text = std::fs::read_to_string(format!("/proc/{init}/cgroup")).map_err(|e| format!("init cgroup: {e}"))?;
        let base = match source {
            CgroupIdSource::V2 => v2_base(),
            CgroupIdSource::V1(c) => format!("/sys/fs/cgroup/{}", c.trim_start_matches("name=")),
        };
        let path = text
            .lines()
            .filter_map(CgroupLine::parse)
            .find(|l| match source {
                CgroupIdSource::V2 => l.is_v2(),
                CgroupIdSource::V1(c) => l.has_controller(c),
            })
            .map(|l| l.path.to_owned())
            .ok_or_else(|| format!("no {source:?} line in {text:?}"))?;
        let ino = std::fs::metadata(format!("{base}{path}")).map_err(|e| format!("{base}{path}: {e}"))?.ino();
        ensure!(ino == id, "indexed cgroup id {id}, the directory {base}{path} has inode {ino}");
        let o = index.container_of_cgroup_id(id).map_err(fail("container_of_cgroup_id"))?;
        ensure!(o.container.id == ctx.fixture.id, "cgroup id {id} mapped to {}", o.container.id);
        match index.container_of_cgroup_id(std::fs::metadata(&base).map_err(|e| e.to_string())?.ino()) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            other => return Err(format!("the root cgroup's id gave {other:?}, want NotFound")),
        }
        Ok(format!("{source:?} cgroup id {id} ({base}{path})"))
    }
    .await;
    index.shutdown().await;
    result
}

/// Where the v2 hierarchy is mounted: `/sys/fs/cgroup` on a pure v2 host, `…/unified` on a hybrid one.
fn v2_base() -> String {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "/sys/fs/cgroup".into()
    } else {
        "/sys/fs/cgroup/unified".into()
    }
}

async fn by_netns(ctx: &TrialContext) -> TrialResult {
    let index = index(ctx).await?;
    let result = async {
        let pid = exec_sleep(ctx).await?;
        let netns = std::fs::metadata(format!("/proc/{pid}/ns/net")).map_err(|e| format!("netns: {e}"))?.ino();
        let found = index.containers_in_netns(netns).map_err(fail("containers_in_netns"))?;
        let ids: Vec<&str> = found.iter().map(|d| d.id.as_str()).collect();
        ensure!(ids.contains(&ctx.fixture.id.as_str()), "netns {netns} holds {ids:?}, not the fixture");
        if let Some((_, sandbox)) = &ctx.fixture.pod {
            // A pod's containers share the sandbox's network namespace.
            ensure!(ids.contains(&sandbox.as_str()), "netns {netns} holds {ids:?}, not the pod's sandbox");
        }
        stop(ctx, pid).await;
        Ok(format!("netns {netns}: {} container(s)", ids.len()))
    }
    .await;
    index.shutdown().await;
    result
}
