//! Reverse lookups on the real engines: a process exec'd in a docker (runc) container and in a
//! containerd `k8s.io` pod (runc), and a sandboxed pod's own host processes (the gVisor-backed
//! `rund` stand-in: sentry and gofer), map to their container or pod; cgroup id and netns map to
//! the container; an unknown pid, and this test process, are `NotFound`.

mod common;

use std::path::Path;
use std::time::Duration;

use anyctr::index::{ContainerIndex, FoundBy, IndexOptions};
use anyctr::prelude::*;
use anyctr::{Engine, ErrorKind, ExecRequest, ListOptions, PodSpec};
use common::*;

const ROUND_TRIP: Duration = Duration::from_secs(30);

/// Host pids whose argv is exactly `argv`.
fn host_pids_with_argv(argv: &[&str]) -> Vec<u32> {
    anyctr::procscan::ProcScan::new(None).pids_with_argv(argv).unwrap()
}

/// Host pids whose `/proc/<pid>/cgroup` mentions `id`, with their command names.
fn host_pids_in_cgroup_of(id: &str) -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id)))
        .map(|pid| (pid, std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_owned()))
        .collect()
}

/// Starts `sleep <marker>` in the container through the engine's exec and returns its host pid.
async fn exec_sleep(engine: &Engine, id: &str, marker: &str) -> u32 {
    let (engine, id, m) = (engine.clone(), id.to_owned(), marker.to_owned());
    // Detached from the test: the exec runs until the container goes.
    tokio::spawn(async move {
        let _ = engine.exec(&id, ExecRequest::new(["sleep", &m]).timeout(Duration::from_secs(600))).await;
    });
    let mut pids = Vec::new();
    eventually(ROUND_TRIP, "the exec'd process on the host", || {
        pids = host_pids_with_argv(&["sleep", marker]);
        pids.len() == 1
    })
    .await;
    pids[0]
}

