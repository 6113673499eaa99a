//! anyctr-host: engine-independent machinery that touches the host on behalf of a container.
//!
//! Everything here works from what any engine reports (a [`ContainerDetail`](anyctr_core::model::ContainerDetail):
//! rootfs view, mounts, init pid, runtime class), so no engine crate needs it and it needs no engine.
//!
//! - [`hostfs`]: host access by file descriptor (openat2 beneath a root, `*at` calls); the one way
//!   this crate opens container content, because everything inside a container is hostile.
//! - [`host_path`]: a container path resolved to a host path (or an opened handle), refusing what
//!   leaves the container's view; sandboxed runtimes answer "not host-visible".
//! - [`tar_safety`]: writing tar streams safely (no escapes, no special files, capped sizes).
//! - [`copy`]: path copies in and out, choosing host, native or exec-tar strategies.
//! - [`nsenter`]: the namespace fast path (exec by forking into the init's namespaces).
//! - [`top`]: a container's processes (host `/proc` or exec in a sandbox), pid 1 and zombies.
//! - [`probes`]: per-container facts (time zone, libc, hostname, pid 1), each saying how found.
// Unsafe code is denied everywhere but in `nsenter::sys`, which forks into a container's
// namespaces (raw fork/setns/execve after a fork have no safe wrapper); see that module's docs.
#![deny(unsafe_code)]

pub mod cgroup_path;
pub mod cgroup_stats;
pub mod copy;
pub mod host_path;
pub mod hostfs;
pub mod logs;
pub mod nsenter;
pub mod probes;
pub mod procscan;
pub mod tar_safety;
pub mod top;
