//! The live container index: what an agent queries a thousand times a second.
//!
//! Built by one list plus bounded-concurrency inspects, then kept current from the engine's event
//! stream (re-inspecting the container an event names; exec events are ignored), with a full
//! resync when the stream announces a gap ([`EventKind::Gap`](anyctr_core::model::EventKind::Gap)) or
//! broke, when an update failed, and periodically for engines without events. Readers get
//! immutable [`Snapshot`]s; subscribers get [`IndexChange`]s; [`ContainerIndex::get_newer_than`]
//! waits until an entry is at least as fresh as asked; [`ContainerIndex::health`] says whether
//! the index is being kept current (a dead worker is reported, never a silently frozen snapshot).
//! Reverse lookups ([`ContainerIndex::container_of_pid`], `container_of_cgroup_id`,
//! `containers_in_netns`, `containers_in_mntns`, `who_am_i`) answer from maps of each container's
//! host ids when given host access ([`IndexOptions::host`]); see the `lookup` module.
//!
//! Its own crate, apart from the facade, because the conformance suite (`anyctr-conformance`)
//! exercises it too; apart from `anyctr-core`, because it is machinery built on the trait, not
//! something an engine author needs.
#![forbid(unsafe_code)]

mod lookup;
mod snapshot;
#[cfg(test)]
mod tests;
mod worker;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use lookup::{FoundBy, Owner};
pub(crate) use snapshot::Update;
pub use snapshot::{Entry, Snapshot};

use anyctr_core::engine::{DynEngine, ListOptions};
use anyctr_core::error::{Error, ErrorKind, Result};
use anyctr_core::host_ids::HostLookup;
use anyctr_core::model::ContainerDetail;
use anyctr_core::pods::MainContainerRule;

/// How the index works. Built from [`IndexOptions::default`] and the setters.
///
/// By default the index keeps **every** container, stopped ones included ([`ListOptions::all`]):
/// an agent usually wants to see a container that just exited (its exit code, its logs). Call
/// [`running_only`](Self::running_only) to keep only running containers.
///
/// ```
/// # use anyctr_index::IndexOptions;
/// let options = IndexOptions::default().running_only().resync_interval(std::time::Duration::from_secs(30));
/// assert!(!options.list.all);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IndexOptions {
    /// Time between periodic full resyncs. With events, the index does not depend on them (gaps
    /// and failures trigger their own); they are a last line of defence.
    pub resync_interval: Duration,
    /// Inspects run at once during a full build.
    pub inspect_concurrency: usize,
    /// Which containers to index.
    pub list: ListOptions,
    /// How a pod's main container is chosen.
    pub main_rule: MainContainerRule,
    /// Bound on one list or inspect call.
    pub call_timeout: Duration,
    /// Host access for reverse lookups (pid, cgroup id, netns → container): pass
    /// `anyctr_host::procscan::ProcScan`. Without it those lookups return `Unsupported`.
    pub host: Option<Arc<dyn HostLookup>>,
}

impl IndexOptions {
    /// Time between periodic full resyncs (default 60 s).
    pub fn resync_interval(mut self, interval: Duration) -> Self {
        self.resync_interval = interval;
        self
    }

    /// Inspects run at once during a full build (default 16).
    pub fn inspect_concurrency(mut self, concurrency: usize) -> Self {
        self.inspect_concurrency = concurrency;
        self
    }

    /// Which containers to index (default: all, stopped ones included).
    pub fn list(mut self, list: ListOptions) -> Self {
        self.list = list;
        self
    }

    /// Index running containers only: a container leaves the index when it stops.
    pub fn running_only(mut self) -> Self {
        self.list.all = false;
        self
    }

    /// How a pod's main container is chosen.
    pub fn main_rule(mut self, rule: MainContainerRule) -> Self {
        self.main_rule = rule;
        self
    }

    /// Bound on one list or inspect call (default 30 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Host access for the reverse lookups (see [`host`](Self::host)).
    pub fn host(mut self, host: Arc<dyn HostLookup>) -> Self {
        self.host = Some(host);
        self
    }
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            resync_interval: Duration::from_secs(60),
            inspect_concurrency: 16,
            list: ListOptions::all(),
            main_rule: MainContainerRule::default(),
            call_timeout: Duration::from_secs(30),
            host: None,
        }
    }
}

/// What changed in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexChange {
    /// A container appeared (by id).
    ContainerAdded(String),
    /// A container changed (by id).
    ContainerUpdated(String),
    /// A container left the index (by id).
    ContainerRemoved(String),
    /// By pod uid (or sandbox id for pods without a uid).
    PodAdded(String),
    /// A pod changed.
    PodUpdated(String),
    /// A pod is gone.
    PodRemoved(String),
}

/// Whether the index is being kept current.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexHealth {
    /// Kept current.
    Live,
    /// Still running, but behind until it recovers (the event stream is reconnecting, a repair
    /// resync is pending): the reason.
    Degraded(String),
    /// The background task is gone (it panicked): the snapshot no longer changes, and calls that
    /// need the task fail with `EngineUnavailable`.
    Dead(String),
}

