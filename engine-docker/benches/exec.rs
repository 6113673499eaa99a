//! Exec of `echo hi` in a running runc container: anyctr (`DockerEngine::exec`) vs the same calls
//! made with bollard by hand (create, start + read the output, inspect for the exit code) vs the
//! `docker exec` CLI.
//!
//! Targets (reported, not asserted): anyctr within 1.10x of raw bollard, at most 0.7x of the CLI.

mod common;

use std::process::Command;
use std::time::Duration;

use anyctr_core::ContainerEngine;
use anyctr_core::model::ExecRequest;
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use common::{Guard, Timings, ratio_line};
use criterion::{Criterion, SamplingMode};
use futures_util::StreamExt;

const GROUP: &str = "docker_exec_echo";

/// A bollard client as a hand-written agent would make it, with the one fix every bollard 0.21.1
/// user against dockerd needs: the API version in the request path (bollard drops it, see
/// rust-dependencies.md §3), so both sides speak the same `/v1.41` API.
fn raw_bollard(api_version: &str) -> Docker {
    let prefix = format!("/v{api_version}");
    Docker::connect_with_unix(&common::socket(), 120, bollard::API_DEFAULT_VERSION)
        .expect("bollard client")
        .with_request_modifier(move |mut req| {
            let pq = req.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
            if !pq.starts_with("/v1.") {
                let mut parts = req.uri().clone().into_parts();
                parts.path_and_query = Some(format!("{prefix}{pq}").parse().expect("versioned path"));
                *req.uri_mut() = http::Uri::from_parts(parts).expect("versioned uri");
            }
            req
        })
}

/// create_exec, start_exec (attached; the output read to its end), then inspect_exec until docker
/// reports the exit code.
async fn raw_exec(docker: &Docker, id: &str) {
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

fn cli_exec(id: &str) {
    let out = Command::new("docker")
        .args(["-H", &format!("unix://{}", common::socket()), "exec", id, "echo", "hi"])
        .output()
        .expect("run the docker CLI");
    assert!(out.status.success(), "docker exec: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"hi\n");
}

fn main() {
    let rt = common::runtime();
    let engine = rt.block_on(common::engine());
    let guard = Guard::new(&engine, "exec");
    let id = rt.block_on(guard.sleeper("runc"));
    let docker = raw_bollard(engine.api_version());
    let timings = Timings::default();

    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    {
        let mut group = c.benchmark_group(GROUP);
        group.sampling_mode(SamplingMode::Flat);
        group.bench_function("anyctr", |b| {
            b.iter_custom(|iters| {
                timings.run(&rt, "anyctr", iters, || async {
                    let r = engine.exec(&id, ExecRequest::new(["echo", "hi"])).await.expect("anyctr exec");
                    assert_eq!((r.exit_code, r.stdout.as_slice()), (0, &b"hi\n"[..]));
                })
            })
        });
        group.bench_function("raw_bollard", |b| {
            b.iter_custom(|iters| timings.run(&rt, "raw_bollard", iters, || raw_exec(&docker, &id)))
        });
        group.bench_function("docker_cli", |b| {
            b.iter_custom(|iters| timings.run_blocking("docker_cli", iters, || cli_exec(&id)))
        });
        group.finish();
    }
    c.final_summary();

    ratio_line(&timings, "docker exec echo", "anyctr", "raw_bollard", 1.10);
    ratio_line(&timings, "docker exec echo", "anyctr", "docker_cli", 0.7);
    drop(guard);
}
