use super::*;
use anyctr_core::model::{ContainerState, RuntimeClass};
use nix::libc;
use sys::Stage;

fn detail(runtime: RuntimeClass, status: ContainerStatus, pid: Option<u32>) -> ContainerDetail {
    let mut state = ContainerState::with_status(status);
    state.pid = pid;
    let mut detail = ContainerDetail::new("0123456789abcdef", "test", "busybox", state, runtime);
    detail.env = vec!["PATH=/bin:/usr/bin".into(), "FOO=container".into(), "KEEP=1".into()];
    detail.hostname = Some("box".into());
    detail
}

#[test]
fn env_is_built_like_dockers() {
    let d = detail(RuntimeClass::Runc, ContainerStatus::Running, Some(1));
    let env = command_env(&d, &["FOO=request".into(), "NEW=x=y".into()]);
    assert_eq!(env, ["PATH=/bin:/usr/bin", "HOSTNAME=box", "FOO=request", "KEEP=1", "NEW=x=y"]);
    let mut bare = d.clone();
    bare.env.clear();
    bare.hostname = None;
    assert_eq!(command_env(&bare, &[]), [format!("PATH={DEFAULT_PATH}")]);
}

#[test]
fn candidates_follow_execvp() {
    assert_eq!(exec_candidates("echo", "/bin:/usr/bin/:"), ["/bin/echo", "/usr/bin/echo", "./echo"]);
    assert_eq!(exec_candidates("./run.sh", "/bin"), ["./run.sh"]);
    assert_eq!(exec_candidates("/no/such", "/bin"), ["/no/such"]);
}

#[tokio::test]
async fn sandboxed_stopped_paused_and_pidless_containers_are_refused_before_anything_runs() {
    let cases = [
        (
            RuntimeClass::Other("io.containerd.firecracker.v1".into()),
            ContainerStatus::Running,
            Some(1),
            ErrorKind::Unsupported,
        ),
        (RuntimeClass::Rund, ContainerStatus::Running, Some(1), ErrorKind::Unsupported),
        (RuntimeClass::Runsc, ContainerStatus::Running, Some(1), ErrorKind::Unsupported),
        (RuntimeClass::Kata, ContainerStatus::Running, Some(1), ErrorKind::Unsupported),
        (RuntimeClass::Runc, ContainerStatus::Exited, None, ErrorKind::Conflict),
        (RuntimeClass::Runc, ContainerStatus::Paused, Some(1), ErrorKind::Conflict),
        (RuntimeClass::Runc, ContainerStatus::Running, None, ErrorKind::Unsupported),
    ];
    for (runtime, status, pid, want) in cases {
        let d = detail(runtime.clone(), status.clone(), pid);
        let e = exec_in_namespaces(&d, ExecRequest::new(["true"]), None).await.unwrap_err();
        assert_eq!(e.kind(), want, "{runtime:?} {status:?} {pid:?}: {e}");
        assert_eq!(e.operation(), Some(OPERATION));
        if runtime.is_sandboxed() {
            assert!(e.to_string().contains("not host-visible"), "{e}");
            assert!(e.to_string().contains(&runtime.sandbox_reason().unwrap()), "the reason is given: {e}");
        }
    }
}

/// Issue 14: a moby container run by gVisor through the runc shim is named by the runtime behind
/// the shim, not by the shim.
#[tokio::test]
async fn a_sandbox_behind_the_runc_shim_is_named_by_its_runtime() {
    let mut d = detail(RuntimeClass::Runsc, ContainerStatus::Running, Some(1));
    d.runtime_name = "io.containerd.runc.v2".into();
    let e = exec_in_namespaces(&d, ExecRequest::new(["true"]), None).await.unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("runtime `runsc` runs the container on a user-space kernel (gVisor)"), "{msg}");
    assert!(msg.contains("(the engine reports runtime `io.containerd.runc.v2`)"), "{msg}");
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let d = detail(RuntimeClass::Runc, ContainerStatus::Running, Some(1));
    let e = exec_in_namespaces(&d, ExecRequest::new(Vec::<String>::new()), None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = exec_stream_in_namespaces(&d, ExecRequest::new(["cat"]).stdin("x"), true, None).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn reports_map_to_error_kinds() {
    let report = |stage: Stage, index: u16, errno: i32| {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&(stage as u16).to_le_bytes());
        bytes.extend_from_slice(&index.to_le_bytes());
        bytes.extend_from_slice(&errno.to_le_bytes());
        let (stage2, index2, errno2) = sys::decode_report(&bytes).unwrap();
        assert_eq!((stage2, index2, errno2), (stage, index, errno));
        let dummy = Described {
            namespace_kinds: vec!["user", "pid"],
            cgroup_paths: vec!["/sys/fs/cgroup/memory/x/cgroup.procs".into()],
            transient_path: "/sys/fs/cgroup/freezer/x/anyctr-exec-1-0".into(),
            unified_path: Some("/sys/fs/cgroup/unified/x/cgroup.procs".into()),
            program: "nope".into(),
            working_dir: Some("/missing".into()),
            user: None,
        };
        report_error(&bytes, &dummy)
    };
    let e = report(Stage::Exec, 0, libc::ENOENT);
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
    assert_eq!(report(Stage::Exec, 1, libc::EACCES).kind(), ErrorKind::CommandNotFound);
    let e = report(Stage::Exec, 0, libc::E2BIG);
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("argument list too long"), "{e}");
    let e = report(Stage::Cwd, 0, libc::ENOENT);
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("working directory `/missing` does not exist in the container"), "{e}");
    let e = report(Stage::TransientCgroup, 0, libc::EBUSY);
    assert!(e.to_string().contains("anyctr-exec-1-0"), "{e}");
    let e = report(Stage::TransientCgroup, 1, libc::ENOENT);
    assert!(e.to_string().contains("unified/x/cgroup.procs"), "{e}");
    let e = report(Stage::Setns, 1, libc::EPERM);
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("pid namespace"), "{e}");
    let e = report(Stage::Cgroup, 0, libc::ENODEV);
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("memory/x"), "{e}");
    assert!(sys::decode_report(b"short").is_none());
    assert!(sys::decode_report(&[99, 0, 0, 0, 0, 0, 0, 0]).is_none());
}

#[test]
fn cgroups_match_the_init_but_for_the_transient_one() {
    let init = "6:freezer:/docker/abc\n4:memory:/docker/abc\n0::/docker/abc\n";
    let command = "6:freezer:/docker/abc/anyctr-exec-12-3\n4:memory:/docker/abc\n0::/docker/abc\n";
    assert!(cgroups_match_init(command, init));
    assert!(!cgroups_match_init(init, init), "no transient cgroup: the command could escape a kill");
    let v2 = ("0::/k8s.io/x/anyctr-exec-1-0\n", "0::/k8s.io/x\n");
    assert!(cgroups_match_init(v2.0, v2.1));
    for wrong in [
        "6:freezer:/docker/abc/anyctr-exec-12-3\n4:memory:/docker/other\n0::/docker/abc\n",
        "6:freezer:/docker/abc/elsewhere\n4:memory:/docker/abc\n0::/docker/abc\n",
        "6:freezer:/docker/abc/anyctr-exec-1/deeper\n4:memory:/docker/abc\n0::/docker/abc\n",
        "6:freezer:/docker/abc/anyctr-exec-1-0\n4:memory:/docker/abc/anyctr-exec-1-0\n0::/docker/abc\n",
        "6:freezer:/docker/abc/anyctr-exec-1-0\n",
    ] {
        assert!(!cgroups_match_init(wrong, init), "{wrong:?}");
    }
}