pub(crate) enum Command {
    /// Re-inspect one container now (from `get_newer_than`).
    Refresh(String),
    Resync(oneshot::Sender<Result<()>>),
}

/// A live index of one engine's containers and pods. Dropping it (or [`shutdown`](Self::shutdown))
/// stops the background task.
pub struct ContainerIndex {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    changes: broadcast::Sender<IndexChange>,
    commands: mpsc::Sender<Command>,
    health: watch::Receiver<IndexHealth>,
    resyncs: Arc<std::sync::atomic::AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    host: Option<Arc<dyn HostLookup>>,
}

impl ContainerIndex {
    /// Builds the index (one list plus inspects) and starts keeping it current. Fails if the first
    /// build fails.
    pub async fn start(engine: DynEngine, options: IndexOptions) -> Result<ContainerIndex> {
        let (changes, _) = broadcast::channel(4096);
        // Watch, then list: events from now on are already being collected while the first build
        // runs, so a container that appears in between is not missed (refreshes are idempotent).
        let events = if engine.capabilities().events.is_supported() {
            worker::open_events(&engine, &options).await
        } else {
            None
        };
        let first = worker::full_build(engine.clone(), options.clone()).await?;
        let updates = first.entries.into_iter().map(Update::Put).collect();
        let (first, _) = Snapshot::empty().apply(updates, |_| {}, &options.main_rule);
        let (tx, snapshots) = watch::channel(Arc::new(first));
        let (commands, command_rx) = mpsc::channel(256);
        let (stop, stop_rx) = oneshot::channel();
        let (health_tx, health) = watch::channel(IndexHealth::Live);
        let resyncs = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let host = options.host.clone();
        let worker = worker::Worker {
            engine,
            options,
            snapshots: tx,
            changes: changes.clone(),
            health: health_tx,
            resyncs: resyncs.clone(),
        };
        let task = tokio::spawn(worker.run(events, command_rx, stop_rx));
        Ok(ContainerIndex { snapshots, changes, commands, health, resyncs, stop: Some(stop), task: Some(task), host })
    }

    /// A container of the current snapshot by full id, 12-character short id or name (the
    /// lookup of [`Snapshot::container`] without holding the snapshot). `None` when the index
    /// does not hold it; [`get_newer_than`](Self::get_newer_than) waits for a fresh entry.
    pub fn container(&self, key: &str) -> Option<Arc<ContainerDetail>> {
        self.snapshots.borrow().container(key).cloned()
    }

    /// The pod a container (by id, short id or name) belongs to, in the current snapshot.
    pub fn pod_of(&self, container: &str) -> Option<Arc<anyctr_core::pods::Pod>> {
        self.snapshots.borrow().pod_of(container).cloned()
    }

    /// Whether the index is being kept current (see [`IndexHealth`]).
    pub fn health(&self) -> IndexHealth {
        self.health.borrow().clone()
    }

    /// Full resyncs completed since the first build (periodic, gap, repair or asked for): lets an
    /// agent (or a test) see whether events alone kept the index current.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `EngineUnavailable` with the reason when the background task is gone.
    fn alive(&self) -> Result<()> {
        match &*self.health.borrow() {
            IndexHealth::Dead(why) => {
                Err(Error::new(ErrorKind::EngineUnavailable, format!("the index is dead: {why}")))
            }
            _ => Ok(()),
        }
    }

    /// The current state; cheap (an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// Changes from now on. A receiver that falls more than 4096 changes behind gets `Lagged`
    /// and should re-read [`snapshot`](Self::snapshot).
    pub fn subscribe(&self) -> broadcast::Receiver<IndexChange> {
        self.changes.subscribe()
    }

    /// A watch on snapshots, for consumers that want the latest state rather than each change.
    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// Waits until the container's entry was confirmed with the engine at or after `instant`
    /// (by an inspect that started then or later), asking for a re-inspect if needed. `NotFound`
    /// if such an inspect found no container, `Timeout` after `timeout`, `EngineUnavailable` if
    /// the index is dead.
    pub async fn get_newer_than(
        &self,
        container: &str,
        instant: Instant,
        timeout: Duration,
    ) -> Result<Arc<ContainerDetail>> {
        self.alive()?;
        let mut rx = self.snapshots.clone();
        let wait = async {
            let mut asked = false;
            loop {
                let current = rx.borrow_and_update().clone();
                if let Some(e) = current.entry(container)
                    && e.updated >= instant
                {
                    return Ok(e.detail.clone());
                }
                if current.missing_since(container).is_some_and(|t| t >= instant) {
                    return Err(Error::not_found(format!("container {container} is not on the engine")));
                }
                if !asked {
                    let _ = self.commands.send(Command::Refresh(container.to_owned())).await;
                    asked = true;
                }
                if rx.changed().await.is_err() {
                    self.alive()?;
                    return Err(Error::new(ErrorKind::EngineUnavailable, "the index has shut down"));
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| Error::timeout("get_newer_than", timeout))?
    }

    /// Runs a full resync now and waits for it.
    pub async fn resync(&self) -> Result<()> {
        self.alive()?;
        let gone = || self.alive().err().unwrap_or_else(|| Error::unexpected("the index has shut down"));
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Resync(tx)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Stops the background task and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ContainerIndex {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
