//! Choosing an engine from the environment, as a pure function of the variables so it can be
//! tested with a case table; [`from_env`](crate::from_env) applies it.
//!
//! The facade knows only its own variables (`ANYCTR_ADDRESS`, `ANYCTR_HOST_ROOT`); every engine
//! declares its own in its registration ([`EnvVar`]: `DOCKER_HOST`, `CONTAINERD_ADDRESS`, …), so
//! adding an engine touches only that engine's crate. A compiled-out engine's variables cannot
//! be used, but they are not ignored silently either: [`compiled_out`] names each one that is set
//! and the cargo feature that would read it, and `from_env` says so in its choice or its error.
//! That takes the one list the registry cannot give, [`OPTIONAL_ENGINE_VARIABLES`], which a test
//! checks against the registrations of the engines compiled in.

use std::path::PathBuf;

use anyctr_core::{EngineAddress, EngineRegistration, EnvRole, EnvVar, Error, Registry, Result};

/// Explicit anyctr address; wins over everything else.
pub const ANYCTR_ADDRESS: &str = "ANYCTR_ADDRESS";
/// Where the host's `/` is mounted when the agent runs in a container (e.g. `/hostfs`).
pub const ANYCTR_HOST_ROOT: &str = "ANYCTR_HOST_ROOT";

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnvPlan {
    /// The address to connect to; `None` means "probe the known sockets".
    pub address: Option<EngineAddress>,
    /// The variable the address came from, for the explanation.
    pub source: Option<&'static str>,
    /// From `ANYCTR_HOST_ROOT`.
    pub host_root: Option<PathBuf>,
}

/// Every engine the facade can be built without (its cargo features) with the address variables
/// its registration declares, for [`compiled_out`]. A unit test (default features: every engine
/// in) checks it against the registry, so it cannot drift from the engines' own declarations.
pub const OPTIONAL_ENGINE_VARIABLES: &[(&str, &[&str])] = &[
    ("containerd", &["CONTAINER_RUNTIME_ENDPOINT", "CONTAINERD_ADDRESS"]),
    ("cri", &["CONTAINER_RUNTIME_ENDPOINT"]),
    ("docker", &["DOCKER_HOST"]),
    ("podman", &["CONTAINER_HOST"]),
    ("oci", &[]),
    ("pouch", &["POUCH_SOCKET"]),
    ("rund", &[]),
];

/// One sentence per variable that is set but belongs only to engines not compiled into this
/// program (`DOCKER_HOST is set, but engine docker is not compiled in (cargo feature "docker")`).
/// A variable that a compiled-in engine also reads is not mentioned.
pub fn compiled_out(registry: &Registry, var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let read_here = |name: &str| registry.iter().any(|r| r.env_vars.iter().any(|v| v.name == name));
    let mut notes: Vec<String> = Vec::new();
    for (engine, variables) in OPTIONAL_ENGINE_VARIABLES {
        if registry.find(engine).is_some() {
            continue;
        }
        for name in *variables {
            let set = var(name).is_some_and(|v| !v.trim().is_empty());
            if set && !read_here(name) && !notes.iter().any(|n| n.starts_with(&format!("{name} "))) {
                notes.push(format!(
                    "{name} is set, but engine {engine} is not compiled into this program (cargo feature \"{engine}\" of anyctr); it was not used"
                ));
            }
        }
    }
    notes
}

/// Reads the plan from variables given by `var`, with the variables the compiled-in engines
/// registered. Precedence: `ANYCTR_ADDRESS`, then the engines' address variables by their declared
/// precedence (today: `CONTAINER_RUNTIME_ENDPOINT`, the CRI endpoint kubelet uses, i.e. the engine
/// that runs the pods; then `CONTAINERD_ADDRESS`, `DOCKER_HOST`, `POUCH_SOCKET`). An engine's
/// parameter variables (`CONTAINERD_NAMESPACE`) are added to an address of that engine, or to an
/// endpoint to be probed, that does not set the parameter itself. A set but unusable variable is
/// an error naming it, never silently skipped.
pub fn plan_from_env(var: impl Fn(&str) -> Option<String>) -> Result<EnvPlan> {
    plan_from_env_in(Registry::global()?, var)
}

