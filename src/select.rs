//! Picking and connecting an engine: from an address, from the environment, or by probing.

use std::path::PathBuf;
use std::time::Duration;

use anyctr_core::registry::DEFAULT_CALL_TIMEOUT;
use anyctr_core::{EngineAddress, EngineConfig, EngineRegistration, Error, ErrorKind, Registry, Result};

use crate::detect::{self, DetectReport};
use crate::env::plan_from_env;
use crate::handle::Engine;

/// anyctr's own manifest: its features are the one list of the engines it can compile in.
const MANIFEST: &str = include_str!("../Cargo.toml");

/// An engine anyctr can compile in, and the cargo feature of `anyctr` that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownEngine {
    /// The engine's crate name without `anyctr-engine-` (its registered name).
    pub name: &'static str,
    /// The cargo feature of `anyctr` that compiles it in.
    pub feature: &'static str,
}

/// Every engine anyctr knows, compiled in or not: derived from anyctr's cargo features (each
/// feature that enables an `anyctr-engine-<name>` crate), so no second list is kept by hand. A
/// compiled-out engine's registration is not linked, so the features are the only place that
/// knows it, for the error that says which feature to enable.
pub fn known_engines() -> &'static [KnownEngine] {
    static KNOWN: std::sync::OnceLock<Vec<KnownEngine>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| engines_of_features(MANIFEST))
}

/// The `[features]` of a manifest that enable an engine crate, as (engine, feature).
fn engines_of_features(manifest: &'static str) -> Vec<KnownEngine> {
    let mut known = Vec::new();
    let mut in_features = false;
    let mut feature: Option<&'static str> = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') && !line.starts_with("[\"") && !line.starts_with("[]") {
            in_features = line == "[features]";
            feature = None;
            continue;
        }
        if !in_features || line.starts_with('#') {
            continue;
        }
        // `name = [ "dep:anyctr-engine-x", … ]`, possibly over several lines.
        let items = match line.split_once('=') {
            Some((key, rest)) if !key.contains('"') => {
                feature = Some(key.trim());
                rest
            }
            _ => line,
        };
        let Some(feature) = feature else { continue };
        for item in items.split(',').map(|i| i.trim().trim_matches(|c| matches!(c, '[' | ']' | '"' | ' '))) {
            let krate = item.strip_prefix("dep:").unwrap_or(item);
            if let Some(name) = krate.strip_prefix("anyctr-engine-").filter(|n| !n.contains(['/', '?']))
                && !known.iter().any(|k: &KnownEngine| k.name == name)
            {
                known.push(KnownEngine { name, feature });
            }
        }
    }
    known
}

/// How to connect: [`ConnectOptions::default`] and the setters (see [`crate::connect_with`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// Where the host's `/` is mounted when the agent runs in a container.
    pub host_root: Option<PathBuf>,
    /// Bound on ordinary daemon calls.
    pub call_timeout: Duration,
    /// Bound on each probe of a candidate socket.
    pub probe_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { host_root: None, call_timeout: DEFAULT_CALL_TIMEOUT, probe_timeout: Duration::from_secs(3) }
    }
}

/// The implementation of the free entry points ([`connect`](crate::connect),
/// [`from_env`](crate::from_env), [`detect`](crate::detect), [`registry`](crate::registry), …);
/// use those. Hidden from the docs and kept so code written against it keeps compiling.
#[doc(hidden)]
pub struct Engines;

