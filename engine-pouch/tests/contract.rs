//! Contract tests: the real engine code against the recorded bytes of a real pouchd 1.3.0
//! (`tests/fixtures/pouch-1.3.0`), replayed by `support::FixtureServer`. These check parsing,
//! stream demultiplexing, stdin half-close and error mapping; they are no evidence of behaviour
//! the recordings do not show (the live test covers that when a pouchd is reachable).

mod support;

use std::path::Path;
use std::time::Duration;

use anyctr_core::model::{
    ContainerStatus, EventKind, EventOptions, ExecRequest, LogFormat, MountKind, OutputStream, RootfsView, RuntimeClass,
};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ErrorKind, ListOptions, Registry};
use anyctr_engine_pouch::PouchEngine;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use support::{FixtureServer, fixture};

const T: Duration = Duration::from_secs(20);
const PK_ID: &str = "0755a5c34dc52af049d44b90d7acb00d051b2238b02b441ea6e2946951754aca";

async fn setup() -> (FixtureServer, PouchEngine) {
    let server = FixtureServer::start().await;
    let config = EngineConfig::new(EngineAddress::new("pouch", &server.socket));
    let engine = tokio::time::timeout(T, anyctr_engine_pouch::connect(config)).await.unwrap().unwrap();
    (server, engine)
}

fn assert_all_matched(server: &FixtureServer) {
    assert!(server.unmatched().is_empty(), "requests without a recorded exchange: {:?}", server.unmatched());
}

#[tokio::test]
async fn fixtures_are_present() {
    let names: Vec<String> = support::load_fixtures().into_iter().map(|e| e.name).collect();
    let expected = [
        "archive-get-dir",
        "archive-get-file",
        "archive-get-missing",
        "archive-head-file",
        "archive-put",
        "archive-put-missing-dir",
        "container-inspect-exited",
        "container-inspect-missing",
        "container-inspect-running",
        "containers-list-all",
        "containers-list-running",
        "events-since-until",
        "exec-create",
        "exec-create-missing-binary",
        "exec-create-stdin",
        "exec-inspect",
        "exec-inspect-missing-binary",
        "exec-inspect-stdin",
        "exec-on-exited",
        "exec-start-hijack",
        "exec-start-missing-binary",
        "exec-start-stdin",
        "info",
        "ping",
        "version",
    ];
    for want in expected {
        assert!(names.iter().any(|n| n == want), "fixture {want} missing from {names:?}");
    }
}

#[tokio::test]
async fn identify_and_registration() {
    let (server, engine) = setup().await;
    let info = engine.identify().await.unwrap();
    assert_eq!((info.engine.as_str(), info.product.as_str(), info.version.as_str()), ("pouch", "pouchd", "1.3.0"));
    assert_eq!(info.api_version.as_deref(), Some("1.24"));
    assert_eq!(info.runtimes, ["runc"]);
    let paths: Vec<String> = server.received().iter().map(|r| r.path.clone()).collect();
    assert!(paths.iter().all(|p| p.starts_with("/v1.24/")), "{paths:?}");

    let registry = Registry::global().unwrap();
    let reg = registry.find("pouchd").expect("alias pouchd");
    assert_eq!((reg.name, reg.priority), ("pouch", 5));
    assert_eq!(reg.default_sockets, ["/var/run/pouchd.sock"]);
    assert_eq!(reg.env_vars.iter().map(|v| v.name).collect::<Vec<_>>(), ["POUCH_SOCKET"]);
    let probed = (reg.probe)(EngineConfig::new(EngineAddress::new("pouch", &server.socket))).await.unwrap();
    assert_eq!(probed.version, "1.3.0");
    let connected = (reg.connect)(EngineConfig::new(EngineAddress::new("pouch", &server.socket))).await.unwrap();
    assert_eq!(connected.name(), "pouch");
    assert_all_matched(&server);
}

#[tokio::test]
async fn list_tolerates_stopped_style_answers() {
    let (server, engine) = setup().await;
    let all = engine.list(&ListOptions::all()).await.unwrap();
    assert_eq!(all.len(), 2);
    let pexit = all.iter().find(|c| c.names == ["pexit"]).unwrap();
    assert_eq!(pexit.status, ContainerStatus::Exited);
    let pk = all.iter().find(|c| c.id == PK_ID).unwrap();
    assert_eq!(pk.names, ["pk"]);
    assert_eq!(pk.status, ContainerStatus::Running);
    assert_eq!(pk.runtime, Some(RuntimeClass::Runc));
    assert_eq!(pk.image, "docker.io/library/busybox:local");
    assert_eq!(pk.created.map(|t| t.timestamp()), Some(1795411213));
    let running = engine.list(&ListOptions::running()).await.unwrap();
    assert_eq!(running.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [PK_ID]);
    let labelled = engine.list(&ListOptions::all().label("io.kubernetes.pod.name=web-0")).await.unwrap();
    assert_eq!(labelled.len(), 1);
    assert_all_matched(&server);
}

