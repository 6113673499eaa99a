//! The engine registry. Each engine crate submits one [`EngineRegistration`] with
//! [`register_engine!`](crate::register_engine); the registry collects them once, in a
//! deterministic order, and rejects duplicate names.
//!
//! rustc links only crates that code references, so a registration in a crate nobody names is
//! silently dropped (inventory#7). The facade therefore also names every enabled engine crate;
//! a program that uses engine crates without the facade must do the same (`use anyctr_engine_x as _;`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::address::EngineAddress;
use crate::engine::{DynEngine, EngineInfo};
use crate::error::{Error, ErrorKind, Result};

/// Default bound on a single daemon call, when the caller sets none.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What an engine needs to connect.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The address; its socket is a path as the host sees it.
    pub address: EngineAddress,
    /// Where the host's `/` is mounted when the agent runs in a container (`/hostfs`).
    pub host_root: Option<PathBuf>,
    /// Bound on ordinary daemon calls (not on exec, whose bound is the request's timeout).
    pub call_timeout: Duration,
}

impl EngineConfig {
    /// A config for `address` with no host root and the default call timeout.
    pub fn new(address: EngineAddress) -> Self {
        EngineConfig { address, host_root: None, call_timeout: DEFAULT_CALL_TIMEOUT }
    }

    /// The socket path as this process can open it (host-root prefix applied), or
    /// `InvalidArgument` when the address has none.
    pub fn socket_path(&self) -> Result<PathBuf> {
        let socket = self
            .address
            .socket
            .as_deref()
            .ok_or_else(|| Error::invalid_argument(format!("engine address {} names no socket", self.address)))?;
        Ok(under_host_root(self.host_root.as_deref(), socket))
    }

    /// A host path as this process can open it.
    pub fn host_path(&self, path: &Path) -> PathBuf {
        under_host_root(self.host_root.as_deref(), path)
    }
}

/// Joins an absolute host path under the host-root prefix (`/hostfs` + `/run/x` → `/hostfs/run/x`).
pub fn under_host_root(root: Option<&Path>, path: &Path) -> PathBuf {
    match root {
        Some(root) if root != Path::new("/") => root.join(path.strip_prefix("/").unwrap_or(path)),
        _ => path.to_path_buf(),
    }
}

/// Connects to an engine.
pub type ConnectFn = fn(EngineConfig) -> BoxFuture<'static, Result<DynEngine>>;

/// Checks that a socket is served by this engine (and not, say, a look-alike speaking the same
/// protocol: docker and pouch both speak the Docker API) and says what it is.
pub type ProbeFn = fn(EngineConfig) -> BoxFuture<'static, Result<EngineInfo>>;

/// What one environment variable says about an engine's address (see [`EnvVar`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvRole {
    /// An address of this engine: a bare socket path or `unix://` names this engine
    /// (`DOCKER_HOST`, `CONTAINERD_ADDRESS`).
    Address,
    /// An endpoint any engine may serve (kubelet's `CONTAINER_RUNTIME_ENDPOINT`): the socket is
    /// probed, this engine is not implied.
    Endpoint,
    /// A parameter of this engine's addresses (`CONTAINERD_NAMESPACE` → `namespace`), added to an
    /// address of this engine (or one to be probed) that does not set it itself.
    Param(&'static str),
}

/// An environment variable an engine reads, declared in its [`EngineRegistration`] so the facade
/// reads every engine's variables from the registry (adding an engine touches only its crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    /// The variable's name (`DOCKER_HOST`).
    pub name: &'static str,
    /// What its value is to the engine.
    pub role: EnvRole,
    /// Among the address and endpoint variables of every engine, which is read first: lower wins
    /// (the CRI endpoint, naming the engine that runs the pods, before `DOCKER_HOST`).
    pub precedence: i32,
}

impl EnvVar {
    /// An address variable of this engine ([`EnvRole::Address`]).
    pub const fn address(name: &'static str, precedence: i32) -> EnvVar {
        EnvVar { name, role: EnvRole::Address, precedence }
    }

    /// An endpoint any engine may serve ([`EnvRole::Endpoint`]).
    pub const fn endpoint(name: &'static str, precedence: i32) -> EnvVar {
        EnvVar { name, role: EnvRole::Endpoint, precedence }
    }

    /// A parameter of this engine's addresses ([`EnvRole::Param`]).
    pub const fn param(name: &'static str, param: &'static str) -> EnvVar {
        EnvVar { name, role: EnvRole::Param(param), precedence: i32::MAX }
    }
}

/// One engine's entry in the registry.
#[derive(Debug)]
pub struct EngineRegistration {
    /// The engine name used in addresses (`docker`).
    pub name: &'static str,
    /// Other scheme names accepted for it.
    pub aliases: &'static [&'static str],
    /// Sockets probed by detection, as host paths, most likely first.
    pub default_sockets: &'static [&'static str],
    /// Environment variables that name its address or set its address parameters.
    pub env_vars: &'static [EnvVar],
    /// Probing order among engines sharing a socket: lower first.
    pub priority: i32,
    /// Checks that a socket is served by this engine.
    pub probe: ProbeFn,
    /// Connects.
    pub connect: ConnectFn,
}

