//! [`OciEngine`]: the roots it reads and the [`ContainerEngine`] calls on them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyctr_core::model::{
    ContainerDetail, ContainerStats, ContainerStatus, ContainerSummary, CreateSpec, ExecRequest, ExecSession,
    ResourceUpdate, Signal,
};
use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, EngineConfig, EngineInfo, Error, ErrorKind, ListOptions, Result,
    Support, resolve_container,
};
use async_trait::async_trait;

use crate::NAME;
use crate::convert::{self, Record};
use crate::lifecycle;
use crate::options::OciOptions;
use crate::roots::{self, OWNER_FILE, RootOwner, RuntimeRoot};
use crate::state::{self, Layout};

mod manage;
mod stats;

/// Containers of OCI runtime roots.
#[derive(Debug)]
pub struct OciEngine {
    config: EngineConfig,
    options: OciOptions,
    /// The named root (`None`: discover).
    root: Option<RuntimeRoot>,
    /// The last discovery and when it ran: it reads every process's command line in `/proc`
    /// (dockerd's exec root), too costly to repeat for each inspect of a burst.
    discovered: std::sync::Mutex<Option<(std::time::Instant, Vec<RuntimeRoot>)>>,
}

/// How long a discovery of the roots is reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(2);

impl OciEngine {
    /// Opens the address's root (making it anyctr's with `own=true`), or checks discovery works.
    pub async fn open(config: EngineConfig) -> Result<OciEngine> {
        let options = OciOptions::from_address(&config.address)?;
        let root = match &options.root {
            None => None,
            Some(path) => {
                let mut root = roots::named(config.host_root.as_deref(), path);
                if options.own && !root.owned() {
                    make_owned(&config, &root)?;
                    root = roots::named(config.host_root.as_deref(), path);
                }
                let local = config.host_path(path);
                if !local.is_dir() {
                    return Err(Error::new(
                        ErrorKind::EngineUnavailable,
                        format!("runtime root {} is not a directory", path.display()),
                    )
                    .with_engine(NAME));
                }
                Some(root)
            }
        };
        Ok(OciEngine { config, options, root, discovered: Default::default() })
    }

    /// The roots this engine reads.
    pub fn roots(&self) -> Vec<RuntimeRoot> {
        if let Some(r) = &self.root {
            return vec![r.clone()];
        }
        let mut cached = self.discovered.lock().unwrap_or_else(|p| p.into_inner());
        match &*cached {
            Some((at, roots)) if at.elapsed() < DISCOVERY_TTL => roots.clone(),
            _ => {
                let roots = roots::discover(self.config.host_root.as_deref());
                *cached = Some((std::time::Instant::now(), roots.clone()));
                roots
            }
        }
    }

    fn proc(&self) -> PathBuf {
        self.config.host_path(Path::new("/proc"))
    }

