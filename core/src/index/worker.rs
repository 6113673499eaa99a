//! The index's background task: events, refreshes and resyncs, each publishing a new snapshot.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::{Command, Entry, IndexChange, IndexOptions, Snapshot};
use crate::engine::{DynEngine, EventStream};
use crate::error::{ErrorKind, Result};
use crate::model::{ContainerDetail, EventKind, EventOptions};
use crate::pods::Pod;

/// Pause before re-opening a broken event stream.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// First and longest pause before a repair resync after a failed update.
const REPAIR_FIRST: Duration = Duration::from_secs(1);
const REPAIR_MAX: Duration = Duration::from_secs(30);

/// A failed update (an inspect that timed out under load, a resync that failed) is repaired by a
/// full resync soon, with back-off, rather than at the next periodic resync: the event that
/// caused it will not come again.
struct Repair {
    at: Option<tokio::time::Instant>,
    backoff: Duration,
}

impl Repair {
    fn note(&mut self, r: Result<()>) {
        match r {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(error = %e, "index: update failed; repairing with a resync");
                if self.at.is_none() {
                    self.at = Some(tokio::time::Instant::now() + self.backoff);
                }
            }
        }
    }

    fn resynced(&mut self, r: &Result<()>) {
        match r {
            Ok(()) => *self = Repair { at: None, backoff: REPAIR_FIRST },
            Err(_) => {
                self.backoff = (self.backoff * 2).min(REPAIR_MAX);
                self.at = Some(tokio::time::Instant::now() + self.backoff);
            }
        }
    }
}

pub(crate) struct Worker {
    pub engine: DynEngine,
    pub options: IndexOptions,
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    pub changes: broadcast::Sender<IndexChange>,
}

/// One list plus bounded-concurrency inspects. A container removed between list and inspect is
/// skipped; any other inspect failure fails the build (a partial index would look authoritative).
pub(crate) async fn full_build(
    engine: &DynEngine,
    options: &IndexOptions,
    generation: Option<u64>,
) -> Result<Snapshot> {
    let list = tokio::time::timeout(options.call_timeout, engine.list(&options.list))
        .await
        .map_err(|_| crate::Error::timeout("list", options.call_timeout))??;
    let inspected: Vec<Result<Option<ContainerDetail>>> = futures_util::stream::iter(list)
        .map(|summary| inspect(engine, options, summary.id))
        .buffer_unordered(options.inspect_concurrency.max(1))
        .collect()
        .await;
    let now = Instant::now();
    let mut containers = HashMap::new();
    for detail in inspected {
        if let Some(d) = detail? {
            containers.insert(d.id.clone(), Entry { detail: Arc::new(d), updated: now });
        }
    }
    Ok(Snapshot::build(generation.map_or(0, |g| g + 1), containers, HashMap::new(), &options.main_rule))
}

/// Inspects one container; `None` when the engine no longer has it.
async fn inspect(engine: &DynEngine, options: &IndexOptions, id: String) -> Result<Option<ContainerDetail>> {
    match tokio::time::timeout(options.call_timeout, engine.inspect(&id)).await {
        Err(_) => Err(crate::Error::timeout("inspect", options.call_timeout).with_container(id)),
        Ok(Err(e)) if e.kind() == ErrorKind::NotFound => Ok(None),
        Ok(r) => r.map(Some),
    }
}

/// Opens the engine's event stream, bounded; `None` (logged) when it cannot be had.
pub(crate) async fn open_events(engine: &DynEngine, options: &IndexOptions) -> Option<EventStream> {
    match tokio::time::timeout(options.call_timeout, engine.events(EventOptions::default())).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "index: cannot open the event stream");
            None
        }
        Err(_) => None,
    }
}