impl EngineRegistration {
    /// Whether `name` is this engine's name or an alias (case-insensitive).
    pub fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

inventory::collect!(EngineRegistration);

/// Registers an engine with the global registry. Use once per engine crate:
/// `anyctr_core::register_engine!(EngineRegistration { … });`
#[macro_export]
macro_rules! register_engine {
    ($registration:expr) => {
        $crate::__private::inventory::submit! { $registration }
    };
}

/// The registered engines, in probing order.
#[derive(Debug)]
pub struct Registry {
    engines: Vec<&'static EngineRegistration>,
}

impl Registry {
    /// The registry of every registration linked into this program, built once.
    /// Fails (every time) with `Conflict` when two registrations share a name or alias.
    pub fn global() -> Result<&'static Registry> {
        static GLOBAL: OnceLock<std::result::Result<Registry, String>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                Registry::build(inventory::iter::<EngineRegistration>()).map_err(|e| e.message().to_owned())
            })
            .as_ref()
            .map_err(|m| Error::new(ErrorKind::Conflict, m.clone()))
    }

    /// Builds a registry from registrations: sorted by priority then name, duplicates rejected.
    pub fn build(registrations: impl IntoIterator<Item = &'static EngineRegistration>) -> Result<Registry> {
        let mut engines: Vec<&'static EngineRegistration> = registrations.into_iter().collect();
        engines.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.name.cmp(b.name)));
        for (i, a) in engines.iter().enumerate() {
            for b in &engines[i + 1..] {
                let clash = std::iter::once(a.name).chain(a.aliases.iter().copied()).find(|n| b.answers_to(n));
                if let Some(name) = clash {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("two engine registrations answer to the name `{name}` (`{}` and `{}`)", a.name, b.name),
                    ));
                }
            }
        }
        Ok(Registry { engines })
    }

    /// The registration answering to `name` (name or alias).
    pub fn find(&self, name: &str) -> Option<&'static EngineRegistration> {
        self.engines.iter().copied().find(|r| r.answers_to(name))
    }

    /// Every registration, in probing order.
    pub fn iter(&self) -> impl Iterator<Item = &'static EngineRegistration> + '_ {
        self.engines.iter().copied()
    }

    /// Registered names, in probing order.
    pub fn names(&self) -> Vec<&'static str> {
        self.engines.iter().map(|r| r.name).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never_probe(_: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
        Box::pin(async { Err(Error::unsupported("test", "probe")) })
    }
    fn never_connect(_: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
        Box::pin(async { Err(Error::unsupported("test", "connect")) })
    }

    const fn reg(name: &'static str, aliases: &'static [&'static str], priority: i32) -> EngineRegistration {
        EngineRegistration {
            name,
            aliases,
            default_sockets: &[],
            env_vars: &[],
            priority,
            probe: never_probe,
            connect: never_connect,
        }
    }

    static A: EngineRegistration = reg("alpha", &["a"], 10);
    static B: EngineRegistration = reg("beta", &[], 0);
    static C: EngineRegistration = reg("gamma", &[], 10);
    static DUP_NAME: EngineRegistration = reg("alpha", &[], 5);
    static DUP_ALIAS: EngineRegistration = reg("delta", &["A"], 5);

    #[test]
    fn order_is_priority_then_name() {
        let r = Registry::build([&C, &A, &B]).unwrap();
        assert_eq!(r.names(), ["beta", "alpha", "gamma"]);
        let r2 = Registry::build([&A, &B, &C]).unwrap();
        assert_eq!(r2.names(), r.names());
    }

    #[test]
    fn find_by_name_or_alias() {
        let r = Registry::build([&A, &B]).unwrap();
        assert_eq!(r.find("ALPHA").unwrap().name, "alpha");
        assert_eq!(r.find("a").unwrap().name, "alpha");
        assert!(r.find("zeta").is_none());
    }

    #[test]
    fn duplicates_are_rejected() {
        for dup in [&DUP_NAME, &DUP_ALIAS] {
            let e = Registry::build([&A, &B, dup]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Conflict);
            assert!(e.message().contains("alpha") || e.message().contains("`a`"), "{e}");
        }
    }

    #[test]
    fn host_root_prefix() {
        assert_eq!(
            under_host_root(Some(Path::new("/hostfs")), Path::new("/run/x.sock")),
            Path::new("/hostfs/run/x.sock")
        );
        assert_eq!(under_host_root(Some(Path::new("/")), Path::new("/run/x.sock")), Path::new("/run/x.sock"));
        assert_eq!(under_host_root(None, Path::new("/run/x.sock")), Path::new("/run/x.sock"));
    }
}
