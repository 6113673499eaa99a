//! The node view's OCI runtime fallback and its change stream, on real engines:
//! - a container of a dockerd that is stopped (`--live-restore`, so its container keeps running)
//!   is still listed, from its runtime's root, marked runtime-only, with the pid dockerd reported,
//!   and exec reaches it through the runtime;
//! - a docker container seen by docker, containerd's `moby` namespace and its runtime's root is
//!   reported once per change of its entry: one `ContainerAdded` (from whichever connection saw
//!   it first), one `ContainerRemoved`, and no runtime-only ghost once docker removed it.

mod common;

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{Engines, ExecRequest, IndexChange, Node, NodeChange, NodeOptions};
use anyctr_testkit::private_dockerd::PrivateDockerd;
use common::*;
use tokio::sync::broadcast;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_whose_dockerd_is_stopped_is_listed_from_its_runtime() {
    let mut daemon = PrivateDockerd::live_restore_with_image();
    let docker_address = format!("docker://{}", daemon.socket().display());
    let oci_address = format!("oci://{}", daemon.runtime_root().display());
    let addresses = [docker_address.as_str(), oci_address.as_str()];
    let engine = Engines::connect(&docker_address).await.unwrap();
    let label = unique("node-fallback");
    let id = engine.create(&spec(&label, &unique("fallback"), &["sleep", "600"])).await.unwrap();
    engine.start(&id).await.unwrap();
    let pid = engine.inspect(&id).await.unwrap().state.pid.expect("a running container's pid");

    // While dockerd answers, docker owns the entry and the runtime's record is attached.
    let node = anyctr_testkit::bounded("Node::connect_to", Node::connect_to(&addresses, NodeOptions::default()))
        .await
        .unwrap();
    eventually(Duration::from_secs(20), "the container in the node view", || node.container(&id).is_ok()).await;
    let c = node.container(&id).unwrap();
    assert_eq!((&*c.engine, c.runtime_only()), ("docker", false), "{c:?}");
    assert!(c.also_seen.iter().any(|v| &*v.engine == "oci"), "{:?}", c.also_seen);
    drop(node);

    // dockerd stops; its container runs on. A node started now lists it from the runtime.
    daemon.stop();
    let node = anyctr_testkit::bounded("Node::connect_to", Node::connect_to(&addresses, NodeOptions::default()))
        .await
        .unwrap();
    let engines = node.engines();
    assert!(engines.iter().any(|e| e.member.starts_with("docker://") && !e.is_healthy()), "{engines:?}");
    let listed: Vec<_> = node.containers().into_iter().filter(|c| c.detail.id == id).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let c = &listed[0];
    assert_eq!((&*c.engine, c.runtime_only()), ("oci", true), "{c:?}");
    assert_eq!(c.detail.state.pid, Some(pid), "the pid dockerd reported");
    let r = anyctr_testkit::bounded("exec through the runtime", node.exec(&id, ExecRequest::new(["hostname"])))
        .await
        .unwrap();
    assert_eq!(r.exit_code, 0, "{r:?}");
    assert_eq!(r.stdout_lossy().trim(), &id[..12]);
    drop(node);

    daemon.start();
    engine.remove(&id, true).await.unwrap();
}

/// Changes about one container id, as the node reports them, until `quiet` passes with none.
async fn changes_of(rx: &mut broadcast::Receiver<NodeChange>, id: &str, quiet: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(received) = tokio::time::timeout(quiet, rx.recv()).await {
        if let Ok(NodeChange::Container { member, change }) = received {
            let (kind, of) = match change {
                IndexChange::ContainerAdded(of) => ("added", of),
                IndexChange::ContainerUpdated(of) => ("updated", of),
                IndexChange::ContainerRemoved(of) => ("removed", of),
                _ => continue,
            };
            if of == id {
                out.push((kind.to_owned(), member.to_string()));
            }
        }
    }
    out
}

fn count(changes: &[(String, String)], kind: &str) -> usize {
    changes.iter().filter(|(k, _)| k == kind).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_container_seen_three_ways_is_reported_once_per_change() {
    let docker = docker().await;
    let label = unique("node-changes");
    let _cleanup = Cleanup { engine: docker.clone(), label: label.clone() };
    let before = docker.create(&spec(&label, &unique("seen-before"), &["sleep", "600"])).await.unwrap();
    docker.start(&before).await.unwrap();

    let docker_address = format!("docker://{}", anyctr_testkit::docker_socket());
    let containerd_address = format!(
        "containerd://{}?state_dir={}",
        anyctr_testkit::containerd_socket(),
        anyctr_testkit::containerd_state_dir()
    );
    let addresses = [docker_address.as_str(), containerd_address.as_str(), "oci://"];
    let started = std::time::Instant::now();
    let node = anyctr_testkit::bounded("Node::connect_to", Node::connect_to(&addresses, NodeOptions::default()))
        .await
        .unwrap();
    println!("node connected in {:?}: {} containers", started.elapsed(), node.containers().len());
    let c = node.container(&before).expect("listed at start");
    let others: Vec<&str> = c.also_seen.iter().map(|v| &*v.engine).collect();
    assert_eq!((&*c.engine, others.contains(&"containerd"), others.contains(&"oci")), ("docker", true, true), "{c:?}");

    // A new container: one `added`, whichever connections see it.
    let mut rx = node.subscribe();
    let after = docker.create(&spec(&label, &unique("seen-after"), &["sleep", "600"])).await.unwrap();
    docker.start(&after).await.unwrap();
    let seen = changes_of(&mut rx, &after, Duration::from_secs(3)).await;
    assert_eq!(count(&seen, "added"), 1, "{seen:?}");
    assert_eq!(count(&seen, "removed"), 0, "{seen:?}");
    // Whichever connection saw it first reported it; docker owns it once its index has it.
    eventually(Duration::from_secs(20), "docker owns the new container's entry", || {
        node.container(&after).is_ok_and(|c| &*c.engine == "docker")
    })
    .await;

    // Removed by docker while three connections held it: one `removed`, and no runtime-only
    // entry left behind.
    docker.remove(&before, true).await.unwrap();
    eventually(Duration::from_secs(30), "the removed container gone from the view", || {
        node.container(&before).is_err()
    })
    .await;
    let seen = changes_of(&mut rx, &before, Duration::from_secs(2)).await;
    assert_eq!(count(&seen, "removed"), 1, "{seen:?}");
    assert_eq!(count(&seen, "added"), 0, "{seen:?}");
    docker.remove(&after, true).await.unwrap();
}
