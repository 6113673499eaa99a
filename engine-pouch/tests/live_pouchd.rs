//! The pouch engine against a live pouchd. Ignored by default: no pouchd runs on the project's
//! machines (it is not packaged), so a normal test run reports this test as ignored — never as a
//! pass of pouch behaviour. Run it where a pouchd is reachable with
//! `POUCH_SOCKET=/var/run/pouchd.sock cargo test -p anyctr-engine-pouch --test live_pouchd -- --ignored`;
//! run explicitly without a pouchd, it prints "pouchd not reachable" and fails.

use std::collections::BTreeMap;
use std::time::Duration;

use anyctr_core::model::{ContainerStatus, CreateSpec, EventKind, EventOptions, ExecRequest, RootfsView, Signal};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind, ListOptions};
use anyctr_engine_pouch::PouchEngine;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

const T: Duration = Duration::from_secs(60);

fn socket() -> String {
    let s = std::env::var("POUCH_SOCKET").unwrap_or_else(|_| "/var/run/pouchd.sock".into());
    s.strip_prefix("unix://").unwrap_or(&s).to_owned()
}

async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(T, f).await.unwrap_or_else(|_| panic!("{what} did not finish within {T:?}"))
}

fn tar_of(name: &str, data: &[u8]) -> anyctr_core::ByteStream {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o640);
    b.append_data(&mut h, name, data).unwrap();
    let bytes = Bytes::from(b.into_inner().unwrap());
    futures_util::stream::iter([Ok(bytes)]).boxed()
}

/// The name and text of a tar's only entry.
fn single_entry(tar: &[u8]) -> (String, String) {
    let mut archive = tar::Archive::new(tar);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let name = entry.path().unwrap().display().to_string();
    let mut content = String::new();
    std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
    (name, content)
}

