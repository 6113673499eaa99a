//! A node follows an engine that is not there yet, and one that restarts: the test runs a dockerd
//! of its own (own socket, data root and containerd namespace, on the harness's containerd),
//! starts the node while that daemon is stopped, starts it, then restarts it under the live node.
//! Containers listed before the restart are listed after; a container made after the restart
//! arrives by its event (the periodic resync is set to an hour). Only the daemon this test started
//! is ever stopped (by its pid).

mod common;

use std::time::Duration;

use anyctr::index::IndexOptions;
use anyctr::prelude::*;
use anyctr::{EngineHealth, Engines, ListOptions, Node, NodeOptions};
use anyctr_testkit::private_dockerd::PrivateDockerd;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dockerd_that_appears_later_and_restarts_is_followed_and_loses_nothing() {
    let mut daemon = PrivateDockerd::started_with_image();
    let address = format!("docker://{}", daemon.socket().display());
    let label = unique("node-restart");
    let engine = Engines::connect(&address).await.unwrap();
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    daemon.stop();

    let options = NodeOptions::default().recheck_interval(Duration::from_millis(500)).index(
        IndexOptions::default()
            .list(ListOptions::all().label(&format!("anyctr.test={label}")))
            .resync_interval(Duration::from_secs(3600)),
    );
    let node = anyctr_testkit::bounded("Node::connect_to", Node::connect_to(&[&address], options)).await.unwrap();
    let status = node.engines();
    assert_eq!(status.len(), 1, "{status:?}");
    assert!(matches!(status[0].health, EngineHealth::Down { .. }), "not there yet: {status:?}");

    // The socket appears: the node connects it on its own.
    daemon.start();
    eventually(Duration::from_secs(30), "the node connects the daemon once it is up", || node.all_healthy()).await;
    let before = engine.create(&spec(&label, &unique("before"), &["sleep", "600"])).await.unwrap();
    engine.start(&before).await.unwrap();
    eventually(Duration::from_secs(20), "first container in the node view", || node.container(&before).is_ok()).await;

    // The daemon goes away and comes back under the live node.
    daemon.stop();
    eventually(Duration::from_secs(30), "the node says the engine is not healthy", || !node.all_healthy()).await;
    println!("while stopped: {:?}", node.engines());
    daemon.start();
    eventually(Duration::from_secs(60), "the engine healthy again", || node.all_healthy()).await;
    assert!(node.container(&before).is_ok(), "listed before the restart, listed after");

    // An event after the restart reaches the view (no periodic resync within the test).
    let after = engine.create(&spec(&label, &unique("after"), &["sleep", "600"])).await.unwrap();
    eventually(Duration::from_secs(20), "a container made after the restart in the node view", || {
        node.container(&after).is_ok()
    })
    .await;
    let ids: Vec<String> = node.containers().into_iter().map(|c| c.detail.id.clone()).collect();
    assert!(ids.contains(&before) && ids.contains(&after), "{ids:?}");
    drop(node);
    anyctr_testkit::remove_labelled(&engine, &label).await;
}
