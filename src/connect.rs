//! The entry points, all free functions: [`connect`], [`from_env`] and their `_with` variants,
//! [`detect`] and [`detect_and_connect`] (probe the known sockets), [`registry`] (the engines
//! compiled in); and the setters of [`ConnectOptions`]. They are the facade's one way in; the
//! `Engines` type they are implemented with is hidden from the docs and kept only so code
//! written against it keeps compiling.

use std::path::PathBuf;
use std::time::Duration;

use anyctr_core::{EngineAddress, Result};

use anyctr_core::Registry;

use crate::detect::DetectReport;
use crate::handle::Engine;
use crate::select::{ConnectOptions, Engines};

/// Connects to the engine an address names, with default [`ConnectOptions`]:
/// `docker:///var/run/docker.sock`, `containerd:///run/containerd/containerd.sock?namespace=k8s.io`,
/// `unix:///…` (the engine found by probing the socket) or `docker://` (the engine's default
/// sockets). A malformed address is `InvalidArgument`; no engine answering, `EngineUnavailable`.
pub async fn connect(address: &str) -> Result<Engine> {
    connect_with(address, &ConnectOptions::default()).await
}

/// [`connect`] with options (host root, call and probe timeouts).
pub async fn connect_with(address: &str, options: &ConnectOptions) -> Result<Engine> {
    Engines::connect_with(EngineAddress::parse(address)?, options).await
}

/// Connects as the environment says, with default [`ConnectOptions`]: an address from
/// `ANYCTR_ADDRESS`, `CONTAINER_RUNTIME_ENDPOINT`, `CONTAINERD_ADDRESS` (+ `CONTAINERD_NAMESPACE`
/// and `ANYCTR_CONTAINERD_STATE_DIR`), `DOCKER_HOST` or `POUCH_SOCKET`, the host root from
/// `ANYCTR_HOST_ROOT`; with none of them set, the first known socket that answers (see
/// [`plan_from_env`](crate::plan_from_env)).
pub async fn from_env() -> Result<Engine> {
    Engines::from_env().await
}

/// [`from_env`] with options; `ANYCTR_HOST_ROOT`, when set, replaces `options.host_root`.
pub async fn from_env_with(options: &ConnectOptions) -> Result<Engine> {
    Engines::from_env_with(options).await
}

/// Probes every known socket of every compiled-in engine (under the host root) and reports each
/// candidate: path, exists, is a socket, permission, answered, version or why rejected.
pub async fn detect(options: &ConnectOptions) -> Result<DetectReport> {
    Engines::detect(options).await
}

/// [`detect`], then connects to the first engine that answered.
pub async fn detect_and_connect(options: &ConnectOptions) -> Result<Engine> {
    Engines::detect_and_connect(options).await
}

/// The engines compiled into this program, in probing order. Fails with `Conflict` when two
/// registrations share a name.
pub fn registry() -> Result<&'static Registry> {
    Engines::registry()
}

impl ConnectOptions {
    /// Where the host's `/` is mounted when the agent runs in a container (`/hostfs`).
    pub fn host_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.host_root = Some(root.into());
        self
    }

    /// Bound on ordinary daemon calls (default [`DEFAULT_CALL_TIMEOUT`](crate::DEFAULT_CALL_TIMEOUT)).
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Bound on each probe of a candidate socket (default 3 s).
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }
}