#[tokio::test]
#[ignore = "needs a live pouchd (POUCH_SOCKET or /var/run/pouchd.sock); pouchd is not packaged here"]
async fn live_pouchd() {
    let socket = socket();
    if let Err(e) = std::os::unix::net::UnixStream::connect(&socket) {
        println!("pouchd not reachable at {socket}: {e}");
        panic!("pouchd not reachable at {socket}: {e} (this test checks a live pouchd; it cannot pass without one)");
    }
    let engine =
        bounded("connect", anyctr_engine_pouch::connect(EngineConfig::new(EngineAddress::new("pouch", &socket))))
            .await
            .expect("connect: the daemon must be pouchd");
    let unique = format!("anyctr-pouch-live-{}-{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    let image = anyctr_testkit::image();
    let mut spec = CreateSpec::new(image);
    spec.name = Some(unique.clone());
    spec.argv = vec!["sleep".into(), "3600".into()];
    spec.env = vec!["APP=live".into()];
    spec.labels = BTreeMap::from([("anyctr.test".to_owned(), unique.clone())]);
    let id = bounded("create", engine.create(&spec)).await.expect("create");

    // The body runs as its own task so the container is removed even when an assertion fails.
    let body = tokio::spawn(exercise(engine.clone(), id.clone(), unique.clone()));
    let outcome = body.await;
    let removed = bounded("remove", engine.remove(&id, true)).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
    removed.expect("remove");
    let gone = engine.inspect(&id).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
}

async fn exercise(engine: PouchEngine, id: String, unique: String) {
    let since = chrono::Utc::now() - chrono::Duration::seconds(2);
    let mut events = bounded("events", engine.events(EventOptions::new().since(since))).await.unwrap();
    bounded("start", engine.start(&id)).await.unwrap();
    bounded("start again", engine.start(&id)).await.expect("starting a running container is not an error");

    let listed =
        bounded("list", engine.list(&ListOptions::all().label(&format!("anyctr.test={unique}")))).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].status, ContainerStatus::Running);
    let d = bounded("inspect", engine.inspect(&unique)).await.unwrap();
    assert_eq!(d.id, id);
    assert_eq!(bounded("inspect prefix", engine.inspect(&id[..12])).await.unwrap().id, id);
    assert_eq!(d.env_var("APP"), Some("live"));
    assert!(d.env_var("PATH").is_some(), "a default PATH is set at create");
    if !d.runtime.is_sandboxed() {
        assert!(matches!(d.rootfs, RootfsView::Merged(_)), "{:?}", d.rootfs);
        assert!(d.state.pid.is_some());
    }

    let r = bounded("exec", engine.exec(&id, ExecRequest::shell("echo out; echo err >&2; exit 7"))).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str(), r.stderr_lossy().as_str()), (7, "out\n", "err\n"));
    let input = "hello stdin\n".repeat(100);
    let r =
        bounded("exec stdin", engine.exec(&id, ExecRequest::shell("wc -c").stdin(input.into_bytes()))).await.unwrap();
    assert_eq!(r.stdout_lossy().trim(), "1200");
    let r = bounded("exec workdir", engine.exec(&id, ExecRequest::new(["pwd"]).working_dir("/tmp").env("X=1"))).await;
    assert_eq!(r.unwrap().stdout_lossy(), "/tmp\n");
    let e = bounded("exec missing", engine.exec(&id, ExecRequest::new(["/no/such/binary"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    let e = bounded("exec missing wd", engine.exec(&id, ExecRequest::new(["/no/such"]).working_dir("/tmp"))).await;
    assert_eq!(e.unwrap_err().kind(), ErrorKind::CommandNotFound);
    // A background child keeps stdout open; the exec still returns when its process exits.
    let r = bounded("exec bg", engine.exec(&id, ExecRequest::shell("sleep 40 & echo started"))).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "started\n"));
    // A timeout kills the process (pouch has no exec kill: see the exec module).
    let e = bounded(
        "exec timeout",
        engine.exec(&id, ExecRequest::shell("exec sleep 3001").timeout(Duration::from_secs(2))),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let ps = "for d in /proc/[0-9]*; do tr '\\0' ' ' < $d/cmdline 2>/dev/null; echo; done";
    let left = bounded("ps", engine.exec(&id, ExecRequest::shell(ps))).await.unwrap().stdout_lossy();
    assert!(!left.contains("sleep 3001"), "the timed-out exec was killed: {left}");

    bounded("copy_to", engine.put_archive(&id, "/tmp/a/b", tar_of("f.txt", b"copied in\n")))
        .await
        .expect("copy_to creates /tmp/a/b");
    let stream = bounded("copy_from", engine.get_archive(&id, "/tmp/a/b/f.txt")).await.unwrap();
    let tar: Vec<Bytes> = bounded("read tar", stream.try_collect()).await.unwrap();
    assert_eq!(single_entry(&tar.concat()), ("f.txt".to_owned(), "copied in\n".to_owned()));
    let missing = bounded("copy_from missing", engine.get_archive(&id, "/no/such/file")).await.err().unwrap();
    assert_eq!(missing.kind(), ErrorKind::NotFound);

    let started = async {
        while let Some(ev) = events.next().await {
            let ev = ev.unwrap();
            if ev.container_id == id && ev.kind == EventKind::Start {
                return;
            }
        }
        panic!("event stream ended without the start event");
    };
    bounded("start event", started).await;

    bounded("stop", engine.stop(&id, Duration::from_secs(1))).await.unwrap();
    let d = bounded("inspect stopped", engine.inspect(&id)).await.unwrap();
    assert_eq!(d.state.status, ContainerStatus::Exited);
    let e = bounded("exec stopped", engine.exec(&id, ExecRequest::new(["true"]))).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");

    bounded("restart", engine.start(&id)).await.unwrap();
    bounded("kill", engine.kill(&id, Signal::KILL)).await.unwrap();
    let code = bounded("wait", engine.wait(&id)).await.unwrap();
    assert_eq!(code, 137);
}
