//! Shared pieces of the containerd benchmarks: the harness's containerd (CRI namespace `k8s.io`),
//! unique names, CRI pods removed by a guard (also on panic), and per-iteration timings for the
//! summary lines. Targets are reported, never asserted: the machine is shared and noisy.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyctr_core::model::{CreateSpec, PodSpec};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig};
use anyctr_engine_containerd::ContainerdEngine;
pub use anyctr_testkit::{
    BOUND, Timings, bounded, containerd_socket as socket, containerd_state_dir as state_dir, image, ms, ratio_line,
    runtime, unique,
};

/// Connects in namespace `k8s.io` with a FIFO dir of this run's own.
pub async fn engine(fifo_dir: &std::path::Path) -> ContainerdEngine {
    let address = EngineAddress::parse(&format!("containerd://{}", socket()))
        .expect("address")
        .with_param("namespace", "k8s.io")
        .with_param("state_dir", &state_dir())
        .with_param("fifo_dir", fifo_dir.to_str().expect("UTF-8 FIFO dir"));
    let mut config = EngineConfig::new(address);
    config.call_timeout = Duration::from_secs(60);
    let engine = anyctr_testkit::connect("containerd", &socket(), anyctr_engine_containerd::connect(config)).await;
    anyctr_testkit::connect("containerd", &socket(), engine.identify()).await;
    engine
}

/// CRI pods of one benchmark run, all labelled `anyctr.test=<label>`; dropping the guard removes
/// every pod (CRI removes their containers with them) and the FIFO dir.
pub struct Pods {
    pub label: String,
    pub fifo_dir: PathBuf,
    pub engine: ContainerdEngine,
    pods: Arc<Mutex<Vec<String>>>,
}

impl Pods {
    pub async fn new(bench: &str) -> Pods {
        let label = unique(&format!("bench-{bench}"));
        let fifo_dir = PathBuf::from(format!("/run/anyctr-bench-fifo/{label}"));
        let engine = engine(&fifo_dir).await;
        Pods { label, fifo_dir, engine, pods: Arc::default() }
    }

    /// A host-network runc pod.
    pub async fn pod(&self) -> String {
        let name = unique("pod");
        let spec = PodSpec::new(&name, "anyctr-bench", unique("uid")).runtime("runc").label("anyctr.test", &self.label);
        let id = bounded("create_pod", self.engine.create_pod(&spec)).await.expect("create_pod");
        self.pods.lock().unwrap_or_else(|p| p.into_inner()).push(id.clone());
        id
    }

    /// A running `sleep` container named `name` in `pod`.
    pub async fn sleeper(&self, pod: &str, name: &str) -> String {
        let mut spec = CreateSpec::new(image());
        spec.name = Some(name.to_owned());
        spec.argv = vec!["sleep".into(), "3600".into()];
        spec.labels.insert("anyctr.test".into(), self.label.clone());
        spec.pod_sandbox = Some(pod.to_owned());
        let id = bounded("create", self.engine.create(&spec)).await.expect("create");
        bounded("start", self.engine.start(&id)).await.expect("start");
        id
    }
}

impl Drop for Pods {
    fn drop(&mut self) {
        let pods = std::mem::take(&mut *self.pods.lock().unwrap_or_else(|p| p.into_inner()));
        let (engine, fifo_dir) = (self.engine.clone(), self.fifo_dir.clone());
        // The bench's runtime may be gone or unwinding: clean up on a runtime of our own.
        anyctr_testkit::on_own_runtime(move || async move {
            // A fresh connection: the old channel's runtime may be gone.
            let engine = match tokio::time::timeout(BOUND, self::engine(&fifo_dir)).await {
                Ok(e) => e,
                Err(_) => engine,
            };
            for pod in pods {
                match tokio::time::timeout(BOUND, engine.remove_pod(&pod)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("cleanup: removing pod {pod} failed: {e}"),
                    Err(_) => eprintln!("cleanup: removing pod {pod} timed out"),
                }
            }
            let _ = std::fs::remove_dir_all(&fifo_dir);
        });
    }
}