fn stat_ino(path: impl AsRef<Path>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// What every setup must answer: the exec'd pid, the init pid (warm), the cgroup id and netns.
async fn assert_maps(index: &ContainerIndex, id: &str, exec_pid: u32) {
    eventually(ROUND_TRIP, "the container indexed with its host ids", || {
        index.snapshot().entry(id).is_some_and(|e| e.host.cgroup_id.is_some() && e.host.netns.is_some())
    })
    .await;
    let owner = index.container_of_pid(exec_pid).unwrap();
    assert_eq!((owner.container.id.as_str(), owner.found_by), (id, FoundBy::CgroupPath), "exec'd pid {exec_pid}");
    let init = owner.container.state.pid.unwrap();
    let warm = index.container_of_pid(init).unwrap();
    assert_eq!((warm.container.id.as_str(), warm.found_by), (id, FoundBy::InitPid));
    // The cgroup id is the inode of the container's v2 directory, as eBPF reports it.
    let entry = index.snapshot().entry(id).unwrap().clone();
    let (source, cgroup_id) = entry.host.cgroup_id.unwrap();
    let v2_line = std::fs::read_to_string(format!("/proc/{exec_pid}/cgroup")).unwrap();
    let v2_path = v2_line.lines().find_map(|l| l.strip_prefix("0::")).unwrap().to_owned();
    assert_eq!(source, anyctr::host_ids::CgroupIdSource::V2);
    assert_eq!(cgroup_id, stat_ino(format!("/sys/fs/cgroup/unified{v2_path}")), "{v2_path}");
    assert_eq!(index.container_of_cgroup_id(cgroup_id).unwrap().container.id, id);
    let netns = stat_ino(format!("/proc/{exec_pid}/ns/net"));
    let in_ns = index.containers_in_netns(netns).unwrap();
    assert!(in_ns.iter().any(|d| d.id == id), "netns {netns}: {:?}", in_ns.iter().map(|d| &d.id).collect::<Vec<_>>());
    let mntns = stat_ino(format!("/proc/{exec_pid}/ns/mnt"));
    let in_mnt: Vec<String> = index.containers_in_mntns(mntns).unwrap().iter().map(|d| d.id.clone()).collect();
    assert_eq!(in_mnt, [id], "mntns {mntns}: a runc container's own");
}

fn assert_unknown_pids(index: &ContainerIndex) {
    for pid in [u32::MAX - 1, std::process::id()] {
        let e = index.container_of_pid(pid).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "pid {pid}: {e}");
    }
    assert_eq!(index.who_am_i().unwrap_err().kind(), ErrorKind::NotFound, "this test runs on the host");
    assert_eq!(index.container_of_cgroup_id(u64::MAX).unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_exec_pid_cgroup_id_and_netns_map_to_the_container() {
    let engine = docker().await;
    let label = unique("lookup");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    let options = IndexOptions::default().list(ListOptions::all().label(&format!("anyctr.test={label}")));
    let index = engine.index(options).await.unwrap();
    let id = engine.create(&spec(&label, &label, &["sleep", "600"])).await.unwrap();
    engine.start(&id).await.unwrap();
    let marker = format!("6{}", std::process::id());
    let pid = exec_sleep(&engine, &id, &marker).await;
    assert_maps(&index, &id, pid).await;

    // A fast-path command runs in a transient child cgroup of the container's: its pid still maps
    // to the container.
    let fast_marker = format!("8{}", std::process::id());
    let (fast_engine, fast_id, m) = (engine.clone(), id.clone(), fast_marker.clone());
    tokio::spawn(async move {
        let _ =
            fast_engine.exec_fast(&fast_id, ExecRequest::new(["sleep", &m]).timeout(Duration::from_secs(600))).await;
    });
    let mut fast = Vec::new();
    eventually(ROUND_TRIP, "the fast-path process on the host", || {
        fast = host_pids_with_argv(&["sleep", &fast_marker]);
        fast.len() == 1
    })
    .await;
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", fast[0])).unwrap();
    assert!(cgroup.contains("anyctr-exec-"), "not in a transient cgroup: {cgroup}");
    let o = index.container_of_pid(fast[0]).unwrap();
    assert_eq!((o.container.id.as_str(), o.found_by), (id.as_str(), FoundBy::CgroupPath));
    // On a hybrid host the transient cgroup is made in the v1 freezer hierarchy, so the v2 id
    // (eBPF's) is the container's own; where it is a v2 child, its id is no container's.
    let v2 = cgroup.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    let v2_id = index.container_of_cgroup_id(stat_ino(format!("/sys/fs/cgroup/unified{v2}")));
    if v2.contains("anyctr-exec-") {
        assert_eq!(v2_id.unwrap_err().kind(), ErrorKind::NotFound);
    } else {
        assert_eq!(v2_id.unwrap().container.id, id);
    }

    assert_unknown_pids(&index);
    index.shutdown().await;
}

async fn pod(engine: &Engine, runtime: &str, label: &str) -> (String, String, String) {
    let uid = format!("{label}-{runtime}");
    let spec = PodSpec::new(format!("{label}-{runtime}"), "anyctr-test", uid.clone())
        .runtime(runtime)
        .label("anyctr.test", label);
    let sandbox = bounded("create pod", engine.create_pod(&spec)).await.unwrap();
    let mut c = common::spec(label, "app", &["sleep", "600"]);
    c.runtime = Some(runtime.into());
    c.pod_sandbox = Some(sandbox.clone());
    let id = bounded("create", engine.create(&c)).await.unwrap();
    bounded("start", engine.start(&id)).await.unwrap();
    (sandbox, id, uid)
}

async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    anyctr_testkit::bounded(what, fut).await
}

/// Removes the pods when dropped.
struct Pods(Engine, Vec<String>);

impl Drop for Pods {
    fn drop(&mut self) {
        let (engine, sandboxes) = (self.0.clone(), std::mem::take(&mut self.1));
        anyctr_testkit::on_own_runtime(move || async move {
            for s in sandboxes {
                let _ = tokio::time::timeout(Duration::from_secs(90), engine.remove_pod(&s)).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_pods_runc_exec_and_rund_sandbox_processes_map_to_their_pod() {
    let (socket, state) = (anyctr_testkit::containerd_socket(), anyctr_testkit::containerd_state_dir());
    let engine =
        anyctr_testkit::connect("rund", &socket, anyctr::connect(&format!("rund://{socket}?state_dir={state}"))).await;
    let label = unique("lookup-cri");
    let options = IndexOptions::default().list(ListOptions::all().label(&format!("anyctr.test={label}")));
    let index = engine.index(options).await.unwrap();
    let mut pods = Pods(engine.clone(), Vec::new());

    let (runc_sandbox, runc_id, runc_uid) = pod(&engine, "runc", &label).await;
    pods.1.push(runc_sandbox.clone());
    let pid = exec_sleep(&engine, &runc_id, &format!("7{}", std::process::id())).await;
    println!("runc app cgroup:\n{}", std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap());
    assert_maps(&index, &runc_id, pid).await;
    let owner = index.container_of_pid(pid).unwrap();
    assert_eq!(owner.pod.as_ref().and_then(|p| p.uid.clone()), Some(runc_uid));
    // The pause process maps to the pod through its sandbox container.
    let sb = index.snapshot().container(&runc_sandbox).unwrap().clone();
    let o = index.container_of_pid(sb.state.pid.unwrap()).unwrap();
    assert_eq!(o.container.id, runc_sandbox);

    let (rund_sandbox, rund_id, rund_uid) = pod(&engine, "rund", &label).await;
    pods.1.push(rund_sandbox.clone());
    eventually(ROUND_TRIP, "the rund pod indexed", || {
        index.snapshot().pod_by_uid(&rund_uid).is_some_and(|p| p.all().count() == 2)
    })
    .await;
    // The sandbox's own host processes (gVisor's sentry, gofer) sit in the sandbox's cgroup.
    let sandbox_processes = host_pids_in_cgroup_of(&rund_sandbox);
    println!("rund sandbox processes: {sandbox_processes:?}");
    if let Some((pid, _)) = sandbox_processes.first() {
        println!("rund sandbox cgroup:\n{}", std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap());
    }
    assert!(!sandbox_processes.is_empty(), "no host process in the rund sandbox's cgroup");
    for (pid, comm) in &sandbox_processes {
        let Ok(o) = index.container_of_pid(*pid) else {
            // A process that exited between the scan and the lookup is NotFound, never another's.
            assert!(!Path::new(&format!("/proc/{pid}")).exists(), "{pid} ({comm}) exists but did not map");
            continue;
        };
        assert_eq!(o.pod.as_ref().and_then(|p| p.uid.clone()), Some(rund_uid.clone()), "{pid} ({comm})");
        assert_eq!(o.container.id, rund_sandbox, "{pid} ({comm}): answered with the pod's sandbox");
    }
    let app_cgroup = host_pids_in_cgroup_of(&rund_id);
    println!("host processes in the rund app's cgroup: {app_cgroup:?}");
    // gVisor starts a gofer per container, in that container's cgroup: it serves the container.
    for (pid, comm) in &app_cgroup {
        if let Ok(o) = index.container_of_pid(*pid) {
            assert_eq!(o.container.id, rund_id, "{pid} ({comm})");
            assert_eq!(o.pod.as_ref().and_then(|p| p.uid.clone()), Some(rund_uid.clone()), "{pid} ({comm})");
        }
    }
    // The sandbox's host ids come from its v1 cgroups (its v2 line is the root): never the root's id.
    let sandbox_entry = index.snapshot().entry(&rund_sandbox).unwrap().clone();
    println!("rund sandbox host ids: {:?}", sandbox_entry.host);
    if let Some((_, cgroup_id)) = sandbox_entry.host.cgroup_id {
        assert_ne!(cgroup_id, stat_ino("/sys/fs/cgroup/unified"), "the root cgroup's id");
        assert_eq!(index.container_of_cgroup_id(cgroup_id).unwrap().container.id, rund_sandbox);
    }
    assert_unknown_pids(&index);
    index.shutdown().await;
    drop(pods);
}
