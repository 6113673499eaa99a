use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

/// A mount requested at container creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// A host path (bind) or a volume name (volume); empty for tmpfs.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
    pub kind: MountSpecKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountSpecKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountSpec {
    pub fn bind(source: impl Into<String>, destination: impl Into<String>) -> Self {
        MountSpec {
            source: source.into(),
            destination: destination.into(),
            read_only: false,
            kind: MountSpecKind::Bind,
        }
    }

    pub fn volume(name: impl Into<String>, destination: impl Into<String>) -> Self {
        MountSpec {
            source: name.into(),
            destination: destination.into(),
            read_only: false,
            kind: MountSpecKind::Volume,
        }
    }

    pub fn tmpfs(destination: impl Into<String>) -> Self {
        MountSpec {
            source: String::new(),
            destination: destination.into(),
            read_only: false,
            kind: MountSpecKind::Tmpfs,
        }
    }

    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }
}

/// Kubernetes identity for a pod sandbox created through an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    /// The runtime (docker runtime name or CRI runtime handler), `None` for the engine's default.
    pub runtime: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// What a new container is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSpec {
    pub name: Option<String>,
    pub image: String,
    /// The command; empty for the image's default.
    pub argv: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<MountSpec>,
    /// The runtime (docker runtime name, CRI runtime handler), `None` for the engine's default.
    pub runtime: Option<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    /// `host`, `none`, `bridge`, … (engine-specific; `None` for the default).
    pub network_mode: Option<String>,
    /// The pod sandbox to create the container in (from
    /// [`ContainerEngine::create_pod`](crate::ContainerEngine::create_pod)), with the Kubernetes
    /// container name taken from `name`.
    pub pod_sandbox: Option<String>,
}

impl CreateSpec {
    pub fn new(image: impl Into<String>) -> Self {
        CreateSpec { image: image.into(), ..Default::default() }
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
        if let Some(bad) = self.env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(Error::invalid_argument(format!("env entry {bad:?} is not KEY=VALUE")));
        }
        Ok(())
    }
}

/// How to stop a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopOptions {
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
}

impl Default for StopOptions {
    fn default() -> Self {
        StopOptions { grace: Duration::from_secs(10) }
    }
}

/// Parses a signal given as a name (`TERM`, `SIGKILL`) or a number, into its number.
pub fn signal_number(signal: &str) -> Result<i32> {
    let s = signal.trim();
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(Error::invalid_argument(format!("bad signal {s:?}"))) };
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        "WINCH" => 28,
        _ => return Err(Error::invalid_argument(format!("unknown signal {s:?}"))),
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse() {
        assert_eq!(signal_number("TERM").unwrap(), 15);
        assert_eq!(signal_number("sigkill").unwrap(), 9);
        assert_eq!(signal_number("10").unwrap(), 10);
        assert!(signal_number("0").is_err());
        assert!(signal_number("NOPE").is_err());
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
    }
}
