//! Starts the live index, prints its containers and pods, then follows changes for a while.
//!
//! `cargo run --example index -- [seconds to follow, default 10]`

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{IndexChange, IndexOptions};

#[tokio::main]
async fn main() -> anyctr::Result<()> {
    let follow = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let engine = anyctr::from_env().await?;
    // The default keeps stopped containers too; `.running_only()` would drop them.
    let index = engine.index(IndexOptions::default()).await?;
    let snapshot = index.snapshot();
    println!("{} containers, {} pods", snapshot.container_count(), snapshot.pods().len());
    for c in snapshot.containers() {
        println!("  {} {} {:?}", c.short_id(), c.name, c.state.status);
    }
    for pod in snapshot.pods() {
        println!("  pod {:?}: {} containers", pod.full_name(), pod.all().count());
    }
    let mut changes = index.subscribe();
    let until = tokio::time::Instant::now() + Duration::from_secs(follow);
    println!("following changes for {follow} s…");
    while let Ok(Ok(change)) = tokio::time::timeout_at(until, changes.recv()).await {
        match &change {
            IndexChange::ContainerAdded(id) | IndexChange::ContainerUpdated(id) => {
                let status = index.container(id).map(|c| format!("{:?}", c.state.status));
                println!("{change:?} {}", status.unwrap_or_default());
            }
            other => println!("{other:?}"),
        }
    }
    println!("health: {:?}", index.health());
    Ok(())
}
