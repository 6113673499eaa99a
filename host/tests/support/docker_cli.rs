//! A minimal engine over the docker CLI (`docker exec -i`), so the copy strategies can run
//! against real containers without depending on an engine crate. Exec only: it has no archive
//! API, no events, no lifecycle.
#![allow(dead_code)]

use std::process::Stdio;

use anyctr_core::__private::async_trait;
use anyctr_core::model::{
    ContainerDetail, ContainerSummary, ExecControl, ExecRequest, ExecSession, OutputChunk, OutputStream,
};
use anyctr_core::{Capabilities, ContainerEngine, EngineInfo, Error, ListOptions, Result, Support};
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};

pub struct DockerCli {
    pub socket: String,
}

#[async_trait]
impl ContainerEngine for DockerCli {
    fn name(&self) -> &str {
        "docker-cli"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            inspect: Support::Native,
            exec: Support::Native,
            exec_stream: Support::Native,
            exec_with_stdin: Support::Native,
            host_rootfs: Support::Native,
            proc_root: Support::Native,
            ..Default::default()
        }
    }

    async fn identify(&self) -> Result<EngineInfo> {
        Err(Error::unexpected("not needed by the copy tests"))
    }

    async fn list(&self, _options: &ListOptions) -> Result<Vec<ContainerSummary>> {
        Err(Error::unexpected("not needed by the copy tests"))
    }

    async fn inspect(&self, _container: &str) -> Result<ContainerDetail> {
        Err(Error::unexpected("not needed by the copy tests"))
    }

    async fn exec_stream(&self, container: &str, request: ExecRequest, open_stdin: bool) -> Result<ExecSession> {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["-H", &format!("unix://{}", self.socket), "exec"]);
        if open_stdin {
            cmd.arg("-i");
        }
        cmd.arg(container).args(&request.argv);
        cmd.stdin(if open_stdin { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().map(|s| Box::pin(s) as anyctr_core::model::ExecStdin);
        let out = anyctr_core::buffered_exec::output_chunks(child.stdout.take().unwrap(), OutputStream::Stdout);
        let err = anyctr_core::buffered_exec::output_chunks(child.stderr.take().unwrap(), OutputStream::Stderr);
        Ok(ExecSession::new(stdin, stream::select(out, err).boxed(), Box::new(CliControl(child))))
    }
}

struct CliControl(tokio::process::Child);

impl ExecControl for CliControl {
    fn wait(&mut self) -> BoxFuture<'_, Result<i64>> {
        Box::pin(async move { Ok(self.0.wait().await?.code().map_or(-1, i64::from)) })
    }

    fn kill(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { Ok(self.0.kill().await?) })
    }

    fn abandon(&mut self) {
        let _ = self.0.start_kill();
    }
}
