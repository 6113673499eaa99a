//! Shared helpers for the host integration tests: container details built by hand.
#![allow(dead_code, unused_imports)]

use std::path::Path;

use anyctr_core::model::{ContainerDetail, RootfsView, RuntimeClass};
pub use anyctr_testkit::detail::{bind, running as detail};

/// A runc container whose merged rootfs is `dir`.
pub fn runc_merged(dir: &Path) -> ContainerDetail {
    detail(RuntimeClass::Runc, RootfsView::Merged(dir.to_path_buf()), None)
}

pub mod docker;
pub mod docker_cli;
pub mod fake;
pub mod tar;

/// A process in a mount namespace of its own (`unshare -m sleep`), standing in for a container's
/// init: `/proc/<pid>/root` refuses processes that share this process's mount namespace.
pub struct OtherMountNs(pub std::process::Child);

impl OtherMountNs {
    pub fn start() -> Self {
        // Wrapped at once: the guard kills and waits for it on every path, panics included.
        let guard = OtherMountNs(
            std::process::Command::new("unshare")
                .args(["-m", "--propagation", "private", "sleep", "120"])
                .spawn()
                .expect("unshare -m sleep"),
        );
        let pid = guard.pid();
        // Wait until the child runs `sleep` in its own namespace.
        let ours = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        for _ in 0..500 {
            let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if theirs.is_some_and(|t| t != ours) && comm.trim() == "sleep" {
                return guard;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("unshare -m did not start");
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for OtherMountNs {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
