//! [`LabelGuard`]: the containers of one test or benchmark run, made with a label of their own
//! and removed when the guard drops (also after a failed assertion or a panic).

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use anyctr_core::ContainerEngine;
use anyctr_core::ListOptions;
use anyctr_core::model::CreateSpec;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use crate::{bounded, label_filter, labelled_spec, on_own_runtime, remove_labelled, unique};

/// A fresh connection for the cleanup, or why there is none.
type Reconnect = Arc<dyn Fn() -> BoxFuture<'static, Result<Box<dyn ContainerEngine>, String>> + Send + Sync>;

/// The containers of one run on engine `E` (a facade `Engine`, an `Arc` of an engine crate's
/// engine, …): each carries `anyctr.test=<label>` and a unique name; dropping the guard removes
/// every container with the label, over a connection of its own (the run's runtime may be gone
/// or unwinding), each call bounded.
pub struct LabelGuard<E> {
    /// The run's label (`anyctr.test=<label>`), unique across concurrent runs.
    pub label: String,
    /// The engine the run's containers are made on.
    pub engine: E,
    reconnect: Reconnect,
}

impl<E: ContainerEngine + Clone> LabelGuard<E> {
    /// A guard for the run `name` on `engine`; `reconnect` connects anew to the same engine for
    /// the cleanup.
    pub fn new<F, Fut, C, Er>(engine: &E, name: &str, reconnect: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, Er>> + Send + 'static,
        C: ContainerEngine + 'static,
        Er: Display,
    {
        let reconnect: Reconnect = Arc::new(move || {
            let connecting = reconnect();
            Box::pin(async move {
                match connecting.await {
                    Ok(engine) => Ok(Box::new(engine) as Box<dyn ContainerEngine>),
                    Err(e) => Err(e.to_string()),
                }
            })
        });
        LabelGuard { label: unique(name), engine: engine.clone(), reconnect }
    }

    /// The list filter for the run's containers.
    pub fn label_filter(&self) -> ListOptions {
        label_filter(&self.label)
    }

    /// A spec of the test image running `argv` under `runtime`, with the run's label and a unique
    /// name.
    pub fn spec(&self, runtime: &str, argv: &[&str]) -> CreateSpec {
        let mut spec = labelled_spec(&self.label, &format!("anyctr-{runtime}"), argv);
        spec.runtime = Some(runtime.to_owned());
        spec
    }

    /// The spec of a `sleep` container of `runtime`.
    pub fn sleeper_spec(&self, runtime: &str) -> CreateSpec {
        self.spec(runtime, &["sleep", "3600"])
    }

    /// Creates and starts a container, bounded; returns its id.
    pub async fn run_spec(&self, spec: &CreateSpec) -> String {
        let id = bounded("create", self.engine.create(spec)).await.expect("create");
        bounded("start", self.engine.start(&id)).await.expect("start");
        id
    }

    /// A running `sleep` container of `runtime`.
    pub async fn sleeper(&self, runtime: &str) -> String {
        self.run_spec(&self.sleeper_spec(runtime)).await
    }

    /// `count` running `sleep` containers of `runtime`, made `parallel` at a time.
    pub async fn sleepers(&self, runtime: &str, count: usize, parallel: usize) -> Vec<String> {
        futures_util::stream::iter(0..count).map(|_| self.sleeper(runtime)).buffer_unordered(parallel).collect().await
    }
}

impl<E> Drop for LabelGuard<E> {
    fn drop(&mut self) {
        let label = self.label.clone();
        let reconnect = self.reconnect.clone();
        on_own_runtime(move || async move {
            match tokio::time::timeout(crate::BOUND, reconnect()).await {
                Ok(Ok(engine)) => remove_labelled(&*engine, &label).await,
                Ok(Err(e)) => eprintln!("cleanup: {e}; containers labelled {label} may be left"),
                Err(_) => eprintln!("cleanup: the engine did not answer; containers labelled {label} may be left"),
            }
        });
    }
}
