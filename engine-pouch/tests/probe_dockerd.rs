//! The pouch probe against the real dockerd of this machine: both speak the Docker API, and pouch
//! is probed first, so it must refuse dockerd cleanly (an error, no panic, no hang).

use std::time::Duration;

use anyctr_core::{EngineAddress, EngineConfig, ErrorKind, Registry};

/// The socket of a harness engine that accepts connections, else the "engines not up" failure.
fn answering(engine: &str, socket: String) -> String {
    if let Err(e) = std::os::unix::net::UnixStream::connect(&socket) {
        anyctr_testkit::engines_not_up(engine, &socket, e);
    }
    socket
}

fn docker_socket() -> String {
    answering("docker", anyctr_testkit::docker_socket())
}

#[tokio::test]
async fn probe_and_connect_refuse_real_dockerd() {
    let socket = docker_socket();
    let config = || EngineConfig::new(EngineAddress::new("pouch", &socket));
    let registration = Registry::global().unwrap().find("pouch").unwrap();
    let e = tokio::time::timeout(Duration::from_secs(30), (registration.probe)(config())).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    println!("dockerd probe refused: {e}");
    assert!(e.message().contains("Docker") && e.message().contains("not pouchd"), "{e}");
    let e = anyctr_engine_pouch::connect(config()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    // The refusal is about the daemon, not the transport: the engine did talk to dockerd.
    let dyn_err = (registration.connect)(config()).await.err().expect("connect refuses dockerd");
    assert!(dyn_err.message().contains("Docker"), "{dyn_err}");
}

#[tokio::test]
async fn a_missing_socket_is_engine_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::new(EngineAddress::new("pouch", dir.path().join("pouchd.sock")));
    let e = anyctr_engine_pouch::connect(config).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EngineUnavailable, "{e}");
}

#[tokio::test]
async fn probe_refuses_containerd_grpc_socket() {
    let socket = answering("containerd", anyctr_testkit::containerd_socket());
    let registration = Registry::global().unwrap().find("pouch").unwrap();
    let config = EngineConfig::new(EngineAddress::new("pouch", &socket));
    let probed = tokio::time::timeout(Duration::from_secs(40), (registration.probe)(config)).await;
    let e = probed.expect("the probe is bounded").expect_err("containerd is not pouchd");
    println!("containerd probe refused: {e}");
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
}
