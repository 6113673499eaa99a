#![warn(missing_docs)]
//! anyctr engine `oci`: containers seen and driven at the OCI runtime level (runc, crun, runsc),
//! below any daemon (address `oci:///run/runc?runtime=runc`, or `oci://` for every root found).
//!
//! Every daemon ends in an OCI runtime that keeps its containers' state under a root directory.
//! Reading those roots shows every container on the node even when its daemon is down, hung or
//! unknown; driving the runtime binary gives a bare runtime's lifecycle where no daemon exists.
//!
//! - Roots ([`roots`]): the address's, the known defaults, and those of running daemons (dockerd's
//!   exec root); under the host-root prefix.
//! - List and inspect ([`state`], [`convert`]): the runtimes' state files read fd-based and capped
//!   (no process per call), liveness proved by the init's start time; inspect adds the bundle's
//!   `config.json` (mounts, env, process, namespaces, cgroup path, CRI annotations naming pods
//!   and images). Runtime class from the state's layout: runc and crun are runc-class, runsc
//!   sandboxed. Names are ids (a runtime knows no names); labels are the OCI annotations.
//! - Exec ([`exec`]) through `<runtime> exec` with the root, killing by the exec marker; the
//!   archive calls (copy in and out) as tar over that exec (`anyctr_core::archive_over_exec`).
//! - Lifecycle ([`lifecycle`]) only in roots anyctr owns, with pause/resume, restart (the same
//!   bundle run again) and resource updates through the runtime's commands; a paused container
//!   is thawed after a stop's or kill's signal so it can end.
//! - Stats from the container's host cgroup (runc-class; a gVisor sandbox's cgroup measures the
//!   sandbox, so not for runsc); top and probes from the host's `/proc`, as for every engine.
//!
//! # Read-only by default on roots anyctr does not own
//! In a daemon's root (or any root anyctr did not make) anyctr never creates, starts, signals,
//! stops, pauses, updates or deletes a container: those calls are `PermissionDenied`, and
//! `capabilities()` claims none of them. Exec (and copy, which is tar run by exec) is allowed there: it creates nothing in the root (runc and crun keep no
//! record of an exec, the runtime's log goes to a temporary file elsewhere) and every process it
//! starts is ended by the exec marker when it exits, times out or is dropped — it is the same
//! access `docker exec` or `nsenter` gives, without needing the daemon to answer.
#![forbid(unsafe_code)]

pub mod convert;
mod engine;
pub mod exec;
mod exec_output;
pub mod lifecycle;
pub mod options;
pub mod roots;
pub mod state;

use anyctr_core::{DynEngine, EngineConfig, EngineInfo, EngineRegistration, Result};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

pub use engine::OciEngine;
pub use options::OciOptions;

/// The engine name.
pub const NAME: &str = "oci";

/// Connects (reads the roots; no daemon is involved).
pub async fn connect(config: EngineConfig) -> Result<OciEngine> {
    OciEngine::open(config).await
}

fn probe(config: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
    async move {
        let engine = connect(config).await?;
        anyctr_core::ContainerEngine::identify(&engine).await
    }
    .boxed()
}

fn connect_dyn(config: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
    async move { Ok(std::sync::Arc::new(connect(config).await?) as DynEngine) }.boxed()
}

anyctr_core::register_engine!(EngineRegistration {
    name: NAME,
    aliases: &["runc", "crun", "runsc"],
    // No sockets: a runtime root is a directory, never probed by detection (`oci://` names it).
    default_sockets: &[],
    env_vars: &[],
    // Last: a socket given without an engine is never a runtime root.
    priority: 90,
    probe,
    connect: connect_dyn,
});