    /// Every container of every root, with what anyctr knows of it.
    fn records(&self) -> Vec<Record> {
        let mut out = Vec::new();
        for root in self.roots() {
            let local = self.config.host_path(&root.path);
            let states = match state::read_root(&local) {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(root = %root.path.display(), "runtime root not read: {e}");
                    continue;
                }
            };
            let mut ids = std::collections::BTreeSet::new();
            for s in states {
                ids.insert(s.id.clone());
                out.push(self.record(&root, s));
            }
            if root.owned() {
                out.extend(self.bundles_without_state(&root, &ids));
            }
        }
        out
    }

    /// The record of a container the runtime keeps state for.
    fn record(&self, root: &RuntimeRoot, s: state::RuntimeState) -> Record {
        let bundle = s.bundle.clone();
        let exit_code = bundle
            .as_deref()
            .filter(|_| root.owned())
            .and_then(|b| lifecycle::recorded_exit(&self.config.host_path(b)));
        Record {
            root: root.clone(),
            id: s.id.clone(),
            state: Some(s),
            bundle,
            exit_code,
            prepared: None,
            started: true,
        }
    }

    /// Bundles anyctr prepared in an owned root whose container is not (or no longer) in the
    /// runtime's state: created and waiting, or exited.
    fn bundles_without_state(&self, root: &RuntimeRoot, known: &std::collections::BTreeSet<String>) -> Vec<Record> {
        let dir = self.config.host_path(&root.anyctr_dir().join("bundles"));
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_owned) else { continue };
            if known.contains(&id) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let bundle = root.anyctr_dir().join("bundles").join(&id);
            let local = self.config.host_path(&bundle);
            let prepared = std::fs::metadata(local.join("config.json")).and_then(|m| m.modified()).ok().map(Into::into);
            if prepared.is_none() {
                continue; // still being prepared, or a leftover without a spec
            }
            out.push(Record {
                root: root.clone(),
                id,
                state: None,
                exit_code: lifecycle::recorded_exit(&local),
                started: local.join(lifecycle::STARTED_FILE).exists(),
                bundle: Some(bundle),
                prepared,
            });
        }
        out
    }

    fn summaries(&self, records: &[Record]) -> Vec<ContainerSummary> {
        let proc = self.proc();
        let open = |p: &Path| self.config.host_path(p);
        records
            .iter()
            .map(|r| convert::summary(r, &convert::read_config(r, &open), &proc, self.options.runtime))
            .collect()
    }

    /// The record a query names (id, unique prefix or name).
    fn find(&self, query: &str) -> Result<Record> {
        // An id the runtime keeps state for: read its entry alone in each root.
        for root in self.roots() {
            if let Ok(Some(s)) = state::read_one(&self.config.host_path(&root.path), query) {
                return Ok(self.record(&root, s));
            }
        }
        let mut records = self.records();
        // A full id needs no names (which cost a config.json read per container).
        if let Some(i) = records.iter().position(|r| r.id == query) {
            return Ok(records.swap_remove(i));
        }
        let summaries = self.summaries(&records);
        let id = resolve_container(query, &summaries)?.id.clone();
        Ok(records.into_iter().find(|r| r.id == id).expect("resolved from these records"))
    }

    /// The record, in a root anyctr owns, for a call that changes containers.
    fn find_owned(&self, query: &str, operation: &str) -> Result<Record> {
        let record = self.find(query)?;
        refuse_unowned(&record.root, operation)?;
        Ok(record)
    }

    fn binary(&self, record: &Record) -> PathBuf {
        self.options.binary(record.layout(self.options.runtime)).to_path_buf()
    }

    fn local_root(&self, record: &Record) -> PathBuf {
        self.config.host_path(&record.root.path)
    }

    fn status(&self, record: &Record) -> ContainerStatus {
        record.status(&self.proc())
    }

    /// The monitor records the exit code just after the runtime exits: wait for it (bounded by
    /// the call timeout), so a stopped container reports its exit code at once.
    async fn await_exit_record(&self, record: &Record) {
        let Some(bundle) = &record.bundle else { return };
        let local = self.config.host_path(bundle);
        let deadline = tokio::time::Instant::now() + self.config.call_timeout;
        while lifecycle::recorded_exit(&local).is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_until(&self, id: &str, bound: Duration, done: impl Fn(&ContainerStatus) -> bool) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let status = match self.find(id) {
                Ok(r) => self.status(&r),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
                Err(e) => return Err(e),
            };
            if done(&status) {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Makes a root anyctr's: the root and `<root>.anyctr/owner`. Refused for a daemon's root and for
/// a root that already holds containers anyctr did not make.
fn make_owned(config: &EngineConfig, root: &RuntimeRoot) -> Result<()> {
    if let RootOwner::Daemon(daemon) = root.owner {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("runtime root {} belongs to {daemon}: anyctr will not take it over", root.path.display()),
        ));
    }
    let local = config.host_path(&root.path);
    if std::fs::read_dir(&local).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("runtime root {} already holds containers anyctr did not make", root.path.display()),
        ));
    }
    std::fs::create_dir_all(&local)?;
    let sidecar = config.host_path(&root.anyctr_dir());
    std::fs::create_dir_all(sidecar.join("bundles"))?;
    std::fs::write(sidecar.join(OWNER_FILE), b"anyctr\n")?;
    Ok(())
}

/// Whether a runtime binary exists (a path, or a name found in `PATH`).
fn on_path(binary: &Path) -> bool {
    if binary.components().count() > 1 {
        return binary.is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
}

fn refuse_unowned(root: &RuntimeRoot, operation: &str) -> Result<()> {
    if root.owned() {
        return Ok(());
    }
    let who = match root.owner {
        RootOwner::Daemon(d) => format!("{d}'s"),
        _ => "a root anyctr did not make".to_owned(),
    };
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "{operation} refused: runtime root {} is {who} and read-only to anyctr (lifecycle only in roots anyctr owns; \
             use the owning daemon)",
            root.path.display()
        ),
    ))
}

