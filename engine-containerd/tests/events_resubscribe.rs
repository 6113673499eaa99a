//! A broken event stream is resubscribed: the test runs a containerd of its own (own socket, root
//! and state dirs, CRI off), subscribes, restarts that daemon, and expects the stream to announce
//! the gap (`EventKind::Gap`) and then to deliver events again. Only the daemon this test started
//! is ever stopped, by its pid.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, EventKind, EventOptions};
use anyctr_engine_containerd::{ContainerdEngine, ContainerdOptions};
use futures_util::StreamExt;

struct PrivateContainerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateContainerd {
    fn socket(&self) -> String {
        self.dir.path().join("containerd.sock").display().to_string()
    }

    fn start(&mut self) {
        let d = self.dir.path();
        let config = d.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{}\"\n",
                d.join("root").display(),
                d.join("state").display(),
                self.socket()
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .args(["--config", &config.display().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd is installed (cargo xtask engines up)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.answers() {
            assert!(std::time::Instant::now() < deadline, "private containerd did not answer; see {}", d.display());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr").args(["--address", &self.socket()]).args(args).output().unwrap()
    }

    fn answers(&self) -> bool {
        Path::new(&self.socket()).exists() && self.ctr(&["version"]).status.success()
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            anyctr_testkit::terminate(child, Duration::from_secs(20));
        }
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn next(events: &mut anyctr_core::EventStream) -> Option<anyctr_core::Result<anyctr_core::Event>> {
    tokio::time::timeout(Duration::from_secs(60), events.next()).await.expect("an event within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_is_resubscribed_after_a_daemon_restart() {
    let mut daemon = PrivateContainerd { dir: tempfile::tempdir().unwrap(), child: None };
    daemon.start();
    let image_tar = anyctr_testkit::image_tar();
    let out = daemon.ctr(&["-n", "default", "images", "import", &image_tar]);
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));

    let address = EngineAddress::parse(&format!("containerd://{}?namespace=default", daemon.socket())).unwrap();
    let config = EngineConfig::new(address.clone());
    let engine = ContainerdEngine::connect_with(config, ContainerdOptions::from_address(&address)).await.unwrap();
    // containerd keeps no history: `since` is refused by name rather than ignored.
    let since = EventOptions::new().since(chrono::Utc::now());
    let refused = engine.events(since).await.err().expect("since is refused");
    assert_eq!(refused.kind(), anyctr_core::ErrorKind::Unsupported, "{refused}");
    assert!(refused.to_string().contains("since"), "{refused}");
    let mut events = engine.events(EventOptions::default()).await.unwrap();

    let out = daemon.ctr(&["-n", "default", "containers", "create", "docker.io/library/busybox:local", "before"]);
    assert!(out.status.success(), "create: {}", String::from_utf8_lossy(&out.stderr));
    let first = next(&mut events).await.unwrap().unwrap();
    assert_eq!((first.kind, first.container_id.as_str()), (EventKind::Create, "before"));

    daemon.stop();
    daemon.start();
    // While the daemon is away, a failed resubscription is said on the stream (EngineUnavailable),
    // never hidden; once it is back the gap is announced.
    let mut unavailable = 0;
    let gap = loop {
        match next(&mut events).await.expect("the stream goes on after the restart") {
            Ok(event) => break event,
            Err(e) if e.kind() == anyctr_core::ErrorKind::EngineUnavailable && unavailable < 20 => unavailable += 1,
            Err(e) => panic!("unexpected error on the stream: {e}"),
        }
    };
    assert_eq!(gap.kind, EventKind::Gap, "the gap is announced: {gap:?} (after {unavailable} unavailable)");

    let out = daemon.ctr(&["-n", "default", "containers", "create", "docker.io/library/busybox:local", "after"]);
    assert!(out.status.success(), "create: {}", String::from_utf8_lossy(&out.stderr));
    let after = next(&mut events).await.unwrap().unwrap();
    assert_eq!((after.kind, after.container_id.as_str()), (EventKind::Create, "after"));
    assert_eq!(after.namespace.as_deref(), Some("default"));
}
