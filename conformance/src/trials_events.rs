//! `events.*`: the event stream sees a container start and exit.

use std::time::Duration;

use futures_util::StreamExt;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::model::{EventKind, EventOptions};

pub(super) fn trials() -> Vec<Trial> {
    vec![Trial {
        name: "events.start_and_exit",
        requires: &["events", "lifecycle"],
        run: |c| Box::pin(start_and_exit(c)),
    }]
}

async fn start_and_exit(ctx: &TrialContext) -> TrialResult {
    let mut events = ctx.engine.events(EventOptions::default()).await.map_err(fail("events"))?;
    let spec = super::trials_lifecycle::extra_spec(ctx, "events", &["sh", "-c", "sleep 1; exit 5"]);
    let id = ctx.create_extra(spec).await?;
    async {
        ctx.engine.start(&id).await.map_err(fail("start"))?;
        let (mut started, mut exit) = (false, None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !(started && exit.is_some()) {
            let next = tokio::time::timeout_at(deadline, events.next())
                .await
                .map_err(|_| format!("saw start={started} exit={exit:?} within 60 s"))?;
            let event = next.ok_or("the event stream ended")?.map_err(fail("event stream"))?;
            if event.container_id != id {
                continue;
            }
            match event.kind {
                EventKind::Start => started = true,
                EventKind::Exit => exit = Some(event.exit_code),
                _ => {}
            }
        }
        ensure!(exit == Some(Some(5)), "exit event carried {exit:?}, want 5");
        Ok("start, exit 5".to_owned())
    }
    .await
}
