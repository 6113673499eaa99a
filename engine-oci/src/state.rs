//! Containers from a runtime root's state files, read directly (no process per call).
//!
//! Why the files and not `runc list --format json`: a list is the agent's most frequent call, and
//! a runtime process per root per call costs ~10 ms of fork/exec and Go start-up each; the files are
//! a few KiB. The runtime's own `list` also trusts the same files, so it knows nothing more. Three
//! layouts share a root (dockerd puts crun and runsc containers in `runtime-runc/moby` too):
//! - runc: `<root>/<id>/state.json` (`init_process_pid`, `init_process_start`, `created`,
//!   `config.labels` holding `bundle=…`); `exec.fifo` beside it until the container is started.
//! - crun: `<root>/<id>/status` (`pid`, `process-start-time`, `bundle`, `rootfs`, `created`).
//! - runsc: `<root>/<id>_sandbox:<sandbox>.state` (`id`, `bundleDir`, `createdAt`, `status`,
//!   `sandbox.pid`, the spec inline).
//!
//! The root and these files are written by root-run runtimes and read as such, but fd-based
//! (`hostfs::Dir`: one name per step, no symlink followed, regular files only) and capped, since
//! what they contain (annotations, the spec) came from container configs. Liveness is proved, not
//! assumed: the init pid must exist with the start time the runtime recorded (a recycled pid
//! is another process, so the container counts as stopped).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyctr_core::model::ContainerStatus;
use anyctr_host::hostfs::Dir;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Cap on one state file (runc's state.json is ~30 KiB with a long seccomp profile).
pub const STATE_CAP: u64 = 4 << 20;

/// Which runtime wrote a container's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// runc's `state.json`.
    Runc,
    /// crun's `status`.
    Crun,
    /// runsc's `<id>_sandbox:<sid>.state`.
    Runsc,
}

impl Layout {
    /// The runtime binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            Layout::Runc => "runc",
            Layout::Crun => "crun",
            Layout::Runsc => "runsc",
        }
    }
}

/// One container as its runtime recorded it.
#[derive(Debug, Clone)]
pub struct RuntimeState {
    /// The container id.
    pub id: String,
    /// Who wrote it.
    pub layout: Layout,
    /// The init's host pid (the sandbox's for runsc).
    pub pid: Option<u32>,
    /// The init's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), when recorded.
    pub pid_start: Option<u64>,
    /// The bundle directory.
    pub bundle: Option<PathBuf>,
    /// The rootfs as the runtime resolved it.
    pub rootfs: Option<PathBuf>,
    /// When the container was created.
    pub created: Option<DateTime<Utc>>,
    /// `exec.fifo` exists: created, not started (runc, crun).
    pub awaiting_start: bool,
    /// The runtime's own status word (runsc).
    pub status_word: Option<String>,
    /// The cgroup path, where the state says.
    pub cgroup_path: Option<String>,
    /// The spec inline (runsc).
    pub inline_spec: Option<Value>,
    /// The container's freezer files (host paths): cgroup v1 `freezer.state`, v2 `cgroup.freeze`.
    pub freezer: Vec<PathBuf>,
}

impl RuntimeState {
    /// The status, with the init's liveness checked in `proc` (the host's `/proc` as this process
    /// sees it; the cgroup tree is read beside it, under the same host-root prefix).
    pub fn status(&self, proc: &Path) -> ContainerStatus {
        let alive = self.pid.is_some_and(|pid| init_alive(proc, pid, self.pid_start));
        match (self.layout, alive) {
            (_, false) => ContainerStatus::Exited,
            (Layout::Runsc, true) => {
                self.status_word.as_deref().map_or(ContainerStatus::Running, ContainerStatus::parse)
            }
            (_, true) if self.awaiting_start => ContainerStatus::Created,
            (_, true) if self.frozen(proc.parent().unwrap_or(Path::new("/"))) => ContainerStatus::Paused,
            (_, true) => ContainerStatus::Running,
        }
    }

    /// Whether the container's cgroup is frozen (`runc pause`): v1 `FROZEN`, v2 `1`.
    fn frozen(&self, host: &Path) -> bool {
        self.freezer.iter().any(|file| {
            let local = anyctr_core::under_host_root(Some(host), file);
            std::fs::read_to_string(local).is_ok_and(|t| matches!(t.trim(), "FROZEN" | "FREEZING" | "1"))
        })
    }
}

