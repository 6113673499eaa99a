//! What an engine, and one container's runtime, can do.
//!
//! A plain `Copy + Default` struct of public fields in OpenDAL's style: an engine fills it with
//! `..Capabilities::default()`, so a field added later defaults to "unsupported" (deliberately
//! not `#[non_exhaustive]`: a literal that ends in `..Capabilities::default()` keeps compiling as
//! capabilities are added; one that names every field does not). Each field says
//! not only whether an operation works but whether the engine does it natively or anyctr emulates
//! it (copy through tar over exec, say), because agents care about the cost.
//!
//! One node can mix runtimes, so [`Capabilities::for_runtime`] refines an engine's capabilities for a
//! container: a VM-sandboxed container has no host-visible rootfs and no namespace fast path even when
//! a runc container on the same engine has both.

use serde::Serialize;

use crate::model::RuntimeClass;

/// How an operation is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    /// The operation returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    #[default]
    Unsupported,
    /// The engine does it with an API of its own.
    Native,
    /// anyctr builds it from other operations (e.g. copy as tar over exec).
    Emulated,
}

impl Support {
    /// Whether the operation can be called at all.
    pub fn is_supported(self) -> bool {
        self != Support::Unsupported
    }

    /// One letter for matrices: `N`ative, `E`mulated, `-` unsupported.
    pub fn letter(self) -> char {
        match self {
            Support::Unsupported => '-',
            Support::Native => 'N',
            Support::Emulated => 'E',
        }
    }
}

/// Declares the capability struct and its name table from one list, so the struct, the
/// iteration order and the names used in reports cannot drift apart.
macro_rules! capabilities {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// What an engine (or one container on it) supports. See the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
        pub struct Capabilities {
            $( $(#[$doc])* pub $name: Support, )*
        }

        impl Capabilities {
            /// Every capability name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// `(name, support)` for every capability, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, Support)> + '_ {
                [$((stringify!($name), self.$name)),*].into_iter()
            }

            /// The support for a capability by name, `None` for an unknown name.
            pub fn get(&self, name: &str) -> Option<Support> {
                match name {
                    $(stringify!($name) => Some(self.$name),)*
                    _ => None,
                }
            }
        }
    };
}

capabilities! {
    /// `list` and `inspect`.
    inspect,
    /// Buffered exec (`exec`).
    exec,
    /// Exec with bytes written to the process's stdin, followed by EOF.
    exec_with_stdin,
    /// Exec as a given user.
    exec_with_user,
    /// Exec in a given working directory.
    exec_with_workdir,
    /// Exec with extra environment variables.
    exec_with_env,
    /// A timeout (or a dropped session) ends the exec's process inside the container.
    exec_kill,
    /// Streaming exec (`exec_stream`).
    exec_stream,
    /// `copy_to`: a tar stream unpacked into the container.
    copy_to,
    /// `copy_from`: a path of the container as a tar stream.
    copy_from,
    /// `events`.
    events,
    /// The container's rootfs is visible on the host (merged dir or `/proc/<pid>/root`).
    host_rootfs,
    /// The reported pid is a host process whose `/proc/<pid>` shows the container.
    proc_root,
    /// The namespace fast path: entering the container init's namespaces from the host.
    nsenter,
    /// `create`, `start`, `stop`, `kill`, `remove`, `wait`.
    lifecycle,
    /// `load_image` and `list_images`.
    images,
    /// Kubernetes pods: sandboxes and pod identity on containers.
    pods,
    /// Container logs: `Native` from the engine's logs API, `Emulated` when anyctr reads the
    /// engine's log file from the host (`anyctr_host::logs::container_logs` serves both).
    logs,
    /// `top`: a container's processes, pid 1 and its zombies. `Emulated`: anyctr reads the host's
    /// `/proc` for runc-class containers and `/proc` inside by exec for sandboxed ones
    /// (`anyctr_host::top`), so it needs `proc_root` or `exec` on the container.
    top,
    /// Container probes (time zone, libc, hostname, pid 1): `Emulated` from the host for
    /// runc-class containers and by exec inside sandboxes (`anyctr_host::probes`).
    probes,
    /// `pause` and `unpause` (the cgroup freezer, or the sandbox's own pause).
    pause,
    /// `restart` in place: the same container with a new main process (CRI has none: kubelet
    /// makes a new container instead).
    restart,
    /// `update_resources`: CPU shares/quota and memory limit of a running container.
    update_resources,
    /// `pull_image` from a registry and `remove_image`.
    pull,
    /// Resource-usage samples (`stats`, `stats_many`): `Native` from the engine's stats API or
    /// task metrics (for a sandbox, the runtime's own figures), `Emulated` when anyctr reads the
    /// container's host cgroup itself.
    stats,
}

