//! containerd's own CLI (`ctr`) on the harness containerd, each call bounded by `timeout(1)`: for
//! benchmarks and tests that need containers outside CRI's namespace. The containerd engine
//! creates through CRI, which makes a pod sandbox (a running shim) per container in `k8s.io`;
//! `ctr` makes a bare record in any namespace, with no task and no shim.

use std::process::{Command, Output};

use crate::{BOUND, TEST_LABEL, containerd_socket, image};

/// Runs `ctr -a <harness socket> -n <namespace> args…`, bounded.
pub fn ctr(namespace: &str, args: &[&str]) -> Output {
    let socket = containerd_socket();
    Command::new("timeout")
        .arg(BOUND.as_secs().to_string())
        .args(["ctr", "-a", &socket, "-n", namespace])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ctr {args:?}: {e}"))
}

/// Containers created (not started) with `ctr` in one namespace, named `<label>-<i>` and
/// labelled [`TEST_LABEL`]`=<label>`; removed when dropped, also after a panic half-way.
pub struct CtrContainers {
    namespace: String,
    /// The ids made, in order.
    pub ids: Vec<String>,
}

impl CtrContainers {
    /// Creates `count` containers of the test image running `sleep 600` (once started) in
    /// `namespace`, which must hold the image (the harness loads it into `default` and `k8s.io`).
    pub fn create(namespace: &str, label: &str, count: usize) -> CtrContainers {
        let image = format!("docker.io/library/{}", image());
        let mut made = CtrContainers { namespace: namespace.to_owned(), ids: Vec::new() };
        let label_arg = format!("{TEST_LABEL}={label}");
        for i in 0..count {
            let id = format!("{label}-{i}");
            let out = ctr(namespace, &["containers", "create", "--label", &label_arg, &image, &id, "sleep", "600"]);
            assert!(
                out.status.success(),
                "ctr -n {namespace} containers create {image} {id}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            made.ids.push(id);
        }
        made
    }
}

impl Drop for CtrContainers {
    fn drop(&mut self) {
        for ids in self.ids.chunks(50) {
            let mut args = vec!["containers", "rm"];
            args.extend(ids.iter().map(String::as_str));
            let out = ctr(&self.namespace, &args);
            if !out.status.success() {
                eprintln!("cleanup: ctr -n {} containers rm: {}", self.namespace, String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}
