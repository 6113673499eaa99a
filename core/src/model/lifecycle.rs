use std::collections::BTreeMap;
use std::time::Duration;

use super::exec::IntoArgv;
use super::resources::check_memory_limit;
use crate::error::{Error, ErrorKind, Result};

/// A mount requested at container creation: [`MountSpec::bind`], [`MountSpec::volume`] or
/// [`MountSpec::tmpfs`], optionally [`read_only`](MountSpec::read_only).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountSpec {
    /// A host path (bind) or a volume name (volume); empty for tmpfs.
    pub source: String,
    /// Where it appears in the container (absolute).
    pub destination: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// What is mounted.
    pub kind: MountSpecKind,
}

/// What a [`MountSpec`] mounts.
///
/// Deliberately exhaustive: every engine translates each kind, so a new kind is a breaking change
/// that makes each engine decide, instead of a wildcard arm silently refusing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountSpecKind {
    /// A host path.
    Bind,
    /// A named volume.
    Volume,
    /// A fresh tmpfs.
    Tmpfs,
}

impl MountSpec {
    /// Binds host path `source` (absolute) at `destination`.
    pub fn bind(source: impl Into<String>, destination: impl Into<String>) -> Self {
        MountSpec {
            source: source.into(),
            destination: destination.into(),
            read_only: false,
            kind: MountSpecKind::Bind,
        }
    }

    /// Mounts the named volume `name` at `destination`.
    pub fn volume(name: impl Into<String>, destination: impl Into<String>) -> Self {
        MountSpec {
            source: name.into(),
            destination: destination.into(),
            read_only: false,
            kind: MountSpecKind::Volume,
        }
    }

    /// A tmpfs at `destination`.
    pub fn tmpfs(destination: impl Into<String>) -> Self {
        MountSpec {
            source: String::new(),
            destination: destination.into(),
            read_only: false,
            kind: MountSpecKind::Tmpfs,
        }
    }

    /// Makes the mount read-only.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// Kubernetes identity for a pod sandbox created through an engine:
/// `PodSpec::new(name, namespace, uid)`, then [`runtime`](PodSpec::runtime) and
/// [`label`](PodSpec::label) as needed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodSpec {
    /// The pod name.
    pub name: String,
    /// The Kubernetes namespace.
    pub namespace: String,
    /// The pod uid.
    pub uid: String,
    /// The runtime (docker runtime name or CRI runtime handler), `None` for the engine's default.
    pub runtime: Option<String>,
    /// Labels of the sandbox.
    pub labels: BTreeMap<String, String>,
}

impl PodSpec {
    /// A pod sandbox spec with the engine's default runtime and no labels.
    pub fn new(name: impl Into<String>, namespace: impl Into<String>, uid: impl Into<String>) -> Self {
        PodSpec {
            name: name.into(),
            namespace: namespace.into(),
            uid: uid.into(),
            runtime: None,
            labels: BTreeMap::new(),
        }
    }

    /// The runtime (docker runtime name or CRI runtime handler).
    pub fn runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = Some(runtime.into());
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
}

/// What a new container is made of: `CreateSpec::new(image)` and the builder methods, one per
/// field.
///
/// ```
/// use anyctr_core::model::{CreateSpec, MountSpec};
/// let spec = CreateSpec::new("busybox:latest")
///     .name("web-1")
///     .argv(["sleep", "3600"])
///     .env("MODE=demo")
///     .label("app", "web")
///     .mount(MountSpec::tmpfs("/scratch"));
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CreateSpec {
    /// The container name; `None` lets the engine pick one.
    pub name: Option<String>,
    /// The image reference (`busybox:latest`).
    pub image: String,
    /// The command; empty for the image's default.
    pub argv: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Mounts.
    pub mounts: Vec<MountSpec>,
    /// The runtime (docker runtime name, CRI runtime handler), `None` for the engine's default.
    pub runtime: Option<String>,
    /// The working directory of the main process.
    pub working_dir: Option<String>,
    /// The user of the main process (`user`, `uid`, `user:group`, `uid:gid`).
    pub user: Option<String>,
    /// The hostname.
    pub hostname: Option<String>,
    /// `host`, `none`, `bridge`, … (engine-specific; `None` for the default).
    pub network_mode: Option<String>,
    /// The pod sandbox to create the container in (from
    /// [`ContainerEngine::create_pod`](crate::ContainerEngine::create_pod)), with the Kubernetes
    /// container name taken from `name`.
    pub pod_sandbox: Option<String>,
    /// The memory limit in bytes (docker's `--memory`, CRI's `memory_limit_in_bytes`); `None`
    /// for no limit.
    pub memory_limit: Option<u64>,
    /// Options for the engine's log driver (docker's `--log-opt`: `max-size`, `max-file`, …),
    /// passed to it as they are. Engines whose containers take no per-container log options
    /// (containerd and CRI, where the kubelet rotates; bare OCI runtimes, which keep no log)
    /// refuse a non-empty map with `Unsupported` rather than ignore it.
    pub log_options: BTreeMap<String, String>,
}

