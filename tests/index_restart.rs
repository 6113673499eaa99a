//! A killed event stream is recovered: the test runs a dockerd of its own (own socket, data root
//! and containerd namespace, on the harness's containerd), restarts it under a live index, changes
//! containers right after, and checks the index ends equal to a fresh list with nothing lost.
//! Only the daemon this test started is ever stopped (by its pid).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use anyctr::ListOptions;
use anyctr::index::{ContainerIndex, IndexOptions};
use anyctr::prelude::*;
use anyctr_testkit::private_dockerd::PrivateDockerd;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn index_recovers_after_the_daemon_restarts() {
    let mut daemon = PrivateDockerd::started_with_image();

    let engine = anyctr::connect(&format!("docker://{}", daemon.socket().display())).await.unwrap();
    let label = unique("index-restart");
    let index = ContainerIndex::start(
        engine.dyn_engine().clone(),
        IndexOptions::default()
            .list(ListOptions::all().label(&format!("anyctr.test={label}")))
            .resync_interval(Duration::from_secs(3600)),
    )
    .await
    .unwrap();

    let before = engine.create(&spec(&label, &format!("before-{label}"), &["sleep", "600"])).await.unwrap();
    eventually(Duration::from_secs(20), "first container indexed", || index.snapshot().container(&before).is_some())
        .await;

    // Kill the event stream the only way a real node does: the daemon goes away and comes back.
    daemon.stop();
    daemon.start();
    // Changes made at once, possibly before the index has re-opened its stream.
    let after = engine.create(&spec(&label, &format!("after-{label}"), &["sleep", "600"])).await.unwrap();
    engine.remove(&before, true).await.unwrap();

    let fresh: BTreeSet<String> = engine
        .list(&ListOptions::all().label(&format!("anyctr.test={label}")))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(fresh, BTreeSet::from([after.clone()]));
    eventually(Duration::from_secs(60), "index equals a fresh list after the restart", || {
        index.snapshot().containers().map(|c| c.id.clone()).collect::<BTreeSet<_>>() == fresh
    })
    .await;
    index.shutdown().await;
    engine.remove(&after, true).await.unwrap();
}
