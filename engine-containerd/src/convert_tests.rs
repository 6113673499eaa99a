//! Normalization tests from records captured on a real containerd 1.6 (`ctr c info`, converted
//! to a readable fixture: extension values and runc options decoded).

use super::*;
use containerd_client::services::v1::container::Runtime;
use prost_types::{Any, Timestamp};

const RUND_CONTAINER: &str = include_str!("../tests/fixtures/cri-rund-container.json");
const RUND_SANDBOX: &str = include_str!("../tests/fixtures/cri-rund-sandbox.json");
const RUNC_CONTAINER: &str = include_str!("../tests/fixtures/cri-runc-container.json");
const RUNC_SANDBOX: &str = include_str!("../tests/fixtures/cri-runc-sandbox.json");
const DOCKER_CONTAINER: &str = include_str!("../tests/fixtures/moby-docker-container.json");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Builds a record from a fixture.
fn record(fixture: &str) -> Container {
    let v: Value = serde_json::from_str(fixture).unwrap();
    let options = v.pointer("/runtime/options_type_url").map(|t| Any {
        type_url: t.as_str().unwrap().into(),
        value: hex(v.pointer("/runtime/options_hex").unwrap().as_str().unwrap()),
    });
    let extensions = v["extensions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, e)| {
            let any = Any {
                type_url: e["type_url"].as_str().unwrap().into(),
                value: serde_json::to_vec(&e["json"]).unwrap(),
            };
            (k.clone(), any)
        })
        .collect();
    Container {
        id: v["id"].as_str().unwrap().into(),
        labels: serde_json::from_value(v["labels"].clone()).unwrap(),
        image: v["image"].as_str().unwrap().into(),
        runtime: Some(Runtime { name: v["runtime"]["name"].as_str().unwrap().into(), options }),
        spec: Some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Spec".into(),
            value: serde_json::to_vec(&v["spec"]).unwrap(),
        }),
        created_at: Some(Timestamp { seconds: 1_795_000_000, nanos: 0 }),
        extensions,
        ..Default::default()
    }
}

fn running_task(pid: u32) -> Process {
    Process { pid, status: TASK_RUNNING, ..Default::default() }
}

fn facts(fixture: &str, namespace: &str, task: Option<Process>, sandbox: Option<&str>) -> ContainerFacts {
    let sandbox = sandbox.map(|s| {
        let r = record(s);
        SandboxFacts {
            runtime: RuntimeInfo::from_record(r.runtime.as_ref()),
            metadata: crate::cri::sandbox_metadata(&r.extensions),
        }
    });
    ContainerFacts { namespace: namespace.into(), record: record(fixture), task, cri_state: None, sandbox }
}

