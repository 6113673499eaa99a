//! [`Engine`]: the connected handle.

use std::sync::Arc;

use anyctr_core::{ContainerEngine, DynEngine, EngineConfig, EngineInfo};

/// A connected engine — what [`connect`](crate::connect) and [`from_env`](crate::from_env)
/// return — with what the daemon said about itself and why it was chosen.
///
/// It is a [`ContainerEngine`] (every engine operation is a method of that trait) and so gets the
/// host-side conveniences of [`EngineExt`](crate::EngineExt) (host paths, path copies, the
/// namespace fast path, the live index); `use anyctr::prelude::*` brings both traits into scope.
/// Cloning is cheap (the engine is shared).
#[derive(Clone)]
pub struct Engine {
    inner: DynEngine,
    info: EngineInfo,
    config: EngineConfig,
    choice: String,
}

impl Engine {
    pub(crate) fn new(inner: DynEngine, info: EngineInfo, config: EngineConfig, choice: String) -> Self {
        Engine { inner, info, config, choice }
    }

    /// What the daemon said about itself when connecting.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// The configuration it was connected with (address, host root, call timeout).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Why this engine and socket were chosen, in words (`DOCKER_HOST=unix:///…`, `probed …`).
    pub fn choice(&self) -> &str {
        &self.choice
    }

    pub(crate) fn prefix_choice(&mut self, prefix: &str) {
        self.choice.insert_str(0, prefix);
    }

    /// The shared engine object.
    pub fn dyn_engine(&self) -> &DynEngine {
        &self.inner
    }

    /// The shared engine object, owned.
    pub fn into_dyn(self) -> Arc<dyn ContainerEngine> {
        self.inner
    }
}

// Every operation goes to the connected engine, which also answers `host_root` from its config.
anyctr_core::__forward_container_engine!([] Engine, |this| &*this.inner);

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("engine", &self.inner.name())
            .field("address", &self.config.address.to_string())
            .field("version", &self.info.version)
            .field("choice", &self.choice)
            .finish()
    }
}