impl CreateSpec {
    /// A container of `image`, running its default command, with everything else the engine's
    /// default.
    pub fn new(image: impl Into<String>) -> Self {
        CreateSpec { image: image.into(), ..Default::default() }
    }

    /// The container name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The command (replaces the image's default).
    pub fn argv(mut self, argv: impl IntoArgv) -> Self {
        self.argv = argv.into_argv();
        self
    }

    /// Adds a `KEY=VALUE` environment entry.
    pub fn env(mut self, entry: impl Into<String>) -> Self {
        self.env.push(entry.into());
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds a mount.
    pub fn mount(mut self, mount: MountSpec) -> Self {
        self.mounts.push(mount);
        self
    }

    /// The runtime (docker runtime name, CRI runtime handler).
    pub fn runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = Some(runtime.into());
        self
    }

    /// The working directory of the main process.
    pub fn working_dir(mut self, dir: impl Into<String>) -> Self {
        self.working_dir = Some(dir.into());
        self
    }

    /// The user of the main process.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The hostname.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// The network mode (`host`, `none`, `bridge`, …).
    pub fn network_mode(mut self, mode: impl Into<String>) -> Self {
        self.network_mode = Some(mode.into());
        self
    }

    /// The pod sandbox to create the container in; `name` becomes its Kubernetes container name.
    pub fn pod_sandbox(mut self, sandbox: impl Into<String>) -> Self {
        self.pod_sandbox = Some(sandbox.into());
        self
    }

    /// The memory limit in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Adds a log driver option (`max-size` = `10m`, `max-file` = `3`, …).
    pub fn log_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.log_options.insert(key.into(), value.into());
        self
    }

    /// For an engine whose containers take no log options: refuses a spec that sets some, so
    /// that nothing is created with options silently dropped.
    pub fn refuse_log_options(&self, engine: &str, why: &str) -> Result<()> {
        match self.log_options.keys().next() {
            None => Ok(()),
            Some(key) => {
                Err(Error::new(ErrorKind::Unsupported, format!("log option {key:?}: {why}")).with_engine(engine))
            }
        }
    }

    /// Refuses what no engine can create; nothing is changed by a refused spec.
    pub fn validate(&self) -> Result<()> {
        if self.image.trim().is_empty() {
            return Err(Error::invalid_argument("create needs an image"));
        }
        if let Some(m) = self.mounts.iter().find(|m| !m.destination.starts_with('/')) {
            return Err(Error::invalid_argument(format!("mount destination {:?} is not absolute", m.destination)));
        }
        if let Some(m) = self.mounts.iter().find(|m| m.kind == MountSpecKind::Bind && !m.source.starts_with('/')) {
            return Err(Error::invalid_argument(format!("bind mount source {:?} is not absolute", m.source)));
        }
        if let Some(limit) = self.memory_limit {
            check_memory_limit(limit)?;
        }
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(Error::invalid_argument(format!("env entry {bad:?} is not KEY=VALUE")));
        }
        if self.log_options.keys().any(|k| k.trim().is_empty()) {
            return Err(Error::invalid_argument("a log option needs a name"));
        }
        Ok(())
    }
}

/// How long [`ContainerEngine::stop`](crate::ContainerEngine::stop) waits between SIGTERM and
/// SIGKILL when a caller has no better idea (docker's default).
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// A signal for [`ContainerEngine::kill`](crate::ContainerEngine::kill): always a valid Linux
/// signal number (1–64). The common ones are constants (`Signal::TERM`, `Signal::KILL`, …) usable
/// in `match`; others come from [`Signal::new`] or from parsing a name or number
/// (`"TERM"`, `"SIGKILL"`, `"9"`).
///
/// ```
/// use anyctr_core::model::Signal;
/// let s: Signal = "sigusr1".parse().unwrap();
/// assert_eq!(s, Signal::USR1);
/// assert_eq!(s.number(), 10);
/// assert_eq!(s.to_string(), "SIGUSR1");
/// assert!(Signal::new(0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