impl Capabilities {
    /// Refines engine capabilities for a container of `runtime`: a sandboxed runtime (RunD, Kata,
    /// gVisor, and any runtime not known to be runc-class: see
    /// [`RuntimeClass::sandbox_reason`]) loses everything that reaches into the container from the
    /// host, and copy falls back to tar over exec, which works wherever exec with stdin works.
    pub fn for_runtime(mut self, runtime: &RuntimeClass) -> Self {
        if runtime.is_sandboxed() {
            self.host_rootfs = Support::Unsupported;
            self.proc_root = Support::Unsupported;
            self.nsenter = Support::Unsupported;
            let tar_over_exec =
                if self.exec_with_stdin.is_supported() { Support::Emulated } else { Support::Unsupported };
            // An engine's native archive API reads and writes the host-side rootfs, which a sandbox
            // does not share (docker cp into gVisor with an in-memory overlay is lost): emulate instead.
            self.copy_to = tar_over_exec;
            self.copy_from = tar_over_exec;
            // Processes and probes are read inside by exec where the host cannot see them.
            if !self.exec.is_supported() {
                self.top = Support::Unsupported;
                self.probes = Support::Unsupported;
            }
            // gVisor's runsc has no `update` (dockerd and the shim fail the call); a VM runtime's
            // shim may resize its VM, but nothing here has shown one does: claim it only for runc-class.
            self.update_resources = Support::Unsupported;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_all_unsupported() {
        let c = Capabilities::default();
        assert!(c.iter().all(|(_, s)| s == Support::Unsupported));
        assert_eq!(c.iter().count(), Capabilities::NAMES.len());
    }

    #[test]
    fn get_by_name_matches_fields() {
        let c = Capabilities { exec: Support::Native, copy_to: Support::Emulated, ..Default::default() };
        assert_eq!(c.get("exec"), Some(Support::Native));
        assert_eq!(c.get("copy_to"), Some(Support::Emulated));
        assert_eq!(c.get("events"), Some(Support::Unsupported));
        assert_eq!(c.get("no_such"), None);
    }

    #[test]
    fn sandboxed_runtime_loses_host_access_and_copies_over_exec() {
        let engine = Capabilities {
            exec: Support::Native,
            exec_with_stdin: Support::Native,
            copy_to: Support::Native,
            copy_from: Support::Native,
            host_rootfs: Support::Native,
            proc_root: Support::Native,
            nsenter: Support::Emulated,
            ..Default::default()
        };
        let runc = engine.for_runtime(&RuntimeClass::Runc);
        assert_eq!(runc, engine);
        let rund = engine.for_runtime(&RuntimeClass::Rund);
        assert_eq!(rund.host_rootfs, Support::Unsupported);
        assert_eq!(rund.proc_root, Support::Unsupported);
        assert_eq!(rund.nsenter, Support::Unsupported);
        assert_eq!(rund.copy_to, Support::Emulated);
        assert_eq!(rund.copy_from, Support::Emulated);
        assert_eq!(rund.exec, Support::Native);
        let updatable = Capabilities { update_resources: Support::Native, pause: Support::Native, ..engine };
        let sandboxed = updatable.for_runtime(&RuntimeClass::Rund);
        assert_eq!(sandboxed.update_resources, Support::Unsupported);
        assert_eq!(sandboxed.pause, Support::Native);
        // Fail closed: a runtime nobody declared runc-class gets the sandboxed answers.
        let unknown = RuntimeClass::from_name_with("io.containerd.firecracker.v1", &[]);
        assert_eq!(engine.for_runtime(&unknown), rund);
        let declared = RuntimeClass::from_name_with("youki", &["youki".to_owned()]);
        assert_eq!(engine.for_runtime(&declared), engine);
    }

    #[test]
    fn processes_and_probes_in_a_sandbox_need_exec() {
        let engine = Capabilities { top: Support::Emulated, probes: Support::Emulated, ..Default::default() };
        // Read from the host for runc; without exec a sandbox cannot be read at all.
        assert_eq!(engine.for_runtime(&RuntimeClass::Runc), engine);
        let rund = engine.for_runtime(&RuntimeClass::Rund);
        assert_eq!((rund.top, rund.probes), (Support::Unsupported, Support::Unsupported));
        let with_exec = Capabilities { exec: Support::Native, ..engine }.for_runtime(&RuntimeClass::Runsc);
        assert_eq!((with_exec.top, with_exec.probes), (Support::Emulated, Support::Emulated));
    }
}
