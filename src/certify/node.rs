//! The plans of the engines a [`Node`] runs: one setup per engine × runtime it offers.

use std::path::{Path, PathBuf};

use anyctr_core::model::RuntimeClass;
use anyctr_core::{EngineAddress, EngineInfo};

use super::Plan;
use super::plan::{PODMAN_ROTATION, cri_address, expect, expected_log, moby_not_applicable};
use crate::node::{EngineHealth, Node};
use crate::select::ConnectOptions;

/// The setups [`node_plans`] found, and why the rest of the node is not certified.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NodePlans {
    /// One plan per engine × runtime.
    pub plans: Vec<Plan>,
    /// A connection, runtime or namespace that has no plan, and why (one sentence each).
    pub notes: Vec<String>,
}

/// One connection of the node, as the plans need it.
struct Connection<'a> {
    engine: &'a str,
    namespace: Option<&'a str>,
    address: EngineAddress,
    info: &'a EngineInfo,
    /// Where the host's `/` is (an agent in a container), for the podman runtime check.
    host_root: Option<PathBuf>,
}

/// The setups of the engines `node` is connected to, one per engine × runtime it offers:
///
/// - docker and podman: `docker/<runtime>`, `podman/<runtime>` for each runtime the daemon lists
///   (dockerd's `io.containerd.*` names of runc are certified as `docker/runc`; podman lists every
///   runtime its configuration knows, so only those with a binary in the usual directories);
/// - containerd with CRI: `containerd-cri/<handler>` for each CRI runtime handler, fixtures in
///   pods of namespace `k8s.io`; its namespace `moby`: `containerd/moby`, fixtures made by the
///   node's dockerd (and only with one);
/// - a CRI runtime (`cri://`): `cri/<handler>` for each handler; pouch: `pouch`, its default runtime.
///
/// The fixtures are expected as each engine makes them by default: the runtime class the
/// runtime's name says ([`RuntimeClass::from_name`]), dockerd's json-file log, the CRI log
/// layout, podman's k8s-file log. What cannot be certified here is a note: a connection that is
/// down, a containerd namespace other than `k8s.io` and `moby` (anyctr makes containerd containers
/// through CRI only), the OCI runtimes' roots (read-only to anyctr unless it owns them).
pub async fn node_plans(node: &Node, connect: &ConnectOptions) -> NodePlans {
    let mut notes = Vec::new();
    let mut engines = Vec::new();
    for status in node.engines() {
        match (node.engine(&status.member), &status.health) {
            (Some(engine), _) => engines.push((status, engine)),
            (None, EngineHealth::Down { why, .. }) => {
                notes.push(format!("{}: down ({}): not certified", status.member, why.replace('\n', "; ")))
            }
            // A namespaced engine holding no container yet has no connection of its own in the
            // node (containerd with nothing in any namespace): connect it, as it was found.
            (None, _) => match crate::connect_with(&found_as(node, &status.member), connect).await {
                Ok(engine) => engines.push((status, engine)),
                Err(e) => notes.push(format!("{}: {e}: not certified", status.member)),
            },
        }
    }
    let connections: Vec<Connection<'_>> = engines
        .iter()
        .map(|(status, engine)| Connection {
            engine: &status.engine,
            namespace: status.namespace.as_deref(),
            address: engine.config().address.clone(),
            info: engine.info(),
            host_root: engine.config().host_root.clone(),
        })
        .collect();
    let mut plans = plans_of(&connections);
    notes.append(&mut plans.notes);
    plans.notes = notes;
    plans
}

/// The address the node found the connection `member` (`engine://socket`) at, with its
/// parameters (containerd's `state_dir=`, …); the member's label when the report has none.
fn found_as(node: &Node, member: &str) -> String {
    let socket = |a: &str| EngineAddress::parse(a).ok().and_then(|a| a.socket);
    let wanted = socket(member);
    node.report()
        .candidates
        .iter()
        .filter_map(|c| c.address.clone())
        .find(|a| wanted.is_some() && socket(a) == wanted)
        .map(|a| match EngineAddress::parse(&a) {
            // The engine the node identified, for an address that left it to probing.
            Ok(mut parsed) if parsed.engine.is_none() => {
                parsed.engine = EngineAddress::parse(member).ok().and_then(|m| m.engine);
                parsed.to_string()
            }
            _ => a,
        })
        .unwrap_or_else(|| member.to_owned())
}

