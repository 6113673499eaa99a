//! Fixtures whose logs the setup rotates as kubelet does: a CRI runtime writes a container's log
//! until told otherwise, and kubelet rotates it by renaming the file and calling the runtime's
//! `ReopenContainerLog`. `logs.rotation` does the same on CRI setups, so the follow through that
//! rotation is tested against the real runtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyctr_conformance::{Fixture, FixtureFactory};
use anyctr_core::model::CreateSpec;
use anyctr_core::registry::under_host_root;
use anyctr_core::{ContainerEngine, Error, ErrorKind, Result};
use anyctr_engine_cri::CriEngine;

/// How kubelet names a rotated log: `<log>.<time>` (its `20060102-150405`, local time).
const ROTATED_SUFFIX: &str = "%Y%m%d-%H%M%S";

/// A factory whose fixtures' logs are rotated through the CRI runtime `cri`, as kubelet does.
pub struct KubeletRotation {
    /// Makes and removes the fixtures.
    pub inner: Arc<dyn FixtureFactory>,
    /// The CRI runtime the fixtures run on (the same daemon as the engine under test).
    pub cri: CriEngine,
    /// Where the host's `/` is, when this process runs in a container.
    pub host_root: Option<PathBuf>,
}

#[async_trait::async_trait]
impl FixtureFactory for KubeletRotation {
    async fn create_main(&self, run_id: &str) -> Result<Fixture> {
        self.inner.create_main(run_id).await
    }
    async fn create_extra(&self, spec: CreateSpec) -> Result<String> {
        self.inner.create_extra(spec).await
    }
    async fn remove_extra(&self, id: &str) -> Result<()> {
        self.inner.remove_extra(id).await
    }
    async fn remove(&self, fixture: &Fixture) -> Result<()> {
        self.inner.remove(fixture).await
    }
    async fn leftovers(&self, run_id: &str) -> Result<Vec<String>> {
        self.inner.leftovers(run_id).await
    }

    fn rotates_logs(&self) -> bool {
        true
    }

    /// kubelet's `rotateLatestLog`: rename the log to `<log>.<time>`, then `ReopenContainerLog`;
    /// when the reopen fails, the rename is undone, so the runtime's file keeps its name.
    async fn rotate_log(&self, id: &str) -> Result<PathBuf> {
        let detail = self.cri.inspect(id).await?;
        let log = detail.log_path.ok_or_else(|| {
            Error::new(ErrorKind::Unsupported, "the CRI runtime reports no log path").with_container(id)
        })?;
        let log = under_host_root(self.host_root.as_deref(), &log);
        let rotated = rotated_name(&log, chrono::Local::now());
        // kubelet rotates at most once per check period, well over a second: a name taken means
        // two rotations in one second, and renaming over it would destroy the first's lines.
        if rotated.exists() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("{} exists: one rotation per second", rotated.display()),
            )
            .with_container(id));
        }
        std::fs::rename(&log, &rotated)?;
        if let Err(e) = self.cri.reopen_container_log(id).await {
            let undone = std::fs::rename(&rotated, &log);
            let undone = undone
                .map(|_| "the rename is undone".to_owned())
                .unwrap_or_else(|u| format!("undoing the rename failed too: {u}"));
            return Err(Error::new(e.kind(), format!("{}; {undone}", e.message())).with_container(id).with_source(e));
        }
        Ok(rotated)
    }
}

/// `<log>.<time>` as kubelet names it.
fn rotated_name(log: &Path, now: chrono::DateTime<chrono::Local>) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{}", now.format(ROTATED_SUFFIX)));
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rotated_logs_are_named_as_kubelet_names_them() {
        let at = chrono::Local.with_ymd_and_hms(2026, 12, 1, 9, 5, 7).unwrap();
        let log = Path::new("/var/log/pods/ns_pod_uid/app/0.log");
        assert_eq!(rotated_name(log, at), Path::new("/var/log/pods/ns_pod_uid/app/0.log.20261201-090507"));
    }
}