/// [`plan_from_env`] with the variables of `registry`'s engines.
pub fn plan_from_env_in(registry: &Registry, var: impl Fn(&str) -> Option<String>) -> Result<EnvPlan> {
    let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let host_root = match get(ANYCTR_HOST_ROOT) {
        Some(root) if !root.starts_with('/') => {
            return Err(Error::invalid_argument(format!("{ANYCTR_HOST_ROOT}={root:?} is not an absolute path")));
        }
        Some(root) => Some(PathBuf::from(root)),
        None => None,
    };
    let parse = |name: &'static str, value: &str| {
        EngineAddress::parse(value).map_err(|e| {
            Error::invalid_argument(format!("{name}={value:?} is not a usable engine address: {}", e.message()))
        })
    };
    if let Some(v) = get(ANYCTR_ADDRESS) {
        let address = with_params(registry, parse(ANYCTR_ADDRESS, &v)?, &get);
        return Ok(EnvPlan { address: Some(address), source: Some(ANYCTR_ADDRESS), host_root });
    }
    for (registration, variable) in address_variables(registry) {
        let Some(v) = get(variable.name) else { continue };
        let mut address = parse(variable.name, &v)?;
        match variable.role {
            // A bare path or `unix://` names the engine whose variable it is.
            EnvRole::Address if address.engine.is_none() => address.engine = Some(registration.name.to_owned()),
            // An endpoint says nothing about which engine serves it; probing decides.
            EnvRole::Endpoint if address.engine.is_some() && address.socket.is_none() => {
                return Err(Error::invalid_argument(format!("{}={v:?} names no socket", variable.name)));
            }
            _ => {}
        }
        let address = with_params(registry, address, &get);
        return Ok(EnvPlan { address: Some(address), source: Some(variable.name), host_root });
    }
    Ok(EnvPlan { address: None, source: None, host_root })
}

/// Every engine's address and endpoint variables, by precedence (first declaration of a name wins).
fn address_variables(registry: &Registry) -> Vec<(&'static EngineRegistration, &'static EnvVar)> {
    let mut variables: Vec<(&'static EngineRegistration, &'static EnvVar)> = Vec::new();
    for registration in registry.iter() {
        for variable in registration.env_vars {
            let addresses = matches!(variable.role, EnvRole::Address | EnvRole::Endpoint);
            if addresses && !variables.iter().any(|(_, v)| v.name == variable.name) {
                variables.push((registration, variable));
            }
        }
    }
    variables.sort_by_key(|(_, v)| v.precedence);
    variables
}