#[test]
fn cri_runc_container() {
    let f = facts(RUNC_CONTAINER, "k8s.io", Some(running_task(10974)), Some(RUNC_SANDBOX));
    let state_dir = Path::new("/run/anyctr-engines/containerd");
    let path = rootfs_path(&f, state_dir);
    assert_eq!(
        path,
        Path::new("/run/anyctr-engines/containerd/io.containerd.runtime.v2.task/k8s.io")
            .join(&f.record.id)
            .join("rootfs")
    );
    let d = detail(&f, &path, true);
    assert_eq!(d.runtime, RuntimeClass::Runc);
    assert_eq!(d.runtime_name, "io.containerd.runc.v2");
    assert_eq!(d.rootfs, RootfsView::Merged(path.clone()));
    assert_eq!(d.state.status, ContainerStatus::Running);
    assert_eq!(d.state.pid, Some(10974));
    assert_eq!(d.image, "busybox:local");
    assert_eq!(d.namespace.as_deref(), Some("k8s.io"));
    let uid = d.pod.pod_uid.clone().unwrap();
    assert_eq!(d.name, format!("explore2_explore2-pod_default_{uid}_0"));
    assert_eq!(d.env_var("FOO"), Some("bar"));
    assert_eq!(d.log_format, Some(LogFormat::Cri));
    let log = d.log_path.as_ref().unwrap().to_str().unwrap().to_owned();
    assert!(log.starts_with("/var/log/pods/default_explore2-pod_") && log.ends_with("/explore2/0.log"), "{log}");
    // host-network pod: the sandbox's NamespaceOption says NODE
    assert_eq!(d.network_mode.as_deref(), Some("host"));
    // pid: the container joins the sandbox's pid namespace by path
    assert!(
        d.pid_mode.as_deref().unwrap().starts_with("/proc/") && d.pid_mode.as_deref().unwrap().ends_with("/ns/pid")
    );
    assert_eq!(d.pod.pod_name.as_deref(), Some("explore2-pod"));
    assert_eq!(d.pod.namespace.as_deref(), Some("default"));
    assert_eq!(d.pod.container_name.as_deref(), Some("explore2"));
    assert_eq!(d.pod.role, None);
    let sandbox_id = d.annotations.get("io.kubernetes.cri.sandbox-id").unwrap();
    assert_eq!(d.pod.sandbox_id.as_ref(), Some(sandbox_id));
    assert_eq!(d.labels.get("io.cri-containerd.kind").map(String::as_str), Some("container"));
    // read-only special mounts are kept, with their flag
    let sys = d.mounts.iter().find(|m| m.destination == Path::new("/sys")).unwrap();
    assert!(sys.read_only);
    assert_eq!(sys.kind, MountKind::Special("sysfs".into()));
    let hosts = d.mounts.iter().find(|m| m.destination == Path::new("/etc/hosts")).unwrap();
    assert_eq!(hosts.kind, MountKind::Bind);
    assert!(!hosts.read_only);
    assert_eq!(hosts.propagation.as_deref(), Some("rprivate"));
    assert_eq!(d.raw["runtime"]["name"], "io.containerd.runc.v2");
    assert!(d.raw["extensions"][crate::cri::CONTAINER_METADATA]["value"]["Metadata"]["SandboxID"].is_string());
    let s = summary(&f);
    assert_eq!(s.names, vec![d.name.clone()]);
    assert_eq!(s.runtime, Some(RuntimeClass::Runc));
    assert_eq!(s.status, ContainerStatus::Running);
}

#[test]
fn cri_rund_container_and_sandbox() {
    let f = facts(RUND_CONTAINER, "k8s.io", Some(running_task(10847)), Some(RUND_SANDBOX));
    let d = detail(&f, &rootfs_path(&f, Path::new("/run/containerd")), true);
    assert_eq!(d.runtime, RuntimeClass::Rund);
    assert_eq!(d.runtime_name, "io.containerd.rund.v2");
    assert_eq!(d.rootfs, RootfsView::NotHostVisible);
    assert_eq!(d.proc_root_pid(), None);
    let hosttmp = d.mounts.iter().find(|m| m.destination == Path::new("/hosttmp")).unwrap();
    assert_eq!(hosttmp.source, Path::new("/tmp"));

    let sb = facts(RUND_SANDBOX, "k8s.io", Some(running_task(10763)), None);
    let d = detail(&sb, &rootfs_path(&sb, Path::new("/run/containerd")), true);
    assert!(d.is_sandbox());
    assert_eq!(d.pod.role, Some(PodRole::Sandbox));
    assert_eq!(d.pod.sandbox_id.as_deref(), Some(d.id.as_str()));
    assert_eq!(d.pod.container_name, None);
    assert_eq!(d.pod.pod_name.as_deref(), Some("explore-pod"));
    assert_eq!(d.runtime, RuntimeClass::Rund);
    assert_eq!(d.network_mode.as_deref(), Some("host"));
    assert_eq!(d.log_path, None);
    assert!(d.name.starts_with("explore-pod_default_"));
}

#[test]
fn plain_runc_container_in_a_rund_sandbox_is_rund() {
    // A container record saying runc (as a runc-with-BinaryName handler would) whose sandbox
    // has handler rund: the sandbox decides.
    let mut f = facts(RUNC_CONTAINER, "k8s.io", Some(running_task(1)), Some(RUND_SANDBOX));
    assert_eq!(f.runtime_class(), RuntimeClass::Rund);
    f.sandbox = None;
    assert_eq!(f.runtime_class(), RuntimeClass::Runc);
}

