//! A node that mixes runc and sandboxed (gVisor-backed `rund`) CRI pods, through the real
//! containerd the harness started: classification, per-container capabilities, exec with stdin and
//! exit codes, host paths (rootfs not host-visible, shared volume real), and copies in and out —
//! including the sandbox's private /tmp and a 64 MiB tar-over-exec copy checked by sha256.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyctr_core::{
    ContainerEngine, CreateSpec, EngineAddress, EngineConfig, ErrorKind, ExecRequest, MountSpec, PodSpec, RuntimeClass,
    Support,
};
use anyctr_host::copy::{CopyOptions, CopyStrategy, copy_from_container, copy_to_container};
use anyctr_host::host_path::host_path;
use sha2::{Digest, Sha256};

async fn engine() -> Arc<dyn ContainerEngine> {
    let (socket, state) = (anyctr_testkit::containerd_socket(), anyctr_testkit::containerd_state_dir());
    let address = EngineAddress::parse(&format!("rund://{socket}?state_dir={state}")).unwrap();
    Arc::new(anyctr_testkit::connect("rund", &socket, anyctr_engine_rund::connect(EngineConfig::new(address))).await)
}

struct Pods {
    engine: Arc<dyn ContainerEngine>,
    sandboxes: Vec<String>,
}

impl Drop for Pods {
    fn drop(&mut self) {
        let (engine, sandboxes) = (self.engine.clone(), std::mem::take(&mut self.sandboxes));
        anyctr_testkit::on_own_runtime(move || async move {
            for s in sandboxes {
                let _ = tokio::time::timeout(Duration::from_secs(90), engine.remove_pod(&s)).await;
            }
        });
    }
}

async fn pod_with_container(pods: &mut Pods, runtime: &str, tag: &str, volume: &std::path::Path) -> String {
    let uid = format!("{tag}-{}-{runtime}", std::process::id());
    let pod =
        PodSpec::new(format!("mixed-{runtime}-{tag}"), "anyctr-test", uid).runtime(runtime).label("anyctr.test", tag);
    let sandbox = pods.engine.create_pod(&pod).await.expect("create pod");
    pods.sandboxes.push(sandbox.clone());
    let spec = CreateSpec::new(anyctr_testkit::image())
        .name("app")
        .argv(["sleep", "600"])
        .label("anyctr.test", tag)
        .mount(MountSpec::bind(volume.display().to_string(), "/shared"))
        .runtime(runtime)
        .pod_sandbox(sandbox);
    let id = pods.engine.create(&spec).await.expect("create container");
    pods.engine.start(&id).await.expect("start container");
    id
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_runc_and_rund_pods() {
    let engine = engine().await;
    assert_eq!(engine.name(), "rund");
    let tag =
        format!("mixed-{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis());
    let volume = tempfile::tempdir().unwrap();
    std::fs::write(volume.path().join("from-host.txt"), b"shared\n").unwrap();
    let mut pods = Pods { engine: engine.clone(), sandboxes: Vec::new() };
    let runc = pod_with_container(&mut pods, "runc", &tag, volume.path()).await;
    let rund = pod_with_container(&mut pods, "rund", &tag, volume.path()).await;

    // Classification and what each container may do.
    let runc_d = engine.inspect(&runc).await.unwrap();
    let rund_d = engine.inspect(&rund).await.unwrap();
    assert_eq!(runc_d.runtime, RuntimeClass::Runc, "{}", runc_d.runtime_name);
    assert_eq!(rund_d.runtime, RuntimeClass::Rund, "{}", rund_d.runtime_name);
    assert!(runc_d.merged_dir().is_some() && runc_d.proc_root_pid().is_some());
    assert!(rund_d.merged_dir().is_none(), "a sandbox reports no host merged dir: {:?}", rund_d.rootfs);
    assert!(rund_d.proc_root_pid().is_none(), "a sandbox's pid is not a /proc root");
    let (runc_caps, rund_caps) = (engine.container_capabilities(&runc_d), engine.container_capabilities(&rund_d));
    assert!(runc_caps.host_rootfs.is_supported() && runc_caps.proc_root.is_supported());
    assert_eq!(rund_caps.host_rootfs, Support::Unsupported);
    assert_eq!(rund_caps.nsenter, Support::Unsupported);
    assert_eq!(rund_caps.copy_to, Support::Emulated);

    // Exec with stdin and exit codes inside the sandbox; it has its own kernel.
    let r = engine.exec(&rund, ExecRequest::new(["cat"]).stdin(b"via stdin".to_vec())).await.unwrap();
    assert_eq!(r.stdout, b"via stdin");
    let r = engine.exec(&rund, ExecRequest::shell("exit 3")).await.unwrap();
    assert_eq!(r.exit_code, 3);
    let e = engine.exec(&rund, ExecRequest::new(["/no/such"])).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");

    // Host paths: the sandbox's rootfs is not host-visible, the shared volume is.
    let e = host_path(&rund_d, "/etc/passwd", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("not host-visible"), "{e}");
    let shared = host_path(&rund_d, "/shared/from-host.txt", None).unwrap();
    assert_eq!(shared.path, volume.path().join("from-host.txt"));
    assert!(host_path(&runc_d, "/etc/passwd", None).is_ok());

    // A path that exists only inside the sandbox (gVisor's private /tmp), both ways.
    engine.exec(&rund, ExecRequest::shell("echo private > /tmp/only-in-sandbox")).await.unwrap().check().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let got = out_dir.path().join("only");
    let report =
        copy_from_container(&*engine, &rund_d, "/tmp/only-in-sandbox", &got, &CopyOptions::default()).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::TarOverExec, "{report:?}");
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "private\n");

    // 64 MiB in and out by tar over exec, checked by sha256 on both sides.
    let big: Vec<u8> = (0..64u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let src = out_dir.path().join("big.bin");
    std::fs::write(&src, &big).unwrap();
    let report = copy_to_container(&*engine, &rund_d, &src, "/tmp/big.bin", &CopyOptions::default()).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::TarOverExec, "{report:?}");
    let inside = engine.exec(&rund, ExecRequest::new(["sha256sum", "/tmp/big.bin"])).await.unwrap();
    assert_eq!(inside.stdout_lossy().split_whitespace().next(), Some(sha256(&big).as_str()));
    let back: PathBuf = out_dir.path().join("back.bin");
    copy_from_container(&*engine, &rund_d, "/tmp/big.bin", &back, &CopyOptions::default()).await.unwrap();
    assert_eq!(sha256(&std::fs::read(&back).unwrap()), sha256(&big));

    // The runc container on the same engine keeps its fast path.
    let report = copy_to_container(&*engine, &runc_d, &src, "/tmp/big.bin", &CopyOptions::default()).await.unwrap();
    assert_eq!(report.strategy, CopyStrategy::HostPath, "{report:?}");
}