fn plans_of(connections: &[Connection<'_>]) -> NodePlans {
    let mut out = NodePlans::default();
    let docker = connections.iter().find(|c| c.engine == "docker").map(|c| c.address.to_string());
    let mut cri_sockets = Vec::new();
    for c in connections {
        let address = c.address.to_string();
        match c.engine {
            "docker" | "podman" | "pouch" => {
                for runtime in runtimes(c, &mut out.notes) {
                    out.plans.push(daemon_plan(c.engine, &address, runtime));
                }
            }
            "containerd" => {
                // CRI is per daemon, whichever namespaces the node connected.
                if !cri_sockets.contains(&c.address.socket) {
                    cri_sockets.push(c.address.socket.clone());
                    let cri = with_namespace(&c.address, "k8s.io").to_string();
                    if c.info.runtimes.is_empty() {
                        out.notes.push(format!(
                            "{address}: its CRI status names no runtime handler (CRI plugin off?): no containerd-cri setup"
                        ));
                    }
                    for handler in &c.info.runtimes {
                        out.plans.push(cri_plan(format!("containerd-cri/{handler}"), &cri, handler, c.info));
                    }
                }
                match (c.namespace, &docker) {
                    (Some("moby"), Some(docker)) => out.plans.push(moby_plan(&address, docker)),
                    (Some("moby"), None) => out.notes.push(format!(
                        "{address}: dockerd's namespace, but no dockerd is connected to make its fixtures: not certified"
                    )),
                    (Some(ns), _) if ns != "k8s.io" => out.notes.push(format!(
                        "{address}: namespace {ns} holds other clients' containers, and anyctr makes containerd \
                         containers through CRI only (namespace k8s.io): not certified"
                    )),
                    _ => {}
                }
            }
            "cri" => {
                if c.info.runtimes.is_empty() {
                    out.notes.push(format!("{address}: the runtime's status names no runtime handler: not certified"));
                }
                for handler in &c.info.runtimes {
                    out.plans.push(cri_plan(format!("cri/{handler}"), &address, handler, c.info));
                }
            }
            "oci" => out.notes.push(format!(
                "{address}: the OCI runtimes' roots the daemons own are read-only to anyctr; bare runtimes are \
                 certified in a root anyctr owns (the conformance example's oci setups): not certified"
            )),
            other => out.notes.push(format!("{address}: engine {other} has no conformance plan here: not certified")),
        }
    }
    out
}

/// The runtimes of a daemon to certify: those it lists (pouch: its default), less dockerd's
/// `io.containerd.*` names for runc when `runc` itself is listed, and less the runtimes podman
/// lists from its configuration whose binary is not on the host.
fn runtimes<'a>(c: &'a Connection<'_>, notes: &mut Vec<String>) -> Vec<Option<&'a str>> {
    if c.engine == "pouch" {
        return vec![None];
    }
    if c.info.runtimes.is_empty() {
        notes.push(format!("{}: the daemon names no runtime: not certified", c.address));
    }
    let has_runc = c.info.runtimes.iter().any(|r| r == "runc");
    let mut out = Vec::new();
    for runtime in &c.info.runtimes {
        if has_runc && runtime.starts_with("io.containerd.") && RuntimeClass::from_name(runtime) == RuntimeClass::Runc {
            notes.push(format!(
                "{} runtime {runtime}: runc through containerd's shim, as {}/runc: certified there",
                c.address, c.engine
            ));
            continue;
        }
        if c.engine == "podman" && !installed(runtime, c.host_root.as_deref()) {
            notes.push(format!(
                "{} runtime {runtime}: podman lists the runtimes its configuration knows, and no {runtime} binary is \
                 in {}: not certified",
                c.address,
                BIN_DIRS.join(", ")
            ));
            continue;
        }
        out.push(Some(runtime.as_str()));
    }
    out
}

/// Where podman's default configuration looks for a runtime's binary (containers.conf's
/// `[engine.runtimes]` paths, by directory).
const BIN_DIRS: &[&str] = &["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin"];

/// Whether a binary named `runtime` is in one of [`BIN_DIRS`] of the host (under `host_root`).
fn installed(runtime: &str, host_root: Option<&Path>) -> bool {
    let root = host_root.unwrap_or(Path::new("/"));
    BIN_DIRS.iter().any(|dir| root.join(dir.trim_start_matches('/')).join(runtime).is_file())
}

/// `address` limited to containerd namespace `namespace` (its other parameters kept).
fn with_namespace(address: &EngineAddress, namespace: &str) -> EngineAddress {
    let mut address = address.clone();
    address.params.retain(|(k, _)| k != "namespace");
    address.with_param("namespace", namespace)
}

/// A docker, podman or pouch setup: fixtures made by the daemon with `runtime`.
fn daemon_plan(engine: &str, address: &str, runtime: Option<&str>) -> Plan {
    let class = RuntimeClass::from_name(runtime.unwrap_or("runc"));
    let name = match runtime {
        Some(r) => format!("{engine}/{r}"),
        None => engine.to_owned(),
    };
    // Docker and Podman pods are a pause sandbox container (emulated); pouch makes none.
    let pod = engine != "pouch";
    let mut plan = Plan::new(name, address, runtime, expect(class.clone(), expected_log(engine), pod));
    // Docker and pouch rotate json-file logs with the container's max-size log option, which the
    // trial sets.
    if engine == "podman" {
        plan.not_applicable.push(("logs.rotation", PODMAN_ROTATION.into()));
    }
    plan.not_applicable.extend(runtime_rule(&class));
    plan
}

/// A CRI setup (containerd's CRI plugin or a CRI runtime) with runtime handler `handler`.
fn cri_plan(name: String, address: &str, handler: &str, info: &EngineInfo) -> Plan {
    let class = RuntimeClass::from_name(handler);
    let mut plan = Plan::new(name, address, Some(handler), expect(class.clone(), expected_log("cri"), true));
    plan.rotate_logs_through = cri_address(address);
    if address.starts_with("cri://") && unbounded_exec_sync(info) {
        plan.not_applicable.push(("exec.background_child", CONTAINERD_1_6_EXEC_SYNC.into()));
    }
    plan.not_applicable.extend(runtime_rule(&class));
    plan
}

/// Why `exec.background_child` does not apply to containerd 1.6 through CRI alone.
pub const CONTAINERD_1_6_EXEC_SYNC: &str = "CRI's ExecSync answers only once the exec's output closes, and \
    containerd 1.6 does not bound that wait (1.7's drain_exec_sync_io_timeout does): a background child holding \
    stdout holds the answer";

/// A CRI runtime that is containerd before 1.7, whose ExecSync waits for the output to close.
fn unbounded_exec_sync(info: &EngineInfo) -> bool {
    let version = info.version.trim_start_matches('v');
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(u32::MAX));
    info.product.contains("containerd") && matches!((parts.next(), parts.next()), (Some(1), Some(minor)) if minor < 7)
}

/// containerd's namespace `moby`, fixtures made by the dockerd at `docker`.
fn moby_plan(address: &str, docker: &str) -> Plan {
    // dockerd passes no labels on to containerd and keeps the log file itself.
    let expectations =
        anyctr_conformance::Expectations { labels_hidden: true, ..expect(RuntimeClass::Runc, None, false) };
    let mut plan = Plan::new("containerd/moby", address, Some("runc"), expectations);
    plan.made_by = Some(docker.to_owned());
    plan.not_applicable = moby_not_applicable();
    plan.not_applicable.extend(runtime_rule(&RuntimeClass::Runc));
    plan
}

/// What a runc-class runtime cannot be asked: the trial needs a sandboxed runtime.
fn runtime_rule(class: &RuntimeClass) -> Option<(&'static str, String)> {
    (!class.is_sandboxed()).then(|| {
        ("stats.sandboxed_nonzero", "the setup's runtime is runc-class; the trial needs a sandboxed runtime".to_owned())
    })
}

#[cfg(test)]
#[path = "node_tests.rs"]
mod tests;
