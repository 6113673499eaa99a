//! Lifecycle, images, pods and registration on the real dockerd.

mod common;

use std::time::Duration;

use anyctr_core::model::{ContainerStatus, CreateSpec, PodRole, PodSpec, Signal};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind, Registry};
use common::*;
use futures_util::{StreamExt, TryStreamExt};

per_runtime!(create_start_stop_kill_wait_remove, pods_dockershim_style);

async fn create_start_stop_kill_wait_remove(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "lifecycle");
    let mut spec = guard.spec(runtime, &["sleep", "3600"]);
    spec.working_dir = Some("/etc".into());
    spec.user = Some("65534".into());
    spec.hostname = Some("lc-host".into());
    spec.network_mode = Some("none".into());
    spec.env = vec!["LC=1".into()];
    let id = bounded("create", engine.create(&spec)).await.unwrap();
    let d = bounded("inspect", engine.inspect(&id)).await.unwrap();
    assert_eq!(d.state.status, ContainerStatus::Created);
    assert_eq!(d.network_mode.as_deref(), Some("none"));
    bounded("start", engine.start(&id)).await.unwrap();
    assert_eq!(sh(&engine, &id, "pwd; id -u; hostname; echo $LC").await, "/etc\n65534\nlc-host\n1\n");

    // Duplicate name, missing image.
    let e = bounded("create", engine.create(&spec)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    let mut missing = guard.spec(runtime, &["true"]);
    missing.image = "anyctr-no-such-image:never".into();
    let e = bounded("create", engine.create(&missing)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Removing a running container needs force.
    let e = bounded("remove", engine.remove(&id, false)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    // kill with a signal the process handles; wait returns its exit code.
    let trap =
        guard.run_spec(&guard.spec(runtime, &["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 1; done"])).await;
    bounded("kill", engine.kill(&trap, Signal::USR1)).await.unwrap();
    assert_eq!(bounded("wait", engine.wait(&trap)).await.unwrap(), 42);
    let e = bounded("kill", engine.kill(&trap, Signal::KILL)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "kill of a stopped container: {e}");

    // stop: a process that exits on TERM is done at once, one that ignores it is killed after the grace.
    let polite =
        guard.run_spec(&guard.spec(runtime, &["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"])).await;
    bounded("stop", engine.stop(&polite, Duration::from_secs(30))).await.unwrap();
    assert_eq!(bounded("wait", engine.wait(&polite)).await.unwrap(), 0);
    let stubborn =
        guard.run_spec(&guard.spec(runtime, &["sh", "-c", "trap '' TERM; while true; do sleep 1; done"])).await;
    bounded("stop", engine.stop(&stubborn, Duration::from_secs(1))).await.unwrap();
    assert_eq!(bounded("wait", engine.wait(&stubborn)).await.unwrap(), 137);

    bounded("remove", engine.remove(&id, true)).await.unwrap();
    let e = bounded("inspect", engine.inspect(&id)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = bounded("remove", engine.remove(&id, true)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let e = bounded("start", engine.start(&unique("anyctr-nobody"))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

async fn pods_dockershim_style(runtime: &str) {
    let engine = engine().await;
    let guard = Guard::new(&engine, "pods");
    let pod =
        PodSpec::new(unique("web"), "anyctr-test", unique("uid")).runtime(runtime).label("anyctr.test", &guard.label);
    let sandbox = bounded("create_pod", engine.create_pod(&pod)).await.unwrap();
    let s = bounded("inspect", engine.inspect(&sandbox)).await.unwrap();
    assert_eq!(s.name, format!("k8s_POD_{}_{}_{}_0", pod.name, pod.namespace, pod.uid));
    assert_eq!(s.state.status, ContainerStatus::Running);
    assert_eq!(s.runtime_name, runtime);
    assert_eq!(s.pod.role, Some(PodRole::Sandbox));
    assert_eq!(s.pod.sandbox_id.as_deref(), Some(sandbox.as_str()));
    assert_eq!((s.pod.pod_name.as_deref(), s.pod.namespace.as_deref()), (Some(pod.name.as_str()), Some("anyctr-test")));
    assert_eq!(s.pod.pod_uid.as_deref(), Some(pod.uid.as_str()));
    assert_eq!(s.pod.container_name.as_deref(), Some("POD"));

    let mut member = CreateSpec::new(image());
    member.name = Some("app".into());
    member.argv = vec!["sleep".into(), "3600".into()];
    member.labels.insert("anyctr.test".into(), guard.label.clone());
    member.pod_sandbox = Some(sandbox[..12].to_owned());
    let app = guard.run_spec(&member).await;
    let a = bounded("inspect", engine.inspect(&app)).await.unwrap();
    assert_eq!(a.name, format!("k8s_app_{}_{}_{}_0", pod.name, pod.namespace, pod.uid));
    assert_eq!(a.runtime_name, runtime, "members inherit the sandbox's runtime");
    assert_eq!(a.pod.sandbox_id.as_deref(), Some(sandbox.as_str()));
    assert_eq!(a.pod.container_name.as_deref(), Some("app"));
    assert_eq!(a.pod.pod_uid, s.pod.pod_uid);
    assert_eq!(a.pod.role, None);
    assert_eq!(a.labels.get("io.kubernetes.docker.type").map(String::as_str), Some("container"));
    assert_eq!(a.network_mode, Some(format!("container:{sandbox}")));
    // Shared network (same interfaces) and IPC (/dev/shm).
    let addrs = "ip -4 addr | grep inet | sort";
    assert_eq!(sh(&engine, &app, addrs).await, sh(&engine, &sandbox, addrs).await);
    sh(&engine, &app, "echo shared > /dev/shm/anyctr").await;
    assert_eq!(sh(&engine, &sandbox, "cat /dev/shm/anyctr").await, "shared\n");

    // Bad inputs: a member without a name, a "sandbox" that is not one.
    let mut nameless = member.clone();
    nameless.name = None;
    let e = bounded("create", engine.create(&nameless)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let mut not_a_pod = member.clone();
    not_a_pod.name = Some("other".into());
    not_a_pod.pod_sandbox = Some(app.clone());
    let e = bounded("create", engine.create(&not_a_pod)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let mut bad_pod = pod.clone();
    bad_pod.name = "has_underscore".into();
    assert_eq!(
        bounded("create_pod", engine.create_pod(&bad_pod)).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    bounded("remove_pod", engine.remove_pod(&sandbox)).await.unwrap();
    for id in [&sandbox, &app] {
        assert_eq!(bounded("inspect", engine.inspect(id)).await.unwrap_err().kind(), ErrorKind::NotFound);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_list_and_load() {
    let engine = engine().await;
    let images = bounded("list_images", engine.list_images()).await.unwrap();
    assert!(images.iter().any(|i| i.tags.contains(&image())), "{images:?}");

    // A `docker save` of the test image, re-tagged with a unique name, loaded back.
    let docker = bollard::Docker::connect_with_unix(&socket(), 60, bollard::API_DEFAULT_VERSION).unwrap();
    let saved: Vec<bytes::Bytes> = bounded("export", docker.export_image(&image()).try_collect()).await.unwrap();
    let tag = format!("{}:load", unique("anyctr-load"));
    let retagged = retag(&saved.concat(), &tag);
    let stream = futures_util::stream::iter([Ok(bytes::Bytes::from(retagged))]).boxed();
    let refs = bounded("load_image", engine.load_image(stream)).await.unwrap();
    let listed = bounded("list_images", engine.list_images()).await.unwrap();
    let _ =
        bounded("rmi", docker.remove_image(&tag, None::<bollard::query_parameters::RemoveImageOptions>, None)).await;
    assert_eq!(refs, std::slice::from_ref(&tag));
    assert!(listed.iter().any(|i| i.tags.contains(&tag)));

    let garbage = futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"not a tarball"))]).boxed();
    let e = bounded("load_image", engine.load_image(garbage)).await.unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidArgument | ErrorKind::Unexpected), "{e}");
}

/// Rewrites `manifest.json`'s RepoTags (and drops `repositories`) of a `docker save` tarball.
fn retag(tarball: &[u8], tag: &str) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(tarball);
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if path == "repositories" {
            continue;
        }
        if path == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(&data).unwrap();
            m[0]["RepoTags"] = serde_json::json!([tag]);
            data = serde_json::to_vec(&m).unwrap();
        }
        let mut h = e.header().clone();
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.append_data(&mut h, &path, data.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_probe() {
    let registry = Registry::global().unwrap();
    let reg = registry.find("moby").expect("docker is registered under its alias");
    assert_eq!(reg.name, "docker");
    assert_eq!(reg.default_sockets, ["/var/run/docker.sock", "/run/docker.sock"]);
    assert_eq!(reg.env_vars.iter().map(|v| v.name).collect::<Vec<_>>(), ["DOCKER_HOST"]);
    assert_eq!(reg.priority, 10);
    let info = bounded("probe", (reg.probe)(config_for(&socket()))).await.unwrap();
    assert_eq!(info.engine, "docker");
    assert_eq!(info.api_version.as_deref(), Some("1.41"));
    let engine = bounded("connect", (reg.connect)(config_for(&socket()))).await.unwrap();
    let id = bounded("identify", engine.identify()).await.unwrap();
    assert!(id.runtimes.iter().any(|r| r == "rund"), "{id:?}");
    assert_eq!(engine.name(), "docker");

    // A pouchd-like daemon (its recorded /version) is refused, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("pouchd.sock");
    let body = r#"{"ApiVersion":"1.24","Arch":"amd64","BuildTime":"unknown","GitCommit":"unknown","GoVersion":"go1.19.8","KernelVersion":"6.18.44-fc-v669","Os":"linux","Version":"1.3.0"}"#;
    let server = serve_json(&fake, body);
    let e = bounded("probe", (reg.probe)(config_for(fake.to_str().unwrap()))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("not Docker"), "{e}");
    let e = bounded("connect", anyctr_engine_docker::connect(config_for(fake.to_str().unwrap()))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    server.abort();

    // No socket at all.
    let missing = dir.path().join("none.sock");
    let e = bounded("probe", (reg.probe)(EngineConfig::new(EngineAddress::new("docker", &missing)))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::EngineUnavailable, "{e}");
}

/// Answers every request on `path` with `body` as JSON.
fn serve_json(path: &std::path::Path, body: &'static str) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
            });
        }
    })
}