impl Signal {
    /// SIGHUP (1).
    pub const HUP: Signal = Signal(1);
    /// SIGINT (2).
    pub const INT: Signal = Signal(2);
    /// SIGQUIT (3).
    pub const QUIT: Signal = Signal(3);
    /// SIGKILL (9): cannot be caught.
    pub const KILL: Signal = Signal(9);
    /// SIGUSR1 (10).
    pub const USR1: Signal = Signal(10);
    /// SIGUSR2 (12).
    pub const USR2: Signal = Signal(12);
    /// SIGTERM (15): the polite request to exit.
    pub const TERM: Signal = Signal(15);
    /// SIGCONT (18).
    pub const CONT: Signal = Signal(18);
    /// SIGSTOP (19): cannot be caught.
    pub const STOP: Signal = Signal(19);
    /// SIGWINCH (28).
    pub const WINCH: Signal = Signal(28);

    const NAMED: [(Signal, &'static str); 10] = [
        (Signal::HUP, "HUP"),
        (Signal::INT, "INT"),
        (Signal::QUIT, "QUIT"),
        (Signal::KILL, "KILL"),
        (Signal::USR1, "USR1"),
        (Signal::USR2, "USR2"),
        (Signal::TERM, "TERM"),
        (Signal::CONT, "CONT"),
        (Signal::STOP, "STOP"),
        (Signal::WINCH, "WINCH"),
    ];

    /// The signal with this number; `InvalidArgument` outside 1–64.
    pub fn new(number: i32) -> Result<Signal> {
        if (1..=64).contains(&number) {
            Ok(Signal(number))
        } else {
            Err(Error::invalid_argument(format!("bad signal number {number} (valid: 1-64)")))
        }
    }

    /// The signal number.
    pub fn number(self) -> i32 {
        self.0
    }

    /// The name without `SIG` (`TERM`) for the signals that have a constant here.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMED.iter().find(|(s, _)| *s == self).map(|(_, n)| *n)
    }
}

impl std::str::FromStr for Signal {
    type Err = Error;

    /// A name (`TERM`, `SIGTERM`, any case) or a number (`15`).
    fn from_str(signal: &str) -> Result<Signal> {
        let s = signal.trim();
        if let Ok(n) = s.parse::<i32>() {
            return Signal::new(n);
        }
        let upper = s.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(sig, _)| *sig)
            .ok_or_else(|| Error::invalid_argument(format!("unknown signal {s:?}")))
    }
}

impl std::fmt::Display for Signal {
    /// `SIGTERM` for a named signal, the number otherwise.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "SIG{name}"),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse() {
        let parse = |s: &str| s.parse::<Signal>().map(Signal::number);
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("sigkill").unwrap(), 9);
        assert_eq!(parse("10").unwrap(), 10);
        assert_eq!(parse("40").unwrap(), 40);
        assert!(parse("0").is_err());
        assert!(parse("65").is_err());
        assert!(parse("NOPE").is_err());
        assert_eq!(Signal::new(40).unwrap().to_string(), "40");
        assert_eq!(Signal::KILL.to_string(), "SIGKILL");
    }

    #[test]
    fn create_spec_validation() {
        assert!(CreateSpec::new("").validate().is_err());
        let mut s = CreateSpec::new("busybox:local");
        assert!(s.validate().is_ok());
        s.mounts.push(MountSpec::bind("rel", "/x"));
        assert!(s.validate().is_err());
        s.mounts = vec![MountSpec::volume("v", "rel")];
        assert!(s.validate().is_err());
        s.mounts.clear();
        s.env.push("NOEQ".into());
        assert!(s.validate().is_err());
        s.env.clear();
        assert!(s.clone().memory_limit(64 << 20).validate().is_ok());
        assert!(s.clone().memory_limit(1024).validate().is_err());
        assert!(s.clone().memory_limit(u64::MAX).validate().is_err());
        let logged = s.clone().log_option("max-size", "8k");
        assert!(logged.validate().is_ok());
        assert!(s.clone().log_option(" ", "8k").validate().is_err());
        assert!(s.refuse_log_options("cri", "why").is_ok());
        let refused = logged.refuse_log_options("cri", "the kubelet rotates").unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Unsupported);
        assert!(refused.to_string().contains("max-size") && refused.to_string().contains("kubelet"), "{refused}");
    }
}
