//! `cargo xtask check-deps`: the dependency directions ARCHITECTURE.md states, checked on what
//! `cargo metadata` says the manifests declare. A crate that depends on one it must not fails
//! the check, naming the edge and the rule.
//!
//! The rules, by role (a crate's role comes from its name):
//! - core: none of ours. host, index, testkit: core only. conformance: core, host, index.
//! - a shared protocol crate (`anyctr-docker-api`: the Docker API's wire, shared by the engines that
//!   speak it): core only.
//! - an engine (`anyctr-engine-*`): core and the shared protocol crates, plus the exceptions in
//!   [`ENGINE_ON_ENGINE`].
//! - the facade (`anyctr`): any library crate of ours, never testkit.
//! - the command line (`anyctr-cli`): the facade only (what a user of the library has); testkit
//!   as a dev-dependency.
//! - xtask: none of ours (it must build where nothing but cargo is installed).
//! - dev-dependencies: also testkit, host and index; never the facade or another engine from an
//!   engine, never anything from core (core is below everything; a dev cycle would build it twice).
//!   The facade may dev-depend on itself, to build its examples with a feature on (the
//!   conformance example needs `conformance`): no cycle, the same crate.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::cmd;

/// An engine that is another engine plus something, so it may depend on that engine (and the
/// engine that reads the host itself, which may depend on anyctr-host).
const ENGINE_ON_ENGINE: &[(&str, &str, &str)] = &[
    (
        "anyctr-engine-rund",
        "anyctr-engine-containerd",
        "rund is containerd with a sandboxed runtime class: it wraps containerd's engine",
    ),
    (
        "anyctr-engine-cri",
        "anyctr-engine-containerd",
        "the CRI engine shares containerd's gRPC client and kubelet-like CRI request builders",
    ),
    (
        "anyctr-engine-podman",
        "anyctr-engine-docker",
        "podman speaks the Docker API: its engine is docker's with podman's differences",
    ),
    // Not an engine, but the one engine that is host access: it has no daemon to ask.
    (
        "anyctr-engine-oci",
        "anyctr-host",
        "the OCI runtime engine reads runtime roots, state files, bundles and /proc/<pid>/root fd-based (hostfs)",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Core,
    Host,
    Index,
    Conformance,
    Testkit,
    Protocol,
    Engine,
    Facade,
    Cli,
    Xtask,
}

fn role(name: &str) -> Option<Role> {
    Some(match name {
        "anyctr-core" => Role::Core,
        "anyctr-host" => Role::Host,
        "anyctr-index" => Role::Index,
        "anyctr-conformance" => Role::Conformance,
        "anyctr-testkit" => Role::Testkit,
        "anyctr-docker-api" => Role::Protocol,
        "anyctr" => Role::Facade,
        "anyctr-cli" => Role::Cli,
        "xtask" => Role::Xtask,
        n if n.starts_with("anyctr-engine-") => Role::Engine,
        _ => return None,
    })
}

/// What a crate of role `from` may depend on (normal and build dependencies).
fn allowed(from: Role, to: Role) -> bool {
    use Role::*;
    match from {
        Core | Xtask => false,
        Host | Index | Testkit | Protocol => to == Core,
        Conformance => matches!(to, Core | Host | Index),
        Engine => matches!(to, Core | Protocol),
        Facade => !matches!(to, Testkit | Xtask | Facade | Cli),
        Cli => to == Facade,
    }
}

/// What a crate of role `from` may dev-depend on: its normal rules plus the test support.
fn allowed_dev(from: Role, to: Role) -> bool {
    use Role::*;
    match from {
        Core | Xtask => false,
        Facade => !matches!(to, Xtask | Facade | Cli),
        Cli => matches!(to, Facade | Testkit),
        _ => allowed(from, to) || matches!(to, Testkit | Host | Index | Core),
    }
}

/// One workspace crate's dependency on another, as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `normal`, `dev` or `build`.
    pub kind: String,
}

/// The edges between workspace crates, from `cargo metadata --no-deps` output.
pub fn edges(metadata: &Value) -> Result<(Vec<String>, Vec<Edge>), String> {
    let packages = metadata["packages"].as_array().ok_or("cargo metadata: no `packages`")?;
    let names: Vec<String> = packages.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect();
    let mut edges = Vec::new();
    for p in packages {
        let from = p["name"].as_str().unwrap_or_default();
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let to = d["name"].as_str().unwrap_or_default();
            if names.iter().any(|n| n == to) {
                let kind = d["kind"].as_str().unwrap_or("normal").to_owned();
                edges.push(Edge { from: from.to_owned(), to: to.to_owned(), kind });
            }
        }
    }
    Ok((names, edges))
}

/// Every rule an edge breaks, and every crate no rule covers.
pub fn violations(names: &[String], edges: &[Edge]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .filter(|n| role(n).is_none())
        .map(|n| format!("{n}: no dependency rule covers this crate (add its role in xtask/src/deps.rs)"))
        .collect();
    for e in edges {
        let (Some(from), Some(to)) = (role(&e.from), role(&e.to)) else { continue };
        let excepted = ENGINE_ON_ENGINE.iter().any(|(f, t, _)| *f == e.from && *t == e.to)
            || (e.kind == "dev" && e.from == e.to && from == Role::Facade);
        let ok = excepted
            || match e.kind.as_str() {
                "dev" => allowed_dev(from, to),
                _ => allowed(from, to),
            };
        if !ok {
            out.push(format!(
                "{} -> {} ({}): a {from:?} crate must not depend on a {to:?} crate",
                e.from, e.to, e.kind
            ));
        }
    }
    out
}

