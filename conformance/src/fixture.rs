//! Fixture containers: what the suite inspects and execs into.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use anyctr_core::engine::DynEngine;
use anyctr_core::error::Result;
use anyctr_core::model::{CreateSpec, LogFormat, MountSpec, PodSpec, RuntimeClass};

/// Label every conformance container carries (value: the run id), so leftovers are findable.
pub const RUN_LABEL: &str = "anyctr.conformance";

/// A unique id for one run: time plus pid, good enough to keep concurrent runs apart.
pub fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}

/// What the setup states about its fixture, up front; the trials check every part of it.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The runtime class inspect must report.
    pub runtime: RuntimeClass,
    /// The log file inspect must report; `None`: the engine must report no log file.
    pub log: Option<ExpectedLog>,
    /// The fixture is created in a pod, whose identity inspect must report.
    pub pod: bool,
    /// Labels and the image set at creation are not visible through this engine (dockerd passes
    /// neither on to containerd): the trials check that they are indeed not reported.
    pub labels_hidden: bool,
}

/// Where the engine keeps the fixture's log, and in which format.
#[derive(Debug, Clone)]
pub struct ExpectedLog {
    /// The log file format.
    pub format: LogFormat,
    /// How the reported path must end (whole components; the whole path when absolute), with
    /// placeholders `{id}` (the container id), `{name}` (the name the fixture was created with)
    /// and `{pod_namespace}`, `{pod_name}`, `{pod_uid}`: e.g. `containers/{id}/{id}-json.log`.
    pub path: String,
}

impl ExpectedLog {
    /// A log expectation: `format`, at a path containing `path`.
    pub fn new(format: LogFormat, path: impl Into<String>) -> Self {
        ExpectedLog { format, path: path.into() }
    }

    /// The path template with the fixture's values filled in.
    pub fn path_for(&self, fixture: &Fixture) -> PathBuf {
        let mut path = self.path.replace("{id}", &fixture.id);
        path = path.replace("{name}", fixture.spec.name.as_deref().unwrap_or(&fixture.name));
        if let Some((pod, _)) = &fixture.pod {
            path = path.replace("{pod_namespace}", &pod.namespace).replace("{pod_name}", &pod.name);
            path = path.replace("{pod_uid}", &pod.uid);
        }
        PathBuf::from(path)
    }
}

/// The main fixture container, as created.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The container id.
    pub id: String,
    /// Its name on the engine under test.
    pub name: String,
    /// The spec it was created from.
    pub spec: CreateSpec,
    /// Host directory bind-mounted read-write at [`Fixture::BIND_DEST`].
    pub bind_dir: PathBuf,
    /// Host directory bind-mounted read-only at [`Fixture::RO_DEST`].
    pub ro_dir: PathBuf,
    /// The pod it runs in, with the sandbox id.
    pub pod: Option<(PodSpec, String)>,
    /// What the setup states about it, checked by the suite.
    pub expect: Expectations,
}

impl Fixture {
    /// Where the fixture's writable bind mount appears.
    pub const BIND_DEST: &'static str = "/mnt/anyctr-bind";
    /// Where the fixture's read-only bind mount appears.
    pub const RO_DEST: &'static str = "/mnt/anyctr-ro";
    /// An environment entry every fixture carries.
    pub const ENV: &'static str = "ANYCTR_CONFORMANCE=yes";
}

/// Makes fixture containers for the engine under test.
#[async_trait]
pub trait FixtureFactory: Send + Sync {
    /// Creates and starts the main fixture: `sleep` in the test image with the suite's labels, env
    /// and two bind mounts (one read-only), in a pod where the setup has pods.
    async fn create_main(&self, run_id: &str) -> Result<Fixture>;

    /// Creates (without starting) an extra container from `spec` for lifecycle and event trials;
    /// returns its id on the engine under test.
    async fn create_extra(&self, spec: CreateSpec) -> Result<String>;

    /// Removes a container made by [`create_extra`](Self::create_extra).
    async fn remove_extra(&self, id: &str) -> Result<()>;

    /// Removes the main fixture (and its pod and host directories).
    async fn remove(&self, fixture: &Fixture) -> Result<()>;

    /// Whether the setup's engine rotates container logs only when told to, as a CRI runtime
    /// does for kubelet: `logs.rotation` then rotates with [`rotate_log`](Self::rotate_log)
    /// while the container writes, instead of asking the engine with log options.
    fn rotates_logs(&self) -> bool {
        false
    }

    /// Rotates the log of running container `id` as the setup's log manager does (kubelet: rename
    /// the log to `<log>.<YYYYmmdd-HHMMSS>`, then the runtime's ReopenContainerLog); returns
    /// where the old file went. `Unsupported` unless [`rotates_logs`](Self::rotates_logs).
    async fn rotate_log(&self, id: &str) -> Result<PathBuf> {
        let why = "this setup's engine rotates logs itself (log options), not on request";
        Err(anyctr_core::Error::new(anyctr_core::ErrorKind::Unsupported, why).with_container(id))
    }

