//! anyctr: one API over the container engines a node runs — Docker, containerd (with CRI),
//! PouchContainer and VM-sandboxed runtimes (RunD, Kata, gVisor) — for node agents.
//!
//! - Connect with [`connect`] (an address), [`from_env`] (`ANYCTR_ADDRESS`, `DOCKER_HOST`,
//!   `CONTAINERD_ADDRESS`, …, or probing the known sockets), or their `_with` variants taking
//!   [`ConnectOptions`]. Each returns an [`Engine`], the one connected handle.
//! - Engine operations are the methods of [`ContainerEngine`] (list, inspect, exec, lifecycle,
//!   events, raw tar archives); the host-side conveniences — [`host_path`](EngineExt::host_path),
//!   [`copy_into`](EngineExt::copy_into)/[`copy_out`](EngineExt::copy_out) (path copies),
//!   [`exec_fast`](EngineExt::exec_fast), [`container_top`](EngineExt::container_top), the live
//!   [`index`](EngineExt::index), the [`probe_cache`](EngineExt::probe_cache) — are the methods
//!   of [`EngineExt`], on every engine handle (`Engine`, [`DynEngine`], `&dyn ContainerEngine`).
//!   `use anyctr::prelude::*` brings both traits into scope.
//! - Every call is bounded: daemon calls by [`ConnectOptions::call_timeout`] (default
//!   [`DEFAULT_CALL_TIMEOUT`]), an exec by its request's timeout (default
//!   [`DEFAULT_EXEC_TIMEOUT`]), a copy by [`CopyOptions::timeout`].
//!
//! Runnable programs are in `examples/` (`cargo run --example list_inspect`, …); the README's
//! examples are compiled as doctests.
//!
//! Engines are compiled in by cargo features (`docker`, `containerd`, `pouch`, `rund`, `podman`, `oci`, all on
//! by default); each engine crate registers itself, and this crate names every enabled one so the
//! linker cannot drop a registration.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "conformance")]
pub mod certify;
mod connect;
mod detect;
mod env;
mod ext;
mod handle;
mod node;
mod probes;
mod select;

pub use connect::{connect, connect_with, detect, detect_and_connect, from_env, from_env_with, registry};
// The suite, behind its feature (see ARCHITECTURE.md).
#[cfg(feature = "conformance")]
pub use anyctr_conformance as conformance;
pub use detect::{DetectReport, ProbeReport};
pub use env::{EnvPlan, plan_from_env, plan_from_env_in};
pub use ext::EngineExt;
pub use handle::Engine;
pub use node::{
    CandidateReport, EngineHealth, EngineStatus, Node, NodeChange, NodeContainer, NodeOptions, NodeReport, OtherView,
};
pub use probes::ProbeCache;
pub use select::{ConnectOptions, Engines, KnownEngine, known_engines};

// The core, re-exported by name (no glob: what the facade promises is this list).
pub use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, ContainerSummary, CreateSpec, DEFAULT_EXEC_TIMEOUT,
    DEFAULT_OUTPUT_LIMIT, DEFAULT_STOP_GRACE, Event, EventKind, EventOptions, ExecInput, ExecRequest, ExecResult,
    ExecSession, ImageSummary, IntoArgv, LogFormat, LogOptions, LogRecord, LogSource, LogStream, LogStreamKind, Mount,
    MountKind, MountSpec, MountSpecKind, OutputChunk, OutputStream, PodIdentity, PodRole, PodSpec, RootfsView,
    RuntimeClass, Signal,
};
pub use anyctr_core::pods::{MainContainerRule, Pod};
pub use anyctr_core::registry::DEFAULT_CALL_TIMEOUT;
pub use anyctr_core::{
    ByteStream, Capabilities, ContainerEngine, DynEngine, EngineAddress, EngineConfig, EngineInfo, EngineRegistration,
    Error, ErrorKind, EventStream, ListOptions, Registry, Result, Support, register_engine,
};
pub use anyctr_host::copy::{CopyOptions, CopyReport, CopyStrategy};
pub use anyctr_host::host_path::{HostPath, HostPathSource, OpenedHostPath};
pub use anyctr_index::{ContainerIndex, IndexChange, IndexHealth, IndexOptions, Snapshot};
// The modules, for what the list above leaves out: the core's, the host machinery's and the
// live index (each from its own crate, see ARCHITECTURE.md).
pub use anyctr_core::{host_ids, model, pods, socket_check};
pub use anyctr_host::{
    cgroup_path, cgroup_stats, copy, host_path, hostfs, logs, nsenter, probes as probe, procscan, tar_safety, top,
};
pub use anyctr_index as index;

/// The traits whose methods a program calls on an [`Engine`]: `use anyctr::prelude::*;`.
pub mod prelude {
    pub use crate::{ContainerEngine, EngineExt};
}

/// The README's examples, compiled by `cargo test --doc` so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

// Naming each engine crate makes rustc link it, which keeps its registration (inventory#7).
#[cfg(feature = "containerd")]
pub use anyctr_engine_containerd as containerd;
#[cfg(feature = "cri")]
pub use anyctr_engine_cri as cri;
#[cfg(feature = "docker")]
pub use anyctr_engine_docker as docker;
#[cfg(feature = "oci")]
pub use anyctr_engine_oci as oci;
#[cfg(feature = "podman")]
pub use anyctr_engine_podman as podman;
#[cfg(feature = "pouch")]
pub use anyctr_engine_pouch as pouch;
#[cfg(feature = "rund")]
pub use anyctr_engine_rund as rund;
