//! An in-process engine for strategy-selection tests only: it records what the copy code asked
//! of it. It is no evidence that any real engine works.
#![allow(dead_code)]

use std::sync::Mutex;

use anyctr_core::__private::async_trait;
use anyctr_core::model::{ContainerDetail, ContainerSummary, ExecRequest, ExecSession};
use anyctr_core::{ByteStream, Capabilities, ContainerEngine, EngineInfo, Error, ErrorKind, ListOptions, Result};
use futures_util::StreamExt;

pub struct FakeEngine {
    pub caps: Capabilities,
    pub calls: Mutex<Vec<String>>,
    /// What `copy_from` returns.
    pub archive: Vec<u8>,
}

impl FakeEngine {
    pub fn new(caps: Capabilities) -> Self {
        FakeEngine { caps, calls: Mutex::new(Vec::new()), archive: Vec::new() }
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait]
impl ContainerEngine for FakeEngine {
    fn name(&self) -> &str {
        "fake"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    async fn identify(&self) -> Result<EngineInfo> {
        Ok(EngineInfo::new("fake", "fake", "0"))
    }

    async fn list(&self, _options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        Ok(Vec::new())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerDetail> {
        Err(Error::not_found(format!("no container {container}")))
    }

    async fn exec_stream(&self, _container: &str, request: ExecRequest, _open_stdin: bool) -> Result<ExecSession> {
        self.record(format!("exec_stream {}", request.argv.join(" ")));
        Err(Error::new(ErrorKind::Unexpected, "the fake engine runs nothing"))
    }

    async fn put_archive(&self, _container: &str, destination: &str, mut tar: ByteStream) -> Result<()> {
        let mut bytes = Vec::new();
        while let Some(chunk) = tar.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        let mut names = Vec::new();
        for entry in tar::Archive::new(bytes.as_slice()).entries().unwrap() {
            names.push(entry.unwrap().path().unwrap().display().to_string());
        }
        self.record(format!("copy_to {destination} [{}]", names.join(",")));
        Ok(())
    }

    async fn get_archive(&self, _container: &str, path: &str) -> Result<ByteStream> {
        self.record(format!("copy_from {path}"));
        let chunks: Vec<Result<bytes::Bytes>> =
            self.archive.chunks(100).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        Ok(futures_util::stream::iter(chunks).boxed())
    }
}
