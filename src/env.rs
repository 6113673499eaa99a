//! Choosing an engine from the environment, as a pure function of the variables so it can be
//! tested with a case table; [`Engines::from_env`](crate::Engines::from_env) applies it.

use std::path::PathBuf;

use anyctr_core::{EngineAddress, Error, Result};

/// Explicit anyctr address; wins over everything else.
pub const ANYCTR_ADDRESS: &str = "ANYCTR_ADDRESS";
/// Where the host's `/` is mounted when the agent runs in a container (e.g. `/hostfs`).
pub const ANYCTR_HOST_ROOT: &str = "ANYCTR_HOST_ROOT";
/// containerd's state dir (its `--state`, default `/run/containerd`), where the CRI rootfs of
/// each container is found: added as the `state_dir` parameter of a containerd, rund or CRI
/// address that names none.
pub const ANYCTR_CONTAINERD_STATE_DIR: &str = "ANYCTR_CONTAINERD_STATE_DIR";

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPlan {
    /// The address to connect to; `None` means "probe the known sockets".
    pub address: Option<EngineAddress>,
    /// The variable the address came from, for the explanation.
    pub source: Option<&'static str>,
    /// From `ANYCTR_HOST_ROOT`.
    pub host_root: Option<PathBuf>,
}

/// Reads the plan from variables given by `var`. Precedence: `ANYCTR_ADDRESS`, then
/// `CONTAINER_RUNTIME_ENDPOINT` (the CRI endpoint kubelet uses: the engine that runs the pods),
/// then `CONTAINERD_ADDRESS` (with `CONTAINERD_NAMESPACE`), then `DOCKER_HOST`, then `POUCH_SOCKET`.
/// A set but unusable variable is an error naming it, never silently skipped.
pub fn plan_from_env(var: impl Fn(&str) -> Option<String>) -> Result<EnvPlan> {
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
    let namespace = get("CONTAINERD_NAMESPACE");
    let state_dir = get(ANYCTR_CONTAINERD_STATE_DIR);
    let with_namespace = |mut a: EngineAddress| {
        if let Some(ns) = &namespace
            && a.param("namespace").is_none()
        {
            a.params.push(("namespace".into(), ns.clone()));
        }
        // Only where containerd may answer: a docker address keeps its own parameters.
        let containerd_like = a.engine.as_deref().is_none_or(|e| e == "containerd" || e == "rund");
        if let Some(dir) = &state_dir
            && containerd_like
            && a.param("state_dir").is_none()
        {
            a.params.push(("state_dir".into(), dir.clone()));
        }
        a
    };
    let (address, source) = if let Some(v) = get(ANYCTR_ADDRESS) {
        (Some(parse(ANYCTR_ADDRESS, &v)?), Some(ANYCTR_ADDRESS))
    } else if let Some(v) = get("CONTAINER_RUNTIME_ENDPOINT") {
        // A CRI endpoint says nothing about which engine serves it; probing decides.
        let mut a = parse("CONTAINER_RUNTIME_ENDPOINT", &v)?;
        if a.engine.is_some() && a.socket.is_none() {
            return Err(Error::invalid_argument(format!("CONTAINER_RUNTIME_ENDPOINT={v:?} names no socket")));
        }
        a = with_namespace(a);
        (Some(a), Some("CONTAINER_RUNTIME_ENDPOINT"))
    } else if let Some(v) = get("CONTAINERD_ADDRESS") {
        // containerd's own convention is a bare socket path.
        let mut a = parse("CONTAINERD_ADDRESS", &v)?;
        if a.engine.is_none() {
            a.engine = Some("containerd".into());
        }
        (Some(with_namespace(a)), Some("CONTAINERD_ADDRESS"))
    } else if let Some(v) = get("DOCKER_HOST") {
        let mut a = parse("DOCKER_HOST", &v)?;
        if a.engine.is_none() {
            a.engine = Some("docker".into());
        }
        (Some(a), Some("DOCKER_HOST"))
    } else if let Some(v) = get("POUCH_SOCKET") {
        let mut a = parse("POUCH_SOCKET", &v)?;
        if a.engine.is_none() {
            a.engine = Some("pouch".into());
        }
        (Some(a), Some("POUCH_SOCKET"))
    } else {
        (None, None)
    };
    Ok(EnvPlan { address, source, host_root })
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
