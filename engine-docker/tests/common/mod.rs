//! Shared helpers for the integration tests on the real dockerd (see CONTEXT: unique names, a
//! unique `anyctr.test` label, cleanup through a guard, every wait bounded).
#![allow(dead_code, unused_imports)]

use std::sync::Arc;

use anyctr_core::model::{CreateSpec, ExecRequest, ExecResult};
use anyctr_core::{ContainerEngine, EngineAddress, EngineConfig, ListOptions};
use anyctr_engine_docker::DockerEngine;
pub use anyctr_testkit::{BOUND, bounded, docker_socket as socket, image, unique};

pub fn config_for(socket: &str) -> EngineConfig {
    EngineConfig::new(EngineAddress::new("docker", socket))
}

pub async fn engine() -> Arc<DockerEngine> {
    let socket = socket();
    Arc::new(anyctr_testkit::connect("docker", &socket, anyctr_engine_docker::connect(config_for(&socket))).await)
}

/// The test's labelled containers (see [`anyctr_testkit::LabelGuard`]), plus named volumes
/// removed after them. Dropping it removes both, also after a failed assertion.
pub struct Guard {
    containers: Option<anyctr_testkit::LabelGuard<Arc<DockerEngine>>>,
    /// Named volumes to remove after the containers.
    pub volumes: std::sync::Mutex<Vec<String>>,
}

impl Guard {
    pub fn new(engine: &Arc<DockerEngine>, test: &str) -> Guard {
        let containers =
            anyctr_testkit::LabelGuard::new(engine, test, || anyctr_engine_docker::connect(config_for(&socket())));
        Guard { containers: Some(containers), volumes: Default::default() }
    }
}

impl std::ops::Deref for Guard {
    type Target = anyctr_testkit::LabelGuard<Arc<DockerEngine>>;

    fn deref(&self) -> &Self::Target {
        self.containers.as_ref().expect("the guard is alive")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // The containers first: a volume in use cannot be removed.
        drop(self.containers.take());
        let volumes = std::mem::take(&mut *self.volumes.lock().unwrap_or_else(|p| p.into_inner()));
        if volumes.is_empty() {
            return;
        }
        // The engine API has no volume call: remove test volumes over the socket directly, on a
        // runtime of our own (the test's may be gone or panicking).
        anyctr_testkit::on_own_runtime(move || async move {
            if let Ok(docker) = bollard::Docker::connect_with_unix(&socket(), 60, bollard::API_DEFAULT_VERSION) {
                for v in volumes {
                    let options = None::<bollard::query_parameters::RemoveVolumeOptions>;
                    let _ = tokio::time::timeout(BOUND, docker.remove_volume(&v, options)).await;
                }
            }
        });
    }
}

/// Runs a buffered exec, bounded.
pub async fn exec(engine: &DockerEngine, id: &str, request: ExecRequest) -> anyctr_core::Result<ExecResult> {
    bounded("exec", engine.exec(id, request)).await
}

/// `sh -c script` must succeed; returns stdout.
pub async fn sh(engine: &DockerEngine, id: &str, script: &str) -> String {
    let r = exec(engine, id, ExecRequest::shell(script)).await.unwrap_or_else(|e| panic!("{script}: {e}"));
    assert_eq!(r.exit_code, 0, "{script}: {}", r.stderr_lossy());
    r.stdout_lossy()
}

/// Processes of the container whose command line contains `needle` (read from inside).
pub async fn processes_matching(engine: &DockerEngine, id: &str, needle: &str) -> Vec<String> {
    let script = format!(
        "for d in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); case \"$c\" in *'{needle}'*) \
         case \"$c\" in *'for d in'*) ;; *) echo \"${{d#/proc/}} $c\";; esac;; esac; done"
    );
    sh(engine, id, &script).await.lines().map(str::to_owned).collect()
}

/// Generates a `#[tokio::test]` per runtime (runc and rund) from `async fn name(runtime: &str)`.
#[macro_export]
macro_rules! per_runtime {
    ($($name:ident),* $(,)?) => {
        mod runc {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name("runc").await
                }
            )*
        }
        mod rund {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name("rund").await
                }
            )*
        }
    };
}
