//! The raw bollard sequence the docker benchmarks compare anyctr's exec with: what a hand-written
//! agent does with bollard 0.21.1 against dockerd.

use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;

/// A bollard client on `socket` with the one fix every bollard 0.21.1 user against dockerd needs:
/// the API version in the request path (bollard drops it, see rust-dependencies.md §3), so both
/// sides speak the same API.
pub fn client(socket: &str, api_version: &str) -> Docker {
    let prefix = format!("/v{api_version}");
    Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION).expect("bollard client").with_request_modifier(
        move |mut req| {
            let pq = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
            if !pq.starts_with("/v1.") {
                let mut parts = req.uri().clone().into_parts();
                parts.path_and_query = Some(format!("{prefix}{pq}").parse().expect("versioned path"));
                *req.uri_mut() = http::Uri::from_parts(parts).expect("versioned uri");
            }
            req
        },
    )
}

/// `echo hi` in container `id`: create_exec, start_exec (attached; the output read to its end),
/// then inspect_exec every millisecond until docker reports the exit code.
pub async fn exec_echo(docker: &Docker, id: &str) {
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(vec!["echo".to_owned(), "hi".to_owned()]),
        ..Default::default()
    };
    let created = docker.create_exec(id, options).await.expect("create_exec");
    let mut stdout = Vec::new();
    match docker.start_exec(&created.id, None).await.expect("start_exec") {
        StartExecResults::Attached { mut output, .. } => {
            while let Some(chunk) = output.next().await {
                stdout.extend_from_slice(&chunk.expect("exec output").into_bytes());
            }
        }
        StartExecResults::Detached => panic!("exec started detached"),
    }
    loop {
        let info = docker.inspect_exec(&created.id).await.expect("inspect_exec");
        if info.running != Some(true)
            && let Some(code) = info.exit_code
        {
            assert_eq!(code, 0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(stdout, b"hi\n");
}
