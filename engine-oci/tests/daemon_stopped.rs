//! A private dockerd (`anyctr_testkit::private_dockerd`: own socket, data root, exec root and
//! containerd namespace on the harness containerd, `--live-restore` so its containers outlive it)
//! is stopped under the test: its container is still listed from the runtime root, with the id,
//! pid and mounts dockerd reported, and exec through the runtime still works. Only the dockerd
//! this test started is stopped.

use std::path::Path;

use anyctr_core::model::{ContainerStatus, ExecRequest};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ListOptions};
use anyctr_testkit::private_dockerd::PrivateDockerd;
use anyctr_testkit::{bounded, unique};

async fn oci(address: &str) -> anyctr_engine_oci::OciEngine {
    let config = EngineConfig::new(EngineAddress::parse(address).unwrap());
    bounded("connect", anyctr_engine_oci::connect(config)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_stopped_dockerd_are_still_listed_from_its_runtime_root() {
    let name = unique("oci-dockerd");
    let mut dockerd = tokio::task::block_in_place(PrivateDockerd::live_restore_with_image);
    let bind = std::env::temp_dir().join(format!("{name}-bind"));
    std::fs::create_dir_all(&bind).unwrap();
    let volume = format!("{}:/mnt/kept", bind.display());
    let id = dockerd
        .docker(&["run", "-d", "--network", "none", "-v", &volume, &anyctr_testkit::image(), "sleep", "600"])
        .unwrap();
    let pid: u32 = dockerd.docker(&["inspect", "-f", "{{.State.Pid}}", &id]).unwrap().parse().unwrap();

    // While dockerd runs, discovery finds its root from its command line.
    let all = oci("oci://").await;
    assert!(all.roots().iter().any(|r| r.path == dockerd.runtime_root()), "{:?}", all.roots());

    tokio::task::block_in_place(|| dockerd.stop());
    assert!(dockerd.docker(&["version"]).is_err(), "the private dockerd is down");

    let root = oci(&format!("oci://{}", dockerd.runtime_root().display())).await;
    let listed = bounded("list", root.list(&ListOptions::running())).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let detail = bounded("inspect", root.inspect(&id)).await.unwrap();
    assert_eq!((detail.state.status.clone(), detail.state.pid), (ContainerStatus::Running, Some(pid)));
    let kept = detail.mounts.iter().find(|m| m.destination == Path::new("/mnt/kept")).expect("the bind mount");
    assert_eq!((kept.source.as_path(), kept.read_only), (bind.as_path(), false));
    let r = bounded("exec", root.exec(&id, ExecRequest::new(["hostname"]))).await.unwrap();
    assert_eq!(r.stdout_lossy().trim(), &id[..12]);
    let _ = std::fs::remove_dir_all(bind);
    tokio::task::block_in_place(|| drop(dockerd));
}