/// Reads `cargo metadata` and fails on the first report with every violation listed.
pub fn check(cargo: &mut Command) -> Result<(), String> {
    let out = cmd::capture(cargo.args(["metadata", "--format-version", "1", "--no-deps"]), Duration::from_secs(120))?;
    if !out.status.success() {
        return Err(format!("cargo metadata failed: {}", out.stderr.trim()));
    }
    let metadata: Value = serde_json::from_str(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))?;
    let (names, edges) = edges(&metadata)?;
    let bad = violations(&names, &edges);
    if bad.is_empty() {
        println!(
            "check-deps: {} crates, {} edges between them, all in the allowed directions",
            names.len(),
            edges.len()
        );
        for (from, to, why) in ENGINE_ON_ENGINE {
            println!("check-deps: allowed exception {from} -> {to}: {why}");
        }
        return Ok(());
    }
    for b in &bad {
        eprintln!("check-deps: {b}");
    }
    Err(format!("{} dependency rule(s) broken (see ARCHITECTURE.md, \"Crates\")", bad.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: &str, to: &str, kind: &str) -> Edge {
        Edge { from: from.into(), to: to.into(), kind: kind.into() }
    }

    fn names() -> Vec<String> {
        [
            "anyctr-core",
            "anyctr-host",
            "anyctr-engine-docker",
            "anyctr-engine-containerd",
            "anyctr-engine-rund",
            "anyctr",
            "anyctr-cli",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn the_intended_directions_pass() {
        let ok = [
            edge("anyctr-host", "anyctr-core", "normal"),
            edge("anyctr-engine-docker", "anyctr-core", "normal"),
            edge("anyctr-engine-docker", "anyctr-testkit", "dev"),
            edge("anyctr-engine-rund", "anyctr-engine-containerd", "normal"),
            edge("anyctr-engine-rund", "anyctr-host", "dev"),
            edge("anyctr-conformance", "anyctr-index", "normal"),
            edge("anyctr", "anyctr-engine-docker", "normal"),
            edge("anyctr", "anyctr-testkit", "dev"),
            edge("anyctr", "anyctr", "dev"),
            edge("anyctr-cli", "anyctr", "normal"),
            edge("anyctr-cli", "anyctr-testkit", "dev"),
        ];
        assert_eq!(violations(&names(), &ok), Vec::<String>::new());
    }

    #[test]
    fn wrong_directions_fail() {
        for bad in [
            edge("anyctr-core", "anyctr-host", "normal"),
            edge("anyctr-core", "anyctr-testkit", "dev"),
            edge("anyctr-host", "anyctr-engine-docker", "normal"),
            edge("anyctr-engine-docker", "anyctr-engine-containerd", "normal"),
            edge("anyctr-engine-docker", "anyctr-engine-containerd", "dev"),
            edge("anyctr-engine-docker", "anyctr", "dev"),
            edge("anyctr-engine-docker", "anyctr-host", "normal"),
            edge("anyctr-index", "anyctr-host", "normal"),
            edge("anyctr", "anyctr-testkit", "normal"),
            edge("xtask", "anyctr-core", "normal"),
            edge("anyctr-cli", "anyctr-core", "normal"),
            edge("anyctr-cli", "anyctr-engine-docker", "normal"),
            edge("anyctr", "anyctr-cli", "normal"),
            edge("anyctr", "anyctr", "normal"),
            edge("anyctr-engine-docker", "anyctr-engine-docker", "dev"),
        ] {
            assert_eq!(violations(&names(), std::slice::from_ref(&bad)).len(), 1, "{bad:?} passed");
        }
    }

    #[test]
    fn a_crate_without_a_role_fails() {
        let v = violations(&["anyctr-extras".to_owned()], &[]);
        assert_eq!(v.len(), 1);
        assert!(v[0].contains("no dependency rule"));
    }

    #[test]
    fn edges_come_from_the_metadata_between_workspace_crates_only() {
        let metadata = serde_json::json!({"packages": [
            {"name": "anyctr-host", "dependencies": [
                {"name": "anyctr-core", "kind": null},
                {"name": "tokio", "kind": null},
                {"name": "anyctr-testkit", "kind": "dev"}
            ]},
            {"name": "anyctr-core", "dependencies": [{"name": "serde", "kind": null}]},
            {"name": "anyctr-testkit", "dependencies": [{"name": "anyctr-core", "kind": null}]}
        ]});
        let (names, edges) = edges(&metadata).unwrap();
        assert_eq!(names.len(), 3);
        assert_eq!(
            edges,
            [
                edge("anyctr-host", "anyctr-core", "normal"),
                edge("anyctr-host", "anyctr-testkit", "dev"),
                edge("anyctr-testkit", "anyctr-core", "normal"),
            ]
        );
    }
}
