//! `Engine::logs` on the harness's dockerd: the json-file read from the host when it is visible,
//! dockerd's logs API when it is not (a host root where the log does not exist): same records.

mod common;

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{LogOptions, LogSource};
use common::{Cleanup, docker, spec, unique};
use futures_util::TryStreamExt;

#[tokio::test]
async fn file_when_visible_api_otherwise() {
    let engine = docker().await;
    let label = unique("logs-src");
    let _cleanup = Cleanup { engine: engine.clone(), label: label.clone() };
    let bound = Duration::from_secs(60);
    let s = spec(&label, &format!("{label}-c"), &["sh", "-c", "echo a; echo b >&2; echo c"]);
    let id = tokio::time::timeout(bound, engine.create(&s)).await.unwrap().unwrap();
    tokio::time::timeout(bound, engine.start(&id)).await.unwrap().unwrap();
    tokio::time::timeout(bound, engine.wait(&id)).await.unwrap().unwrap();

    // As an agent whose host root does not hold dockerd's data root would see it.
    let empty = tempfile::tempdir().unwrap();
    let read = |root: Option<std::path::PathBuf>| async {
        let s = match root {
            None => tokio::time::timeout(bound, engine.container_logs(&id, &LogOptions::new())).await,
            Some(root) => {
                let options = LogOptions::new();
                let call = anyctr::logs::container_logs(engine.dyn_engine().as_ref(), &id, &options, Some(&root));
                tokio::time::timeout(bound, call).await
            }
        };
        let s = s.unwrap().unwrap();
        let records: Vec<_> = tokio::time::timeout(bound, s.records.try_collect::<Vec<_>>()).await.unwrap().unwrap();
        let mut got: Vec<(String, String)> = records
            .iter()
            .map(|r| (format!("{:?}", r.stream), String::from_utf8_lossy(&r.bytes).into_owned()))
            .collect();
        got.sort();
        (s.source, got)
    };
    let (source, from_file) = read(None).await;
    assert_eq!(source, LogSource::JsonFile);
    assert_eq!(from_file.len(), 3, "{from_file:?}");
    let (source, from_api) = read(Some(empty.path().to_owned())).await;
    assert_eq!(source, LogSource::EngineApi);
    assert_eq!(from_api, from_file);
}