/// What the engine offers: reading and exec everywhere, lifecycle where anyctr owns the root.
pub fn oci_capabilities(owned: bool) -> Capabilities {
    Capabilities {
        inspect: Support::Native,
        exec: Support::Native,
        exec_with_stdin: Support::Native,
        exec_with_user: Support::Native,
        exec_with_workdir: Support::Native,
        exec_with_env: Support::Native,
        // The runtime cannot kill an exec: anyctr signals the marked processes itself.
        exec_kill: Support::Emulated,
        exec_stream: Support::Native,
        // Tar over exec (`anyctr_core::archive_over_exec`): a runtime has no archive API.
        copy_to: Support::Emulated,
        copy_from: Support::Emulated,
        host_rootfs: Support::Native,
        proc_root: Support::Native,
        nsenter: Support::Emulated,
        lifecycle: if owned { Support::Native } else { Support::Unsupported },
        // Read from the host's /proc for runc-class containers, by exec where the runtime is a
        // sandbox (the runtime class narrows these as for every engine).
        top: Support::Emulated,
        probes: Support::Emulated,
        // From the container's host cgroup (runc-class only: see `container_capabilities`).
        stats: Support::Emulated,
        // Pause, restart and updates through the runtime's commands, on containers anyctr made.
        pause: if owned { Support::Native } else { Support::Unsupported },
        restart: if owned { Support::Native } else { Support::Unsupported },
        update_resources: if owned { Support::Native } else { Support::Unsupported },
        ..Default::default()
    }
}

