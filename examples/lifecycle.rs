//! Creates a container, starts it, runs a command in it, signals, stops and removes it.
//!
//! `cargo run --example lifecycle -- [image, default $ANYCTR_TEST_IMAGE or busybox:latest]`

use std::time::Duration;

use anyctr::prelude::*;
use anyctr::{CreateSpec, Engine, ExecRequest, Signal};

#[tokio::main]
async fn main() -> anyctr::Result<()> {
    let image = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("ANYCTR_TEST_IMAGE").ok())
        .unwrap_or_else(|| "busybox:latest".to_owned());
    let engine = anyctr::from_env().await?;
    let name = format!("anyctr-example-{}", std::process::id());
    let spec = CreateSpec::new(image)
        .name(&name)
        .argv(["sh", "-c", "trap 'echo got USR1' USR1; while true; do sleep 1; done"])
        .env("GREETING=hello")
        .label("anyctr.example", "lifecycle");
    let id = engine.create(&spec).await?;
    println!("created {name} ({})", &id[..12.min(id.len())]);
    let result = run(&engine, &id).await;
    // Removed whatever happened above.
    engine.remove(&id, true).await?;
    println!("removed");
    result
}

async fn run(engine: &Engine, id: &str) -> anyctr::Result<()> {
    engine.start(id).await?;
    let out =
        engine.exec(id, ExecRequest::shell("echo $GREETING from $(hostname)").timeout(Duration::from_secs(10))).await?;
    println!("exec: {}", out.check()?.stdout_lossy().trim());
    engine.kill(id, Signal::USR1).await?;
    engine.stop(id, Duration::from_secs(2)).await?;
    let detail = engine.inspect(id).await?;
    println!("stopped: {:?}, exit code {:?}", detail.state.status, detail.state.exit_code);
    Ok(())
}