#[test]
fn docker_container_in_moby() {
    let f = facts(DOCKER_CONTAINER, "moby", Some(running_task(11509)), None);
    let path = rootfs_path(&f, Path::new("/run/anyctr-engines/containerd"));
    // docker passes an absolute rootfs (its overlay2 merged dir) in the spec
    assert!(path.to_str().unwrap().starts_with("/var/lib/anyctr-engines/docker/overlay2/"), "{path:?}");
    assert!(path.ends_with("merged"));
    let d = detail(&f, &path, true);
    assert_eq!(d.runtime, RuntimeClass::Runc);
    assert_eq!(d.raw["runtime"]["binary_name"], "runc");
    assert_eq!(d.rootfs, RootfsView::Merged(path));
    assert_eq!(d.name, d.id, "a container without CRI metadata is named by its id");
    assert_eq!(d.image, "");
    assert_eq!(d.hostname.as_deref(), Some(&d.id[..12]));
    // docker's bridge network: a namespace without a path, so the task's own netns
    assert_eq!(d.network_mode.as_deref(), Some("/proc/11509/ns/net"));
    assert_eq!(d.pid_mode.as_deref(), Some("/proc/11509/ns/pid"));
    assert!(!d.pod.is_pod_member());
    assert_eq!(d.log_path, None);
    let s = summary(&f);
    assert!(s.names.is_empty());
    assert_eq!(s.namespace.as_deref(), Some("moby"));
}

#[test]
fn states_without_tasks() {
    let mut f = facts(RUNC_CONTAINER, "k8s.io", None, Some(RUNC_SANDBOX));
    assert_eq!(f.state().status, ContainerStatus::Created);
    f.cri_state = Some(CriState {
        state: "exited",
        exit_code: Some(3),
        finished_at_ns: 1_795_000_000_000_000_000,
        ..Default::default()
    });
    let s = f.state();
    assert_eq!(s.status, ContainerStatus::Exited);
    assert_eq!(s.exit_code, Some(3));
    assert!(s.finished_at.is_some());
    let d = detail(&f, Path::new("/nonexistent"), false);
    assert_eq!(d.rootfs, RootfsView::NotReported);
    // without a task there is no pid to name the namespace by
    assert_eq!(d.network_mode.as_deref(), Some("host"));
    let stopped = Process { pid: 42, status: TASK_STOPPED, exit_status: 137, ..Default::default() };
    let s = state(Some(&stopped), None);
    assert_eq!((s.status, s.exit_code, s.pid), (ContainerStatus::Exited, Some(137), None));
}

#[test]
fn mounts_normalize() {
    let spec = json!({"mounts": [
        {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro", "rslave"]},
        {"destination": "/v", "type": "bind", "source": "/var/lib/docker/volumes/myvol/_data", "options": ["rbind"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/x", "type": "overlay", "source": "overlay"},
        {"destination": "/b", "source": "/host/b", "options": ["bind"]}
    ]});
    let m = mounts(&spec);
    assert_eq!(m.len(), 5);
    assert!(m[0].read_only && m[0].kind == MountKind::Bind && m[0].propagation.as_deref() == Some("rslave"));
    assert_eq!((m[1].kind.clone(), m[1].name.as_deref()), (MountKind::Volume, Some("myvol")));
    assert_eq!(m[2].kind, MountKind::Tmpfs);
    assert_eq!(m[2].source, PathBuf::new());
    assert_eq!(m[3].kind, MountKind::Other("overlay".into()));
    assert_eq!(m[4].kind, MountKind::Bind);
    assert!(mounts(&Value::Null).is_empty());
}

#[test]
fn namespace_modes_from_spec() {
    let spec = json!({"linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/cni-1"}]}});
    assert_eq!(spec_namespace_mode(&spec, "network", "net", Some(5)).as_deref(), Some("/var/run/netns/cni-1"));
    assert_eq!(spec_namespace_mode(&spec, "pid", "pid", Some(5)).as_deref(), Some("/proc/5/ns/pid"));
    assert_eq!(spec_namespace_mode(&spec, "pid", "pid", None).as_deref(), Some("private"));
    assert_eq!(spec_namespace_mode(&spec, "uts", "uts", Some(5)).as_deref(), Some("host"));
    assert_eq!(spec_namespace_mode(&Value::Null, "network", "net", None), None);
}

#[test]
fn timestamps() {
    assert_eq!(timestamp(None), None);
    assert_eq!(timestamp(Some(&Timestamp { seconds: -62_135_596_800, nanos: 0 })), None);
    assert!(timestamp(Some(&Timestamp { seconds: 1_700_000_000, nanos: 5 })).is_some());
}