#[tokio::test]
async fn inspect_running_is_normalized() {
    let (server, engine) = setup().await;
    let d = engine.inspect("pk").await.unwrap();
    assert_eq!((d.id.as_str(), d.name.as_str()), (PK_ID, "pk"));
    assert_eq!(d.image, "docker.io/library/busybox:local");
    assert_eq!(d.state.status, ContainerStatus::Running);
    assert_eq!(d.state.pid, Some(12841));
    assert_eq!(d.proc_root_pid(), Some(12841));
    assert_eq!(d.state.exit_code, None);
    assert!(d.state.started_at.is_some() && d.state.finished_at.is_none());
    assert_eq!((d.runtime.clone(), d.runtime_name.as_str()), (RuntimeClass::Runc, "runc"));
    let merged = format!("/var/lib/pouch/containerd/state/io.containerd.runtime.v1.linux/default/{PK_ID}/rootfs");
    assert_eq!(d.rootfs, RootfsView::Merged(merged.into()));
    assert_eq!(d.log_path.as_deref(), Some(Path::new(&format!("/var/lib/pouch/containers/{PK_ID}/json.log"))));
    assert_eq!(d.log_format, Some(LogFormat::JsonFile));
    assert_eq!(d.env_var("APP"), Some("demo"));
    assert_eq!(d.hostname.as_deref(), Some("0755a5c34dc5"));
    assert_eq!(d.network_mode.as_deref(), Some("none"));
    assert_eq!(d.mounts.len(), 2);
    let data = d.mounts.iter().find(|m| m.destination == Path::new("/data")).unwrap();
    assert_eq!(
        (data.source.as_path(), &data.kind, data.read_only),
        (Path::new("/srv/web-data"), &MountKind::Bind, false)
    );
    let logs = d.mounts.iter().find(|m| m.destination == Path::new("/var/log/app")).unwrap();
    assert_eq!(
        (logs.source.as_path(), &logs.kind, logs.read_only),
        (Path::new("/srv/web-data/logs"), &MountKind::Bind, true)
    );
    assert_eq!(d.pod.pod_name.as_deref(), Some("web-0"));
    assert_eq!(d.pod.namespace.as_deref(), Some("default"));
    assert_eq!(d.pod.pod_uid.as_deref(), Some("6f1c2f4e-1111-4c3b-9d7e-000000000001"));
    assert_eq!(d.pod.container_name.as_deref(), Some("web"));
    assert_eq!(d.pod.sandbox_id.as_deref(), Some("feedface00"));
    assert!(!d.is_sandbox());
    assert_eq!(d.raw["Snapshotter"]["Name"], "overlayfs");
    assert_eq!(d.raw["HostConfig"]["RuntimeType"], "io.containerd.runtime.v1.linux");
    assert_all_matched(&server);
}

#[tokio::test]
async fn inspect_exited_and_lookup_by_prefix() {
    let (server, engine) = setup().await;
    let d = engine.inspect("pexit").await.unwrap();
    assert_eq!(d.state.status, ContainerStatus::Exited);
    assert_eq!(d.state.exit_code, Some(3));
    assert_eq!(d.state.pid, None);
    assert!(d.state.finished_at.is_some());
    assert_eq!(d.rootfs, RootfsView::NotReported, "MergedDir is empty while stopped");
    assert!(d.mounts.is_empty() && d.pod == Default::default());

    // pouchd did not record a prefix lookup: the recorded 404 sends the engine to the list and
    // the common resolution, which finds pk by its unique prefix and by its full id.
    assert_eq!(engine.inspect("0755a5").await.unwrap().id, PK_ID);
    assert_eq!(engine.inspect(PK_ID).await.unwrap().name, "pk");
    assert_eq!(engine.inspect("/pk").await.unwrap().id, PK_ID);
    assert_eq!(engine.inspect("  ").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_all_matched(&server);
}

#[tokio::test]
async fn inspect_missing_is_not_found_with_pouch_message() {
    let (server, engine) = setup().await;
    let e = engine.inspect("doesnotexist").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("container doesnotexist: not found"), "{e}");
    assert_eq!((e.engine(), e.operation(), e.container()), (Some("pouch"), Some("inspect"), Some("doesnotexist")));
    assert_all_matched(&server);
}

