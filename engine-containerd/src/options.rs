//! Engine options, read from the address's query parameters or set by a wrapping engine
//! (the `rund` engine builds on this one).

use std::path::PathBuf;

use anyctr_core::EngineAddress;

/// Where containerd keeps task bundles by default (`state` in its config).
pub const DEFAULT_STATE_DIR: &str = "/run/containerd";

/// k3s's containerd state dir, tried when the configured one has no bundle for a container.
pub const K3S_STATE_DIR: &str = "/run/k3s/containerd";

/// Where exec FIFOs are created by default. It must be a directory the containerd shim sees at
/// the same path: an agent running in a container mounts it from the host.
pub const DEFAULT_FIFO_DIR: &str = "/run/anyctr/fifo";

/// The namespace CRI keeps its pods and containers in.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// How a [`ContainerdEngine`](crate::ContainerdEngine) is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerdOptions {
    /// The name the engine reports and puts in errors (`containerd`, or `rund` for a wrapper).
    pub engine_name: String,
    /// The namespaces to look at; empty means every namespace containerd lists.
    pub namespaces: Vec<String>,
    /// containerd's state dir as a host path (task bundles live under it).
    pub state_dir: PathBuf,
    /// Where exec FIFOs are created, as a host path.
    pub fifo_dir: PathBuf,
    /// The namespace images are loaded into.
    pub image_namespace: Option<String>,
}

impl ContainerdOptions {
    /// Options from an address: `namespace` (repeatable, comma-separated), `state_dir`,
    /// `fifo_dir`, `image_namespace`.
    pub fn from_address(address: &EngineAddress) -> Self {
        ContainerdOptions {
            engine_name: "containerd".to_owned(),
            namespaces: address.param_list("namespace"),
            state_dir: address.param("state_dir").unwrap_or(DEFAULT_STATE_DIR).into(),
            fifo_dir: address.param("fifo_dir").unwrap_or(DEFAULT_FIFO_DIR).into(),
            image_namespace: address.param("image_namespace").map(str::to_owned),
        }
    }

    /// The same options under another engine name.
    pub fn named(mut self, engine_name: &str) -> Self {
        self.engine_name = engine_name.to_owned();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_read() {
        let a = EngineAddress::parse(
            "containerd:///run/x.sock?namespace=k8s.io,moby&namespace=default&state_dir=/run/k3s/containerd&fifo_dir=/tmp/f",
        )
        .unwrap();
        let o = ContainerdOptions::from_address(&a);
        assert_eq!(o.namespaces, ["k8s.io", "moby", "default"]);
        assert_eq!(o.state_dir, PathBuf::from("/run/k3s/containerd"));
        assert_eq!(o.fifo_dir, PathBuf::from("/tmp/f"));
        let d = ContainerdOptions::from_address(&EngineAddress::parse("containerd:///run/x.sock").unwrap());
        assert!(d.namespaces.is_empty());
        assert_eq!(d.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(d.fifo_dir, PathBuf::from(DEFAULT_FIFO_DIR));
        assert_eq!(d.named("rund").engine_name, "rund");
    }
}
