//! Where a container path lives on the host, and its first bytes read through an opened handle
//! (never through the path: the container could swap it for a symlink in between).
//!
//! `cargo run --example host_path -- <container> [container path, default /etc/hostname]`

use std::io::Read;

use anyctr::prelude::*;

#[tokio::main]
async fn main() -> anyctr::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(container) = args.next() else {
        eprintln!("usage: host_path <container> [container path]");
        std::process::exit(2);
    };
    let path = args.next().unwrap_or_else(|| "/etc/hostname".to_owned());
    let engine = anyctr::from_env().await?;
    match engine.host_path(&container, &path).await {
        Ok(host) => println!("{host}"),
        // A sandboxed rootfs (gVisor, Kata, RunD) is not host-visible.
        Err(e) if e.kind() == anyctr::ErrorKind::Unsupported => {
            println!("{path}: {e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let opened = engine.open_host_path(&container, &path).await?;
    if let Ok(file) = opened.open_file() {
        let mut head = Vec::new();
        file.take(200).read_to_end(&mut head)?;
        println!("first bytes: {:?}", String::from_utf8_lossy(&head));
    }
    Ok(())
}
