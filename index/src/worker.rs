//! The index's background task. It reads the event stream without pause (a daemon drops events
//! for a subscriber that stops reading), turns events into refreshes of one container each,
//! coalesced (one inspect in flight per container, plus one more if an event came during it),
//! runs them concurrently, and publishes each batch of answers as one new snapshot. A gap in the
//! event stream, a failed update or the periodic timer asks for a full resync, which runs
//! alongside; every answer carries the instant before its engine call, and the newer one wins.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::lookup::read_host_ids;
use super::snapshot::Update;
use super::{Command, Entry, IndexChange, IndexHealth, IndexOptions, Snapshot};
use anyctr_core::engine::{DynEngine, EventStream};
use anyctr_core::error::{ErrorKind, Result};
use anyctr_core::model::{ContainerDetail, EventKind, EventOptions};

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
    fn failed(&mut self, e: &anyctr_core::Error) {
        tracing::warn!(error = %e, "index: update failed; repairing with a resync");
        if self.at.is_none() {
            self.at = Some(tokio::time::Instant::now() + self.backoff);
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

/// A full list plus inspects: the instant before the list, and what it found.
pub(crate) struct Build {
    pub stamp: Instant,
    pub entries: Vec<Entry>,
}

/// The engine's bulk inspect ([`inspect_all`](anyctr_core::ContainerEngine::inspect_all)) where it
/// has one (a few round trips for the whole engine), else one list plus bounded-concurrency
/// inspects. A container removed between list and inspect is skipped; any other inspect failure
/// fails the build (a partial index would look authoritative).
pub(crate) async fn full_build(engine: DynEngine, options: IndexOptions) -> Result<Build> {
    let stamp = Instant::now();
    let bulk = tokio::time::timeout(options.call_timeout, engine.inspect_all(&options.list))
        .await
        .map_err(|_| anyctr_core::Error::timeout("inspect_all", options.call_timeout))?;
    match bulk {
        Ok(details) => {
            let entries = details
                .into_iter()
                .map(|d| {
                    let host = read_host_ids(options.host.as_ref(), &d);
                    Entry { detail: Arc::new(d), updated: stamp, host }
                })
                .collect();
            return Ok(Build { stamp, entries });
        }
        Err(e) if e.kind() == ErrorKind::Unsupported => {}
        Err(e) => return Err(e),
    }
    let list = tokio::time::timeout(options.call_timeout, engine.list(&options.list))
        .await
        .map_err(|_| anyctr_core::Error::timeout("list", options.call_timeout))??;
    let inspected: Vec<Result<Option<ContainerDetail>>> = futures_util::stream::iter(list)
        .map(|summary| inspect(&engine, &options, summary.id))
        .buffer_unordered(options.inspect_concurrency.max(1))
        .collect()
        .await;
    let mut entries = Vec::new();
    for detail in inspected {
        if let Some(d) = detail? {
            let host = read_host_ids(options.host.as_ref(), &d);
            entries.push(Entry { detail: Arc::new(d), updated: stamp, host });
        }
    }
    Ok(Build { stamp, entries })
}

/// Inspects one container; `None` when the engine no longer has it.
async fn inspect(engine: &DynEngine, options: &IndexOptions, id: String) -> Result<Option<ContainerDetail>> {
    match tokio::time::timeout(options.call_timeout, engine.inspect(&id)).await {
        Err(_) => Err(anyctr_core::Error::timeout("inspect", options.call_timeout).with_container(id)),
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

async fn next_event(stream: &mut Option<EventStream>) -> Option<Result<anyctr_core::model::Event>> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// The answer of one refresh: what was asked, the instant before the inspect, the result.
type Refreshed = (Target, Instant, Result<Option<ContainerDetail>>);

/// What a refresh inspects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    /// What the engine is asked: the event's `namespace/id` where it has a namespace (an exact
    /// lookup: a bare id of a removed container may match others by prefix), else its id; or a
    /// caller's key (id, short id or name).
    key: String,
    /// The container id the answer must carry; an answer about another container means this one
    /// is gone. `None` for a caller's key the index does not know yet.
    id: Option<String>,
}

impl Target {
    fn of_event(e: &anyctr_core::model::Event) -> Target {
        let key = match &e.namespace {
            Some(ns) => format!("{ns}/{}", e.container_id),
            None => e.container_id.clone(),
        };
        Target { key, id: Some(e.container_id.clone()) }
    }
}

/// Marks the index dead if the worker ends other than by being stopped (a panic included).
struct DeathWatch {
    health: watch::Sender<IndexHealth>,
    stopped: bool,
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        if !self.stopped {
            let why = if std::thread::panicking() { "the index worker panicked" } else { "the index worker ended" };
            tracing::error!(why, "index: worker died; the snapshot is frozen");
            self.health.send_replace(IndexHealth::Dead(why.to_owned()));
        }
    }
}

pub(crate) struct Worker {
    pub engine: DynEngine,
    pub options: IndexOptions,
    pub snapshots: watch::Sender<Arc<Snapshot>>,
    pub changes: broadcast::Sender<IndexChange>,
    pub health: watch::Sender<IndexHealth>,
    pub resyncs: Arc<std::sync::atomic::AtomicU64>,
}

/// The refresh queue: each container at most once queued and once in flight.
#[derive(Default)]
struct Refreshes {
    queue: VecDeque<Target>,
    queued: HashSet<Target>,
    in_flight: HashSet<Target>,
    /// In flight, and asked for again since the inspect started.
    again: HashSet<Target>,
}

impl Refreshes {
    fn ask(&mut self, target: Target) {
        if self.in_flight.contains(&target) {
            self.again.insert(target);
        } else if self.queued.insert(target.clone()) {
            self.queue.push_back(target);
        }
    }

    fn next(&mut self) -> Option<Target> {
        let target = self.queue.pop_front()?;
        self.queued.remove(&target);
        self.in_flight.insert(target.clone());
        Some(target)
    }

    fn done(&mut self, target: &Target) {
        self.in_flight.remove(target);
        if self.again.remove(target) {
            self.ask(target.clone());
        }
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
        let mut death = DeathWatch { health: self.health.clone(), stopped: false };
        let wants_events = self.engine.capabilities().events.is_supported();
        let mut reconnect_at = tokio::time::Instant::now() + RECONNECT_DELAY;
        let mut periodic = tokio::time::interval(self.options.resync_interval);
        periodic.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        periodic.tick().await; // the first tick is immediate; the index was just built
        let mut repair = Repair { at: None, backoff: REPAIR_FIRST };
        let mut refreshes = Refreshes::default();
        let mut inspects: FuturesUnordered<BoxFuture<'static, Refreshed>> = FuturesUnordered::new();
        let mut resync: Option<BoxFuture<'static, Result<Build>>> = None;
        let mut resync_wanted = false;
        // Callers of `resync()`: those waiting for the next resync to start, and for the running one.
        let (mut waiting_next, mut waiting_running): (Vec<_>, Vec<oneshot::Sender<Result<()>>>) = (vec![], vec![]);
        loop {
            while inspects.len() < self.options.inspect_concurrency.max(1) {
                let Some(target) = refreshes.next() else { break };
                inspects.push(self.refresh_call(target));
            }
            if resync.is_none() && resync_wanted {
                resync_wanted = false;
                waiting_running.append(&mut waiting_next);
                resync = Some(full_build(self.engine.clone(), self.options.clone()).boxed());
            }
            self.set_health(wants_events && events.is_none(), repair.at.is_some());
            tokio::select! {
                _ = &mut stop => break,
                event = next_event(&mut events) => match event {
                    Some(Ok(e)) if e.kind == EventKind::Gap => {
                        tracing::info!(event = ?e, "index: the event stream announced a gap; resyncing");
                        resync_wanted = true;
                    }
                    // The agent's own execs must not rebuild the index: they change no inspect.
                    Some(Ok(e)) if e.is_exec() || e.container_id.is_empty() => {}
                    Some(Ok(e)) => refreshes.ask(Target::of_event(&e)),
                    broken => {
                        let why = match broken {
                            Some(Err(e)) => e.to_string(),
                            _ => "the event stream ended".to_owned(),
                        };
                        tracing::warn!(%why, "index: event stream broke; reconnecting");
                        events = None;
                        reconnect_at = tokio::time::Instant::now() + RECONNECT_DELAY;
                    }
                },
                Some(first) = inspects.next(), if !inspects.is_empty() => {
                    // Everything else already answered goes into the same snapshot.
                    let mut batch = vec![first];
                    while let Some(Some(more)) = inspects.next().now_or_never() {
                        batch.push(more);
                    }
                    for (target, _, _) in &batch {
                        refreshes.done(target);
                    }
                    if let Err(e) = self.apply_refreshes(batch) {
                        repair.failed(&e);
                    }
                }
                built = async { resync.as_mut().expect("guarded").await }, if resync.is_some() => {
                    resync = None;
                    let r = built.map(|b| self.apply_resync(b));
                    repair.resynced(&r);
                    for w in waiting_running.drain(..) {
                        let _ = w.send(r.as_ref().map(|_| ()).map_err(|e| anyctr_core::Error::new(e.kind(), e.to_string())));
                    }
                }
                cmd = commands.recv() => match cmd {
                    None => break,
                    Some(Command::Refresh(key)) => {
                        let id = self.snapshots.borrow().entry(&key).map(|e| e.detail.id.clone());
                        refreshes.ask(Target { key, id });
                    }
                    Some(Command::Resync(reply)) => {
                        waiting_next.push(reply);
                        resync_wanted = true;
                    }
                },
                _ = periodic.tick() => resync_wanted = true,
                _ = tokio::time::sleep_until(repair.at.unwrap_or_else(tokio::time::Instant::now)), if repair.at.is_some() => {
                    repair.at = None;
                    resync_wanted = true;
                }
                _ = tokio::time::sleep_until(reconnect_at), if wants_events && events.is_none() => {
                    events = open_events(&self.engine, &self.options).await;
                    reconnect_at = tokio::time::Instant::now() + RECONNECT_DELAY;
                    // Whatever happened while the stream was down is repaired now.
                    resync_wanted |= events.is_some();
                }
            }
        }
        death.stopped = true;
    }

    fn set_health(&self, events_down: bool, repair_pending: bool) {
        let health = match (events_down, repair_pending) {
            (true, _) => IndexHealth::Degraded("the event stream is down; reconnecting".to_owned()),
            (false, true) => IndexHealth::Degraded("an update failed; a repair resync is pending".to_owned()),
            (false, false) => IndexHealth::Live,
        };
        self.health.send_if_modified(|h| {
            let changed = *h != health;
            *h = health;
            changed
        });
    }

    /// One refresh; the stamp is taken before the inspect.
    fn refresh_call(&self, target: Target) -> BoxFuture<'static, Refreshed> {
        let (engine, options) = (self.engine.clone(), self.options.clone());
        async move {
            let stamp = Instant::now();
            let r = inspect(&engine, &options, target.key.clone()).await;
            (target, stamp, r)
        }
        .boxed()
    }

    /// Publishes a batch of refresh answers as one snapshot. An answer older than what the index
    /// holds (a resync finished in between) is dropped. The first failure is returned, after the
    /// others were applied.
    fn apply_refreshes(&self, batch: Vec<Refreshed>) -> Result<()> {
        let current = self.snapshots.borrow().clone();
        let mut updates = Vec::new();
        let mut found = Vec::new();
        let mut absent = Vec::new();
        let mut failure = Ok(());
        for (Target { key, id }, stamp, result) in batch {
            let held = current.entry(id.as_deref().unwrap_or(&key));
            if held.is_some_and(|e| e.updated > stamp) {
                continue;
            }
            // An answer about another container (a prefix or name match) means this one is gone.
            let result = result.map(|d| d.filter(|d| id.as_ref().is_none_or(|id| *id == d.id)));
            match result {
                Ok(Some(d)) if self.wanted(&d) => {
                    found.push(key);
                    let host = read_host_ids(self.options.host.as_ref(), &d);
                    updates.push(Update::Put(Entry { detail: Arc::new(d), updated: stamp, host }));
                }
                Ok(other) => {
                    let gone = id.or(held.map(|e| e.detail.id.clone())).or(other.map(|d| d.id));
                    updates.push(Update::Remove(gone.unwrap_or_else(|| key.clone())));
                    absent.push((key, stamp));
                }
                Err(e) => {
                    if failure.is_ok() {
                        failure = Err(e);
                    }
                }
            }
        }
        self.publish(&current, updates, |missing| {
            for key in found {
                missing.remove(&key);
            }
            missing.extend(absent);
        });
        failure
    }

    /// Merges a full build: each container's newer answer wins (a refresh that started after
    /// the list started is kept); containers the list did not show and the index did not confirm
    /// since are removed.
    fn apply_resync(&self, build: Build) {
        self.resyncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let current = self.snapshots.borrow().clone();
        let stamp = build.stamp;
        let listed: HashSet<String> = build.entries.iter().map(|e| e.detail.id.clone()).collect();
        let mut updates: Vec<Update> = build
            .entries
            .into_iter()
            .filter(|e| current.entries().get(&e.detail.id).is_none_or(|held| held.updated <= stamp))
            .map(|e| match current.entries().get(&e.detail.id) {
                // The same detail: keep the shared `Arc`, refresh the stamp.
                Some(held) if held.detail == e.detail => {
                    Update::Put(Entry { detail: held.detail.clone(), updated: e.updated, host: e.host })
                }
                _ => Update::Put(e),
            })
            .collect();
        updates.extend(
            current
                .entries()
                .iter()
                .filter(|(id, held)| !listed.contains(*id) && held.updated <= stamp)
                .map(|(id, _)| Update::Remove(id.clone())),
        );
        // Bounded: what was missing before this resync started is forgotten.
        self.publish(&current, updates, |missing| missing.retain(|_, at| *at > stamp));
    }

    fn wanted(&self, d: &ContainerDetail) -> bool {
        (self.options.list.all || d.state.status.is_running()) && self.options.list.matches_labels(&d.labels)
    }

    /// Swaps in the next snapshot, then tells subscribers what changed.
    fn publish(&self, current: &Snapshot, updates: Vec<Update>, missing: impl FnOnce(&mut HashMap<String, Instant>)) {
        let (next, changes) = current.apply(updates, missing, &self.options.main_rule);
        self.snapshots.send_replace(Arc::new(next));
        for c in changes {
            let _ = self.changes.send(c);
        }
    }
}
