#![warn(missing_docs)]
//! anyctr engine `rund`: nodes whose containerd runs VM-sandboxed runtimes — RunD, Kata, gVisor —
//! beside runc (address `rund:///run/containerd/containerd.sock`).
//!
//! It is the containerd engine under another name, defaulting to CRI's `k8s.io` namespace, with a
//! probe that only accepts a containerd offering a sandboxed runtime handler. What makes sandboxed
//! containers safe is not here but in the data every engine shares: each container's
//! [`anyctr_core::RuntimeClass`] comes from its runtime (`io.containerd.rund.v2`,
//! `io.containerd.kata.v2`, `io.containerd.runsc.v1`, runc with a `BinaryName`, the CRI sandbox's
//! handler), [`Capabilities::for_runtime`](anyctr_core::Capabilities::for_runtime) takes host access
//! away from sandboxed ones, and the core copy strategies and host-path resolver follow the
//! per-container capabilities: on a mixed node a runc container keeps its fast paths (host rootfs,
//! `/proc/<pid>/root`) while a sandboxed one gets tar over exec and "not host-visible".
#![forbid(unsafe_code)]

use anyctr_core::{DynEngine, EngineConfig, EngineInfo, EngineRegistration, Error, ErrorKind, Result, RuntimeClass};
use anyctr_engine_containerd::{CRI_NAMESPACE, ContainerdEngine, ContainerdOptions};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

/// The engine name.
pub const NAME: &str = "rund";

/// A containerd with sandboxed runtimes, seen through the containerd engine.
pub type RundEngine = ContainerdEngine;

/// Connects: the containerd engine named `rund`, in namespace `k8s.io` unless the address names others.
pub async fn connect(config: EngineConfig) -> Result<RundEngine> {
    let mut options = ContainerdOptions::from_address(&config.address).named(NAME);
    if options.namespaces.is_empty() {
        options.namespaces = vec![CRI_NAMESPACE.to_owned()];
    }
    ContainerdEngine::connect_with(config, options).await
}

/// The CRI runtime handlers known to run containers in a sandbox (by handler name: `rund`, `runsc`,
/// `kata`, `kata-qemu`, …). A handler name anyctr does not know makes its containers count as
/// sandboxed (classification fails closed), but it does not make the node a RunD node.
pub fn sandboxed_handlers(handlers: &[String]) -> Vec<&str> {
    let known_sandbox =
        |h: &&str| matches!(RuntimeClass::from_name(h), RuntimeClass::Rund | RuntimeClass::Kata | RuntimeClass::Runsc);
    handlers.iter().map(String::as_str).filter(known_sandbox).collect()
}

async fn probe_rund(config: EngineConfig) -> Result<EngineInfo> {
    let engine = connect(config).await?;
    let info = engine.version_info().await?;
    if sandboxed_handlers(&info.runtimes).is_empty() {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("containerd answers but offers no sandboxed runtime handler (handlers: {:?})", info.runtimes),
        )
        .with_engine(NAME));
    }
    Ok(info)
}

fn probe(config: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
    probe_rund(config).boxed()
}

fn connect_dyn(config: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
    async move { Ok(std::sync::Arc::new(connect(config).await?) as DynEngine) }.boxed()
}

anyctr_core::register_engine!(EngineRegistration {
    name: NAME,
    aliases: &["kata", "gvisor"],
    default_sockets: &["/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"],
    // Its containerd's state dir (rootfs views); the namespace defaults to CRI's, not CONTAINERD_NAMESPACE.
    env_vars: &[anyctr_engine_containerd::STATE_DIR_VAR],
    // After containerd: a plain probe of a containerd socket names it containerd; `rund://` picks this.
    priority: 30,
    probe,
    connect: connect_dyn,
});

#[cfg(test)]
mod tests {
    #[test]
    fn sandboxed_handlers_are_recognized() {
        let handlers: Vec<String> =
            ["runc", "runsc", "rund", "kata-qemu", "crun", "my-handler"].map(String::from).to_vec();
        assert_eq!(
            super::sandboxed_handlers(&handlers),
            ["runsc", "rund", "kata-qemu"],
            "an unknown handler is not proof"
        );
    }
}
