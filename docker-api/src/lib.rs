//! What anyctr's engines that speak the Docker Engine API share: dockerd (`anyctr-engine-docker`)
//! and pouchd (`anyctr-engine-pouch`, API v1.24 with lenient models).
//!
//! - [`http`]: HTTP/1.1 over a unix socket, one fresh connection per request (upgrades allowed,
//!   for attached exec streams), the daemon's `{"message": …}` error bodies.
//! - [`actions`]: the event action vocabulary (`die`, `exec_start: …`) as [`anyctr_core::EventKind`]s.
//! - [`encode`]: percent-encoding of path segments and query values (the `percent-encoding` crate).
//! - [`stats`]: the stats document (`/containers/{id}/stats`) as a `ContainerStats`.
//!
//! Why a crate of its own and not a module of `anyctr-core`: core is what every engine author
//! needs (the trait, models, errors, registry); hyper and the Docker API's words are needed by
//! exactly the engines that speak that API, and would otherwise be compiled into every
//! containerd-only build and leak Docker knowledge into core. Why not in `anyctr-engine-docker`:
//! pouch must not depend on bollard and the docker engine; both depend on this instead. How each
//! daemon's statuses and messages map to [`anyctr_core::ErrorKind`] stays in each engine crate
//! (one table per engine): the same status means different things to dockerd and pouchd.

pub mod actions;
pub mod encode;
pub mod http;
pub mod stats;
