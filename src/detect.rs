//! Detection: probe every known socket of every compiled-in engine and explain each verdict.

use std::fmt;
use std::path::PathBuf;

use anyctr_core::socket_check::{SocketCheck, check_socket};
use anyctr_core::{EngineAddress, Registry, under_host_root};

use crate::select::{ConnectOptions, probe};

/// One candidate: an engine tried on a socket.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The engine tried.
    pub engine: &'static str,
    /// The socket as the host names it.
    pub socket: PathBuf,
    /// The socket as this process opened it (host root applied), with what the OS said.
    pub check: SocketCheck,
    /// The engine recognized the daemon.
    pub answered: bool,
    /// The version it answered with.
    pub version: Option<String>,
    /// Why this candidate was not taken.
    pub rejected: Option<String>,
}

/// What detection found, candidate by candidate, in probing order.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DetectReport {
    /// The host root sockets were looked up under.
    pub host_root: Option<PathBuf>,
    /// Every candidate, in probing order.
    pub probes: Vec<ProbeReport>,
}

impl DetectReport {
    /// The first candidate that answered.
    pub fn chosen(&self) -> Option<&ProbeReport> {
        self.probes.iter().find(|p| p.answered)
    }
}

impl fmt::Display for DetectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(root) = &self.host_root {
            writeln!(f, "host root: {}", root.display())?;
        }
        for p in &self.probes {
            let verdict = match (&p.version, &p.rejected) {
                (Some(v), _) if p.answered => format!("answered, version {v}"),
                (_, Some(why)) => format!("rejected: {why}"),
                _ => "not tried".to_owned(),
            };
            writeln!(f, "{:<11} {:<45} {verdict}", p.engine, p.check.path.display())?;
        }
        Ok(())
    }
}

/// Candidate sockets in order (each engine's defaults, engines by priority), each tried with every
/// engine in priority order until one recognizes the daemon — so a pouchd serving
/// `/var/run/docker.sock` is found as pouch, and a socket is reported once per engine tried.
pub(crate) async fn run(registry: &Registry, options: &ConnectOptions) -> DetectReport {
    run_except(registry, options, &[]).await
}

/// [`run`], skipping the sockets in `taken` (already named by an address).
pub(crate) async fn run_except(registry: &Registry, options: &ConnectOptions, taken: &[PathBuf]) -> DetectReport {
    let mut sockets: Vec<&'static str> = Vec::new();
    for r in registry.iter() {
        for s in r.default_sockets {
            if !sockets.contains(s) && !taken.iter().any(|t| t.as_path() == std::path::Path::new(s)) {
                sockets.push(s);
            }
        }
    }
    let mut probes = Vec::new();
    for socket in sockets {
        let host_path = under_host_root(options.host_root.as_deref(), std::path::Path::new(socket));
        let check = check_socket(&host_path, options.probe_timeout).await;
        if let Some(problem) = check.problem() {
            // Nothing to speak a protocol to: one row for the socket, against its owning engine.
            let owner = registry.iter().find(|r| r.default_sockets.contains(&socket)).map(|r| r.name).unwrap_or("?");
            probes.push(ProbeReport {
                engine: owner,
                socket: socket.into(),
                check,
                answered: false,
                version: None,
                rejected: Some(problem),
            });
            continue;
        }
        for registration in registry.iter() {
            let address = EngineAddress::new(registration.name, socket);
            let outcome = probe(registration, &address, options).await;
            let answered = outcome.is_ok();
            probes.push(ProbeReport {
                engine: registration.name,
                socket: socket.into(),
                check: check.clone(),
                answered,
                version: outcome.as_ref().ok().cloned(),
                rejected: outcome.err().map(|e| e.message().to_owned()),
            });
            if answered {
                break;
            }
        }
    }
    DetectReport { host_root: options.host_root.clone(), probes }
}