/// Adds the parameter variables of the engine `address` names (of every engine, when it names
/// none and is to be probed) that are set and that the address does not set itself.
pub(crate) fn with_params(
    registry: &Registry,
    mut address: EngineAddress,
    get: &impl Fn(&str) -> Option<String>,
) -> EngineAddress {
    for registration in registry.iter() {
        if address.engine.as_deref().is_some_and(|e| !registration.answers_to(e)) {
            continue;
        }
        for variable in registration.env_vars {
            if let EnvRole::Param(param) = variable.role
                && address.param(param).is_none()
                && let Some(value) = get(variable.name)
            {
                address.params.push((param.to_owned(), value));
            }
        }
    }
    address
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyctr_core::ErrorKind;
    use std::collections::HashMap;
    use std::path::Path;

    fn plan(vars: &[(&str, &str)]) -> Result<EnvPlan> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        plan_from_env(|k| map.get(k).cloned())
    }

    #[test]
    fn optional_engine_variables_match_the_registrations() {
        let registry = Registry::global().unwrap();
        for (engine, variables) in OPTIONAL_ENGINE_VARIABLES {
            let registration = registry.find(engine).unwrap_or_else(|| panic!("{engine} not compiled in"));
            let declared: Vec<&str> = registration
                .env_vars
                .iter()
                .filter(|v| matches!(v.role, EnvRole::Address | EnvRole::Endpoint))
                .map(|v| v.name)
                .collect();
            assert_eq!(&declared, variables, "{engine}");
        }
        assert_eq!(registry.names().len(), OPTIONAL_ENGINE_VARIABLES.len(), "an engine is missing from the list");
    }

    #[test]
    fn compiled_out_variables_are_explained() {
        let only = |names: &[&str]| {
            let regs: Vec<&'static EngineRegistration> =
                names.iter().map(|n| Registry::global().unwrap().find(n).unwrap()).collect();
            Registry::build(regs).unwrap()
        };
        let vars: HashMap<&str, &str> = [
            ("DOCKER_HOST", "unix:///run/d.sock"),
            ("CONTAINER_RUNTIME_ENDPOINT", "unix:///c.sock"),
            ("POUCH_SOCKET", " "),
        ]
        .into();
        let get = |k: &str| vars.get(k).map(|v| v.to_string());
        // docker out, containerd in: DOCKER_HOST explained; the CRI endpoint containerd reads is not;
        // an empty POUCH_SOCKET counts as unset.
        let notes = compiled_out(&only(&["containerd"]), get);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("DOCKER_HOST is set, but engine docker is not compiled in"), "{}", notes[0]);
        assert!(notes[0].contains("cargo feature \"docker\""), "{}", notes[0]);
        // Nothing compiled in: each set variable once.
        let notes = compiled_out(&Registry::build([]).unwrap(), get);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with("CONTAINER_RUNTIME_ENDPOINT is set, but engine containerd"), "{notes:?}");
        // Everything compiled in: nothing to explain.
        assert!(compiled_out(Registry::global().unwrap(), get).is_empty());
    }

    #[test]
    fn containerd_state_dir_joins_containerd_addresses_only() {
        let state = |vars: &[(&str, &str)]| plan(vars).unwrap().address.unwrap().param("state_dir").map(str::to_owned);
        let dir = ("ANYCTR_CONTAINERD_STATE_DIR", "/run/k3s/containerd");
        assert_eq!(state(&[("CONTAINERD_ADDRESS", "/run/c.sock"), dir]).as_deref(), Some("/run/k3s/containerd"));
        assert_eq!(state(&[("CONTAINER_RUNTIME_ENDPOINT", "unix:///run/c.sock"), dir]).as_deref(), Some(dir.1));
        // The address's own parameter wins; docker gets none.
        let own = ("CONTAINERD_ADDRESS", "containerd:///run/c.sock?state_dir=/x");
        assert_eq!(state(&[own, dir]).as_deref(), Some("/x"));
        assert_eq!(state(&[("DOCKER_HOST", "unix:///run/d.sock"), dir]), None);
        assert_eq!(state(&[("CONTAINERD_ADDRESS", "/run/c.sock")]), None);
    }

    #[test]
    fn env_table() {
        // (vars, engine, socket, namespace param, source)
        type Case = (
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (&[], None, None, None, None),
            (&[("DOCKER_HOST", "unix:///run/d.sock")], Some("docker"), Some("/run/d.sock"), None, Some("DOCKER_HOST")),
            (
                &[("DOCKER_HOST", "pouch:///var/run/pouchd.sock")],
                Some("pouch"),
                Some("/var/run/pouchd.sock"),
                None,
                Some("DOCKER_HOST"),
            ),
            (
                &[("CONTAINERD_ADDRESS", "/run/c.sock")],
                Some("containerd"),
                Some("/run/c.sock"),
                None,
                Some("CONTAINERD_ADDRESS"),
            ),
            (
                &[("CONTAINERD_ADDRESS", "/run/c.sock"), ("CONTAINERD_NAMESPACE", "k8s.io")],
                Some("containerd"),
                Some("/run/c.sock"),
                Some("k8s.io"),
                Some("CONTAINERD_ADDRESS"),
            ),
            (
                &[
                    ("CONTAINER_RUNTIME_ENDPOINT", "unix:///run/containerd/containerd.sock"),
                    ("DOCKER_HOST", "unix:///x"),
                ],
                None,
                Some("/run/containerd/containerd.sock"),
                None,
                Some("CONTAINER_RUNTIME_ENDPOINT"),
            ),
            (
                &[("ANYCTR_ADDRESS", "rund:///run/c.sock"), ("CONTAINERD_ADDRESS", "/run/other.sock")],
                Some("rund"),
                Some("/run/c.sock"),
                None,
                Some("ANYCTR_ADDRESS"),
            ),
            (
                &[("CONTAINERD_ADDRESS", "/run/c.sock"), ("DOCKER_HOST", "unix:///run/d.sock")],
                Some("containerd"),
                Some("/run/c.sock"),
                None,
                Some("CONTAINERD_ADDRESS"),
            ),
            (
                &[("POUCH_SOCKET", "/var/run/pouchd.sock")],
                Some("pouch"),
                Some("/var/run/pouchd.sock"),
                None,
                Some("POUCH_SOCKET"),
            ),
            (&[("DOCKER_HOST", "  ")], None, None, None, None),
            (
                &[("ANYCTR_ADDRESS", "containerd:///run/c.sock"), ("CONTAINERD_NAMESPACE", "k8s.io")],
                Some("containerd"),
                Some("/run/c.sock"),
                Some("k8s.io"),
                Some("ANYCTR_ADDRESS"),
            ),
            (
                &[("ANYCTR_ADDRESS", "containerd:///run/c.sock?namespace=moby"), ("CONTAINERD_NAMESPACE", "k8s.io")],
                Some("containerd"),
                Some("/run/c.sock"),
                Some("moby"),
                Some("ANYCTR_ADDRESS"),
            ),
            (
                &[("DOCKER_HOST", "unix:///run/d.sock"), ("CONTAINERD_NAMESPACE", "k8s.io")],
                Some("docker"),
                Some("/run/d.sock"),
                None,
                Some("DOCKER_HOST"),
            ),
        ];
        for (vars, engine, socket, ns, source) in cases {
            let p = plan(vars).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
            assert_eq!(p.source, *source, "{vars:?}");
            let a = p.address.as_ref();
            assert_eq!(a.and_then(|a| a.engine.as_deref()), *engine, "{vars:?}");
            assert_eq!(a.and_then(|a| a.socket.as_deref()), socket.map(Path::new), "{vars:?}");
            assert_eq!(a.and_then(|a| a.param("namespace")), *ns, "{vars:?}");
        }
    }

    fn never_probe(
        _: anyctr_core::EngineConfig,
    ) -> futures_util::future::BoxFuture<'static, Result<anyctr_core::EngineInfo>> {
        Box::pin(async { Err(Error::unsupported("test", "probe")) })
    }
    fn never_connect(
        _: anyctr_core::EngineConfig,
    ) -> futures_util::future::BoxFuture<'static, Result<anyctr_core::DynEngine>> {
        Box::pin(async { Err(Error::unsupported("test", "connect")) })
    }

    /// An engine the facade has never heard of: its variables are read from its registration.
    static ALPHA: EngineRegistration = EngineRegistration {
        name: "alpha",
        aliases: &[],
        default_sockets: &[],
        env_vars: &[
            EnvVar::address("ALPHA_HOST", 5),
            EnvVar::param("ALPHA_MODE", "mode"),
            EnvVar::endpoint("SHARED_ENDPOINT", 50),
        ],
        priority: 0,
        probe: never_probe,
        connect: never_connect,
    };

    #[test]
    fn a_new_engines_variables_come_from_its_registration() {
        let global = Registry::global().unwrap();
        let registry = Registry::build(global.iter().chain([&ALPHA])).unwrap();
        let plan_in = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            plan_from_env_in(&registry, |k| map.get(k).cloned())
        };
        // Precedence 5: before DOCKER_HOST (30) and the CRI endpoint (10); its parameter is added.
        let p =
            plan_in(&[("DOCKER_HOST", "unix:///d.sock"), ("ALPHA_HOST", "/a.sock"), ("ALPHA_MODE", "fast")]).unwrap();
        let a = p.address.unwrap();
        assert_eq!((p.source, a.engine.as_deref(), a.param("mode")), (Some("ALPHA_HOST"), Some("alpha"), Some("fast")));
        // Another engine's parameter is not added to its address, nor its own to another's.
        let p = plan_in(&[("ALPHA_HOST", "/a.sock"), ("CONTAINERD_NAMESPACE", "k8s.io")]).unwrap();
        assert_eq!(p.address.unwrap().param("namespace"), None);
        let p = plan_in(&[("CONTAINERD_ADDRESS", "/c.sock"), ("ALPHA_MODE", "fast")]).unwrap();
        assert_eq!(p.address.unwrap().param("mode"), None);
        // An endpoint names no engine; an address's own parameter wins over the variable.
        let p = plan_in(&[("SHARED_ENDPOINT", "unix:///e.sock?mode=slow"), ("ALPHA_MODE", "fast")]).unwrap();
        let a = p.address.unwrap();
        assert_eq!((a.engine.as_deref(), a.param("mode")), (None, Some("slow")));
        // Without the registration the variable means nothing.
        assert_eq!(plan(&[("ALPHA_HOST", "/a.sock")]).unwrap().address, None);
    }

    #[test]
    fn the_containerd_state_dir_variable_reaches_the_address() {
        let p = plan(&[("CONTAINERD_ADDRESS", "/run/c.sock"), ("ANYCTR_CONTAINERD_STATE_DIR", "/var/lib/c-state")]);
        assert_eq!(p.unwrap().address.unwrap().param("state_dir"), Some("/var/lib/c-state"));
        let p = plan(&[("ANYCTR_ADDRESS", "rund:///run/c.sock"), ("ANYCTR_CONTAINERD_STATE_DIR", "/var/lib/c-state")]);
        assert_eq!(p.unwrap().address.unwrap().param("state_dir"), Some("/var/lib/c-state"));
    }

    #[test]
    fn host_root() {
        assert_eq!(plan(&[("ANYCTR_HOST_ROOT", "/hostfs")]).unwrap().host_root.as_deref(), Some(Path::new("/hostfs")));
        assert_eq!(plan(&[("ANYCTR_HOST_ROOT", "hostfs")]).unwrap_err().kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn unusable_values_name_the_variable() {
        for (k, v) in
            [("DOCKER_HOST", "tcp://10.0.0.1:2375"), ("CONTAINERD_ADDRESS", "relative.sock"), ("ANYCTR_ADDRESS", "x")]
        {
            let e = plan(&[(k, v)]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().contains(k), "{e}");
        }
    }
}
