//! `images.*`: the engine lists the images it runs and refuses a tarball that is none; it pulls
//! an image from the harness's loopback registry ([`REGISTRY_ENV`]) and removes it again.

use bytes::Bytes;

use super::{Trial, TrialContext, TrialResult, ensure, fail};
use anyctr_core::ErrorKind;
use anyctr_core::model::normalize_image_ref;

pub(super) fn trials() -> Vec<Trial> {
    vec![
        Trial { name: "images.list", requires: &["images"], run: |c| Box::pin(list(c)) },
        Trial { name: "images.load_refuses_junk", requires: &["images"], run: |c| Box::pin(load_junk(c)) },
        Trial { name: "images.pull_remove", requires: &["pull"], run: |c| Box::pin(pull_remove(c)) },
    ]
}

/// The environment variable naming the registry `images.pull_remove` pulls from (`127.0.0.1:PORT`,
/// written by `cargo xtask engines up`); it must hold `anyctr/busybox:local`. A setup without it
/// declares the trial not applicable.
pub const REGISTRY_ENV: &str = "ANYCTR_REGISTRY";

/// The repository `images.pull_remove` pulls, under the registry.
pub const REGISTRY_IMAGE: &str = "anyctr/busybox:local";

const PULL_BOUND: std::time::Duration = std::time::Duration::from_secs(60);

async fn listed(ctx: &TrialContext, want: &str) -> Result<Option<bool>, String> {
    if !ctx.capabilities.images.is_supported() {
        return Ok(None);
    }
    let images = ctx.engine.list_images().await.map_err(fail("list_images"))?;
    Ok(Some(images.iter().any(|i| i.tags.iter().any(|t| normalize_image_ref(t) == want))))
}

async fn pull_remove(ctx: &TrialContext) -> TrialResult {
    let registry = std::env::var(REGISTRY_ENV)
        .map_err(|_| format!("{REGISTRY_ENV} is not set: no registry to pull from (the setup should say so)"))?;
    let reference = format!("{registry}/{REGISTRY_IMAGE}");
    let want = normalize_image_ref(&reference);
    // A run that died half-way may have left it: start from nothing.
    match ctx.engine.remove_image(&reference, true).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("removing a leftover {reference}: {e}")),
    }
    let pulled = ctx.engine.pull_image(&reference, PULL_BOUND).await.map_err(fail("pull_image"))?;
    ensure!(pulled.tags.contains(&want), "the pulled image is tagged {:?}, want {want}", pulled.tags);
    let shown = listed(ctx, &want).await?;
    ensure!(shown != Some(false), "list_images does not show {want} after the pull");
    ctx.engine.remove_image(&reference, false).await.map_err(fail("remove_image"))?;
    let gone = listed(ctx, &want).await?;
    ensure!(gone != Some(true), "list_images still shows {want} after the removal");
    match ctx.engine.remove_image(&reference, false).await {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        other => return Err(format!("removing it again gave {other:?}, want NotFound")),
    }
    let missing = format!("{registry}/anyctr/busybox:absent-{}", ctx.run_id);
    match ctx.engine.pull_image(&missing, PULL_BOUND).await {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        other => return Err(format!("pulling a tag the registry lacks gave {other:?}, want NotFound")),
    }
    let how =
        if shown.is_some() { "listed, removed, no longer listed" } else { "removed (images not claimed: no list)" };
    Ok(format!("pulled {want} ({}); {how}; a second removal and a missing tag are NotFound", pulled.id))
}

async fn list(ctx: &TrialContext) -> TrialResult {
    let images = ctx.engine.list_images().await.map_err(fail("list_images"))?;
    let want = normalize_image_ref(&ctx.fixture.spec.image);
    let found = images.iter().find(|i| i.tags.iter().any(|t| normalize_image_ref(t) == want));
    ensure!(found.is_some(), "the fixture's image {want} is not among the {} listed", images.len());
    Ok(format!("{want} among {} images", images.len()))
}

async fn load_junk(ctx: &TrialContext) -> TrialResult {
    // Loading a real image would leave it behind (there is no image removal); junk must be refused.
    let before = ctx.engine.list_images().await.map_err(fail("list_images"))?.len();
    let junk: anyctr_core::ByteStream =
        Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(b"not an image tarball, not at all"))]));
    match ctx.engine.load_image(junk).await {
        Err(e) if e.kind() == ErrorKind::InvalidArgument => {}
        other => return Err(format!("a junk tarball gave {other:?}, want InvalidArgument")),
    }
    let after = ctx.engine.list_images().await.map_err(fail("list_images"))?.len();
    ensure!(after <= before, "a refused load added images ({before} → {after})");
    Ok("refused with InvalidArgument, nothing loaded".into())
}