async fn next_event(stream: &mut Option<EventStream>) -> Option<Result<crate::model::Event>> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Worker {
    /// Runs until stopped. `events` was opened before the first build (watch, then list), so
    /// nothing that happened between the list and the subscription is missed.
    pub(crate) async fn run(
        self,
        mut events: Option<EventStream>,
        mut commands: mpsc::Receiver<Command>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let wants_events = self.engine.capabilities().events.is_supported();
        let mut reconnect_at = tokio::time::Instant::now() + RECONNECT_DELAY;
        let mut resync = tokio::time::interval(self.options.resync_interval);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await; // the first tick is immediate; the index was just built
        let mut repair = Repair { at: None, backoff: REPAIR_FIRST };
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = resync.tick() => {
                    let r = self.resync().await;
                    repair.resynced(&r);
                }
                _ = tokio::time::sleep_until(repair.at.unwrap_or_else(tokio::time::Instant::now)), if repair.at.is_some() => {
                    let r = self.resync().await;
                    repair.resynced(&r);
                }
                cmd = commands.recv() => match cmd {
                    None => break,
                    Some(Command::Refresh(id)) => repair.note(self.refresh(&id).await),
                    Some(Command::Resync(reply)) => {
                        let r = self.resync().await;
                        repair.resynced(&r);
                        let _ = reply.send(r);
                    }
                },
                event = next_event(&mut events) => {
                    let broken = match event {
                        Some(Ok(e)) => {
                            match e.kind {
                                EventKind::ExecStart | EventKind::ExecExit => {}
                                EventKind::Other(ref what) if what == "resync" => repair.note(self.resync().await),
                                _ => repair.note(self.refresh(&e.container_id).await),
                            }
                            None
                        }
                        Some(Err(e)) => Some(e.to_string()),
                        None => Some("the event stream ended".to_owned()),
                    };
                    if let Some(why) = broken {
                        tracing::warn!(%why, "index: event stream broke; reconnecting");
                        events = None;
                        reconnect_at = tokio::time::Instant::now() + RECONNECT_DELAY;
                    }
                }
                _ = tokio::time::sleep_until(reconnect_at), if wants_events && events.is_none() => {
                    events = self.open_events().await;
                    reconnect_at = tokio::time::Instant::now() + RECONNECT_DELAY;
                    if events.is_some() {
                        // Whatever happened while the stream was down is repaired now.
                        repair.note(self.resync().await);
                    }
                }
            }
        }
    }

    async fn open_events(&self) -> Option<EventStream> {
        open_events(&self.engine, &self.options).await
    }

    async fn resync(&self) -> Result<()> {
        let generation = self.snapshots.borrow().generation;
        let fresh = full_build(&self.engine, &self.options, Some(generation)).await?;
        self.publish(fresh.entries().clone(), HashMap::new());
        Ok(())
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        let current = self.snapshots.borrow().clone();
        let id = current.entry(key).map(|e| e.detail.id.clone()).unwrap_or_else(|| key.to_owned());
        let found = inspect(&self.engine, &self.options, id.clone()).await?;
        let mut containers = current.entries().clone();
        let mut missing = current.missing().clone();
        match found.filter(|d| self.wanted(d)) {
            Some(d) => {
                missing.remove(key);
                containers.insert(d.id.clone(), Entry { detail: Arc::new(d), updated: Instant::now() });
            }
            None => {
                containers.remove(&id);
                // Bounded: forgotten at the next full resync.
                missing.insert(key.to_owned(), Instant::now());
            }
        }
        self.publish(containers, missing);
        Ok(())
    }

    fn wanted(&self, d: &ContainerDetail) -> bool {
        (self.options.list.all || d.state.status.is_running()) && self.options.list.matches_labels(&d.labels)
    }

    /// Swaps in a new snapshot, then tells subscribers what changed.
    fn publish(&self, containers: HashMap<String, Entry>, missing: HashMap<String, Instant>) {
        let old = self.snapshots.borrow().clone();
        let new = Arc::new(Snapshot::build(old.generation + 1, containers, missing, &self.options.main_rule));
        let changes = diff(&old, &new);
        self.snapshots.send_replace(new);
        for c in changes {
            let _ = self.changes.send(c);
        }
    }
}

fn pod_key(p: &Pod) -> Option<String> {
    p.uid.clone().or_else(|| p.sandbox_id().map(str::to_owned))
}

/// What a pod looks like for change detection: its members and their states.
fn pod_shape(p: &Pod) -> BTreeSet<(String, String)> {
    p.all().map(|c| (c.id.clone(), format!("{:?}", c.state))).collect()
}

fn diff(old: &Snapshot, new: &Snapshot) -> Vec<IndexChange> {
    let mut out = Vec::new();
    for (id, e) in new.entries() {
        match old.entries().get(id) {
            None => out.push(IndexChange::ContainerAdded(id.clone())),
            Some(before) if before.detail != e.detail => out.push(IndexChange::ContainerUpdated(id.clone())),
            Some(_) => {}
        }
    }
    for id in old.entries().keys().filter(|id| !new.entries().contains_key(*id)) {
        out.push(IndexChange::ContainerRemoved(id.clone()));
    }
    let pods = |s: &Snapshot| -> BTreeMap<String, BTreeSet<(String, String)>> {
        s.pods().iter().filter_map(|p| Some((pod_key(p)?, pod_shape(p)))).collect()
    };
    let (before, after) = (pods(old), pods(new));
    for (key, shape) in &after {
        match before.get(key) {
            None => out.push(IndexChange::PodAdded(key.clone())),
            Some(prev) if prev != shape => out.push(IndexChange::PodUpdated(key.clone())),
            Some(_) => {}
        }
    }
    for key in before.keys().filter(|k| !after.contains_key(*k)) {
        out.push(IndexChange::PodRemoved(key.clone()));
    }
    out
}
