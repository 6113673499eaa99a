//! Copies a local file or directory into a container and back out, printing what each copy did
//! (the strategy that ran, the ones skipped and why, what was verified).
//!
//! `cargo run --example copy -- <container> <local path> <container path>`

use anyctr::prelude::*;

#[tokio::main]
async fn main() -> anyctr::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [container, local, in_container] = args.as_slice() else {
        eprintln!("usage: copy <container> <local path> <container path>");
        std::process::exit(2);
    };
    let engine = anyctr::from_env().await?;
    // Paths, not tar streams: the strategy is chosen per container (see put_archive/get_archive
    // of ContainerEngine for the engine's raw tar API).
    let report = engine.copy_into(container, local, in_container).await?;
    println!("in:  {report}");
    let back = tempfile_dir()?.join("copied-back");
    let report = engine.copy_out(container, in_container, &back).await?;
    println!("out: {report} -> {}", back.display());
    Ok(())
}

/// A fresh local directory for the copy back.
fn tempfile_dir() -> anyctr::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("anyctr-example-copy-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
