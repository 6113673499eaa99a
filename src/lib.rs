//! anyctr: one API over the container engines a node runs — Docker, containerd (with CRI),
//! PouchContainer and VM-sandboxed runtimes (RunD, Kata, gVisor) — for node agents.
//!
//! ```no_run
//! # async fn demo() -> anyctr::Result<()> {
//! use anyctr::{Engines, ExecRequest, ListOptions};
//! // An explicit address, the environment (DOCKER_HOST, CONTAINERD_ADDRESS, …) or probing:
//! let engine = Engines::from_env().await?;
//! println!("using {} ({})", engine.name(), engine.choice());
//! for c in engine.list(&ListOptions::running()).await? {
//!     let out = engine.exec(&c.id, ExecRequest::new(["hostname"])).await?;
//!     println!("{} {}", c.short_id(), out.stdout_lossy().trim());
//! }
//! # Ok(()) }
//! ```
//!
//! Engines are compiled in by cargo features (`docker`, `containerd`, `pouch`, `rund`, all on by
//! default); each engine crate registers itself, and this crate names every enabled one so the
//! linker cannot drop a registration.
#![forbid(unsafe_code)]

mod detect;
mod env;
mod handle;
mod select;

pub use anyctr_core::*;
// The host machinery and the live index, from their own crates (see ARCHITECTURE.md).
#[cfg(feature = "conformance")]
pub use anyctr_conformance as conformance;
pub use anyctr_host::{copy, host_path, hostfs, logs, nsenter, tar_safety};
pub use anyctr_index as index;
pub use detect::{DetectReport, ProbeReport};
pub use env::{EnvPlan, plan_from_env};
pub use handle::Engine;
pub use select::{ConnectOptions, Engines, KNOWN_ENGINES};

// Naming each engine crate makes rustc link it, which keeps its registration (inventory#7).
#[cfg(feature = "containerd")]
pub use anyctr_engine_containerd as containerd;
#[cfg(feature = "docker")]
pub use anyctr_engine_docker as docker;
#[cfg(feature = "pouch")]
pub use anyctr_engine_pouch as pouch;
#[cfg(feature = "rund")]
pub use anyctr_engine_rund as rund;
