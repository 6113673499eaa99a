//! The node view on the harness's engines: dockerd (its containers also in containerd's `moby`
//! namespace) and containerd with CRI pods of a runc and a sandboxed (`rund`, gVisor here)
//! handler in `k8s.io`. Every container is listed exactly once with the engine that owns it, and
//! exec, copy and host paths work through the node for a container of each engine.
//! Everything made here carries a unique label and is removed at the end, also on failure.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{Engine, Engines, ErrorKind, ExecRequest, Node, NodeOptions, PodSpec};
use common::*;

/// containerd's CRI namespace, as an engine of its own (for making the pods).
async fn cri_engine() -> Engine {
    let socket = anyctr_testkit::containerd_socket();
    let state = anyctr_testkit::containerd_state_dir();
    let address = format!("containerd://{socket}?namespace=k8s.io&state_dir={state}");
    anyctr_testkit::connect("containerd", &socket, Engines::connect(&address)).await
}

/// Removes the pods (with their containers) when dropped.
struct PodCleanup {
    engine: Engine,
    pods: Vec<String>,
}

impl Drop for PodCleanup {
    fn drop(&mut self) {
        let (engine, pods) = (self.engine.clone(), std::mem::take(&mut self.pods));
        anyctr_testkit::on_own_runtime(move || async move {
            for pod in pods {
                match tokio::time::timeout(anyctr_testkit::BOUND, engine.remove_pod(&pod)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("cleanup: removing pod {pod}: {e}"),
                    Err(_) => eprintln!("cleanup: removing pod {pod} timed out"),
                }
            }
        });
    }
}

async fn pod_with_sleeper(cri: &Engine, pods: &mut PodCleanup, label: &str, handler: &str) -> (String, String) {
    let spec =
        PodSpec::new(unique("node-pod"), "anyctr-node", unique("uid")).runtime(handler).label("anyctr.test", label);
    let sandbox = anyctr_testkit::bounded("create_pod", cri.create_pod(&spec)).await.expect("create_pod");
    pods.pods.push(sandbox.clone());
    let spec = spec_in_pod(label, &sandbox);
    let id = anyctr_testkit::bounded("create", cri.create(&spec)).await.expect("create in pod");
    anyctr_testkit::bounded("start", cri.start(&id)).await.expect("start in pod");
    (sandbox, id)
}

