//! How a daemon that speaks Docker's API without being Docker differs from dockerd, as far as this
//! crate's code depends on it. An engine crate that builds on this one (Podman's) says how its
//! daemon differs; the defaults are dockerd's behaviour. What the differences mean for the daemon
//! in question is that crate's business: nothing here names one.

use std::sync::Arc;

use anyctr_core::Result;
use async_trait::async_trait;
use serde_json::Value;

/// Corrects a daemon's container inspect answer before this crate reads it (every internal user
/// of inspect, exec and copy included).
#[async_trait]
pub trait AmendInspect: Send + Sync + 'static {
    /// Corrects `inspect` (the daemon's answer for one container) in place; an error fails the
    /// inspect (and the exec or copy that needed it).
    async fn amend(&self, inspect: &mut Value) -> Result<()>;
}

/// Where the daemon's exec and inspect answers differ from dockerd's.
#[derive(Clone)]
pub struct Compatibility {
    /// Applied to every container inspect answer.
    pub amend_inspect: Option<Arc<dyn AmendInspect>>,
    /// The daemon closes an exec's output when the exec's main process exits, not when the last
    /// process holding it does (dockerd): output a background child writes later is never
    /// forwarded, so it must be reported incomplete while such a child runs.
    pub exec_output_ends_at_exit: bool,
    /// Exec inspect still reports the process's pid after it exited (dockerd keeps it; a daemon
    /// that reports 0 cannot tell "never ran" from "ran" by the pid).
    pub exec_pid_kept_after_exit: bool,
}

impl Default for Compatibility {
    /// dockerd's behaviour.
    fn default() -> Self {
        Compatibility { amend_inspect: None, exec_output_ends_at_exit: false, exec_pid_kept_after_exit: true }
    }
}

impl std::fmt::Debug for Compatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compatibility")
            .field("amend_inspect", &self.amend_inspect.is_some())
            .field("exec_output_ends_at_exit", &self.exec_output_ends_at_exit)
            .field("exec_pid_kept_after_exit", &self.exec_pid_kept_after_exit)
            .finish()
    }
}