impl Engines {
    /// The engines compiled into this program, in probing order. Fails with `Conflict` when two
    /// registrations share a name.
    pub fn registry() -> Result<&'static Registry> {
        Registry::global()
    }

    /// Connects to the engine an address names, e.g. `docker:///var/run/docker.sock`,
    /// `containerd:///run/containerd/containerd.sock?namespace=k8s.io`, `unix:///…` (engine found by
    /// probing the socket) or `docker://` (the engine's default sockets).
    pub async fn connect(address: &str) -> Result<Engine> {
        Self::connect_with(EngineAddress::parse(address)?, &ConnectOptions::default()).await
    }

    /// Connects to an address with options.
    pub async fn connect_with(address: EngineAddress, options: &ConnectOptions) -> Result<Engine> {
        let registry = Self::registry()?;
        match address.engine.clone() {
            Some(name) => {
                let registration = find_registration(registry, &name)?;
                // An engine that registers no default sockets speaks over none (the OCI runtime
                // engine's address names a runtime root directory): its address goes to it as given.
                let socketless = registration.default_sockets.is_empty();
                let (address, choice) = match &address.socket {
                    _ if socketless => (address.clone(), format!("address {address}")),
                    Some(_) => {
                        // An explicit socket gets the same precise answer a probe of it would.
                        check_socket_usable(registration, &config_for(address.clone(), options), options).await?;
                        (address.clone(), format!("address {address}"))
                    }
                    None => pick_default_socket(registration, address, options).await?,
                };
                connect_registration(registration, address, options, choice).await
            }
            None => {
                // A bare socket: every engine probes it in priority order; the first that
                // recognizes the daemon (from what it answers, not the socket's name) wins.
                let mut reasons = Vec::new();
                for registration in registry.iter() {
                    let candidate = EngineAddress { engine: Some(registration.name.to_owned()), ..address.clone() };
                    match probe(registration, &candidate, options).await {
                        Ok(version) => {
                            let choice = format!("{address} answered as {} {version}", registration.name);
                            return connect_registration(registration, candidate, options, choice).await;
                        }
                        Err(e) => reasons.push(format!("{}: {}", registration.name, e.message())),
                    }
                }
                Err(Error::new(
                    ErrorKind::EngineUnavailable,
                    format!("no registered engine recognized {address}; tried: {}", reasons.join("; ")),
                ))
            }
        }
    }

    /// Connects as the environment says (see [`plan_from_env`]): an address from `ANYCTR_ADDRESS` or
    /// from the variables the compiled-in engines register (`CONTAINER_RUNTIME_ENDPOINT`,
    /// `CONTAINERD_ADDRESS` + `CONTAINERD_NAMESPACE`, `DOCKER_HOST`, `POUCH_SOCKET`, …), with the
    /// host-root prefix from `ANYCTR_HOST_ROOT`; with none of them set, probes the known sockets.
    pub async fn from_env() -> Result<Engine> {
        Self::from_env_with(&ConnectOptions::default()).await
    }

    /// [`from_env`](Self::from_env) with options; `ANYCTR_HOST_ROOT`, when set, replaces
    /// `options.host_root`.
    pub async fn from_env_with(options: &ConnectOptions) -> Result<Engine> {
        let plan = plan_from_env(|k| std::env::var(k).ok())?;
        // Variables of engines this build lacks: said in the choice or the error, never ignored.
        let notes = crate::env::compiled_out(Self::registry()?, |k| std::env::var(k).ok());
        let explain = |choice_or_error: String| {
            if notes.is_empty() { choice_or_error } else { format!("{choice_or_error} ({})", notes.join("; ")) }
        };
        let mut options = options.clone();
        if plan.host_root.is_some() {
            options.host_root = plan.host_root.clone();
        }
        match plan.address {
            Some(address) => {
                let source = plan.source.unwrap_or("environment");
                let mut engine = Self::connect_with(address, &options).await?;
                engine.prefix_choice(&format!("{}: ", explain(format!("from {source}"))));
                Ok(engine)
            }
            // The engine found by probing still gets its parameters from the environment
            // (`CONTAINERD_NAMESPACE`, the containerd state dir, …), as an address would.
            None => {
                let registry = Self::registry()?;
                let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
                match detect_and_connect_in(registry, &options, |a| crate::env::with_params(registry, a, &get)).await {
                    Ok(mut engine) if !notes.is_empty() => {
                        engine.prefix_choice(&format!("{}: ", explain("probed".to_owned())));
                        Ok(engine)
                    }
                    Ok(engine) => Ok(engine),
                    Err(e) => Err(Error::new(e.kind(), explain(e.message().to_owned()))),
                }
            }
        }
    }

    /// Probes every known socket of every compiled-in engine (under the host root) and reports
    /// each candidate: path, exists, is a socket, permission, answered, version or why rejected.
    pub async fn detect(options: &ConnectOptions) -> Result<DetectReport> {
        Ok(detect::run(Self::registry()?, options).await)
    }

    /// [`detect`](Self::detect), then connects to the first engine that answered.
    pub async fn detect_and_connect(options: &ConnectOptions) -> Result<Engine> {
        detect_and_connect_in(Self::registry()?, options, |a| a).await
    }
}

/// [`Engines::detect_and_connect`], with the chosen engine's address amended (by parameters the
/// environment gives) before connecting.
async fn detect_and_connect_in(
    registry: &'static Registry,
    options: &ConnectOptions,
    amend: impl FnOnce(EngineAddress) -> EngineAddress,
) -> Result<Engine> {
    let report = detect::run(registry, options).await;
    let Some(chosen) = report.chosen() else {
        return Err(Error::new(ErrorKind::EngineUnavailable, format!("no container engine found\n{report}")));
    };
    let registration = find_registration(registry, chosen.engine)?;
    let address = amend(EngineAddress::new(chosen.engine, chosen.socket.clone()));
    let choice = format!(
        "probed: {} answered on {} ({})",
        chosen.engine,
        chosen.socket.display(),
        chosen.version.as_deref().unwrap_or("?")
    );
    connect_registration(registration, address, options, choice).await
}

/// The registration for `name`, or an error that says whether the engine is unknown or only
/// compiled out (naming the feature that enables it).
pub(crate) fn find_registration(registry: &Registry, name: &str) -> Result<&'static EngineRegistration> {
    if let Some(r) = registry.find(name) {
        return Ok(r);
    }
    if let Some(KnownEngine { name: engine, feature }) =
        known_engines().iter().find(|k| k.name.eq_ignore_ascii_case(name))
    {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("engine `{engine}` is not compiled in: enable the cargo feature `{feature}` of anyctr"),
        )
        .with_engine(*engine));
    }
    Err(Error::invalid_argument(format!(
        "unknown engine `{name}`; compiled-in engines: {}",
        registry.names().join(", ")
    )))
}