#[tokio::test]
async fn buffered_exec_demuxes_and_reports_exit_code() {
    let (server, engine) = setup().await;
    let request = ExecRequest::shell("echo out-line; echo err-line 1>&2; exit 7").env("X=1");
    let r = tokio::time::timeout(T, engine.exec("pk", request)).await.unwrap().unwrap();
    assert_eq!(r.exit_code, 7, "a non-zero exit is a result");
    assert_eq!(r.stdout, b"out-line\n");
    assert_eq!(r.stderr, b"err-line\n");
    let create = server.received().into_iter().find(|r| r.path == "/v1.24/containers/pk/exec").unwrap();
    let body = create.json();
    assert_eq!(body["Cmd"], serde_json::json!(["sh", "-c", "echo out-line; echo err-line 1>&2; exit 7"]));
    let env: Vec<&str> = body["Env"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(env.contains(&"X=1") && env.iter().any(|e| e.starts_with("ANYCTR_EXEC_TOKEN=")), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("PATH=")), "pk has a PATH: none is added");
    let start = server.received().into_iter().find(|r| r.path.ends_with("/start")).unwrap();
    let header = |k: &str| start.headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.to_ascii_lowercase());
    assert_eq!((header("connection").as_deref(), header("upgrade").as_deref()), (Some("upgrade"), Some("tcp")));
    assert_all_matched(&server);
}

#[tokio::test]
async fn streaming_exec_keeps_frame_order() {
    let (server, engine) = setup().await;
    let request = ExecRequest::shell("echo out-line; echo err-line 1>&2; exit 7");
    let mut session = engine.exec_stream("pk", request, false).await.unwrap();
    assert!(session.take_stdin().is_none());
    let mut chunks = Vec::new();
    while let Some(chunk) = tokio::time::timeout(T, session.next_output()).await.unwrap() {
        chunks.push(chunk.unwrap());
    }
    let got: Vec<(OutputStream, &[u8])> = chunks.iter().map(|c| (c.stream, c.data.as_ref())).collect();
    assert_eq!(got, [(OutputStream::Stderr, &b"err-line\n"[..]), (OutputStream::Stdout, &b"out-line\n"[..])]);
    assert_eq!(tokio::time::timeout(T, session.wait()).await.unwrap().unwrap(), 7);
    assert_all_matched(&server);
}

#[tokio::test]
async fn exec_stdin_is_delivered_then_eof() {
    let (server, engine) = setup().await;
    let stdin = fixture("exec-start-stdin").stdin.expect("recorded stdin");
    assert_eq!(stdin.len(), 1200);
    let request = ExecRequest::shell("cat > /tmp/stdin.txt; wc -c < /tmp/stdin.txt").stdin(stdin);
    let r = tokio::time::timeout(T, engine.exec("pk", request)).await.unwrap().unwrap();
    assert_eq!((r.exit_code, r.stdout_lossy().as_str()), (0, "1200\n"));
    assert_eq!(server.stdin_checks(), [("exec-start-stdin".to_owned(), Ok(()))]);
    let create = server.received().into_iter().find(|r| r.path == "/v1.24/containers/pk/exec").unwrap();
    assert_eq!(create.json()["AttachStdin"], true);
    assert_all_matched(&server);
}

#[tokio::test]
async fn missing_binary_is_command_not_found() {
    let (server, engine) = setup().await;
    let e =
        tokio::time::timeout(T, engine.exec("pk", ExecRequest::new(["/no/such/binary"]))).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CommandNotFound, "{e}");
    assert!(e.message().contains("/no/such/binary") && e.message().contains("no such file or directory"), "{e}");
    assert_eq!((e.engine(), e.container()), (Some("pouch"), Some("pk")));
    assert_all_matched(&server);
}

#[tokio::test]
async fn exec_in_exited_container_is_conflict() {
    let (server, engine) = setup().await;
    let e = tokio::time::timeout(T, engine.exec("pexit", ExecRequest::new(["echo"]))).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("is not running"), "{e}");
    assert_all_matched(&server);
}

