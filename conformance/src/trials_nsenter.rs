//! `exec.nsenter_fast_path`: the namespace fast path on the fixture — output, exit code, env,
//! working dir and user as requested, and the command really in the init's namespaces and cgroups.

use std::time::Duration;

use super::{Fixture, Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::model::{ExecRequest, ExecResult};
use anyctr_host::nsenter::exec_in_namespaces;

pub(super) fn trials() -> Vec<Trial> {
    vec![Trial { name: "exec.nsenter_fast_path", requires: &["nsenter", "proc_root"], run: |c| Box::pin(fast_path(c)) }]
}

const QUICK: Duration = Duration::from_secs(60);

async fn fast_path(ctx: &TrialContext) -> TrialResult {
    let d = ctx.engine.inspect(&ctx.fixture.id).await.map_err(fail("inspect"))?;
    let pid = d.proc_root_pid().ok_or("nsenter is claimed but the fixture has no proc root pid")?;
    let run = |req: ExecRequest| {
        let d = &d;
        async move {
            let argv = req.argv.join(" ");
            exec_in_namespaces(d, req.timeout(QUICK), None).await.map_err(|e| format!("fast path `{argv}`: {e}"))
        }
    };
    let r: ExecResult = run(ExecRequest::new(["echo", "hello"])).await?;
    ensure!(r.exit_code == 0 && r.stdout == b"hello\n" && r.stderr.is_empty(), "echo gave {r:?}");
    let echo_took = r.duration;
    let r = run(ExecRequest::shell("echo err >&2; exit 3")).await?;
    ensure!(r.exit_code == 3 && r.stderr == b"err\n", "exit 3 gave {} / {:?}", r.exit_code, r.stderr_lossy());

    let (env_key, env_value) = Fixture::ENV.split_once('=').unwrap_or_default();
    let script = format!("echo \"$FOO|${env_key}\"; pwd; id -u");
    let r = run(ExecRequest::shell(script).env("FOO=bar baz").working_dir("/etc").user("65534")).await?;
    let want = format!("bar baz|{env_value}\n/etc\n65534\n");
    ensure!(r.stdout_lossy() == want, "env|workdir|user gave {:?}, want {want:?}", r.stdout_lossy());
    let r = run(ExecRequest::new(["id", "-un"]).user("nobody")).await?;
    ensure!(r.stdout_lossy().trim() == "nobody", "user nobody ran as {:?}", r.stdout_lossy());

    let kinds = ["mnt", "pid", "net", "ipc", "uts"];
    let host: Vec<String> = kinds
        .iter()
        .map(|k| std::fs::read_link(format!("/proc/{pid}/ns/{k}")).map(|p| p.display().to_string()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading the init's namespaces on the host: {e}"))?;
    let r =
        run(ExecRequest::shell(format!("for k in {}; do readlink /proc/self/ns/$k; done", kinds.join(" ")))).await?;
    let inside: Vec<String> = r.stdout_lossy().lines().map(str::to_owned).collect();
    ensure!(inside == host, "namespaces {kinds:?}: command {inside:?}, init {host:?}");

    // Cgroups in the container's own view: the command's against the init's (by its pid there).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("init status: {e}"))?;
    let ns_pid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|v| v.split_whitespace().last())
        .ok_or("no NSpid line in the init's status")?;
    let r = run(ExecRequest::shell(format!("cat /proc/self/cgroup; echo ---; cat /proc/{ns_pid}/cgroup"))).await?;
    let out = r.stdout_lossy();
    let (mine, inits) = out.split_once("---\n").ok_or_else(|| format!("cgroup listing {out:?}"))?;
    // The command runs in a transient child cgroup of the init's (so it can be killed as a whole).
    ensure!(anyctr_host::nsenter::cgroups_match_init(mine, inits), "cgroups: command {mine:?}, init {inits:?}");
    Ok(format!("{echo_took:?} for `echo`"))
}
