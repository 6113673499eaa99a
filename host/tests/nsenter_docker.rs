//! The namespace fast path against real docker containers: a runc container (the command must
//! really run in its init's namespaces and cgroups, as the requested user, with its env and
//! working dir, and leave nothing behind when killed) and the rund stand-in (refused: not
//! host-visible). ContainerDetails are built by hand from `docker inspect` (core depends on no
//! engine crate). Needs the harness's dockerd and root: fails, never skips, without them.

mod support;

use std::time::Duration;

use anyctr_core::model::{ContainerDetail, ExecRequest, ExecResult, RuntimeClass};
use anyctr_core::{ErrorKind, Result};
use anyctr_host::nsenter::{cgroups_match_init, exec_in_namespaces, exec_stream_in_namespaces};
use support::docker::{detail_from_inspect, exec, require_engine, run, unique};

const BOUND: Duration = Duration::from_secs(60);

/// `detail_from_inspect` plus what the fast path uses from the engine: the env and hostname.
fn detail(name: &str) -> ContainerDetail {
    let mut d = detail_from_inspect(name);
    let config = &d.raw[0]["Config"];
    d.env = config["Env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_owned()).collect();
    d.hostname = config["Hostname"].as_str().map(str::to_owned);
    d
}

async fn fast(d: &ContainerDetail, req: ExecRequest) -> Result<ExecResult> {
    tokio::time::timeout(BOUND, exec_in_namespaces(d, req, None)).await.expect("the fast path hung")
}

async fn fast_ok(d: &ContainerDetail, req: ExecRequest) -> ExecResult {
    let argv = req.argv.join(" ");
    fast(d, req).await.unwrap_or_else(|e| panic!("`{argv}`: {e}"))
}

fn host_lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}")).lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn output_exit_codes_env_working_dir_and_users() {
    require_engine();
    let name = unique("ns-basic");
    let _guard = run(&name, &["-w", "/tmp", "-e", "FOO=container", "-e", "KEEP=kept"]);
    let d = detail(&name);
    assert_eq!(d.runtime, RuntimeClass::Runc);

    let r = fast_ok(&d, ExecRequest::new(["echo", "hello"])).await;
    assert_eq!((r.exit_code, r.stdout_lossy().as_str(), r.stderr.len()), (0, "hello\n", 0));
    let r = fast_ok(&d, ExecRequest::shell("echo out; echo err >&2; exit 3")).await;
    assert_eq!((r.exit_code, r.stdout_lossy().as_str(), r.stderr_lossy().as_str()), (3, "out\n", "err\n"));
    let r = fast_ok(&d, ExecRequest::shell("kill -9 $$")).await;
    assert_eq!(r.exit_code, 137, "a command killed by a signal reports 128 + signal");

    let r = fast_ok(
        &d,
        ExecRequest::shell("echo \"$FOO|$KEEP|$NEW|$HOME|$HOSTNAME|$PATH\"").env("FOO=request").env("NEW=x y"),
    )
    .await;
    let path = d.env_var("PATH").unwrap();
    let hostname = d.hostname.clone().unwrap();
    assert_eq!(r.stdout_lossy(), format!("request|kept|x y|/root|{hostname}|{path}\n"));

    let r = fast_ok(&d, ExecRequest::new(["pwd"])).await;
    assert_eq!(r.stdout_lossy(), "/tmp\n", "the default working dir is the init's (docker -w)");
    let r = fast_ok(&d, ExecRequest::new(["pwd"]).working_dir("/etc")).await;
    assert_eq!(r.stdout_lossy(), "/etc\n");
    let e = fast(&d, ExecRequest::new(["pwd"]).working_dir("/no/such/dir")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let id = |user: Option<&str>| {
        let mut req = ExecRequest::shell("echo $(id -u):$(id -g):$(id -un 2>/dev/null):$HOME");
        if let Some(u) = user {
            req = req.user(u);
        }
        let d = &d;
        async move { fast_ok(d, req).await.stdout_lossy().trim().to_owned() }
    };
    assert_eq!(id(None).await, "0:0:root:/root");
    assert_eq!(id(Some("65534")).await, "65534:65534:nobody:/home");
    assert_eq!(id(Some("nobody")).await, "65534:65534:nobody:/home");
    assert_eq!(id(Some("1234:5678")).await, "1234:5678:1234:/", "busybox prints an unnamed uid as a number");
    let e = fast(&d, ExecRequest::new(["id"]).user("ghost")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    let e = fast(&d, ExecRequest::new(["/no/such/binary"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    let e = fast(&d, ExecRequest::new(["no-such-command"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    let e = fast(&d, ExecRequest::new(["/etc"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "a directory is not executable: {e}");
}

#[tokio::test]
async fn default_user_is_the_inits() {
    require_engine();
    let name = unique("ns-user");
    let _guard = run(&name, &["--user", "65534:65534"]);
    let d = detail(&name);
    let r = fast_ok(&d, ExecRequest::shell("echo $(id -u):$(id -g); grep CapEff /proc/self/status")).await;
    assert_eq!(r.stdout_lossy(), "65534:65534\nCapEff:\t0000000000000000\n");
}

#[tokio::test]
async fn runs_in_the_inits_namespaces_cgroups_and_capability_bounds() {
    require_engine();
    let name = unique("ns-enter");
    let _guard = run(&name, &["--cap-drop", "NET_RAW", "--cap-drop", "CHOWN"]);
    let d = detail(&name);
    let pid = d.state.pid.unwrap();
    let kinds = ["mnt", "pid", "net", "ipc", "uts", "cgroup", "user"];
    let host: Vec<String> = kinds
        .iter()
        .map(|k| std::fs::read_link(format!("/proc/{pid}/ns/{k}")).unwrap().display().to_string())
        .collect();
    let own_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap().display().to_string();
    assert_ne!(host[0], own_mnt, "the container has a mount namespace of its own");
    let script = format!("for k in {}; do readlink /proc/self/ns/$k; done", kinds.join(" "));
    let r = fast_ok(&d, ExecRequest::shell(script)).await;
    let inside: Vec<String> = r.stdout_lossy().lines().map(str::to_owned).collect();
    assert_eq!(inside, host, "namespaces of the command vs the init ({kinds:?})");

    // Cgroups, compared as the host sees both processes: the command prints its host-side view?
    // It cannot (its /proc is the container's), so compare in the container's view against the
    // init's pid there, and in the host's view against the init.
    let status = host_lines(&format!("/proc/{pid}/status"));
    let ns_pid = status.iter().find_map(|l| l.strip_prefix("NSpid:")).unwrap().split_whitespace().last().unwrap();
    let r =
        fast_ok(&d, ExecRequest::shell(format!("cat /proc/self/cgroup; echo ---; cat /proc/{ns_pid}/cgroup"))).await;
    let out = r.stdout_lossy();
    let (mine, inits) = out.split_once("---\n").unwrap();
    // The init's cgroups, except the freezer: there the command runs in a transient child.
    assert!(cgroups_match_init(mine, inits), "the command's cgroups {mine:?} vs the init's {inits:?}");
    let host = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cgroups_match_init(mine, &host), "the command's cgroups {mine:?} vs the init's on the host {host:?}");
    let freezer = mine.lines().find(|l| l.contains(":freezer:")).unwrap();
    assert!(freezer.contains("/anyctr-exec-"), "the transient cgroup is the freezer's: {freezer}");
    assert!(mine.lines().all(|l| l.contains(&d.id)), "in the container's own cgroups: {mine:?}");

    let bnd = status.iter().find(|l| l.starts_with("CapBnd:")).unwrap().clone();
    let r = fast_ok(&d, ExecRequest::shell("grep -E 'CapBnd|CapEff' /proc/self/status")).await;
    let caps: Vec<String> = r.stdout_lossy().lines().map(str::to_owned).collect();
    assert_eq!(caps[1], bnd, "the bounding set is the init's");
    assert_eq!(caps[0].split_whitespace().last(), bnd.split_whitespace().last(), "root gets the init's caps");
    let r = fast_ok(&d, ExecRequest::new(["hostname"])).await;
    assert_eq!(r.stdout_lossy().trim(), d.hostname.as_deref().unwrap());
    let r = fast_ok(&d, ExecRequest::shell("echo $PPID")).await;
    assert_eq!(r.stdout_lossy(), "0\n", "the command's parent (the supervisor) is outside its pid namespace");
}

#[tokio::test]
async fn stdin_is_delivered_with_eof_and_output_is_bounded() {
    require_engine();
    let name = unique("ns-io");
    let _guard = run(&name, &[]);
    let d = detail(&name);
    let payload: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let r = fast_ok(&d, ExecRequest::new(["cat"]).stdin(payload.clone())).await;
    assert_eq!(r.stdout.len(), payload.len());
    assert!(r.stdout == payload);
    let r = fast_ok(&d, ExecRequest::new(["wc", "-c"]).stdin("")).await;
    assert_eq!(r.stdout_lossy().trim(), "0");
    let r = fast_ok(&d, ExecRequest::new(["cat"])).await;
    assert_eq!((r.exit_code, r.stdout.len()), (0, 0), "without stdin, stdin is at EOF at once");
    let r = fast_ok(&d, ExecRequest::shell("head -c 3000000 /dev/zero; head -c 5000 /dev/zero >&2").output_limit(1000))
        .await;
    assert_eq!((r.stdout.len(), r.stdout_truncated, r.stdout_bytes), (1000, true, 3_000_000));
    assert_eq!((r.stderr.len(), r.stderr_truncated, r.stderr_bytes), (1000, true, 5000));
    let r = fast_ok(&d, ExecRequest::shell("sleep 39 & echo started")).await;
    assert_eq!(r.stdout_lossy(), "started\n", "a background child holding stdout does not hold the exec");
    assert!(r.duration < Duration::from_secs(30), "{:?}", r.duration);

    // Concurrent commands: one's pipes must not be held open by another's supervisor.
    let runs = (0..8u8).map(|i| {
        let d = &d;
        async move {
            let data = vec![b'a' + i; 100_000 + usize::from(i)];
            let r = fast_ok(d, ExecRequest::new(["cat"]).stdin(data.clone()).timeout(BOUND)).await;
            assert!(r.stdout == data, "run {i} got {} bytes", r.stdout.len());
        }
    });
    futures_util::future::join_all(runs).await;
}

/// Processes in the container other than its init (`sleep 600`, under docker-init with
/// `--init`) and the `ps` asking, zombies included.
fn strays(name: &str) -> Vec<String> {
    exec(name, "ps -o pid,stat,args")
        .lines()
        .skip(1)
        .filter(|l| !l.contains("sleep 600") && !l.contains("ps -o"))
        .map(str::to_owned)
        .collect()
}

/// The transient cgroups left under the container's freezer cgroup.
fn leftover_cgroups(d: &ContainerDetail) -> Vec<String> {
    let dir = format!("/sys/fs/cgroup/freezer/docker/{}", d.id);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("anyctr-exec-"))
        .collect()
}

/// Polls (bounded) until the container has no stray process and no transient cgroup.
async fn assert_nothing_left(name: &str, d: &ContainerDetail, after: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (procs, cgroups) = (strays(name), leftover_cgroups(d));
        if procs.is_empty() && cgroups.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "after {after}: processes {procs:?}, cgroups {cgroups:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tree that tries to outlive its command: children, grandchildren, an orphan, and a child
/// that leaves the process group and session with `setsid`.
const TREE: &str = "sleep 301 & (sleep 302 &); sh -c 'sleep 303 & sleep 304' & setsid sleep 305 & \
                    setsid sh -c 'sleep 306 & sleep 307' & sleep 308; echo done";

/// How many `sleep 30x` of [`TREE`] run.
const TREE_SLEEPS: usize = 8;

async fn wait_for_tree(name: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while strays(name).iter().filter(|l| l.contains("sleep 30")).count() < TREE_SLEEPS {
        assert!(std::time::Instant::now() < deadline, "the tree did not start: {:?}", strays(name));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn timeouts_and_dropped_sessions_kill_the_whole_tree() {
    require_engine();
    let name = unique("ns-kill");
    // docker-init reaps orphans, so a process killed after its parent leaves no zombie either.
    let _guard = run(&name, &["--init"]);
    let d = detail(&name);
    let started = std::time::Instant::now();
    let e = fast(&d, ExecRequest::new(["sleep", "37"]).timeout(Duration::from_millis(500))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_nothing_left(&name, &d, "a timeout").await;

    // The tree runs while the timeout is pending (checked from a second task), then all of it goes.
    let timed_out = fast(&d, ExecRequest::shell(TREE).timeout(Duration::from_secs(4)));
    let (r, ()) = tokio::join!(timed_out, wait_for_tree(&name));
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Timeout);
    assert_nothing_left(&name, &d, "a timed-out tree").await;

    let session = exec_stream_in_namespaces(&d, ExecRequest::shell(TREE), true, None).await.unwrap();
    wait_for_tree(&name).await;
    assert_eq!(leftover_cgroups(&d).len(), 1, "the running command has its cgroup");
    drop(session);
    assert_nothing_left(&name, &d, "a dropped session").await;

    // A killed streaming session reports 137 through wait-less kill and leaves nothing either.
    let session = exec_stream_in_namespaces(&d, ExecRequest::shell(TREE), false, None).await.unwrap();
    wait_for_tree(&name).await;
    tokio::time::timeout(BOUND, session.kill()).await.unwrap().unwrap();
    assert_nothing_left(&name, &d, "a killed session").await;

    // What a command leaves running when it ends normally goes with it (its cgroup is removed).
    let r = fast_ok(&d, ExecRequest::shell("setsid sleep 309 & echo started")).await;
    assert_eq!(r.stdout_lossy(), "started\n");
    assert_nothing_left(&name, &d, "a command that left a background child").await;
}

/// The agent dies (SIGKILL): the supervisor sees its lifeline close and kills the whole tree.
/// The agent is this test binary run again as [`agent_that_gets_killed`].
#[tokio::test]
async fn agent_death_kills_the_whole_tree() {
    require_engine();
    let name = unique("ns-agent");
    let _guard = run(&name, &["--init"]);
    let d = detail(&name);
    let mut agent = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "agent_that_gets_killed", "--ignored", "--nocapture"])
        .env(AGENT_CONTAINER, &name)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = tokio::time::timeout(BOUND, wait_for_tree(&name)).await;
    agent.kill().unwrap();
    agent.wait().unwrap();
    waited.expect("the helper agent never started the tree");
    assert_nothing_left(&name, &d, "the agent was SIGKILLed").await;
}

const AGENT_CONTAINER: &str = "ANYCTR_TEST_NSENTER_AGENT_CONTAINER";

/// Run only by [`agent_death_kills_the_whole_tree`]: starts the tree in the named container and
/// waits to be killed.
#[tokio::test]
#[ignore = "a helper process of agent_death_kills_the_whole_tree"]
async fn agent_that_gets_killed() {
    let name = std::env::var(AGENT_CONTAINER).expect("run by agent_death_kills_the_whole_tree");
    let d = detail(&name);
    let session = exec_stream_in_namespaces(&d, ExecRequest::shell(TREE), true, None).await.unwrap();
    tokio::time::sleep(BOUND).await;
    drop(session);
    panic!("not killed within {BOUND:?}");
}

#[tokio::test]
async fn bad_input_gets_its_own_error_kind() {
    require_engine();
    let name = unique("ns-bad");
    let _guard = run(&name, &[]);
    let d = detail(&name);
    let e = fast(&d, ExecRequest::new(["id"]).user("ghost")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("user `ghost` not found in the container"), "{e}");
    let e = fast(&d, ExecRequest::new(["pwd"]).working_dir("/nope")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("working directory `/nope` does not exist in the container"), "{e}");
    let e = fast(&d, ExecRequest::new(vec!["echo".to_owned(), "x".repeat(10 << 20)])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(e.to_string().contains("argument list too long"), "{e}");
    let e = fast(&d, ExecRequest::new(["no-such-binary"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    // Refusals before the fork create no cgroup either.
    assert_eq!(leftover_cgroups(&d), Vec::<String>::new());
}

/// A runc container reported under a runtime name nobody declared runc-class: refused with the
/// reason, though its pid is a real host process.
#[tokio::test]
async fn an_unknown_runtime_is_treated_as_sandboxed() {
    require_engine();
    let name = unique("ns-unknown");
    let _guard = run(&name, &[]);
    let mut d = detail(&name);
    d.runtime_name = "io.containerd.firecracker.v1".into();
    d.runtime = RuntimeClass::from_name_with(&d.runtime_name, &[]);
    assert!(d.runtime.is_sandboxed());
    assert_eq!(d.proc_root_pid(), None, "no /proc root for an unknown runtime");
    let e = fast(&d, ExecRequest::new(["true"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("is not known to be runc-class; treated as sandboxed"), "{e}");
    let caps = anyctr_core::Capabilities { nsenter: anyctr_core::Support::Emulated, ..Default::default() };
    assert_eq!(caps.for_runtime(&d.runtime).nsenter, anyctr_core::Support::Unsupported);
}

#[tokio::test]
async fn rund_is_refused_as_not_host_visible() {
    require_engine();
    let name = unique("ns-rund");
    let _guard = run(&name, &["--runtime", "rund"]);
    let d = detail(&name);
    assert_eq!(d.runtime, RuntimeClass::Rund);
    assert!(d.state.pid.is_some(), "docker reports the sandbox's pid, which must not be entered");
    let e = fast(&d, ExecRequest::new(["echo", "hi"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("not host-visible"), "{e}");
}
