#![warn(missing_docs)]
//! anyctr-core: the small, stable heart of anyctr.
//!
//! - [`ContainerEngine`]: the trait every engine crate implements.
//! - [`Capabilities`]: what an engine, and one container's runtime, supports.
//! - [`model`]: normalized containers, pods, exec requests and results, events, images.
//! - [`Error`] / [`ErrorKind`]: the one error type.
//! - [`Registry`] / [`register_engine!`]: compile-time engine registration.
//! - [`EngineAddress`]: engine addresses, parsed without I/O.
//! - the small toolkit every engine author uses: buffered exec ([`buffered_exec`]), the table of
//!   exec start failures ([`exec_failure`]), container lookup ([`resolve_container`]), socket
//!   checks ([`socket_check`]), the reconnecting event stream's cursor ([`EventCursor`]), pod
//!   grouping ([`pods`]).
//!
//! Host machinery (host paths, copy, the namespace fast path) lives in `anyctr-host`, the live
//! index in `anyctr-index`, the behaviour suite in `anyctr-conformance`; see ARCHITECTURE.md.
#![forbid(unsafe_code)]

pub mod address;
pub mod archive_over_exec;
pub mod buffered_exec;
pub mod capability;
pub mod container_path;
pub mod engine;
pub mod error;
pub mod event_cursor;
pub mod exec_failure;
pub mod exec_marker;
pub mod host_ids;
pub mod host_signal;
pub mod log_join;
pub mod lookup;
pub mod model;
mod pidfd;
pub mod pods;
pub mod registry;
pub mod socket_check;

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
