//! The runner's own rules, on a stand-in engine that claims nothing (the trials themselves
//! run against the real engines: `cargo run --example conformance`).

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use super::*;
use crate::{Expectations, Fixture, FixtureFactory};
use anyctr_core::capability::Capabilities;
use anyctr_core::engine::{ContainerEngine, EngineInfo, ListOptions};
use anyctr_core::model::{ContainerDetail, ContainerSummary, CreateSpec, RuntimeClass};
use anyctr_core::{Error, Result};

/// An engine that answers `identify` and refuses everything else.
struct ClaimsNothing;

#[async_trait]
impl ContainerEngine for ClaimsNothing {
    fn name(&self) -> &str {
        "nothing"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn identify(&self) -> Result<EngineInfo> {
        Ok(EngineInfo::new("nothing", "nothing", "0"))
    }
    async fn list(&self, _: &ListOptions) -> Result<Vec<ContainerSummary>> {
        Err(Error::unsupported("nothing", "list"))
    }
    async fn inspect(&self, _: &str) -> Result<ContainerDetail> {
        Err(Error::unsupported("nothing", "inspect"))
    }
}

/// Containers by id; `stuck` ones refuse to be removed.
#[derive(Default)]
struct Factory {
    live: Mutex<BTreeSet<String>>,
    stuck: bool,
}

#[async_trait]
impl FixtureFactory for Factory {
    async fn create_main(&self, run_id: &str) -> Result<Fixture> {
        let expect = Expectations { runtime: RuntimeClass::Runc, log: None, pod: false, labels_hidden: false };
        let spec = CreateSpec::default();
        let dir = std::env::temp_dir();
        let name = format!("main-{run_id}");
        Ok(Fixture { id: name.clone(), name, spec, bind_dir: dir.clone(), ro_dir: dir, pod: None, expect })
    }
    async fn create_extra(&self, spec: CreateSpec) -> Result<String> {
        let id = spec.name.unwrap_or_default();
        self.live.lock().unwrap().insert(id.clone());
        Ok(id)
    }
    async fn remove_extra(&self, id: &str) -> Result<()> {
        if self.stuck {
            return Err(Error::unexpected("stuck"));
        }
        self.live.lock().unwrap().remove(id);
        Ok(())
    }
    async fn remove(&self, _: &Fixture) -> Result<()> {
        Ok(())
    }
    async fn leftovers(&self, _: &str) -> Result<Vec<String>> {
        Ok(self.live.lock().unwrap().iter().cloned().collect())
    }
}

async fn context(factory: Arc<Factory>) -> TrialContext {
    let fixture = factory.create_main("t").await.unwrap();
    TrialContext {
        engine: Arc::new(ClaimsNothing),
        fixture,
        capabilities: Capabilities::default(),
        factory,
        run_id: "t".into(),
        cleanup: Mutex::new(Vec::new()),
    }
}

fn make_and_hang(ctx: &TrialContext) -> BoxFuture<'_, TrialResult> {
    Box::pin(async move {
        let spec = CreateSpec::default().name("extra-t");
        ctx.create_extra(spec).await?;
        std::future::pending().await
    })
}

#[tokio::test]
async fn a_trial_that_times_out_still_removes_what_it_made() {
    let factory = Arc::new(Factory::default());
    let ctx = context(factory.clone()).await;
    let r = run_trial(&ctx, "t.hang", Outcome::Pass, Duration::from_millis(100), make_and_hang(&ctx)).await;
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.detail.starts_with("timed out"), "{}", r.detail);
    assert!(factory.live.lock().unwrap().is_empty(), "the extra container was left behind");
}

#[tokio::test]
async fn a_cleanup_that_leaves_a_container_fails_the_trial_and_says_so() {
    let factory = Arc::new(Factory { stuck: true, ..Default::default() });
    let ctx = context(factory.clone()).await;
    let made = async {
        ctx.create_extra(CreateSpec::default().name("extra-t")).await?;
        Ok("fine".into())
    };
    let r = run_trial(&ctx, "t.made", Outcome::Pass, Duration::from_secs(5), made).await;
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.detail.contains("cleanup: removing") && r.detail.contains("still there"), "{}", r.detail);
}

#[tokio::test]
async fn an_engine_that_claims_nothing_fails_its_setup() {
    let factory = Arc::new(Factory::default());
    let setup =
        FixtureSetup { name: "nothing".into(), engine: Arc::new(ClaimsNothing), factory, not_applicable: Vec::new() };
    let report = run_setup(setup, None, |_| {}).await;
    assert_eq!(report.count(Outcome::Fail), 0, "{:?}", report.trials);
    assert_eq!(report.count(Outcome::Pass), 0);
    assert_eq!(report.count(Outcome::Unsupported), Capabilities::NAMES.len(), "one declared check each");
    assert!(report.capabilities.iter().all(|c| matches!(c.coverage, Coverage::DeclaredUnsupported { .. })));
    assert!(report.failed(), "claiming nothing must not pass: {:?}", report.problems);
    assert!(report.problems.iter().any(|p| p.contains("nothing is certified")), "{:?}", report.problems);
}

#[tokio::test]
async fn a_not_applicable_entry_naming_no_trial_is_a_problem() {
    let setup = FixtureSetup {
        name: "nothing".into(),
        engine: Arc::new(ClaimsNothing),
        factory: Arc::new(Factory::default()),
        not_applicable: vec![("no_such_area.", "because".into())],
    };
    let report = run_setup(setup, None, |_| {}).await;
    assert!(report.problems.iter().any(|p| p.contains("no_such_area.")), "{:?}", report.problems);
}
