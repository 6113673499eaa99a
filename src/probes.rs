//! [`ProbeCache`]: the container probes of [`anyctr_host::probes`] (time zone, libc, hostname,
//! pid 1), computed lazily and cached per container.
//!
//! Time zone, libc and hostname are facts of a container's image and configuration: each is
//! computed on first ask and kept for that container *run* (its id and the time its init
//! started, so a restart asks again). Pid 1's reaping and zombie count change while it runs and
//! are read fresh on every call (one `/proc` read on the host, one exec in a sandbox).
//! Details come from [`inspect`](ContainerEngine::inspect) or, with no daemon round trip, from
//! the live index's snapshot.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyctr_core::model::{ContainerDetail, Libc, Pid1, Probed, TimeZone};
use anyctr_core::{ContainerEngine, DynEngine, Result};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

/// One container run: its id and its init's start.
type RunKey = (String, Option<DateTime<Utc>>);

#[derive(Default)]
struct Cached {
    timezone: OnceCell<Probed<TimeZone>>,
    libc: OnceCell<Probed<Libc>>,
    hostname: OnceCell<Probed<String>>,
}

/// Lazily computed, cached container probes for one engine. Cheap to share behind an `Arc`.
pub struct ProbeCache {
    engine: DynEngine,
    host_root: Option<PathBuf>,
    runs: Mutex<HashMap<RunKey, Arc<Cached>>>,
}

impl std::fmt::Debug for ProbeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runs = self.runs.lock().map(|r| r.len()).unwrap_or(0);
        f.debug_struct("ProbeCache").field("engine", &self.engine.name()).field("runs", &runs).finish()
    }
}

impl ProbeCache {
    /// A cache for `engine`'s containers, reading the host under the engine's host root.
    pub fn new(engine: DynEngine) -> ProbeCache {
        let host_root = engine.host_root().map(PathBuf::from);
        ProbeCache { engine, host_root, runs: Mutex::new(HashMap::new()) }
    }

    fn run(&self, detail: &ContainerDetail) -> Arc<Cached> {
        let key = (detail.id.clone(), detail.state.started_at);
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.entry(key).or_default().clone()
    }

    /// The container's time zone (cached for the run).
    pub async fn timezone(&self, detail: &ContainerDetail) -> Result<Probed<TimeZone>> {
        let run = self.run(detail);
        let host_root = self.host_root.as_deref();
        run.timezone.get_or_try_init(|| anyctr_host::probes::timezone(&*self.engine, detail, host_root)).await.cloned()
    }

    /// The container's C library (cached for the run).
    pub async fn libc(&self, detail: &ContainerDetail) -> Result<Probed<Libc>> {
        let run = self.run(detail);
        let host_root = self.host_root.as_deref();
        run.libc.get_or_try_init(|| anyctr_host::probes::libc(&*self.engine, detail, host_root)).await.cloned()
    }

    /// The container's hostname (cached for the run).
    pub async fn hostname(&self, detail: &ContainerDetail) -> Result<Probed<String>> {
        let run = self.run(detail);
        let host_root = self.host_root.as_deref();
        run.hostname.get_or_try_init(|| anyctr_host::probes::hostname(&*self.engine, detail, host_root)).await.cloned()
    }

    /// Pid 1's name, whether it reaps zombies and the zombie count: read fresh on every call.
    pub async fn pid1(&self, detail: &ContainerDetail) -> Result<Probed<Pid1>> {
        anyctr_host::probes::pid1(&*self.engine, detail, self.host_root.as_deref()).await
    }

    /// Forgets what was cached about container `id` (every run of it), e.g. when it is removed.
    pub fn forget(&self, id: &str) {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).retain(|(run_id, _), _| run_id != id);
    }

    /// How many container runs have cached answers.
    pub fn cached_runs(&self) -> usize {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
