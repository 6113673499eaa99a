//! anyctr-core: the small, stable heart of anyctr.
//!
//! - [`ContainerEngine`]: the trait every engine crate implements.
//! - [`Capabilities`]: what an engine, and one container's runtime, supports.
//! - [`model`]: normalized containers, pods, exec requests and results, events, images.
//! - [`Error`] / [`ErrorKind`]: the one error type.
//! - [`Registry`] / [`register_engine!`]: compile-time engine registration.
//! - [`EngineAddress`]: engine addresses, parsed without I/O.
//! - engine-independent logic shared by every engine: buffered exec ([`buffered_exec`]),
//!   container lookup ([`resolve_container`]), socket checks ([`socket_check`]), the namespace
//!   fast path ([`nsenter`]), the reconnecting event stream's cursor ([`EventCursor`]).
// Unsafe code is denied everywhere but in `nsenter::sys`, which forks into a container's
// namespaces (raw fork/setns/execve after a fork have no safe wrapper); see that module's docs.
#![deny(unsafe_code)]

pub mod address;
pub mod buffered_exec;
pub mod capability;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod container_path;
pub mod copy;
pub mod engine;
pub mod error;
pub mod event_cursor;
pub mod exec_failure;
pub mod exec_marker;
pub mod host_path;
pub mod hostfs;
pub mod index;
pub mod lookup;
pub mod model;
pub mod nsenter;
pub mod pods;
pub mod registry;
pub mod socket_check;
pub mod tar_safety;

pub use address::EngineAddress;
pub use capability::{Capabilities, Support};
pub use engine::{ByteStream, ContainerEngine, DynEngine, EngineInfo, EventStream, ListOptions};
pub use error::{Error, ErrorKind, Result};
pub use event_cursor::EventCursor;
pub use lookup::resolve_container;
pub use model::*;
pub use registry::{EngineConfig, EngineRegistration, EnvRole, EnvVar, Registry, under_host_root};

#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use inventory;
}