fn spec_in_pod(label: &str, sandbox: &str) -> anyctr::CreateSpec {
    spec(label, "sleeper", &["sleep", "600"]).pod_sandbox(sandbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_container_once_with_its_engine_and_calls_routed_to_it() {
    let docker = docker().await;
    let cri = cri_engine().await;
    let label = unique("node-view");
    let _cleanup = Cleanup { engine: docker.clone(), label: label.clone() };
    let mut pods = PodCleanup { engine: cri.clone(), pods: Vec::new() };

    let dockers =
        anyctr_testkit::bounded("docker create", docker.create(&spec(&label, &unique("node-d"), &["sleep", "600"])))
            .await
            .unwrap();
    docker.start(&dockers).await.unwrap();
    let (runc_pod, runc_ctr) = pod_with_sleeper(&cri, &mut pods, &label, "runc").await;
    let (rund_pod, rund_ctr) = pod_with_sleeper(&cri, &mut pods, &label, "rund").await;

    // The harness's engines by address (CI exports no DOCKER_HOST/CONTAINERD_ADDRESS, so
    // `Node::connect`'s discovery would find nothing there); containerd with no namespace: every
    // namespace that holds containers (k8s.io and moby here).
    let docker_address = format!("docker://{}", anyctr_testkit::docker_socket());
    let containerd_address = format!(
        "containerd://{}?state_dir={}",
        anyctr_testkit::containerd_socket(),
        anyctr_testkit::containerd_state_dir()
    );
    let addresses = [docker_address.as_str(), containerd_address.as_str()];
    let node = anyctr_testkit::bounded("Node::connect_to", Node::connect_to(&addresses, NodeOptions::default()))
        .await
        .unwrap();
    println!("{}", node.report());
    for e in node.engines() {
        println!("{:<70} {:?} ({})", e.member, e.health, e.source);
    }
    let ours = [&dockers, &runc_pod, &runc_ctr, &rund_pod, &rund_ctr];
    eventually(Duration::from_secs(30), "every container of this test in the node view", || {
        let ids: Vec<String> = node.containers().into_iter().map(|c| c.detail.id.clone()).collect();
        ours.iter().all(|id| ids.contains(id))
    })
    .await;

    // Exactly once, every container of the node.
    let all = node.containers();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in &all {
        *count.entry(c.detail.id.as_str()).or_default() += 1;
    }
    assert!(count.values().all(|n| *n == 1), "a container listed twice: {count:?}");

    // docker's container is docker's, with containerd's `moby` record attached.
    let d = node.container(&dockers).unwrap();
    assert_eq!(&*d.engine, "docker", "{d:?}");
    assert!(
        d.also_seen.iter().any(|v| &*v.engine == "containerd" && v.detail.namespace.as_deref() == Some("moby")),
        "docker's container is seen in containerd's moby namespace too: {:?}",
        d.also_seen.iter().map(|v| &v.member).collect::<Vec<_>>()
    );
    // The CRI containers are containerd's, from `k8s.io`, each once.
    for id in [&runc_pod, &runc_ctr, &rund_pod, &rund_ctr] {
        let c = node.container(id).unwrap();
        assert_eq!(&*c.engine, "containerd", "{id}");
        assert!(c.member.ends_with("namespace=k8s.io"), "{}", c.member);
        assert!(c.also_seen.is_empty(), "{:?}", c.also_seen);
    }
    assert!(!node.container(&runc_ctr).unwrap().detail.runtime.is_sandboxed());
    assert!(node.container(&rund_ctr).unwrap().detail.runtime.is_sandboxed());
    // By name too: the docker container's name is unique.
    let name = node.container(&dockers).unwrap().detail.name.clone();
    assert_eq!(node.container(&name).unwrap().detail.id, dockers);
    assert_eq!(node.container("no-such-container-anywhere").unwrap_err().kind(), ErrorKind::NotFound);
    // The engines this test used are healthy.
    let engines = node.engines();
    for wanted in ["docker://", "namespace=k8s.io", "namespace=moby"] {
        assert!(engines.iter().any(|e| e.member.contains(wanted) && e.is_healthy()), "{wanted}: {engines:?}");
    }

    // Routed calls, one container of each engine (and runtime).
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("payload.txt");
    std::fs::write(&local, b"through the node\n").unwrap();
    for (what, id) in [("docker", &dockers), ("containerd runc", &runc_ctr), ("containerd rund", &rund_ctr)] {
        let r = anyctr_testkit::bounded("exec", node.exec(id, ExecRequest::new(["echo", "hi"]))).await.unwrap();
        assert_eq!((r.exit_code, r.stdout.as_slice()), (0, &b"hi\n"[..]), "{what}");
        let report = anyctr_testkit::bounded("copy_into", node.copy_into(id, &local, "/tmp/payload.txt")).await;
        let report = report.unwrap_or_else(|e| panic!("{what}: copy_into: {e}"));
        let r = node.exec(id, ExecRequest::new(["cat", "/tmp/payload.txt"])).await.unwrap();
        assert_eq!(r.stdout, b"through the node\n", "{what}: {report:?}");
        let back = dir.path().join(format!("back-{}", what.replace(' ', "-")));
        anyctr_testkit::bounded("copy_out", node.copy_out(id, "/tmp/payload.txt", &back)).await.unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), b"through the node\n", "{what}");
        let sandboxed = node.container(id).unwrap().detail.runtime.is_sandboxed();
        match node.host_path(id, "/tmp/payload.txt") {
            Ok(p) if !sandboxed => {
                assert_eq!(std::fs::read(&p.path).unwrap(), b"through the node\n", "{what}: {p:?}")
            }
            Err(e) if sandboxed => assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {e}"),
            other => panic!("{what}: host_path: {other:?}"),
        }
        let fast = anyctr_testkit::bounded("exec_fast", node.exec_fast(id, ExecRequest::new(["echo", "fast"]))).await;
        match fast {
            Ok(r) if !sandboxed => assert_eq!(r.stdout, b"fast\n", "{what}"),
            Err(e) if sandboxed => assert_eq!(e.kind(), ErrorKind::Unsupported, "{what}: {e}"),
            other => panic!("{what}: exec_fast: {other:?}"),
        }
    }
    drop(node);
}
