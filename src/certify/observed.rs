//! Fixtures made by one engine and observed through another.

use anyctr_conformance::{EngineFixtures, Fixture, FixtureFactory};
use anyctr_core::Result;
use anyctr_core::engine::DynEngine;
use anyctr_core::model::CreateSpec;

/// Fixtures made by one engine (docker) and observed through another (containerd in namespace
/// `moby`): the suite checks what the observer reports about containers it did not create.
pub struct ObservedFixtures {
    /// Makes and removes the fixtures.
    pub maker: EngineFixtures,
    /// The engine under test, which only sees them.
    pub observer: DynEngine,
}

#[async_trait::async_trait]
impl FixtureFactory for ObservedFixtures {
    async fn create_main(&self, run_id: &str) -> Result<Fixture> {
        let mut fixture = self.maker.create_main(run_id).await?;
        // The name as the observer reports it (containerd knows dockerd's containers by id).
        fixture.name = self.observer.inspect(&fixture.id).await?.name;
        Ok(fixture)
    }
    async fn create_extra(&self, spec: CreateSpec) -> Result<String> {
        self.maker.create_extra(spec).await
    }
    async fn remove_extra(&self, id: &str) -> Result<()> {
        self.maker.remove_extra(id).await
    }
    async fn remove(&self, fixture: &Fixture) -> Result<()> {
        self.maker.remove(fixture).await
    }
    async fn leftovers(&self, run_id: &str) -> Result<Vec<String>> {
        self.maker.leftovers(run_id).await
    }
}
