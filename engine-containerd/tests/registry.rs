//! The registration: names, probe on the real containerd, and a probe that refuses Docker.

mod common;

use std::time::Duration;

use anyctr_core::{EngineAddress, EngineConfig, Registry};
use anyctr_engine_containerd as _;

fn config(socket: &str) -> EngineConfig {
    let mut c = EngineConfig::new(EngineAddress::parse(&format!("unix://{socket}")).unwrap());
    c.call_timeout = Duration::from_secs(10);
    c
}

#[tokio::test]
async fn registered_and_probed() {
    let reg = Registry::global().unwrap().find("containerd").expect("containerd is registered");
    assert_eq!(reg.name, "containerd");
    assert!(reg.answers_to("ctr") && reg.answers_to("CONTAINERD"));
    assert_eq!(reg.priority, 20);
    assert!(reg.default_sockets.contains(&"/run/k3s/containerd/containerd.sock"));
    let vars: Vec<&str> = reg.env_vars.iter().map(|v| v.name).collect();
    assert_eq!(
        vars,
        ["CONTAINER_RUNTIME_ENDPOINT", "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "ANYCTR_CONTAINERD_STATE_DIR"]
    );

    let socket = common::socket();
    let info = anyctr_testkit::connect("containerd", &socket, (reg.probe)(config(&socket))).await;
    assert_eq!((info.engine.as_str(), info.product.as_str()), ("containerd", "containerd"));
    assert!(info.version.starts_with("1."), "{info:?}");

    let engine = (reg.connect)(config(&common::socket())).await.unwrap();
    let id = engine.identify().await.unwrap();
    assert!(id.runtimes.iter().any(|r| r == "rund"), "CRI runtime handlers: {:?}", id.runtimes);

    // Docker speaks HTTP/1: the gRPC probe must fail, and not hang.
    let docker = tokio::time::timeout(Duration::from_secs(60), (reg.probe)(config(&common::docker_socket()))).await;
    assert!(docker.expect("the probe is bounded").is_err());
    // nobody there
    let e = (reg.probe)(config("/run/anyctr-no-such.sock")).await.unwrap_err();
    assert_eq!(e.kind(), anyctr_core::ErrorKind::EngineUnavailable, "{e}");
}
