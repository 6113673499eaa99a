//! A dockerd of a test's own (own socket, data root and containerd namespace, on the harness's
//! containerd). Only the daemon the test started is ever stopped (by its pid).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct PrivateDockerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// `--live-restore`: its containers keep running while it is stopped.
    live_restore: bool,
}

impl PrivateDockerd {
    /// A daemon started now, with the test image loaded.
    pub fn started_with_image() -> PrivateDockerd {
        Self::with_image(false)
    }

    /// A daemon started now with `--live-restore` (its containers outlive it), with the test
    /// image loaded.
    pub fn live_restore_with_image() -> PrivateDockerd {
        Self::with_image(true)
    }

    fn with_image(live_restore: bool) -> PrivateDockerd {
        let mut daemon = PrivateDockerd { dir: tempfile::tempdir().unwrap(), child: None, live_restore };
        daemon.start();
        let image_tar = anyctr_testkit::image_tar();
        let loaded = Command::new("docker")
            .args(["-H", &format!("unix://{}", daemon.socket().display()), "load", "-i", &image_tar])
            .output()
            .unwrap();
        assert!(loaded.status.success(), "docker load: {}", String::from_utf8_lossy(&loaded.stderr));
        daemon
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    fn namespace() -> String {
        format!("anyctr-idx-{}", std::process::id())
    }

    /// Where its runc keeps its containers' state: `<exec-root>/runtime-runc/<namespace>`.
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.path().join("exec").join("runtime-runc").join(Self::namespace())
    }

    pub fn start(&mut self) {
        let containerd = anyctr_testkit::containerd_socket();
        if !Path::new(&containerd).exists() {
            anyctr_testkit::engines_not_up("containerd", &containerd, "socket missing");
        }
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .args(["--host", &format!("unix://{}", self.socket().display())])
            .args(["--data-root", &d.join("data").display().to_string()])
            .args(["--exec-root", &d.join("exec").display().to_string()])
            .args(["--pidfile", &d.join("dockerd.pid").display().to_string()])
            .args(["--containerd", &containerd, "--containerd-namespace", &Self::namespace()])
            .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
            .args(self.live_restore.then_some("--live-restore"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (from docker.io) is installed");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            assert!(
                std::time::Instant::now() < deadline,
                "private dockerd did not answer in 60 s; see {}/dockerd.log",
                d.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn answers(&self) -> bool {
        std::os::unix::net::UnixStream::connect(self.socket()).is_ok()
            && Command::new("docker")
                .args(["-H", &format!("unix://{}", self.socket().display()), "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = std::time::Instant::now() + Duration::from_secs(40);
            while child.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        if self.live_restore {
            // Its containers outlive it: start it if the test left it stopped and remove them.
            if self.child.is_none() {
                self.start();
            }
            let docker = |args: &[&str]| {
                let host = format!("unix://{}", self.socket().display());
                Command::new("timeout").args(["60", "docker", "-H", &host]).args(args).output()
            };
            if let Ok(out) = docker(&["ps", "-aq"]) {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = docker(&["rm", "-f", id]);
                }
            }
        }
        self.stop();
        // Unmount what the daemon left under its own directory only.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let root = self.dir.path().display().to_string();
            let mut ours: Vec<&str> =
                mounts.lines().filter_map(|l| l.split(' ').nth(1)).filter(|m| m.starts_with(&root)).collect();
            ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in ours {
                let _ = Command::new("umount").args(["-l", m]).status();
            }
        }
    }
}
