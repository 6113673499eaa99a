//! `anyctr events`: every engine's events, live, until interrupted.

use std::process::ExitCode;

use anyctr::{ContainerEngine, EventOptions, Result};
use futures_util::StreamExt;
use futures_util::stream::SelectAll;

use crate::args::EventsArgs;
use crate::node::Node;

pub async fn run(node: &Node, args: &EventsArgs) -> Result<ExitCode> {
    let mut all = SelectAll::new();
    let mut opened = 0;
    for (status, engine) in node.connections() {
        let Some(engine) = engine else { continue };
        match engine.events(EventOptions::new()).await {
            Ok(stream) => {
                let name = engine.name().to_owned();
                all.push(stream.map(move |e| (name.clone(), e)).boxed());
                opened += 1;
            }
            Err(e) => super::warn(&[format!("{}: {e}", status.member)]),
        }
    }
    if opened == 0 {
        return Err(anyctr::Error::new(anyctr::ErrorKind::Unsupported, "no engine offers events"));
    }
    loop {
        let next = tokio::select! {
            next = all.next() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some((engine, event)) = next else { break };
        let event = event?;
        if args.json {
            let line = serde_json::json!({"engine": engine, "event": event});
            crate::output::line(line)?;
        } else {
            let ns = event.namespace.as_deref().map(|n| format!("/{n}")).unwrap_or_default();
            crate::output::line(format_args!(
                "{} {engine}{ns} {} {:?} {}{}",
                event.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                anyctr::model::short_id(&event.container_id),
                event.kind,
                event.action,
                event.exit_code.map(|c| format!(" exit={c}")).unwrap_or_default()
            ))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
