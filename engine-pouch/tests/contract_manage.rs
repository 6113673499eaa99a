//! Contract tests of pause, unpause, restart and resource updates against pouchd 1.3.0 as
//! recorded live around the container `pobs` (`tests/fixtures/pouch-1.3.0`): the calls made, the
//! paused state and the updated limit read back. Two inspects of `pobs` are recorded (paused, and
//! after the update) on one path, so each test leaves out the one it is not about.

mod support;

use std::time::Duration;

use anyctr_core::model::{ContainerStatus, ResourceUpdate};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind, Support};
use anyctr_engine_pouch::PouchEngine;
use support::FixtureServer;

const T: Duration = Duration::from_secs(20);

async fn setup(server: &FixtureServer) -> PouchEngine {
    let config = EngineConfig::new(EngineAddress::new("pouch", &server.socket));
    tokio::time::timeout(T, anyctr_engine_pouch::connect(config)).await.unwrap().unwrap()
}

/// The non-GET calls, as `METHOD path?query`.
fn changes(server: &FixtureServer) -> Vec<String> {
    server
        .received()
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| {
            let q: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}?{}", r.method, r.path, q.join("&"))
        })
        .collect()
}

#[tokio::test]
async fn claims_pause_restart_update_but_not_pull() {
    let server = FixtureServer::start().await;
    let caps = setup(&server).await.capabilities();
    assert_eq!((caps.pause, caps.restart, caps.update_resources), (Support::Native, Support::Native, Support::Native));
    assert_eq!(caps.pull, Support::Unsupported);
}

#[tokio::test]
async fn pause_reports_paused_and_unpause_resumes() {
    let server = FixtureServer::start_without(&["container-inspect-after-update"]).await;
    let engine = setup(&server).await;
    tokio::time::timeout(T, engine.pause("pobs")).await.unwrap().unwrap();
    let paused = engine.inspect("pobs").await.unwrap();
    assert_eq!(paused.state.status, ContainerStatus::Paused);
    assert!(paused.state.status.is_running(), "a paused container still has its processes");
    assert_eq!(paused.state.pid, Some(26591));
    tokio::time::timeout(T, engine.unpause("pobs")).await.unwrap().unwrap();
    assert_eq!(changes(&server), ["POST /v1.24/containers/pobs/pause?", "POST /v1.24/containers/pobs/unpause?"]);
    assert!(server.unmatched().is_empty(), "{:?}", server.unmatched());
}

#[tokio::test]
async fn restart_sends_whole_seconds_of_grace() {
    let server = FixtureServer::start_without(&["container-inspect-after-update"]).await;
    let engine = setup(&server).await;
    tokio::time::timeout(T, engine.restart("pobs", Duration::from_millis(300))).await.unwrap().unwrap();
    assert_eq!(changes(&server), ["POST /v1.24/containers/pobs/restart?t=1"]);
    assert!(server.unmatched().is_empty(), "{:?}", server.unmatched());
}

#[tokio::test]
async fn memory_update_is_what_inspect_reports_after() {
    let server = FixtureServer::start_without(&["container-inspect-paused"]).await;
    let engine = setup(&server).await;
    let update = ResourceUpdate::new().memory_limit(128 << 20);
    tokio::time::timeout(T, engine.update_resources("pobs", &update)).await.unwrap().unwrap();
    let sent = server.received().into_iter().find(|r| r.method == "POST").expect("an update was sent");
    assert_eq!(sent.path, "/v1.24/containers/pobs/update");
    assert_eq!(sent.body, br#"{"Memory":134217728}"#);
    let after = engine.inspect("pobs").await.unwrap();
    assert_eq!(after.state.status, ContainerStatus::Running);
    assert_eq!(after.raw["HostConfig"]["Memory"], 134_217_728);
    assert!(server.unmatched().is_empty(), "{:?}", server.unmatched());
}

#[tokio::test]
async fn bad_updates_and_pulls_are_refused_without_a_call() {
    let server = FixtureServer::start_without(&["container-inspect-paused"]).await;
    let engine = setup(&server).await;
    let e = engine.update_resources("pobs", &ResourceUpdate::new()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = engine.update_resources("pobs", &ResourceUpdate::new().memory_limit(1 << 20)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let e = engine.pull_image("busybox:local", T).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = engine.remove_image("busybox:local", false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(changes(&server).is_empty(), "{:?}", changes(&server));
}
