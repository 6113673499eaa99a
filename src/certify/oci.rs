//! The OCI runtime setups' image store.

use std::path::Path;

use anyctr_core::{EngineAddress, Error, Result};

/// Fills the image store of an OCI runtime setup at `address` (its `images=` parameter; nothing
/// to do without one) with `image`'s rootfs, exported from the dockerd at `docker_address`
/// (`docker create` + `docker export`, with the docker CLI), as `<images>/<reference>.tar`, once.
pub fn prepare_oci_image(address: &str, image: &str, docker_address: &str) -> Result<()> {
    let parsed = EngineAddress::parse(address)?;
    let Some(images) = parsed.param("images") else { return Ok(()) };
    let tar = anyctr_engine_oci::lifecycle::image_tar(Path::new(images), image);
    if tar.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(images)?;
    let host = docker_address.replacen("docker://", "unix://", 1);
    let docker = |args: &[&str]| -> Result<String> {
        // Bounded: a hung dockerd fails the setup, not the run.
        let out = std::process::Command::new("timeout").args(["120", "docker", "-H", &host]).args(args).output()?;
        if !out.status.success() {
            return Err(Error::unexpected(format!("docker {args:?}: {}", String::from_utf8_lossy(&out.stderr))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let id = docker(&["create", image, "true"])?;
    let partial = tar.with_extension("tar.part");
    let exported = docker(&["export", "-o", &partial.display().to_string(), &id]);
    let _ = docker(&["rm", "-f", &id]);
    exported?;
    std::fs::rename(&partial, &tar)?;
    Ok(())
}
