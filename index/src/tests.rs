//! The index's own mechanics, over an in-memory engine: what it does with the events and answers
//! it gets (which events cause inspects, how they are coalesced, freshness stamps, gaps, a dead
//! worker, incremental pods). Behaviour against real engines is in the facade's `tests/index*.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::snapshot::Update;
use super::*;
use anyctr_core::capability::{Capabilities, Support};
use anyctr_core::engine::{ContainerEngine, EngineInfo, EventStream};
use anyctr_core::model::{ContainerSummary, Event, EventKind, EventOptions, PodIdentity};
use anyctr_core::pods::group_pods;

/// A running container; in pod `uid` with sandbox `sandbox` (itself when `id == sandbox`) or in none.
fn detail(id: &str, pod: Option<(&str, &str)>) -> ContainerDetail {
    let (uid, sandbox) = pod.unwrap_or_default();
    let mut d = (*anyctr_testkit::detail::pod_member(id, &format!("c-{id}"), uid, sandbox, true)).clone();
    d.name = format!("name-{id}");
    if pod.is_none() {
        d.pod = PodIdentity::default();
    }
    d
}

/// An engine whose containers, inspect delay and event stream the test controls.
#[derive(Default)]
struct Fake {
    containers: Mutex<HashMap<String, ContainerDetail>>,
    inspects: AtomicUsize,
    lists: AtomicUsize,
    inspect_delay: Mutex<Duration>,
    events: Mutex<Option<mpsc::UnboundedReceiver<Result<Event>>>>,
}

impl Fake {
    fn with_events() -> (Arc<Fake>, mpsc::UnboundedSender<Result<Event>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fake = Fake { events: Mutex::new(Some(rx)), ..Default::default() };
        (Arc::new(fake), tx)
    }

    fn put(&self, d: ContainerDetail) {
        self.containers.lock().unwrap().insert(d.id.clone(), d);
    }
}

#[async_trait::async_trait]
impl ContainerEngine for Fake {
    fn name(&self) -> &str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { inspect: Support::Native, events: Support::Native, ..Default::default() }
    }

    async fn identify(&self) -> Result<EngineInfo> {
        Ok(EngineInfo::new("fake", "in-memory", "0"))
    }

    async fn list(&self, _: &ListOptions) -> Result<Vec<ContainerSummary>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let all = self.containers.lock().unwrap();
        Ok(all
            .values()
            .map(|d| {
                let mut summary = ContainerSummary::new(&d.id, &d.image, d.state.status.clone());
                summary.names = vec![d.name.clone()];
                summary.labels = d.labels.clone();
                summary
            })
            .collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        self.inspects.fetch_add(1, Ordering::SeqCst);
        assert_ne!(container, "panic", "the engine answered something the index cannot take");
        let delay = *self.inspect_delay.lock().unwrap();
        // Read before the delay: the answer is as old as the call's start.
        let found = self.containers.lock().unwrap().get(container).cloned();
        tokio::time::sleep(delay).await;
        found.ok_or_else(|| Error::not_found(container.to_owned()))
    }

    async fn events(&self, _: EventOptions) -> Result<EventStream> {
        let rx = self.events.lock().unwrap().take().expect("one subscription");
        Ok(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed())
    }
}

fn event(kind: EventKind, id: &str) -> Result<Event> {
    let mut e = Event::gap("");
    e.kind = kind;
    e.container_id = id.to_owned();
    e.attributes.clear();
    e.action = "test".into();
    Ok(e)
}

