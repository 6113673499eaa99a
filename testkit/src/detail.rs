//! Container details built by hand, for tests of logic that works from what an engine reports
//! (host paths, copy planning, pod grouping, the index) without asking an engine.

use std::path::PathBuf;
use std::sync::Arc;

use anyctr_core::model::{
    ContainerDetail, ContainerState, ContainerStatus, Mount, MountKind, PodIdentity, PodRole, RootfsView, RuntimeClass,
};

/// A running container of `runtime` with the given rootfs view, init pid and no mounts.
pub fn running(runtime: RuntimeClass, rootfs: RootfsView, pid: Option<u32>) -> ContainerDetail {
    let mut state = ContainerState::with_status(ContainerStatus::Running);
    state.pid = pid;
    ContainerDetail {
        id: "0123456789abcdef".into(),
        name: "test".into(),
        image: "busybox:local".into(),
        labels: Default::default(),
        annotations: Default::default(),
        env: Vec::new(),
        state,
        runtime_name: runtime.as_str().to_owned(),
        runtime,
        hostname: None,
        network_mode: None,
        pid_mode: None,
        log_path: None,
        log_format: None,
        rootfs,
        mounts: Vec::new(),
        pod: PodIdentity::default(),
        created: None,
        namespace: None,
        raw: serde_json::Value::Null,
    }
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
    d.pod = PodIdentity {
        pod_name: Some("web".into()),
        namespace: Some("prod".into()),
        pod_uid: Some(uid.into()),
        container_name: Some(k8s_name.into()),
        sandbox_id: Some(sandbox.into()),
        role: Some(if id == sandbox { PodRole::Sandbox } else { PodRole::Main }),
    };
    Arc::new(d)
}

/// A bind mount.
pub fn bind(source: impl Into<PathBuf>, destination: &str, read_only: bool) -> Mount {
    Mount {
        source: source.into(),
        destination: destination.into(),
        kind: MountKind::Bind,
        read_only,
        propagation: None,
        name: None,
    }
}
