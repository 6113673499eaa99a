//! Container details built by hand, for tests of logic that works from what an engine reports
//! (host paths, copy planning, pod grouping, the index) without asking an engine.

use std::path::PathBuf;
use std::sync::Arc;

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, Mount, MountKind, PodRole, RootfsView, RuntimeClass,
};

/// A running container of `runtime` with the given rootfs view, init pid and no mounts.
pub fn running(runtime: RuntimeClass, rootfs: RootfsView, pid: Option<u32>) -> ContainerDetail {
    let mut state = ContainerState::with_status(ContainerStatus::Running);
    state.pid = pid;
    let mut detail = ContainerDetail::new("0123456789abcdef", "test", "busybox:local", state, runtime);
    detail.rootfs = rootfs;
    detail
}

/// A runc container of pod `uid` (namespace `prod`, pod `web`) whose sandbox is `sandbox`
/// (the sandbox itself when `id == sandbox`), named as the docker CRI shim names them.
pub fn pod_member(id: &str, k8s_name: &str, uid: &str, sandbox: &str, running: bool) -> Arc<ContainerDetail> {
    let status = if running { ContainerStatus::Running } else { ContainerStatus::Exited };
    let mut d = self::running(RuntimeClass::Runc, RootfsView::NotReported, None);
    d.id = id.into();
    d.name = format!("k8s_{k8s_name}_{id}");
    d.image = "busybox".into();
    d.state = ContainerState::with_status(status);
    d.pod.pod_name = Some("web".into());
    d.pod.namespace = Some("prod".into());
    d.pod.pod_uid = Some(uid.into());
    d.pod.container_name = Some(k8s_name.into());
    d.pod.sandbox_id = Some(sandbox.into());
    d.pod.role = Some(if id == sandbox { PodRole::Sandbox } else { PodRole::Main });
    Arc::new(d)
}

/// A bind mount.
pub fn bind(source: impl Into<PathBuf>, destination: &str, read_only: bool) -> Mount {
    let mut mount = Mount::new(source, destination, MountKind::Bind);
    mount.read_only = read_only;
    mount
}