fn options() -> IndexOptions {
    IndexOptions { resync_interval: Duration::from_secs(3600), ..Default::default() }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn exec_events_cause_no_inspect_and_bursts_are_coalesced() {
    let (fake, tx) = Fake::with_events();
    fake.put(detail("a", None));
    let index = ContainerIndex::start(fake.clone(), options()).await.unwrap();
    let after_build = fake.inspects.load(Ordering::SeqCst);
    for kind in [EventKind::ExecStart, EventKind::ExecExit, EventKind::Other("exec_create".into())] {
        tx.send(event(kind, "a")).unwrap();
    }
    // Then a burst about one container while its inspect is slow: one in flight, one after it.
    *fake.inspect_delay.lock().unwrap() = Duration::from_millis(200);
    fake.put(detail("b", None));
    for _ in 0..50 {
        tx.send(event(EventKind::Start, "b")).unwrap();
    }
    until("b indexed", || index.snapshot().container("b").is_some()).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let inspects = fake.inspects.load(Ordering::SeqCst) - after_build;
    assert!((1..=2).contains(&inspects), "50 events about b, 3 exec events: {inspects} inspects");
    assert_eq!(index.resyncs(), 0);
    index.shutdown().await;
}

#[tokio::test]
async fn an_entry_is_stamped_before_its_inspect() {
    let (fake, _tx) = Fake::with_events();
    fake.put(detail("a", None));
    let index = ContainerIndex::start(fake.clone(), options()).await.unwrap();
    *fake.inspect_delay.lock().unwrap() = Duration::from_millis(300);
    let asked = Instant::now();
    let got = index.get_newer_than("a", asked, Duration::from_secs(5)).await.unwrap();
    let entry = index.snapshot().entry("a").unwrap().clone();
    assert_eq!(got.id, "a");
    // The inspect took 300 ms; its answer is stamped with its start, not its end.
    assert!(
        entry.updated >= asked && entry.updated < asked + Duration::from_millis(250),
        "{:?}",
        entry.updated - asked
    );
    index.shutdown().await;
}

#[tokio::test]
async fn a_gap_is_repaired_by_a_resync() {
    let (fake, tx) = Fake::with_events();
    let index = ContainerIndex::start(fake.clone(), options()).await.unwrap();
    // Created while the stream was down: no event for it, only the gap announcement.
    fake.put(detail("lost", None));
    tx.send(Ok(Event::gap("test"))).unwrap();
    until("the gap repaired", || index.snapshot().container("lost").is_some()).await;
    assert_eq!(index.resyncs(), 1);
    assert_eq!(index.health(), IndexHealth::Live);
    index.shutdown().await;
}

#[tokio::test]
async fn a_dead_worker_is_reported() {
    let (fake, tx) = Fake::with_events();
    fake.put(detail("a", None));
    let index = ContainerIndex::start(fake.clone(), options()).await.unwrap();
    assert_eq!(index.health(), IndexHealth::Live);
    tx.send(event(EventKind::Start, "panic")).unwrap();
    until("the death noticed", || matches!(index.health(), IndexHealth::Dead(_))).await;
    let e = index.get_newer_than("a", Instant::now(), Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EngineUnavailable, "{e}");
    assert!(e.to_string().contains("panicked"), "{e}");
    assert_eq!(index.resync().await.unwrap_err().kind(), ErrorKind::EngineUnavailable);
}

#[tokio::test]
async fn a_removed_container_answered_for_by_another_is_removed() {
    let (fake, tx) = Fake::with_events();
    fake.put(detail("abc", None));
    let index = ContainerIndex::start(fake.clone(), options()).await.unwrap();
    // An engine that matches a removed id by prefix answers with another container.
    let other = detail("abcdef", None);
    fake.containers.lock().unwrap().insert("abc".into(), other);
    tx.send(event(EventKind::Destroy, "abc")).unwrap();
    until("abc removed", || index.snapshot().container("abc").is_none()).await;
    assert!(index.snapshot().missing_since("abc").is_some());
    index.shutdown().await;
}

#[test]
fn incremental_pods_equal_a_full_regroup() {
    let rule = MainContainerRule::default();
    let mut s = Snapshot::empty();
    let now = Instant::now();
    let put = |d: ContainerDetail| Update::Put(Entry { detail: Arc::new(d), updated: now, host: Default::default() });
    let steps: Vec<Vec<Update>> = vec![
        vec![put(detail("s1", Some(("u1", "s1")))), put(detail("c1", Some(("u1", "s1")))), put(detail("x", None))],
        vec![put(detail("s2", Some(("u2", "s2"))))],
        vec![put(detail("c2", Some(("u2", "s2")))), Update::Remove("c1".into())],
        // c2 moves to pod u1 (a relabel), then u2's sandbox goes.
        vec![put(detail("c2", Some(("u1", "s1"))))],
        vec![Update::Remove("s2".into())],
        vec![Update::Remove("s1".into()), Update::Remove("c2".into())],
    ];
    let mut all_changes = Vec::new();
    for updates in steps {
        let (next, changes) = s.apply(updates, |_| {}, &rule);
        s = next;
        all_changes.extend(changes);
        let details: Vec<Arc<ContainerDetail>> = s.containers().cloned().collect();
        let want: Vec<Vec<String>> =
            group_pods(&details, &rule).iter().map(|p| p.all().map(|c| c.id.clone()).collect()).collect();
        let have: Vec<Vec<String>> = s.pods().iter().map(|p| p.all().map(|c| c.id.clone()).collect()).collect();
        assert_eq!(have, want);
        for p in s.pods() {
            for c in p.all() {
                assert_eq!(s.pod_of(&c.id).map(|p| &p.uid), Some(&p.uid));
            }
            assert!(s.pod_by_uid(p.uid.as_deref().unwrap()).is_some());
        }
    }
    assert_eq!(s.pods().len(), 0);
    assert!(s.pod_by_uid("u1").is_none() && s.pod_by_sandbox("s2").is_none());
    for want in [
        IndexChange::PodAdded("u1".into()),
        IndexChange::PodAdded("u2".into()),
        IndexChange::PodUpdated("u1".into()),
        IndexChange::PodRemoved("u2".into()),
        IndexChange::PodRemoved("u1".into()),
        IndexChange::ContainerRemoved("c1".into()),
    ] {
        assert!(all_changes.contains(&want), "{want:?} in {all_changes:?}");
    }
}

#[test]
fn ids_that_are_not_ascii_do_not_panic() {
    let rule = MainContainerRule::default();
    let now = Instant::now();
    // 11 ASCII bytes then a 2-byte character: byte 12 is inside it.
    let ids = ["abcdefghijké-rest", "ééééééééééééé", "short", ""];
    let updates = ids
        .iter()
        .map(|id| Update::Put(Entry { detail: Arc::new(detail(id, None)), updated: now, host: Default::default() }))
        .collect();
    let (s, _) = Snapshot::empty().apply(updates, |_| {}, &rule);
    for id in ids {
        assert_eq!(s.container(id).map(|d| d.id.as_str()), Some(id));
    }
    assert_eq!(s.container("éééééé").map(|d| d.id.as_str()), Some("ééééééééééééé"), "a 12-byte prefix");
    let (s, _) = s.apply(ids.iter().map(|id| Update::Remove(id.to_string())).collect(), |_| {}, &rule);
    assert_eq!(s.container_count(), 0);
}