#[async_trait]
impl ContainerEngine for OciEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        oci_capabilities(self.root.as_ref().is_some_and(RuntimeRoot::owned))
    }

    /// A sandbox's host cgroup measures the sandbox, not the container: no stats for it here.
    fn container_capabilities(&self, container: &ContainerDetail) -> Capabilities {
        let mut caps = self.capabilities().for_runtime(&container.runtime);
        if container.runtime.is_sandboxed() {
            caps.stats = Support::Unsupported;
        }
        caps
    }

    fn host_root(&self) -> Option<&Path> {
        self.config.host_root.as_deref()
    }

    async fn identify(&self) -> Result<EngineInfo> {
        let binary = self.options.binary(self.options.runtime).to_path_buf();
        let mut cmd = tokio::process::Command::new(&binary);
        cmd.arg("--version").kill_on_drop(true);
        let out = tokio::time::timeout(self.config.call_timeout, cmd.output())
            .await
            .map_err(|_| Error::new(ErrorKind::Timeout, format!("{} --version hung", binary.display())))?
            .map_err(|e| crate::exec::spawn_error(&binary, e).in_context(NAME, "identify"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text.lines().next().unwrap_or("").rsplit(' ').next().unwrap_or("").to_owned();
        let mut info = EngineInfo::new(NAME, format!("OCI runtime {}", self.options.runtime.binary()), version);
        info.runtimes = [Layout::Runc, Layout::Crun, Layout::Runsc]
            .into_iter()
            .filter(|l| on_path(self.options.binary(*l)))
            .map(|l| l.binary().to_owned())
            .collect();
        Ok(info)
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let records = self.records();
        Ok(self
            .summaries(&records)
            .into_iter()
            .filter(|s| options.all || s.status.is_running())
            .filter(|s| options.matches_labels(&s.labels))
            .collect())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        let record = self.find(container).map_err(|e| e.in_context(NAME, "inspect").with_container(container))?;
        let open = |p: &Path| self.config.host_path(p);
        let config = convert::read_config(&record, &open);
        Ok(convert::detail(&record, &config, &self.proc(), self.options.runtime))
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let run = async {
            request.validate()?;
            let record = self.find(container)?;
            let status = self.status(&record);
            if status != ContainerStatus::Running && status != ContainerStatus::Paused {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("container {} is not running (status {status:?}): cannot exec in it", record.id),
                ));
            }
            let layout = record.layout(self.options.runtime);
            let target = crate::exec::Target {
                binary: self.binary(&record),
                root: self.local_root(&record),
                id: record.id.clone(),
                init_pid: record.state.as_ref().and_then(|s| s.pid),
                sandboxed: layout == Layout::Runsc,
                proc: self.proc(),
                process: convert::read_config(&record, &|p: &Path| self.config.host_path(p))
                    .get("process")
                    .filter(|p| p.is_object())
                    .cloned(),
            };
            crate::exec::start(target, request, open_stdin).await
        };
        run.await.map_err(|e| e.in_context(NAME, "exec").with_container(container))
    }

    async fn create(&self, spec: &CreateSpec) -> Result<String> {
        let run = async {
            let root = self.root.clone().ok_or_else(|| {
                Error::new(
                    ErrorKind::PermissionDenied,
                    "create needs an address naming a root anyctr owns (oci:///…?own=true)",
                )
            })?;
            refuse_unowned(&root, "create")?;
            lifecycle::check_spec(spec)?;
            if let Some(name) = &spec.name {
                lifecycle::check_id(name)?;
                let records = self.records();
                if self.summaries(&records).iter().any(|s| s.id == *name || s.names.contains(name)) {
                    return Err(Error::new(ErrorKind::Conflict, format!("a container named {name} already exists")));
                }
            }
            let id = lifecycle::fresh_id()?;
            let sidecar = root.anyctr_dir();
            let images = self.options.images.clone().unwrap_or_else(|| sidecar.join("images"));
            let tar = self.config.host_path(&lifecycle::image_tar(&images, &spec.image));
            let bundle = self.config.host_path(&lifecycle::bundle_dir(&sidecar, &id));
            std::fs::create_dir_all(bundle.parent().expect("bundles dir"))?;
            std::fs::create_dir(&bundle).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    Error::new(ErrorKind::Conflict, format!("a container {id} already exists"))
                }
                _ => e.into(),
            })?;
            let (spec_owned, id_owned, bundle_owned) = (spec.clone(), id.clone(), bundle.clone());
            let prepare = move || -> Result<()> {
                let rootfs = bundle_owned.join("rootfs");
                lifecycle::unpack_rootfs(&tar, &rootfs)?;
                let created = chrono::Utc::now().to_rfc3339();
                let oci = lifecycle::runtime_spec(&spec_owned, &id_owned, &created);
                let tmp = bundle_owned.join("config.json.tmp");
                std::fs::write(&tmp, serde_json::to_vec_pretty(&oci).map_err(std::io::Error::other)?)?;
                std::fs::rename(&tmp, bundle_owned.join("config.json"))?;
                Ok(())
            };
            let prepared = tokio::task::spawn_blocking(prepare)
                .await
                .map_err(|e| Error::unexpected(format!("bundle preparation panicked: {e}")))?;
            if let Err(e) = prepared {
                let _ = std::fs::remove_dir_all(&bundle);
                return Err(e);
            }
            Ok(id)
        };
        run.await.map_err(|e| e.in_context(NAME, "create"))
    }

    async fn start(&self, container: &str) -> Result<()> {
        let run = async {
            let record = self.find_owned(container, "start")?;
            let status = self.status(&record);
            if status != ContainerStatus::Created && status != ContainerStatus::Exited {
                return Err(Error::new(ErrorKind::Conflict, format!("container {} is {status:?}", record.id)));
            }
            if record.state.is_some() {
                // An exited container still in the runtime's state: clear it before running again.
                let _ = lifecycle::runtime_call(
                    &self.binary(&record),
                    &self.local_root(&record),
                    &["delete", "--force", &record.id],
                    self.config.call_timeout,
                )
                .await;
            }
            let bundle = record.bundle.as_deref().ok_or_else(|| Error::unexpected("container without a bundle"))?;
            let bundle = self.config.host_path(bundle);
            lifecycle::start(
                &self.binary(&record),
                &self.local_root(&record),
                &bundle,
                &record.id,
                &self.proc(),
                self.config.call_timeout,
            )
            .await
        };
        run.await.map_err(|e| e.in_context(NAME, "start").with_container(container))
    }

    async fn kill(&self, container: &str, signal: Signal) -> Result<()> {
        let run = async {
            let record = self.find_owned(container, "kill")?;
            if !self.status(&record).is_running() {
                return Err(Error::new(ErrorKind::Conflict, format!("container {} is not running", record.id)));
            }
            let sig = signal.number().to_string();
            lifecycle::runtime_call(
                &self.binary(&record),
                &self.local_root(&record),
                &["kill", &record.id, &sig],
                self.config.call_timeout,
            )
            .await?;
            if signal == Signal::KILL {
                self.thaw_if_paused(&record).await?;
            }
            Ok(())
        };
        run.await.map_err(|e| e.in_context(NAME, "kill").with_container(container))
    }

    async fn put_archive(&self, container: &str, destination: &str, tar: ByteStream) -> Result<()> {
        anyctr_core::archive_over_exec::put_archive(self, container, destination, tar).await
    }

    async fn get_archive(&self, container: &str, path: &str) -> Result<ByteStream> {
        anyctr_core::archive_over_exec::get_archive(self, container, path).await
    }

    async fn stats(&self, container: &str) -> Result<ContainerStats> {
        self.cgroup_stats(container).await
    }

    async fn restart(&self, container: &str, grace: Duration) -> Result<()> {
        self.restart_owned(container, grace).await
    }

    async fn update_resources(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        self.update_owned(container, update).await
    }

    async fn pause(&self, container: &str) -> Result<()> {
        self.freeze(container, "pause", ContainerStatus::Running).await
    }

    async fn unpause(&self, container: &str) -> Result<()> {
        self.freeze(container, "unpause", ContainerStatus::Paused).await
    }

    async fn stop(&self, container: &str, grace: Duration) -> Result<()> {
        let run = async {
            let record = self.find_owned(container, "stop")?;
            if !self.status(&record).is_running() {
                return Ok(());
            }
            let (binary, root) = (self.binary(&record), self.local_root(&record));
            let timeout = self.config.call_timeout;
            let _ = lifecycle::runtime_call(&binary, &root, &["kill", &record.id, "15"], timeout).await;
            self.thaw_if_paused(&record).await?;
            if self.wait_until(&record.id, grace, |s| !s.is_running()).await? {
                self.await_exit_record(&record).await;
                return Ok(());
            }
            let _ = lifecycle::runtime_call(&binary, &root, &["kill", &record.id, "9"], timeout).await;
            if self.wait_until(&record.id, timeout, |s| !s.is_running()).await? {
                self.await_exit_record(&record).await;
                return Ok(());
            }
            Err(Error::new(ErrorKind::Timeout, format!("container {} still runs after SIGKILL", record.id)))
        };
        run.await.map_err(|e| e.in_context(NAME, "stop").with_container(container))
    }

    async fn remove(&self, container: &str, force: bool) -> Result<()> {
        let run = async {
            let record = self.find_owned(container, "remove")?;
            let (binary, root) = (self.binary(&record), self.local_root(&record));
            if self.status(&record).is_running() {
                if !force {
                    return Err(Error::new(ErrorKind::Conflict, format!("container {} is running", record.id)));
                }
                let _ =
                    lifecycle::runtime_call(&binary, &root, &["kill", &record.id, "9"], self.config.call_timeout).await;
                self.thaw_if_paused(&record).await?;
                self.wait_until(&record.id, self.config.call_timeout, |s| !s.is_running()).await?;
            }
            if record.state.is_some() {
                self.await_exit_record(&record).await;
            }
            if state::read_one(&root, &record.id).ok().flatten().is_some() {
                lifecycle::runtime_call(&binary, &root, &["delete", "--force", &record.id], self.config.call_timeout)
                    .await?;
            }
            if let Some(b) = &record.bundle {
                let local = self.config.host_path(b);
                // Only a bundle anyctr made (under the owned root's sidecar) is removed.
                if b.starts_with(record.root.anyctr_dir()) {
                    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&local))
                        .await
                        .map_err(|e| Error::unexpected(format!("bundle removal panicked: {e}")))??;
                }
            }
            Ok(())
        };
        run.await.map_err(|e| e.in_context(NAME, "remove").with_container(container))
    }

    async fn wait(&self, container: &str) -> Result<i64> {
        let run = async {
            let record = self.find_owned(container, "wait")?;
            let bundle = record.bundle.as_deref().ok_or_else(|| Error::unexpected("container without a bundle"))?;
            let local = self.config.host_path(bundle);
            loop {
                if let Some(code) = lifecycle::recorded_exit(&local) {
                    return Ok(code);
                }
                match self.find(&record.id) {
                    Ok(r) if self.status(&r) == ContainerStatus::Created => {
                        return Err(Error::new(
                            ErrorKind::Conflict,
                            format!("container {} was never started", record.id),
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        run.await.map_err(|e| e.in_context(NAME, "wait").with_container(container))
    }
}