async fn collect(stream: anyctr_core::ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = tokio::time::timeout(T, stream.try_collect()).await.unwrap().unwrap();
    chunks.concat()
}

fn tar_entries(tar: &[u8]) -> Vec<(String, u64)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.path().unwrap().display().to_string(), e.size()))
        .collect()
}

#[tokio::test]
async fn copy_from_file_dir_and_missing() {
    let (server, engine) = setup().await;
    let file = collect(engine.get_archive("pk", "/data/hello.txt").await.unwrap()).await;
    assert_eq!(file, fixture("archive-get-file").body);
    assert_eq!(tar_entries(&file), [("hello.txt".to_owned(), 18)]);
    let dir = collect(engine.get_archive("pk", "/etc").await.unwrap()).await;
    let names: Vec<String> = tar_entries(&dir).into_iter().map(|(n, _)| n.trim_end_matches('/').to_owned()).collect();
    assert_eq!(names, ["etc", "etc/hostname", "etc/hosts", "etc/mtab", "etc/resolv.conf"]);
    let e = engine.get_archive("pk", "/no/such/file").await.err().expect("missing path fails");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!((e.operation(), e.container()), (Some("get_archive"), Some("pk")));
    assert_eq!(engine.get_archive("pk", "relative").await.err().unwrap().kind(), ErrorKind::InvalidArgument);
    assert_all_matched(&server);
}

#[tokio::test]
async fn copy_to_streams_the_tar_and_missing_dir_maps_to_not_found() {
    let (server, engine) = setup().await;
    let recorded = fixture("archive-put").request_body;
    let chunks: Vec<anyctr_core::Result<Bytes>> =
        recorded.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    engine.put_archive("pk", "/tmp", futures_util::stream::iter(chunks).boxed()).await.unwrap();
    let put = server.received().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.body, recorded, "the tar arrives unchanged");
    assert_eq!(put.query, [("path".to_owned(), "/tmp".to_owned())]);

    let missing = fixture("archive-put-missing-dir").request_body;
    let e =
        engine.put_archive("pk", "/no/such/dir", futures_util::stream::iter([Ok(Bytes::from(missing))]).boxed()).await;
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("no such file or directory"), "{e}");
    assert_all_matched(&server);
}

#[tokio::test]
async fn stat_path_decodes_the_stat_header() {
    let (server, engine) = setup().await;
    let stat = engine.stat_path("pk", "/data/hello.txt").await.unwrap();
    assert_eq!((stat.name.as_str(), stat.path.as_str(), stat.size), ("hello.txt", "/data/hello.txt", Some(18)));
    assert_eq!(stat.permissions(), 0o644);
    assert!(!stat.is_dir());
    assert_all_matched(&server);
}

