//! A dockerd of a test's own, for tests that stop, restart or race a daemon: its own socket, data
//! root, exec root, config file and containerd namespaces (on the harness's containerd), so the
//! harness dockerd that every other test shares is never touched. Only the daemon the test started
//! is ever stopped (by its pid); on drop its containers are removed, it is stopped, its containerd
//! namespaces are removed and what it mounted under its own directory is unmounted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{containerd_socket, engines_not_up, image_tar, terminate, unique};

/// How long a daemon may take to answer after it is started (dockerd replays its state first).
const START_BOUND: Duration = Duration::from_secs(90);
/// How long a daemon may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// Bound on one `docker` or `ctr` call.
const CALL_BOUND: &str = "60";

/// A running (or, after [`stop`](Self::stop), stopped) dockerd of this test.
pub struct PrivateDockerd {
    dir: tempfile::TempDir,
    /// Its containerd namespace, unique to this daemon (plugins live in `<namespace>-plugins`).
    namespace: String,
    /// `--live-restore`: its containers keep running while it is stopped.
    live_restore: bool,
    child: Option<Child>,
}

impl PrivateDockerd {
    /// A daemon started now, with the test image ([`crate::image`]) loaded.
    pub fn started_with_image() -> PrivateDockerd {
        Self::with_image(false)
    }

    /// A daemon started now with `--live-restore` (its containers outlive it), with the test
    /// image loaded.
    pub fn live_restore_with_image() -> PrivateDockerd {
        Self::with_image(true)
    }

    fn with_image(live_restore: bool) -> PrivateDockerd {
        let dir = tempfile::Builder::new().prefix("anyctr-dockerd-").tempdir().expect("a temporary directory");
        let namespace = unique("anyctr-dockerd");
        let mut daemon = PrivateDockerd { dir, namespace, live_restore, child: None };
        daemon.start();
        daemon.docker(&["load", "-i", &image_tar()]).unwrap_or_else(|e| panic!("loading the test image: {e}"));
        daemon
    }

    /// Its socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Its socket as a docker host (`unix://…`).
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    /// Where its runc keeps its containers' state: `<exec-root>/runtime-runc/<namespace>`.
    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root().join("runtime-runc").join(&self.namespace)
    }

    /// Starts the daemon (again) and waits until it answers; fails the test with the "engines not
    /// up" message if the harness containerd is missing.
    pub fn start(&mut self) {
        let containerd = containerd_socket();
        if !Path::new(&containerd).exists() {
            engines_not_up("containerd", &containerd, "socket missing");
        }
        let d = self.dir.path();
        // Its own (empty) config file: the host's /etc/docker/daemon.json must not apply.
        let config = d.join("daemon.json");
        std::fs::write(&config, b"{}").unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(&config)
            .args(["--host", &self.host()])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .args(["--containerd", &containerd, "--containerd-namespace", &self.namespace])
            .args(["--containerd-plugins-namespace", &format!("{}-plugins", self.namespace)])
            .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
            .args(self.live_restore.then_some("--live-restore"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (from docker.io) is installed");
        self.child = Some(child);
        let deadline = Instant::now() + START_BOUND;
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "private dockerd did not answer in {START_BOUND:?}; see {}/dockerd.log",
                d.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn answers(&self) -> bool {
        std::os::unix::net::UnixStream::connect(self.socket()).is_ok() && self.docker(&["version"]).is_ok()
    }

    /// Stops the daemon this test started (SIGTERM; SIGKILL after a minute). With
    /// `--live-restore` its containers keep running.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child, STOP_GRACE);
        }
    }

    /// Runs `docker -H <its socket> args…`, bounded: the trimmed stdout on success, the error
    /// text otherwise.
    pub fn docker(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("timeout")
            .args([CALL_BOUND, "docker", "-H", &self.host()])
            .args(args)
            .output()
            .map_err(|e| format!("cannot run docker: {e}"))?;
        if !out.status.success() {
            return Err(format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Unmounts what the daemon left mounted under its own directory, deepest first.
    fn unmount_own(&self) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| Path::new(m).starts_with(self.dir.path()))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        // A live-restore daemon's containers outlive it: start it again if the test left it
        // stopped, to remove them. Without live restore they ended with it.
        if self.child.is_none() && self.live_restore {
            self.start();
        }
        if self.child.is_some()
            && let Ok(ids) = self.docker(&["ps", "-aq"])
        {
            for id in ids.split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.stop();
        for namespace in [self.namespace.clone(), format!("{}-plugins", self.namespace)] {
            let _ = Command::new("timeout")
                .args([CALL_BOUND, "ctr", "-a", &containerd_socket(), "namespaces", "remove", &namespace])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        self.unmount_own();
    }
}
