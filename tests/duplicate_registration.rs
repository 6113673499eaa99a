//! A second registration under an existing name makes the registry refuse to build, so no engine
//! silently shadows another. (Its own test binary: the duplicate poisons the global registry.)

use anyctr::{DynEngine, EngineConfig, EngineInfo, EngineRegistration, Error, ErrorKind, Result};
use futures_util::future::BoxFuture;

fn probe(_: EngineConfig) -> BoxFuture<'static, Result<EngineInfo>> {
    Box::pin(async { Err(Error::unexpected("the impostor never answers")) })
}
fn connect(_: EngineConfig) -> BoxFuture<'static, Result<DynEngine>> {
    Box::pin(async { Err(Error::unexpected("the impostor never connects")) })
}

anyctr::register_engine!(EngineRegistration {
    name: "impostor",
    aliases: &["docker"],
    default_sockets: &["/run/impostor.sock"],
    env_vars: &[],
    priority: 0,
    probe,
    connect,
});

#[tokio::test]
async fn duplicate_name_is_rejected_everywhere() {
    let e = anyctr::registry().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.message().contains("`docker`"), "{e}");
    let e = anyctr::connect("docker:///run/whatever.sock").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
}
