//! Resource usage of a bare runtime's containers: the container's host cgroup, read through the
//! host-access layer (`anyctr_host::cgroup_stats`) — a bare runtime has no stats API of its own.
//! A gVisor sandbox's cgroup holds the sandbox (Sentry, Gofer), not what runs in it: its own
//! figures come from `runsc events --stats`, which this engine does not read, so `Unsupported`.

use anyctr_core::model::{ContainerStats, ContainerStatus};
use anyctr_core::{Error, ErrorKind, Result};
use anyctr_host::cgroup_stats::CgroupStatsReader;

use super::OciEngine;
use crate::NAME;
use crate::state::Layout;

impl OciEngine {
    /// One sample of a running (or paused) runc-class container from its host cgroup.
    pub(super) async fn cgroup_stats(&self, container: &str) -> Result<ContainerStats> {
        let run = async {
            let record = self.find(container)?;
            if record.layout(self.options.runtime) == Layout::Runsc {
                let why = "a gVisor sandbox's host cgroup measures the sandbox, not the container (runsc events \
                           --stats has its figures, which this engine does not read)";
                return Err(Error::new(ErrorKind::Unsupported, why));
            }
            let status = self.status(&record);
            let pid = record.state.as_ref().and_then(|s| s.pid);
            let pid = match (&status, pid) {
                (ContainerStatus::Running | ContainerStatus::Paused, Some(pid)) => pid,
                _ => return Err(Error::new(ErrorKind::Conflict, format!("container {} is {status:?}", record.id))),
            };
            let reader = CgroupStatsReader::new(self.config.host_root.as_deref())?;
            let id = record.id.clone();
            tokio::task::spawn_blocking(move || reader.read_pid(&id, pid))
                .await
                .map_err(|e| Error::unexpected(format!("the cgroup read panicked: {e}")))?
        };
        run.await.map_err(|e| e.in_context(NAME, "stats").with_container(container))
    }
}