async fn pick_default_socket(
    registration: &'static EngineRegistration,
    address: EngineAddress,
    options: &ConnectOptions,
) -> Result<(EngineAddress, String)> {
    let mut reasons = Vec::new();
    for socket in registration.default_sockets {
        let candidate = EngineAddress { socket: Some(PathBuf::from(socket)), ..address.clone() };
        match probe(registration, &candidate, options).await {
            Ok(version) => {
                let choice = format!("default socket {socket} of {} answered ({version})", registration.name);
                return Ok((candidate, choice));
            }
            Err(e) => reasons.push(format!("{socket}: {}", e.message())),
        }
    }
    Err(Error::new(
        ErrorKind::EngineUnavailable,
        format!("no default socket of engine `{}` answered: {}", registration.name, reasons.join("; ")),
    )
    .with_engine(registration.name))
}

pub(crate) fn config_for(address: EngineAddress, options: &ConnectOptions) -> EngineConfig {
    let mut config = EngineConfig::new(address);
    config.host_root = options.host_root.clone();
    config.call_timeout = options.call_timeout;
    config
}

/// Checks that the config's socket is a socket somebody accepts on, before any protocol is spoken.
async fn check_socket_usable(
    registration: &'static EngineRegistration,
    config: &EngineConfig,
    options: &ConnectOptions,
) -> Result<()> {
    let path = config.socket_path()?;
    let check = anyctr_core::socket_check::check_socket(&path, options.probe_timeout).await;
    match check.error() {
        Some(e) => Err(e.with_engine(registration.name).with_operation("connect")),
        None => Ok(()),
    }
}

/// Checks the socket, then asks the registration's probe; returns the version.
pub(crate) async fn probe(
    registration: &'static EngineRegistration,
    address: &EngineAddress,
    options: &ConnectOptions,
) -> Result<String> {
    let config = config_for(address.clone(), options);
    check_socket_usable(registration, &config, options).await?;
    match tokio::time::timeout(options.probe_timeout, (registration.probe)(config)).await {
        Ok(Ok(info)) => Ok(info.version),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::timeout("probe", options.probe_timeout).with_engine(registration.name)),
    }
}

async fn connect_registration(
    registration: &'static EngineRegistration,
    address: EngineAddress,
    options: &ConnectOptions,
    choice: String,
) -> Result<Engine> {
    let config = config_for(address, options);
    let timeout = options.call_timeout;
    let engine = tokio::time::timeout(timeout, (registration.connect)(config.clone()))
        .await
        .map_err(|_| Error::timeout("connect", timeout).with_engine(registration.name))??;
    let info = tokio::time::timeout(timeout, engine.identify())
        .await
        .map_err(|_| Error::timeout("identify", timeout).with_engine(registration.name))??;
    Ok(Engine::new(engine, info, config, choice))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_out_engine_names_its_feature() {
        let without_pouch = Registry::build(Registry::global().unwrap().iter().filter(|r| r.name != "pouch")).unwrap();
        let e = find_registration(&without_pouch, "pouch").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.message().contains("feature `pouch`"), "{e}");
        let e = find_registration(&without_pouch, "nosuch").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("docker"), "lists the compiled-in engines: {e}");
    }

    #[test]
    fn known_engines_are_the_engine_features() {
        let known: Vec<(&str, &str)> = known_engines().iter().map(|k| (k.name, k.feature)).collect();
        assert_eq!(
            known,
            [
                ("docker", "docker"),
                ("containerd", "containerd"),
                ("pouch", "pouch"),
                ("rund", "rund"),
                ("cri", "cri"),
                ("podman", "podman"),
                ("oci", "oci")
            ]
        );
        // The default features compile every engine in, under the name its crate is named after.
        let registry = Registry::global().unwrap();
        for k in known_engines() {
            assert_eq!(registry.find(k.name).map(|r| r.name), Some(k.name), "{k:?}");
        }
        assert_eq!(registry.names().len(), known_engines().len(), "an engine registered without a feature");
    }

    #[test]
    fn engine_features_are_read_from_any_layout() {
        let manifest = "[package]\nname = \"x\"\n[features]\n# comment\ndefault = [\"a\", \"b\"]\na = [\"dep:anyctr-engine-alpha\"]\nb = [\n  \"anyctr-engine-beta\",\n  \"a\",\n]\nc = [\"anyctr-engine-alpha?/x\"]\n[dependencies]\nanyctr-engine-gamma = \"1\"\n";
        let known: Vec<(&str, &str)> = engines_of_features(manifest).iter().map(|k| (k.name, k.feature)).collect();
        assert_eq!(known, [("alpha", "a"), ("beta", "b")]);
    }
}