#[tokio::test]
async fn events_are_normalized_and_reopened_without_duplicates() {
    let (server, engine) = setup().await;
    let since = chrono::DateTime::from_timestamp(1795411222, 0).unwrap();
    let mut events = engine.events(EventOptions::new().since(since)).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..12 {
        got.push(tokio::time::timeout(T, events.next()).await.unwrap().unwrap().unwrap());
    }
    let kinds: Vec<EventKind> = got.iter().map(|e| e.kind.clone()).collect();
    use EventKind::*;
    let other = |s: &str| Other(s.to_owned());
    assert_eq!(
        kinds,
        [
            other("archive-path"),
            other("archive-path"),
            other("extract-to-dir"),
            other("archive-path"),
            Create,
            Start,
            other("exec_create"),
            ExecStart,
            ExecExit,
            other("stop"),
            Exit,
            Destroy
        ]
    );
    let exec_exit = &got[8];
    assert_eq!(exec_exit.exec_id.as_deref(), Some("5caedfa296720b3d600af5ad44cc5f5c0251ed7991203d3d82e04711ba94edc6"));
    assert_eq!(exec_exit.exit_code, Some(0));
    assert_eq!(got[10].exit_code, Some(137));
    assert_eq!(got[10].container_id, "6b13d6f25de46a1af02ce9a47b2b04f8d1164e83a6bc7fa7f82f092800be1bf5");
    assert_eq!(got[0].attributes.get("io.kubernetes.pod.name").map(String::as_str), Some("web-0"));
    assert!(got.windows(2).all(|w| w[0].time <= w[1].time));

    // The replay ends the stream: the gap is announced, the engine reopens from a replay window
    // before the last event (not before the stream's start) and must not deliver the replayed
    // events again.
    let gap = tokio::time::timeout(T, events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(gap.kind, Gap, "{gap:?}");
    let more = tokio::time::timeout(Duration::from_secs(2), events.next()).await;
    assert!(more.is_err(), "no duplicate after reopening: {more:?}");
    let opens: Vec<Vec<(String, String)>> =
        server.received().into_iter().filter(|r| r.path.ends_with("/events")).map(|r| r.query).collect();
    assert_eq!(opens[0], [("since".to_owned(), "1795411222".to_owned())]);
    assert!(opens.len() >= 2, "the stream was reopened: {opens:?}");
    // The last event is at 1795411224.816040823; five seconds before it is before the start.
    assert_eq!(opens[1], [("since".to_owned(), "1795411222".to_owned())]);
    assert_all_matched(&server);
}

#[tokio::test]
async fn logs_tail_over_the_api() {
    use anyctr_core::model::{LogOptions, LogSource, LogStreamKind};
    // `pobs` was inspected twice (paused, after an update): keep one so its name resolves.
    let server = FixtureServer::start_without(&["container-inspect-after-update"]).await;
    let config = EngineConfig::new(EngineAddress::new("pouch", &server.socket));
    let engine = tokio::time::timeout(T, anyctr_engine_pouch::connect(config)).await.unwrap().unwrap();
    let s = tokio::time::timeout(T, engine.logs("pobs", &LogOptions::new().tail(4))).await.unwrap().unwrap();
    assert_eq!(s.source, LogSource::EngineApi);
    let records: Vec<_> = s.records.try_collect().await.unwrap();
    let got: Vec<(LogStreamKind, String)> =
        records.iter().map(|r| (r.stream, String::from_utf8_lossy(&r.bytes).into_owned())).collect();
    assert_eq!(
        got,
        [
            (LogStreamKind::Stderr, "err-13".to_owned()),
            (LogStreamKind::Stdout, "out-13".to_owned()),
            (LogStreamKind::Stderr, "err-14".to_owned()),
            (LogStreamKind::Stdout, "out-14".to_owned()),
        ]
    );
    assert!(records.windows(2).all(|w| w[0].time <= w[1].time));
    // Following is refused until a following stream of pouchd is recorded.
    let e = engine.logs("pobs", &LogOptions::new().follow(true)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert_all_matched(&server);
}

#[tokio::test]
async fn stats_one_shot_from_the_recorded_answer() {
    use anyctr_core::model::StatsSource;
    // `pobs` was inspected paused and, later, running after an update: serve the running one.
    let server = FixtureServer::start_without(&["container-inspect-paused"]).await;
    let config = EngineConfig::new(EngineAddress::new("pouch", &server.socket));
    let engine = tokio::time::timeout(T, anyctr_engine_pouch::connect(config)).await.unwrap().unwrap();
    assert!(engine.capabilities().stats.is_supported());
    let s = tokio::time::timeout(T, engine.stats("pobs")).await.unwrap().unwrap();
    assert_eq!(s.container, "b95165f66fb8684958aafeb027afa46fc9d28978816bec823e3c54d2222698e8");
    assert_eq!(s.source, StatsSource::EngineApi, "a runc container: the engine read its cgroup");
    assert_eq!(s.time.to_rfc3339(), "2026-11-30T12:27:14.320+00:00");
    assert_eq!(s.cpu.usage_ns, Some(25_722_275));
    assert_eq!(s.cpu.system_ns, Some(20_000_000));
    assert_eq!(s.cpu.user_ns, None, "pouch omits usage_in_usermode: not reported, not 0");
    assert_eq!(s.cpu.periods, None, "empty throttling_data");
    assert_eq!(s.memory.usage, Some(901_120));
    assert_eq!(s.memory.limit, Some(64 << 20), "the limit set at create");
    assert_eq!((s.memory.rss, s.memory.file_cache), (Some(114_688), Some(0)));
    assert_eq!(s.memory.working_set, Some(901_120));
    assert_eq!(s.block_io.read_bytes, None, "empty blkio lists");
    assert_eq!(s.pids.current, Some(2));
    let nets = s.networks.unwrap();
    assert_eq!((nets[0].interface.as_str(), nets[0].rx_bytes, nets[0].rx_packets), ("eth0", 736, 8));
    assert_eq!(nets[0].tx_bytes, 0, "an omitted counter in a reported interface is Go's omitempty zero");
    assert_all_matched(&server);
}
