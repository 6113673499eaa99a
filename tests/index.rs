//! The live container index on the real dockerd: containers and pods appear, change and disappear
//! as events arrive; a burst of 100 pods leaves the index equal to a fresh list; readers during
//! churn always see consistent snapshots.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyctr::index::{ContainerIndex, IndexChange, IndexOptions};
use anyctr::prelude::*;
use anyctr::{ListOptions, PodSpec};
use common::*;

const ROUND_TRIP: Duration = Duration::from_secs(20);

fn options(label: &str) -> IndexOptions {
    // Long resync: these tests prove that events, not resyncs, keep the index current.
    IndexOptions::default()
        .list(ListOptions::all().label(&format!("anyctr.test={label}")))
        .resync_interval(Duration::from_secs(3600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn containers_and_pods_follow_events() {
    let engine = docker().await;
    let label = unique("index-follow");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    let index = ContainerIndex::start(engine.dyn_engine().clone(), options(&label)).await.unwrap();
    let mut changes = index.subscribe();
    assert_eq!(index.snapshot().container_count(), 0);

    let id = engine.create(&spec(&label, &label, &["sleep", "600"])).await.unwrap();
    engine.start(&id).await.unwrap();
    eventually(ROUND_TRIP, "running container indexed", || {
        index.snapshot().container(&id).is_some_and(|d| d.state.status.is_running())
    })
    .await;
    assert_eq!(index.snapshot().container(&id[..12]).unwrap().id, id, "short id lookup");
    assert_eq!(index.snapshot().container(&label).unwrap().id, id, "name lookup");

    // get_newer_than answers with an entry confirmed after the given instant.
    let asked = Instant::now();
    let fresh = index.get_newer_than(&id, asked, ROUND_TRIP).await.unwrap();
    assert_eq!(fresh.id, id);
    assert!(index.snapshot().entry(&id).unwrap().updated >= asked);

    engine.stop(&id, Duration::from_secs(1)).await.unwrap();
    eventually(ROUND_TRIP, "stop seen", || {
        index.snapshot().container(&id).is_some_and(|d| !d.state.status.is_running())
    })
    .await;
    engine.remove(&id, true).await.unwrap();
    eventually(ROUND_TRIP, "removal seen", || index.snapshot().container(&id).is_none()).await;
    let e = index.get_newer_than(&id, Instant::now(), ROUND_TRIP).await.unwrap_err();
    assert_eq!(e.kind(), anyctr::ErrorKind::NotFound, "{e}");

    let mut seen = Vec::new();
    while let Ok(c) = changes.try_recv() {
        seen.push(c);
    }
    assert!(seen.contains(&IndexChange::ContainerAdded(id.clone())), "{seen:?}");
    assert!(seen.contains(&IndexChange::ContainerUpdated(id.clone())), "{seen:?}");
    assert!(seen.contains(&IndexChange::ContainerRemoved(id.clone())), "{seen:?}");

    // A pod: sandbox plus one container, grouped, with the main container chosen.
    let pod = PodSpec::new(format!("web-{label}"), "anyctr-test", format!("uid-{label}")).label("anyctr.test", &label);
    let sandbox = engine.create_pod(&pod).await.unwrap();
    let mut app = spec(&label, &format!("app-{label}"), &["sleep", "600"]);
    app.pod_sandbox = Some(sandbox.clone());
    let app_id = engine.create(&app).await.unwrap();
    engine.start(&app_id).await.unwrap();
    eventually(ROUND_TRIP, "pod grouped", || {
        index.snapshot().pod_by_uid(&pod.uid).is_some_and(|p| p.sandbox.is_some() && p.containers.len() == 1)
    })
    .await;
    let snap = index.snapshot();
    let p = snap.pod("anyctr-test", &pod.name).expect("lookup by namespace/name");
    assert_eq!(p.sandbox_id(), Some(sandbox.as_str()));
    assert_eq!(p.main().unwrap().id, app_id);
    assert_eq!(snap.pod_by_sandbox(&sandbox).unwrap().uid, p.uid);
    assert_eq!(snap.pod_of(&app_id[..12]).unwrap().uid, p.uid);
    assert_eq!(p.full_name(), Some(format!("{}_anyctr-test", pod.name)));

    engine.remove_pod(&sandbox).await.unwrap();
    eventually(ROUND_TRIP, "pod removed", || index.snapshot().pod_by_uid(&pod.uid).is_none()).await;
    index.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn burst_of_100_pods_matches_a_fresh_list_and_readers_stay_consistent() {
    let engine = docker().await;
    let label = unique("index-burst");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    // Events alone: the periodic resync is an hour away, and none may run (checked at the end).
    let index = std::sync::Arc::new(ContainerIndex::start(engine.dyn_engine().clone(), options(&label)).await.unwrap());

    // Readers check invariants on every snapshot while the churn runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (index, stop) = (index.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let snap = index.snapshot();
                    for pod in snap.pods() {
                        for member in pod.all() {
                            assert!(snap.container(&member.id).is_some(), "pod member missing from its own snapshot");
                            assert_eq!(snap.pod_of(&member.id).map(|p| &p.uid), Some(&pod.uid), "pod_of disagrees");
                        }
                    }
                    reads += 1;
                    // Read often, but leave the index worker room on a 2-core machine.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                reads
            })
        })
        .collect();

    let pods: Vec<PodSpec> = (0..100)
        .map(|i| PodSpec::new(format!("burst-{i}"), &label, format!("{label}-{i}")).label("anyctr.test", &label))
        .collect();
    let created: Vec<String> =
        futures_util::future::try_join_all(pods.iter().map(|p| engine.create_pod(p))).await.unwrap();
    let fresh_ids = || async {
        let list = engine.list(&ListOptions::all().label(&format!("anyctr.test={label}"))).await.unwrap();
        list.into_iter().map(|c| c.id).collect::<BTreeSet<_>>()
    };
    let want = fresh_ids().await;
    assert_eq!(want.len(), 100);
    index_matches(&index, &want, 100).await;

    // Remove half, then the index must match a fresh list again.
    futures_util::future::try_join_all(created[..50].iter().map(|id| engine.remove_pod(id))).await.unwrap();
    let want = fresh_ids().await;
    assert_eq!(want.len(), 50);
    index_matches(&index, &want, 50).await;
    for (spec, id) in pods[50..].iter().zip(&created[50..]) {
        let snap = index.snapshot();
        let pod = snap.pod_by_uid(&spec.uid).expect("remaining pod");
        assert_eq!(pod.sandbox_id(), Some(id.as_str()));
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        assert!(r.await.expect("reader saw an inconsistent snapshot") > 0);
    }
    futures_util::future::try_join_all(created[50..].iter().map(|id| engine.remove_pod(id))).await.unwrap();
    index_matches(&index, &BTreeSet::new(), 0).await;
    assert_eq!(index.resyncs(), 0, "events alone must carry the burst ({:?})", index.health());
}

/// Waits (90 s at most) until the index holds exactly `want` in `pods` pods; says what differs if not.
async fn index_matches(index: &ContainerIndex, want: &BTreeSet<String>, pods: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let s = index.snapshot();
        let have: BTreeSet<String> = s.containers().map(|c| c.id.clone()).collect();
        if s.pods().len() == pods && &have == want {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "index not equal to a fresh list within 90 s: {} pods (want {pods}), {} containers, {} missing, {} extra",
                s.pods().len(),
                have.len(),
                want.difference(&have).count(),
                have.difference(want).count()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
