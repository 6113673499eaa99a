//! Contract tests of kill, stop and forced remove against pouchd 1.3.0 as recorded live
//! (`tests/fixtures/pouch-1.3.0`): no kill route (405), `stop?t=0` waiting the default 10 s, a
//! container stopped through the API reported `stopped` (137), list `Created` in nanoseconds.
//! The replayed daemon is on another machine, so the pid it reports for `pk` is no process of
//! this one: what these tests show is the calls made and that a stale pid is never signalled.
//! The signal itself is tested on real containers in `host_signal_docker.rs`.

mod support;

use std::time::Duration;

use anyctr_core::model::{ContainerStatus, Signal};
use anyctr_core::{Capabilities, ContainerEngine, EngineAddress, EngineConfig, ErrorKind, ListOptions, Support};
use anyctr_engine_pouch::PouchEngine;
use support::FixtureServer;

const T: Duration = Duration::from_secs(20);
const PK_ID: &str = "0755a5c34dc52af049d44b90d7acb00d051b2238b02b441ea6e2946951754aca";

async fn setup(server: &FixtureServer) -> PouchEngine {
    let config = EngineConfig::new(EngineAddress::new("pouch", &server.socket));
    tokio::time::timeout(T, anyctr_engine_pouch::connect(config)).await.unwrap().unwrap()
}

/// The calls after connecting, as `METHOD path?query`.
fn calls(server: &FixtureServer) -> Vec<String> {
    server
        .received()
        .iter()
        .filter(|r| !r.path.ends_with("/version") && !r.path.ends_with("/info"))
        .map(|r| {
            let q: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}?{}", r.method, r.path, q.join("&"))
        })
        .collect()
}

#[tokio::test]
async fn lifecycle_is_declared_emulated() {
    let server = FixtureServer::start().await;
    let engine = setup(&server).await;
    let caps: Capabilities = engine.capabilities();
    assert_eq!(caps.lifecycle, Support::Emulated);
}

#[tokio::test]
async fn list_created_is_read_in_nanoseconds() {
    let server = FixtureServer::start_without(&["containers-list-running"]).await;
    let engine = setup(&server).await;
    let running = tokio::time::timeout(T, engine.list(&ListOptions::running())).await.unwrap().unwrap();
    let pkill = running.iter().find(|c| c.names == ["pkill"]).expect("pkill listed");
    let created = pkill.created.expect("created");
    assert_eq!(created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), "2026-11-30T12:26:09.559062209Z");
}

#[tokio::test]
async fn kill_without_a_kill_route_never_signals_a_stale_pid() {
    let server = FixtureServer::start().await;
    let engine = setup(&server).await;
    let e = tokio::time::timeout(T, engine.kill("pk", Signal::KILL)).await.unwrap().unwrap_err();
    // The recorded pid is no container of this machine: refused (or gone), nothing signalled.
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert_eq!((e.engine(), e.operation()), (Some("pouch"), Some("kill")), "{e}");
    let calls = calls(&server);
    assert!(calls.contains(&"POST /v1.24/containers/pk/kill?signal=KILL".to_owned()), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("/stop")), "no stop?t=0 fallback (it waits 10 s): {calls:?}");
    assert!(server.unmatched().is_empty(), "{:?}", server.unmatched());
    // A bad signal is refused before any call: it cannot be made into a `Signal`.
    assert_eq!("NOSUCHSIGNAL".parse::<Signal>().unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn kill_stop_and_remove_of_a_container_stopped_through_the_api() {
    let server = FixtureServer::start().await;
    let engine = setup(&server).await;
    let d = engine.inspect("pkill").await.unwrap();
    assert_eq!((d.state.status.clone(), d.state.exit_code), (ContainerStatus::Exited, Some(137)));
    // Stopped already: stop has nothing to do, kill is a conflict; neither calls pouchd.
    tokio::time::timeout(T, engine.stop("pkill", Duration::ZERO)).await.unwrap().unwrap();
    let e = engine.kill("pkill", Signal::TERM).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let calls = calls(&server);
    assert!(calls.iter().all(|c| c.starts_with("GET ")), "{calls:?}");
}

#[tokio::test]
async fn stop_without_grace_kills_instead_of_waiting_pouchds_default() {
    let server = FixtureServer::start().await;
    let engine = setup(&server).await;
    let e = tokio::time::timeout(T, engine.stop("pk", Duration::ZERO)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "the recorded pid is not signalled: {e}");
    let calls = calls(&server);
    assert!(calls.contains(&"POST /v1.24/containers/pk/kill?signal=KILL".to_owned()), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("/stop")), "stop?t=0 waits 10 s on pouchd 1.3.0: {calls:?}");
}

#[tokio::test]
async fn forced_remove_kills_first_and_never_a_stale_pid() {
    let server = FixtureServer::start().await;
    let engine = setup(&server).await;
    let e = tokio::time::timeout(T, engine.remove("pk", true)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let calls = calls(&server);
    assert!(calls.contains(&"POST /v1.24/containers/pk/kill?signal=KILL".to_owned()), "{calls:?}");
    // Not removed while its process may still run.
    assert!(!calls.iter().any(|c| c.starts_with("DELETE")), "{calls:?}");
    let _ = PK_ID;
}
