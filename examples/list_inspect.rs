//! Lists every container of the engine the environment names and inspects each: name, status,
//! runtime, where its rootfs is on the host and what anyctr can do with it.
//!
//! `DOCKER_HOST=unix:///var/run/docker.sock cargo run --example list_inspect`

use anyctr::ListOptions;
use anyctr::prelude::*;

#[tokio::main]
async fn main() -> anyctr::Result<()> {
    let engine = anyctr::from_env().await?;
    println!("{} {} ({})", engine.name(), engine.info().version, engine.choice());
    for summary in engine.list(&ListOptions::all()).await? {
        let detail = match engine.inspect(&summary.id).await {
            Ok(d) => d,
            // Removed between the list and the inspect.
            Err(e) if e.kind() == anyctr::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let caps = engine.container_capabilities(&detail);
        println!(
            "{} {:<24} {:<10} runtime {:<8} rootfs {} (exec {}, host rootfs {}, fast exec {})",
            detail.short_id(),
            detail.name,
            format!("{:?}", detail.state.status),
            detail.runtime.as_str(),
            detail.rootfs,
            caps.exec.letter(),
            caps.host_rootfs.letter(),
            caps.nsenter.letter(),
        );
    }
    Ok(())
}