/// Whether `pid` runs and, when `start` is known, is the process started then.
pub fn init_alive(proc: &Path, pid: u32, start: Option<u64>) -> bool {
    match (proc_start_time(proc, pid), start) {
        (Some(now), Some(want)) => now == want,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Field 22 of `/proc/<pid>/stat` (after the `)` that ends the command name, which may hold
/// spaces and parentheses).
pub fn proc_start_time(proc: &Path, pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Every container recorded under the root directory `root` (a path this process can open).
/// An entry that cannot be read or parsed is skipped with a trace: one bad file must not hide
/// the rest of the node.
pub fn read_root(root: &Path) -> std::io::Result<Vec<RuntimeState>> {
    let dir = Dir::open(root)?;
    let mut out = Vec::new();
    for name in dir.names()? {
        let Some(text) = name.to_str() else { continue };
        let parsed = if let Some(stem) = text.strip_suffix(".state") {
            read_runsc(&dir, &name, stem)
        } else {
            read_dir_entry(&dir, &name, text)
        };
        match parsed {
            Ok(Some(state)) => out.push(state),
            Ok(None) => {}
            Err(e) => tracing::debug!(root = %root.display(), entry = text, "skipping runtime state: {e}"),
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// Reads one container by id (`Ok(None)` when the root has no such container): its own entry
/// only (`<id>/` for runc and crun, `<id>_sandbox:….state` for runsc), not the whole root — an
/// inspect must not cost a parse of every container's state.
pub fn read_one(root: &Path, id: &str) -> std::io::Result<Option<RuntimeState>> {
    let dir = Dir::open(root)?;
    let name = OsStr::new(id);
    if let Some(state) = read_dir_entry(&dir, name, id)?
        && state.id == id
    {
        return Ok(Some(state));
    }
    let prefix = format!("{id}_sandbox:");
    for name in dir.names()? {
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".state")) else { continue };
        if stem.starts_with(&prefix)
            && let Some(state) = read_runsc(&dir, &name, stem)?
            && state.id == id
        {
            return Ok(Some(state));
        }
    }
    Ok(None)
}

fn read_dir_entry(dir: &Dir, name: &OsStr, id: &str) -> std::io::Result<Option<RuntimeState>> {
    let Ok(sub) = dir.subdir(name) else { return Ok(None) };
    let awaiting_start = sub.lookup(OsStr::new("exec.fifo"))?.is_some();
    if let Some(json) = read_json(&sub, "state.json")? {
        let config = json.get("config");
        let bundle = config
            .and_then(|c| c.get("labels"))
            .and_then(Value::as_array)
            .and_then(|labels| labels.iter().filter_map(Value::as_str).find_map(|l| l.strip_prefix("bundle=")))
            .map(PathBuf::from);
        return Ok(Some(RuntimeState {
            id: str_field(&json, "id").unwrap_or_else(|| id.to_owned()),
            layout: Layout::Runc,
            pid: json.get("init_process_pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok()),
            pid_start: json.get("init_process_start").and_then(Value::as_u64),
            bundle,
            rootfs: config.and_then(|c| str_field(c, "rootfs")).map(PathBuf::from),
            created: time_field(&json, "created"),
            awaiting_start,
            status_word: None,
            cgroup_path: config.and_then(|c| c.get("cgroups")).and_then(|c| str_field(c, "path")),
            inline_spec: None,
            freezer: json
                .get("cgroup_paths")
                .map(|paths| {
                    let file = |key: &str, name: &str| str_field(paths, key).map(|p| Path::new(&p).join(name));
                    file("freezer", "freezer.state").into_iter().chain(file("", "cgroup.freeze")).collect()
                })
                .unwrap_or_default(),
        }));
    }
    if let Some(json) = read_json(&sub, "status")? {
        return Ok(Some(RuntimeState {
            id: id.to_owned(),
            layout: Layout::Crun,
            pid: json.get("pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok()),
            pid_start: json.get("process-start-time").and_then(Value::as_u64),
            bundle: str_field(&json, "bundle").map(PathBuf::from),
            rootfs: str_field(&json, "rootfs").map(PathBuf::from),
            created: time_field(&json, "created"),
            awaiting_start,
            status_word: None,
            freezer: str_field(&json, "cgroup-path")
                .map(|p| {
                    let rel = p.trim_start_matches('/').to_owned();
                    vec![
                        Path::new("/sys/fs/cgroup/freezer").join(&rel).join("freezer.state"),
                        Path::new("/sys/fs/cgroup").join(&rel).join("cgroup.freeze"),
                    ]
                })
                .unwrap_or_default(),
            cgroup_path: str_field(&json, "cgroup-path"),
            inline_spec: None,
        }));
    }
    Ok(None)
}

fn read_runsc(dir: &Dir, name: &OsStr, stem: &str) -> std::io::Result<Option<RuntimeState>> {
    let Some(json) = read_json_file(dir, name)? else { return Ok(None) };
    let id = str_field(&json, "id").unwrap_or_else(|| stem.split("_sandbox:").next().unwrap_or(stem).to_owned());
    let spec = json.get("spec").cloned();
    Ok(Some(RuntimeState {
        id,
        layout: Layout::Runsc,
        pid: json.pointer("/sandbox/pid").and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok()),
        pid_start: None,
        bundle: str_field(&json, "bundleDir").map(PathBuf::from),
        rootfs: spec.as_ref().and_then(|s| s.pointer("/root/path")).and_then(Value::as_str).map(PathBuf::from),
        created: time_field(&json, "createdAt"),
        awaiting_start: false,
        status_word: str_field(&json, "status"),
        cgroup_path: spec
            .as_ref()
            .and_then(|s| s.pointer("/linux/cgroupsPath"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        inline_spec: spec,
        freezer: Vec::new(),
    }))
}

fn read_json(dir: &Dir, name: &str) -> std::io::Result<Option<Value>> {
    read_json_file(dir, OsStr::new(name))
}

/// A regular file (no symlink, no special file) of `dir`, capped, parsed as JSON; `None` when it
/// does not exist.
fn read_json_file(dir: &Dir, name: &OsStr) -> std::io::Result<Option<Value>> {
    let Some(bytes) = read_capped(dir, name, STATE_CAP)? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(std::io::Error::other)
}

/// A regular file of `dir` read whole, at most `cap` bytes (more is `InvalidData`).
pub fn read_capped(dir: &Dir, name: &OsStr, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    let (file, _) = match dir.open_file(name) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{name:?} is over {cap} bytes")));
    }
    Ok(Some(bytes))
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn time_field(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v.get(key).and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_layouts_and_checks_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let start = proc_start_time(Path::new("/proc"), me).unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let runc = serde_json::json!({"id": "a", "init_process_pid": me, "init_process_start": start,
            "created": "2026-01-02T03:04:05.5Z", "config": {"labels": ["bundle=/b/a"], "rootfs": "/r/a"}});
        std::fs::write(dir.path().join("a/state.json"), runc.to_string()).unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let crun = serde_json::json!({"pid": me, "process-start-time": start + 1, "bundle": "/b/b"});
        std::fs::write(dir.path().join("b/status"), crun.to_string()).unwrap();
        let runsc = serde_json::json!({"id": "c", "bundleDir": "/b/c", "status": "running", "sandbox": {"pid": me}});
        std::fs::write(dir.path().join("c_sandbox:c.state"), runsc.to_string()).unwrap();
        std::fs::write(dir.path().join("c_sandbox:c.lock"), b"").unwrap();
        std::fs::create_dir(dir.path().join("junk")).unwrap();
        std::fs::write(dir.path().join("junk/state.json"), b"{not json").unwrap();
        let states = read_root(dir.path()).unwrap();
        let ids: Vec<_> = states.iter().map(|s| (s.id.as_str(), s.layout)).collect();
        assert_eq!(ids, [("a", Layout::Runc), ("b", Layout::Crun), ("c", Layout::Runsc)]);
        let proc = Path::new("/proc");
        assert_eq!(states[0].status(proc), ContainerStatus::Running);
        assert_eq!(states[0].bundle.as_deref(), Some(Path::new("/b/a")));
        assert!(states[0].created.is_some());
        // A start time that does not match: the pid was recycled, the container is gone.
        assert_eq!(states[1].status(proc), ContainerStatus::Exited);
        assert_eq!(states[2].status(proc), ContainerStatus::Running);
        // One container's entry alone, in each layout; what is not one entry is nobody.
        for (id, layout) in [("a", Layout::Runc), ("b", Layout::Crun), ("c", Layout::Runsc)] {
            assert_eq!(read_one(dir.path(), id).unwrap().map(|s| s.layout), Some(layout), "{id}");
        }
        assert!(read_one(dir.path(), "junk").is_err(), "a state that does not parse");
        for nobody in ["d", "../a", "a/state.json", ".", ""] {
            assert!(read_one(dir.path(), nobody).unwrap().is_none(), "{nobody:?}");
        }
    }

    #[test]
    fn oversized_and_linked_state_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("big")).unwrap();
        let big = vec![b' '; (STATE_CAP + 1) as usize];
        std::fs::write(dir.path().join("big/state.json"), big).unwrap();
        std::fs::create_dir(dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link/state.json")).unwrap();
        assert!(read_root(dir.path()).unwrap().is_empty());
    }
}