    /// Ids of every container of run `run_id` still present (labelled `RUN_LABEL``=run_id`, or
    /// named after the run), pod sandboxes included. Empty at the end of a clean run.
    async fn leftovers(&self, run_id: &str) -> Result<Vec<String>>;
}

/// One setup to certify: a connected engine and how to make its fixtures.
pub struct FixtureSetup {
    /// `docker/runc`, `containerd-cri/rund`, …
    pub name: String,
    /// The engine under test.
    pub engine: DynEngine,
    /// Creates and removes its fixtures.
    pub factory: Arc<dyn FixtureFactory>,
    /// Trials (by name prefix) that do not apply to this setup, with the reason; they are
    /// reported as skipped. The only way a trial is skipped; an entry that names no trial fails
    /// the run.
    pub not_applicable: Vec<(&'static str, String)>,
}

/// Fixtures made through the engine's own lifecycle calls.
pub struct EngineFixtures {
    /// The engine the fixtures are created on.
    pub engine: DynEngine,
    /// The image fixtures run.
    pub image: String,
    /// Runtime name passed to create (docker runtime or CRI handler); `None` for the default.
    pub runtime: Option<String>,
    /// Also says whether the fixture is made in a pod sandbox.
    pub expect: Expectations,
}

impl EngineFixtures {
    /// The spec of a container of run `run_id` in role `role`, running `argv`.
    pub fn spec(&self, run_id: &str, role: &str, argv: &[&str]) -> CreateSpec {
        let mut spec = CreateSpec::new(self.image.clone())
            .name(format!("anyctr-{role}-{run_id}"))
            .argv(argv.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .env(Fixture::ENV)
            .label(RUN_LABEL, run_id)
            .label("anyctr.role", role);
        spec.runtime = self.runtime.clone();
        spec
    }
}

#[async_trait]
impl FixtureFactory for EngineFixtures {
    async fn create_main(&self, run_id: &str) -> Result<Fixture> {
        let base = std::env::temp_dir().join(format!("anyctr-conformance-{run_id}"));
        let (bind_dir, ro_dir) = (base.join("bind"), base.join("ro"));
        std::fs::create_dir_all(&bind_dir)?;
        std::fs::create_dir_all(&ro_dir)?;
        std::fs::write(bind_dir.join("hello.txt"), b"hello from the host\n")?;
        std::fs::write(ro_dir.join("ro.txt"), b"read only\n")?;
        let mut spec = self.spec(run_id, "main", &["sleep", "3600"]);
        spec.mounts = vec![
            MountSpec::bind(bind_dir.display().to_string(), Fixture::BIND_DEST),
            MountSpec::bind(ro_dir.display().to_string(), Fixture::RO_DEST).read_only(),
        ];
        let pod = if self.expect.pod {
            let mut pod = PodSpec::new(format!("anyctr-pod-{run_id}"), "anyctr-conformance", format!("uid-{run_id}"))
                .label(RUN_LABEL, run_id);
            pod.runtime = self.runtime.clone();
            let sandbox = self.engine.create_pod(&pod).await?;
            spec.pod_sandbox = Some(sandbox.clone());
            Some((pod, sandbox))
        } else {
            None
        };
        let id = self.engine.create(&spec).await?;
        self.engine.start(&id).await?;
        // The name as the engine reports it; an engine without inspect keeps the one asked for.
        let name = match self.engine.inspect(&id).await {
            Ok(detail) => detail.name,
            Err(e) if e.kind() == anyctr_core::ErrorKind::Unsupported => spec.name.clone().unwrap_or_default(),
            Err(e) => return Err(e),
        };
        Ok(Fixture { id, name, spec, bind_dir, ro_dir, pod, expect: self.expect.clone() })
    }

    async fn create_extra(&self, spec: CreateSpec) -> Result<String> {
        self.engine.create(&spec).await
    }

    async fn remove_extra(&self, id: &str) -> Result<()> {
        self.engine.remove(id, true).await
    }

    async fn remove(&self, fixture: &Fixture) -> Result<()> {
        let _ = self.engine.stop(&fixture.id, std::time::Duration::from_secs(1)).await;
        let removed = self.engine.remove(&fixture.id, true).await;
        if let Some((_, sandbox)) = &fixture.pod {
            self.engine.remove_pod(sandbox).await?;
        }
        if let Some(base) = fixture.bind_dir.parent() {
            let _ = std::fs::remove_dir_all(base);
        }
        removed
    }

    async fn leftovers(&self, run_id: &str) -> Result<Vec<String>> {
        let all = self.engine.list(&anyctr_core::engine::ListOptions::all()).await?;
        Ok(all
            .into_iter()
            .filter(|c| {
                c.labels.get(RUN_LABEL).is_some_and(|v| v == run_id) || c.names.iter().any(|n| n.contains(run_id))
            })
            .map(|c| c.id)
            .collect())
    }
}
