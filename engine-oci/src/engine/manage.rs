//! The rest of the lifecycle of containers in a root anyctr owns, through the runtime's own
//! commands: pause and resume (the runtime freezes the container's cgroup), restart (stop, then
//! the same bundle run again, as `start` runs an exited container) and resource updates
//! (`<runtime> update`, which writes the container's cgroup).

use std::time::Duration;

use anyctr_core::model::{ContainerStatus, ResourceUpdate};
use anyctr_core::{ContainerEngine, Error, ErrorKind, Result};

use super::OciEngine;
use crate::NAME;
use crate::convert::Record;
use crate::lifecycle;

impl OciEngine {
    /// `pause` / `resume` of an owned container that is in status `from`; the status then reads
    /// from the freezer.
    pub(super) async fn freeze(&self, container: &str, operation: &'static str, from: ContainerStatus) -> Result<()> {
        let run = async {
            let record = self.find_owned(container, operation)?;
            let status = self.status(&record);
            if status != from {
                let why = format!("container {} is {status:?}, not {from:?}: nothing to {operation}", record.id);
                return Err(Error::new(ErrorKind::Conflict, why));
            }
            let verb = if operation == "pause" { "pause" } else { "resume" };
            self.runtime_call(&record, &[verb, &record.id]).await
        };
        run.await.map_err(|e| e.in_context(NAME, operation).with_container(container))
    }

    /// Thaws `record` when it is paused, so a signal just sent can end it: a frozen process
    /// neither handles TERM nor dies of KILL until thawed (dockerd's stop and kill do the same).
    pub(super) async fn thaw_if_paused(&self, record: &Record) -> Result<()> {
        if self.status(record) != ContainerStatus::Paused {
            return Ok(());
        }
        self.runtime_call(record, &["resume", &record.id]).await
    }

    /// Stops the container (if it runs) and runs its bundle again: same id, rootfs and config,
    /// a new init process.
    pub(super) async fn restart_owned(&self, container: &str, grace: Duration) -> Result<()> {
        let run = async {
            let record = self.find_owned(container, "restart")?;
            self.stop(&record.id, grace).await?;
            self.start(&record.id).await
        };
        run.await.map_err(|e| e.in_context(NAME, "restart").with_container(container))
    }

    /// `<runtime> update` with the fields set in `update`, on a running (or paused) container.
    pub(super) async fn update_owned(&self, container: &str, update: &ResourceUpdate) -> Result<()> {
        anyctr_core::engine::update_target(self, container, update).await?;
        let run = async {
            let record = self.find_owned(container, "update_resources")?;
            let status = self.status(&record);
            if status != ContainerStatus::Running && status != ContainerStatus::Paused {
                let why = format!("container {} is {status:?}: its cgroup is gone or not yet made", record.id);
                return Err(Error::new(ErrorKind::Conflict, why));
            }
            let mut args = vec!["update".to_owned()];
            args.extend(update_flags(update));
            args.push(record.id.clone());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.runtime_call(&record, &args).await
        };
        run.await.map_err(|e| e.in_context(NAME, "update_resources").with_container(container))
    }

    /// One runtime command on `record`'s root, bounded by the call timeout.
    async fn runtime_call(&self, record: &Record, args: &[&str]) -> Result<()> {
        let (binary, root) = (self.binary(record), self.local_root(record));
        lifecycle::runtime_call(&binary, &root, args, self.config.call_timeout).await
    }
}

/// `runc update` / `crun update` flags for the fields set (validated before).
fn update_flags(update: &ResourceUpdate) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(shares) = update.cpu_shares {
        flags.push(format!("--cpu-shares={shares}"));
    }
    if let Some(period) = update.cpu_period {
        flags.push(format!("--cpu-period={period}"));
    }
    if let Some(quota) = update.cpu_quota {
        flags.push(format!("--cpu-quota={quota}"));
    }
    if let Some(memory) = update.memory_limit {
        flags.push(format!("--memory={memory}"));
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_flags_name_only_what_is_set() {
        let all = ResourceUpdate::new().cpu_shares(512).cpu_quota(50_000, 100_000).memory_limit(96 << 20);
        assert_eq!(
            update_flags(&all),
            ["--cpu-shares=512", "--cpu-period=100000", "--cpu-quota=50000", "--memory=100663296"]
        );
        assert_eq!(update_flags(&ResourceUpdate::new().memory_limit(64 << 20)), ["--memory=67108864"]);
    }
}
