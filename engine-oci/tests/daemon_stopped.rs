//! A private dockerd (own socket, data root, exec root and containerd namespace on the harness
//! containerd, `--live-restore` so its containers outlive it) is stopped under the test: its
//! container is still listed from the runtime root, with the id, pid and mounts dockerd reported,
//! and exec through the runtime still works. Only the dockerd this test started is stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyctr_core::model::{ContainerStatus, ExecRequest};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ListOptions};
use anyctr_testkit::{bounded, containerd_socket, unique};

struct PrivateDockerd {
    base: PathBuf,
    data: PathBuf,
    namespace: String,
    child: Option<Child>,
}

impl PrivateDockerd {
    fn socket(&self) -> String {
        format!("unix://{}", self.base.join("docker.sock").display())
    }

    fn exec_root(&self) -> PathBuf {
        self.base.join("exec")
    }

    /// dockerd's runc root for its containerd namespace.
    fn runtime_root(&self) -> PathBuf {
        self.exec_root().join("runtime-runc").join(&self.namespace)
    }

    fn start(&mut self) {
        std::fs::create_dir_all(&self.base).unwrap();
        std::fs::write(self.base.join("daemon.json"), b"{}").unwrap();
        let log = std::fs::File::create(self.base.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(self.base.join("daemon.json"))
            .arg("--host")
            .arg(self.socket())
            .arg("--data-root")
            .arg(&self.data)
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.base.join("docker.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false", "--live-restore"])
            .arg("--containerd")
            .arg(containerd_socket())
            .arg("--containerd-namespace")
            .arg(&self.namespace)
            .arg("--containerd-plugins-namespace")
            .arg(format!("{}-plugins", self.namespace))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.docker(&["version"]).is_err() {
            assert!(Instant::now() < deadline, "private dockerd did not answer within 90 s");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the dockerd this test started (SIGTERM, then SIGKILL after 60 s).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn docker(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("timeout")
            .args(["60", "docker", "-H", &self.socket()])
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for PrivateDockerd {
    /// Restarts the daemon if the test left it stopped, removes every container, stops it and
    /// removes its directories.
    fn drop(&mut self) {
        if self.child.is_none() && self.base.exists() {
            self.start();
        }
        if let Ok(ids) = self.docker(&["ps", "-aq"]) {
            for id in ids.lines() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        self.stop();
        let _ = Command::new("timeout")
            .args(["30", "ctr", "-a", &containerd_socket(), "namespaces", "remove", &self.namespace])
            .stdout(Stdio::null())
            .status();
        // dockerd leaves its data root (and anything below it) mounted on itself: unmount, deepest first.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| Path::new(p).starts_with(&self.data) || Path::new(p).starts_with(&self.base))
            .collect();
        ours.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for mountpoint in ours {
            let _ = Command::new("umount").arg(mountpoint).status();
        }
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

async fn oci(address: &str) -> anyctr_engine_oci::OciEngine {
    let config = EngineConfig::new(EngineAddress::parse(address).unwrap());
    bounded("connect", anyctr_engine_oci::connect(config)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_of_a_stopped_dockerd_are_still_listed_from_its_runtime_root() {
    let name = unique("oci-dockerd");
    let mut dockerd = PrivateDockerd {
        base: PathBuf::from("/run").join(&name),
        data: PathBuf::from("/var/lib").join(&name),
        namespace: name.replace('-', ""),
        child: None,
    };
    tokio::task::block_in_place(|| dockerd.start());
    dockerd.docker(&["load", "-i", &anyctr_testkit::image_tar()]).unwrap();
    let bind = std::env::temp_dir().join(format!("{name}-bind"));
    std::fs::create_dir_all(&bind).unwrap();
    let volume = format!("{}:/mnt/kept", bind.display());
    let id = dockerd
        .docker(&["run", "-d", "--network", "none", "-v", &volume, &anyctr_testkit::image(), "sleep", "600"])
        .unwrap();
    let pid: u32 = dockerd.docker(&["inspect", "-f", "{{.State.Pid}}", &id]).unwrap().parse().unwrap();

    // While dockerd runs, discovery finds its root from its command line.
    let all = oci("oci://").await;
    assert!(all.roots().iter().any(|r| r.path == dockerd.runtime_root()), "{:?}", all.roots());

    tokio::task::block_in_place(|| dockerd.stop());
    assert!(dockerd.docker(&["version"]).is_err(), "the private dockerd is down");

    let root = oci(&format!("oci://{}", dockerd.runtime_root().display())).await;
    let listed = bounded("list", root.list(&ListOptions::running())).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    let detail = bounded("inspect", root.inspect(&id)).await.unwrap();
    assert_eq!((detail.state.status.clone(), detail.state.pid), (ContainerStatus::Running, Some(pid)));
    let kept = detail.mounts.iter().find(|m| m.destination == Path::new("/mnt/kept")).expect("the bind mount");
    assert_eq!((kept.source.as_path(), kept.read_only), (bind.as_path(), false));
    let r = bounded("exec", root.exec(&id, ExecRequest::new(["hostname"]))).await.unwrap();
    assert_eq!(r.stdout_lossy().trim(), &id[..12]);
    let _ = std::fs::remove_dir_all(bind);
    tokio::task::block_in_place(|| drop(dockerd));
}
